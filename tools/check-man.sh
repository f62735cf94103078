#!/bin/sh
# Fails if the man pages drift from the option table: every option that
# `nodelink-agent --help' lists must be in nodelink-agent(8), every file
# key in nodelink-agent.yaml(5); and both pages must render without a
# warning (groff -ww), as `man -l' would show them.
#
#   tools/check-man.sh AGENT DIR   (DIR holds doc/, the built pages)
set -u
agent=$1
srcdir=$2
page8=$srcdir/doc/nodelink-agent.8
page5=$srcdir/doc/nodelink-agent.yaml.5
status=0
help=$("$agent" --help) || exit 1
for opt in $(echo "$help" | sed -n 's/^  .. --\([a-z-]*\).*/\1/p; s/^      --\([a-z-]*\).*/\1/p'); do
  pat=$(echo "$opt" | sed 's/-/\\\\-/g')
  if ! grep -q "\\\\-\\\\-$pat" "$page8"; then
    echo "$page8: --$opt is missing"
    status=1
  fi
done
for key in $(echo "$help" | sed -n 's/.*file: \([a-z_]*\.[a-z_.]*\).*/\1/p'); do
  if ! grep -q "fB$key\\\\fR" "$page5"; then
    echo "$page5: $key is missing"
    status=1
  fi
done
if command -v groff >/dev/null 2>&1; then
  for page in "$page8" "$page5"; do
    out=$(groff -man -ww -z "$page" 2>&1)
    if [ -n "$out" ]; then
      echo "$page: groff warns:"; echo "$out"
      status=1
    fi
  done
fi
[ $status -eq 0 ] && echo "man pages: every option and file key, no groff warning"
exit $status
