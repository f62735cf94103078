/*
 * pipe-cloexec.c: pipes that no spawned task inherits.
 *
 * pipe2() sets close-on-exec atomically, so no other thread's fork can
 * catch the descriptors in between; where it is missing, pipe() followed by
 * fcntl() is the fallback (gRPC's threads do not spawn, so the window is
 * harmless there).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent.h"

int
compat_pipe_cloexec(int fds[2])
{
#ifdef HAVE_PIPE2
	return pipe2(fds, O_CLOEXEC);
#else
	if (pipe(fds) != 0)
		return -1;
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1) {
		int saved = errno;

		close(fds[0]);
		close(fds[1]);
		errno = saved;
		return -1;
	}
	return 0;
#endif
}

/*
 * Asks for a pipe of SIZE bytes where the system lets a pipe grow (Linux:
 * F_SETPIPE_SZ, up to fs.pipe-max-size).  A task that writes fast then
 * fills one large read instead of many 64 KiB ones: fewer reads, fewer
 * messages, fewer wake-ups, for the same bytes.  Only as root: the size
 * is charged to the user's pipe quota at once (pipe-user-pages-soft),
 * which root is exempt from; a normal user's quota would run out after a
 * few dozen tasks and shrink every pipe of that user to two pages.
 * Failing is harmless.
 */
void
compat_pipe_grow(int fd, int size)
{
#ifdef F_SETPIPE_SZ
	if (geteuid() == 0)
		(void)fcntl(fd, F_SETPIPE_SZ, size);
#else
	(void)fd;
	(void)size;
#endif
}
