/*
 * datasync.c: "these bytes are on the disk", as each system says it.
 *
 * macOS's fsync() only hands the data to the drive, whose cache may still
 * lose it in a power cut: F_FULLFSYNC asks the drive to write it out.
 * Elsewhere fdatasync() (no metadata but what reading the data back
 * needs), or fsync() where there is none.
 */

#include "config.h"

#include <fcntl.h>
#include <unistd.h>

#include "agent.h"

int
compat_datasync(int fd)
{
#ifdef F_FULLFSYNC
	if (fcntl(fd, F_FULLFSYNC) == 0)
		return 0;	/* else a file system without it: fsync */
	return fsync(fd);
#elif defined(HAVE_FDATASYNC)
	return fdatasync(fd);
#else
	return fsync(fd);
#endif
}
