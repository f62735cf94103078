#!/bin/sh
# Replays a fuzz target's corpus (for `make check'): every input that ever
# crashed it, or seeded it, must now run clean.  Argument: the target's
# path with ".fuzz" appended, as automake's harness passes it.
name=${1##*/fuzz-}
name=${name%.fuzz}
target=${NODELINK_BUILDDIR:-.}/tests/fuzz/fuzz-$name
corpus=${NODELINK_SRCDIR:-.}/tests/fuzz/corpus/$name
[ -x "$target" ] || { echo "no fuzz target at $target"; exit 99; }
[ -d "$corpus" ] || { echo "no corpus at $corpus"; exit 99; }
exec "$target" -runs=0 "$corpus"/*
