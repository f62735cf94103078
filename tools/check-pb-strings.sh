#!/bin/sh
# Fails if the protobuf-c header HEADER declares a string field as
# `char *', or a member named stdout or stderr.
#
# Makefile.am generates the C code from a copy of proto/nodelink.proto in
# which every string is bytes (so protobuf-c neither truncates at a NUL
# byte nor lets an invalid UTF-8 string pass unseen) and stdout/stderr are
# stdout_text/stderr_text (musl defines stdout and stderr as macros).  That
# copy is made by sed; a field the sed does not recognise (an `optional
# string', a map) would silently come out as char *.  This check turns
# that into a build error.
set -u
header=$1
if grep -n 'char \*' "$header"; then
  echo "$header: a string field is char * (see tools/check-pb-strings.sh):" >&2
  echo "  the bytes rewrite in Makefile.am missed it" >&2
  exit 1
fi
if grep -nE '[^_a-z](stdin|stdout|stderr);' "$header"; then
  echo "$header: a member is named stdout or stderr: the rename missed it" >&2
  exit 1
fi
echo "protobuf-c strings: every string field is bytes"
