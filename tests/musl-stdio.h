/*
 * musl-stdio.h: makes this C library look like musl's, where stdout and
 * stderr are macros ("#define stdout (stdout)").  `make check' compiles
 * every source file with it force-included (-include), which fails if any
 * code (generated protobuf-c code included) names a member or a variable
 * stdout or stderr.
 */
#include <stdio.h>
#undef stdout
#define stdout (stdout)
#undef stderr
#define stderr (stderr)
