/*
 * compat.h: the platform shims: small functions that do one thing the
 * platforms spell differently (a close-on-exec pipe, a monotonic clock, a
 * pseudo-terminal, a data sync, closefrom, the list and tree macros).
 * Each shim's file picks the best way its platform offers, as decided by
 * configure.  How tasks are started, contained and killed is not a shim:
 * it is in src/contain/.
 */

#ifndef NODELINK_COMPAT_H
#define NODELINK_COMPAT_H

#include <sys/types.h>

#include <stdint.h>

/* pipe-cloexec.c: a pipe whose both ends are close-on-exec. */
int compat_pipe_cloexec(int[2]);
void compat_pipe_grow(int, int);

/* closefrom.c, where the C library lacks it. */
#ifndef HAVE_CLOSEFROM
void closefrom(int);
#endif

/* pty.c: a pseudo-terminal for a task. */
int compat_openpty(int *, int *, unsigned, unsigned);
int compat_pty_resize(int, unsigned, unsigned);
unsigned char compat_pty_eof_char(int);

/* monotime.c: milliseconds from a clock that never goes back. */
uint64_t compat_monotime_ms(void);
int compat_datasync(int);	/* datasync.c */

/* anonfile.c: an anonymous file with the given contents. */
int compat_anon_file(const char *, const void *const *, const size_t *,
	    size_t, int);

/* features.c: which way each shim went, for --version and the tests. */
const char *compat_features(void);

#endif /* NODELINK_COMPAT_H */
