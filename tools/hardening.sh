#!/bin/sh
# The hardening runs, each from the release tarball in a directory of its
# own under ./hardening/ (`make hardening' passes the tarball):
#
#   clang-sanitizers  clang, -Wall -Wextra -Werror, AddressSanitizer and
#                     UndefinedBehaviorSanitizer: the whole suite
#   fallbacks         every platform shim forced onto its fallback
#                     (fork+exec, pipe+fcntl, close loop, fsync, a
#                     temporary file for long commands, no process
#                     tree, the agent's own list and tree macros, as on
#                     macOS): the whole suite, memory-only
#                     (no state directory but where a scenario names one)
#   valgrind          the unit tests under memcheck
#   fuzz              each libFuzzer target for FUZZ_SECONDS (60), then
#                     its corpus replayed as regression tests
#
# Every run prints automake's test summary; the script fails if any fails.
set -u
tarball=$1
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-60}
top=$(pwd)/hardening
status=0

unpack() {
  rm -rf "$top/$1" && mkdir -p "$top/$1" &&
    tar -xzf "$tarball" -C "$top/$1" --strip-components=1
}

stage() {
  name=$1; shift
  echo "==== hardening: $name"
  if ! ( "$@" ); then
    echo "==== hardening: $name FAILED"
    status=1
  fi
}

clang_sanitizers() {
  unpack clang-sanitizers && cd "$top/clang-sanitizers" &&
    ./configure -q CC=clang --enable-werror --enable-sanitizers &&
    make -j"$jobs" >/dev/null && make -j"$jobs" check
}

fallbacks() {
  unpack fallbacks && cd "$top/fallbacks" &&
    ./configure -q --enable-werror --disable-process-tree \
      --with-own-list-macros \
      ac_cv_func_posix_spawn=no ac_cv_func_pipe2=no ac_cv_func_closefrom=no \
      ac_cv_func_close_range=no ac_cv_func_fdatasync=no \
      ac_cv_func_memfd_create=no &&
    make -j"$jobs" >/dev/null && ./nodelink-agent --version | tail -n 1 &&
    NODELINK_TEST_MEMORY_ONLY=1 make -j"$jobs" check
}

valgrind_units() {
  unpack valgrind && cd "$top/valgrind" &&
    ./configure -q --enable-werror && make -j"$jobs" >/dev/null &&
    make check-valgrind
}

fuzz() {
  unpack fuzz && cd "$top/fuzz" &&
    ./configure -q CC=clang --enable-werror --enable-fuzzers &&
    make -j"$jobs" >/dev/null && make fuzz FUZZ_SECONDS="$fuzz_seconds" &&
    make check TESTS='tests/fuzz/fuzz-request.fuzz tests/fuzz/fuzz-framer.fuzz tests/fuzz/fuzz-config.fuzz tests/fuzz/fuzz-options.fuzz tests/fuzz/fuzz-head.fuzz'
}

stage clang-sanitizers clang_sanitizers
stage fallbacks fallbacks
stage valgrind valgrind_units
stage fuzz fuzz
exit $status
