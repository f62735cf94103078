/*
 * anonfile.c: an anonymous file, which nobody can open or replace by
 * name: a memfd where the system has memfd_create, else a temporary file
 * unlinked at once.  Its descriptor is the only way in (a task reads a
 * long command from one; a re-executed agent its predecessor's state).
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#ifdef HAVE_MEMFD_CREATE
#include <sys/mman.h>
#ifndef MFD_CLOEXEC	/* a libc that shows it only with _GNU_SOURCE */
#define MFD_CLOEXEC 0x0001U
#endif
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"

/*
 * A close-on-exec anonymous file named NAME (for /proc's eyes) holding the
 * N parts PARTS of LENS bytes, at offset 0; readable by other users
 * through its descriptor if SHARED (the temporary file's mode; a memfd is
 * reached only through the descriptor anyway).  -1 with errno set.
 */
int
compat_anon_file(const char *name, const void *const *parts,
    const size_t *lens, size_t n, int shared)
{
	size_t i, off;
	ssize_t w;
	int fd, error;
#ifdef HAVE_MEMFD_CREATE
	(void)shared;
	fd = memfd_create(name, MFD_CLOEXEC);
#else
	char path[4096];
	const char *tmp = getenv("TMPDIR");

	snprintf(path, sizeof path, "%s/%s-XXXXXX", tmp != NULL &&
	    *tmp != '\0' ? tmp : "/tmp", name);
	if ((fd = mkstemp(path)) != -1) {
		unlink(path);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (shared)
			(void)fchmod(fd, 0644);
	}
#endif
	if (fd == -1)
		return -1;
	for (i = 0; i < n; i++) {
		for (off = 0; off < lens[i]; off += (size_t)w) {
			w = write(fd, (const char *)parts[i] + off,
			    lens[i] - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				error = w == 0 ? EIO : errno;
				close(fd);
				errno = error;
				return -1;
			}
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		error = errno;
		close(fd);
		errno = error;
		return -1;
	}
	return fd;
}
