/*
 * files.c: where file transfer may read and write: only beneath the
 * directories of the agent's files.roots (none by default: refused).
 *
 * A path must be absolute, hold no ".." component, and lie lexically
 * beneath a root; then it is opened relative to the root's directory
 * without ever leaving it, race-free: with openat2(RESOLVE_BENEATH) where
 * the kernel has it (Linux 5.6; a symlink may then lead anywhere inside
 * the root, never out), else component by component with O_NOFOLLOW
 * (no symlink at all is followed).  What is opened is checked with
 * fstat: only regular files are read or replaced, so a FIFO, a device or
 * a socket is refused without the agent ever blocking on it.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#if defined(__linux__) && defined(SYS_openat2)
#include <linux/openat2.h>
#define FILES_HAVE_OPENAT2 1
#endif

static int files_no_openat2;	/* the kernel said ENOSYS once */

/* Whether to try openat2 at all (the tests run both ways). */
void
files_use_openat2(int on)
{
	files_no_openat2 = !on;
}

/* The root PATH lies beneath (a comma-separated list), or NULL. */
static char *
files_root_of(const char *roots, const char *path)
{
	const char *p, *end;
	size_t len;

	for (p = roots; p != NULL && *p != '\0'; p = end + 1) {
		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 1 && (p[len - 1] == ' ' || p[len - 1] == '/'))
			len--;
		if (len > 0 && strncmp(path, p, len) == 0 &&
		    (path[len] == '/' || path[len] == '\0' ||
		    (len == 1 && *p == '/')))
			return xstrndup(p, len);
		if (end == NULL)
			break;
	}
	return NULL;
}

/* Opens REL beneath DIRFD, no step outside it (see above). */
static int
files_openat_beneath(int dirfd, const char *rel, int flags)
{
	char *copy, *comp, *next;
	struct stat sb;
	int fd, nfd, saved;

#ifdef FILES_HAVE_OPENAT2
	if (!files_no_openat2) {
		struct open_how how;

		memset(&how, 0, sizeof how);
		how.flags = (uint64_t)(flags | O_CLOEXEC);
		how.mode = 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
		if (fd != -1 || errno != ENOSYS)
			return fd;
		files_no_openat2 = 1;
	}
#endif
	/* Component by component, following no symlink. */
	copy = xstrdup(rel);
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	for (comp = copy; fd != -1 && comp != NULL; comp = next) {
		if ((next = strchr(comp, '/')) != NULL)
			*next++ = '\0';
		if (*comp == '\0' || strcmp(comp, ".") == 0) {
			if (next == NULL) {
				/* A trailing slash: the directory itself. */
				break;
			}
			continue;
		}
		nfd = openat(fd, comp, next != NULL ?
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC :
		    flags | O_NOFOLLOW | O_CLOEXEC);
		if (nfd == -1 && (errno == ENOTDIR || errno == ELOOP) &&
		    fstatat(fd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(sb.st_mode))
			errno = ELOOP;	/* a symlink, not followed here */
		saved = errno;
		close(fd);
		fd = nfd;
		errno = saved;
	}
	saved = errno;
	free(copy);
	errno = saved;
	return fd;
}

/* Why opening failed, in the words of the refusal. */
static void
files_why(char **why, enum fail_reason *reason, const char *path, int error)
{
	char *shown = vis_strdup(path, strlen(path), 200);

	if (error == EXDEV || error == ELOOP) {
		*reason = REASON_DENIED;
		xasprintf(why, "%s: a symlink along the path leads outside the "
		    "file roots (or is not followed here)", shown);
	} else {
		*reason = error == ENOENT || error == ENOTDIR ?
		    REASON_BAD_REQUEST : REASON_IO_ERROR;
		xasprintf(why, "%s: %s", shown, strerror(error));
	}
	free(shown);
}

/*
 * Checks PATH against the roots: absolute, no "..", beneath one.  Returns
 * the root's directory, opened, and *rel the rest of PATH; or -1 with
 * *why and *reason set.
 */
static int
files_check(const struct options *o, const char *path, const char **rel,
    char **why, enum fail_reason *reason)
{
	const char *p;
	char *root, *shown;
	int fd;

	*reason = REASON_DENIED;
	if (o->file_roots == NULL || *o->file_roots == '\0') {
		*why = xstrdup("file transfer is disabled (no files.roots)");
		return -1;
	}
	shown = vis_strdup(path, strlen(path), 200);
	if (*path != '/') {
		xasprintf(why, "%s: not an absolute path", shown);
		goto fail;
	}
	for (p = path; (p = strstr(p, "..")) != NULL; p += 2) {
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0')) {
			xasprintf(why, "%s: a '..' component", shown);
			goto fail;
		}
	}
	if ((root = files_root_of(o->file_roots, path)) == NULL) {
		xasprintf(why, "%s: outside the file roots", shown);
		goto fail;
	}
	*rel = path + strlen(root);
	while (**rel == '/')
		(*rel)++;
	if (**rel == '\0') {
		xasprintf(why, "%s: a file root itself, not a file in it",
		    shown);
		free(root);
		goto fail;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		*reason = REASON_IO_ERROR;
		xasprintf(why, "file root %s: %s", root, strerror(errno));
		free(root);
		goto fail;
	}
	free(root);
	free(shown);
	return fd;
fail:
	free(shown);
	return -1;
}

/*
 * Opens PATH, a regular file beneath a root, for reading.  Returns its
 * descriptor, or -1 with *why and *reason set.
 */
int
files_open_read(const struct options *o, const char *path, char **why,
    enum fail_reason *reason)
{
	struct stat sb;
	const char *rel;
	char *shown;
	int root, fd;

	if ((root = files_check(o, path, &rel, why, reason)) == -1)
		return -1;
#ifdef O_PATH
	/* Looked at before it is opened: opening a device node can itself
	 * do something (arm a watchdog, rewind a tape). */
	fd = files_openat_beneath(root, rel, O_PATH);
#else
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = files_openat_beneath(root, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
#endif
	if (fd == -1) {
		files_why(why, reason, path, errno);
		close(root);
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		shown = vis_strdup(path, strlen(path), 200);
		*reason = REASON_DENIED;
		xasprintf(why, "%s: not a regular file", shown);
		free(shown);
		close(fd);
		close(root);
		return -1;
	}
#ifdef O_PATH
	{
		char self[64];
		int rfd;

		/* The very file looked at, opened for reading. */
		snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
		rfd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (rfd == -1)	/* no /proc: by the path again */
			rfd = files_openat_beneath(root, rel, O_RDONLY |
			    O_NONBLOCK | O_NOCTTY);
		close(fd);
		if (rfd == -1 || fstat(rfd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			if (rfd != -1)
				close(rfd);
			files_why(why, reason, path, rfd == -1 ? errno : EIO);
			close(root);
			return -1;
		}
		fd = rfd;
	}
#endif
	close(root);
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/*
 * Opens the directory that is to hold PATH, beneath a root; *name is
 * PATH's last component (pointing into PATH).  Returns the directory's
 * descriptor, or -1 with *why and *reason set.
 */
int
files_open_parent(const struct options *o, const char *path,
    const char **name, char **why, enum fail_reason *reason)
{
	const char *rel, *slash;
	char *dir;
	int root, fd;

	if ((root = files_check(o, path, &rel, why, reason)) == -1)
		return -1;
	if ((slash = strrchr(rel, '/')) == NULL) {
		*name = rel;
		return root;
	}
	*name = slash + 1;
	if (**name == '\0') {
		close(root);
		*reason = REASON_BAD_REQUEST;
		xasprintf(why, "%s: names a directory, not a file", path);
		return -1;
	}
	dir = xstrndup(rel, (size_t)(slash - rel));
	fd = files_openat_beneath(root, dir, O_RDONLY | O_DIRECTORY);
	free(dir);
	close(root);
	if (fd == -1) {
		files_why(why, reason, path, errno);
		return -1;
	}
	return fd;
}

/*
 * The temporary file an upload to NAME writes (number SERIAL of this
 * agent), hidden beside it; files_is_temp_name() knows it again.
 */
char *
files_temp_name(const char *name, unsigned long serial)
{
	char *tmp;

	xasprintf(&tmp, ".%.200s.nodelink-%ld-%lu.tmp", name, (long)getpid(),
	    serial);
	return tmp;
}

/* True if NAME has the shape files_temp_name() gives (of any agent). */
int
files_is_temp_name(const char *name)
{
	const char *p = strstr(name, ".nodelink-");
	size_t digits;

	if (name[0] != '.' || p == NULL || p == name)
		return 0;
	p += 10;
	if ((digits = strspn(p, "0123456789")) == 0 || p[digits] != '-')
		return 0;
	p += digits + 1;
	if ((digits = strspn(p, "0123456789")) == 0)
		return 0;
	return strcmp(p + digits, ".tmp") == 0;
}

/*
 * What to do with an upload chunk of LEN bytes at OFFSET when NEXT bytes
 * are written and the file may have MAX (pure).
 */
enum chunk_verdict
files_chunk_verdict(uint64_t next, uint64_t offset, size_t len, uint64_t max)
{
	if (len > FILES_CHUNK_MAX)
		return CHUNK_TOO_BIG;
	if (offset > UINT64_MAX - len)
		return CHUNK_OVERFLOW;	/* offset + len would wrap */
	if (offset + len <= next && !(len == 0 && offset == next))
		return CHUNK_REPEAT;	/* sent again after a reconnect */
	if (offset != next)
		return CHUNK_GAP;
	if (next + len > max)
		return CHUNK_OVER_MAX;
	return CHUNK_WRITE;
}

/*
 * Task ID's partial upload at PATH, as a record of the previous agent's
 * says: removed only beneath a file root and only if it carries the
 * agent's own naming (files_temp_name) and is a regular file.  True if
 * it was removed.
 */
int
files_remove_temp(const struct options *o, const char *path, const char *id)
{
	enum fail_reason reason;
	const char *name;
	char *why = NULL;
	struct stat sb;
	int fd, removed = 0;

	if ((fd = files_open_parent(o, path, &name, &why, &reason)) == -1) {
		log_warnx("task %s: its recorded partial upload %s is not "
		    "beneath --file-roots: left alone (%s)", id, path, why);
		free(why);
		return 0;
	}
	if (!files_is_temp_name(name))
		log_warnx("task %s: its recorded partial upload %s is not named "
		    "as the agent names them: left alone", id, path);
	else if (fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && unlinkat(fd, name, 0) == 0) {
		log_info("task %s: its partial upload %s is removed", id, path);
		removed = 1;
	}
	close(fd);
	return removed;
}
