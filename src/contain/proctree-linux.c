/*
 * proctree-linux.c: the agent's own children on Linux, for tracking a
 * task's processes where it has no cgroup (track.c).
 *
 * The agent is made a child subreaper, so that a task process whose
 * parent dies is reparented to the agent, not to init: it stays one of
 * the agent's children, where a look at /proc/self/task/<tid>/children
 * finds it, and the agent reaps it.  That look costs as much as the agent
 * has children, never as much as the host has processes.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

int
proctree_subreaper_enable(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* A /proc file, whole (up to 16 MiB), NUL-terminated in a buffer that
 * is reused; returns its length or -1. */
static ssize_t
proctree_read(const char *path, struct buf *b)
{
	ssize_t n;
	int fd, saved;

	buf_clear(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		buf_reserve(b, 65536);
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || b->len + (size_t)n > 16 * 1024 * 1024)
			break;
		b->len += (size_t)n;
	}
	saved = errno;
	close(fd);
	buf_reserve(b, 1);
	b->data[b->len] = '\0';
	errno = saved;
	return n < 0 ? -1 : (ssize_t)b->len;
}

/*
 * The agent's children (every thread's: an orphan is adopted by one of
 * them).  Returns how many; *out holds them (the caller frees it), or -1
 * where the kernel does not list children.
 */
ssize_t
proctree_children(pid_t **out)
{
	static struct buf buf;
	char path[300], *p, *end;
	size_t n = 0, cap = 0;
	struct dirent *de;
	long pid;
	DIR *d;

	*out = NULL;
	if ((d = opendir("/proc/self/task")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/children",
		    de->d_name);
		if (proctree_read(path, &buf) < 0) {
			if (errno == ENOENT)
				continue;	/* a thread that just ended */
			closedir(d);
			free(*out);
			*out = NULL;
			return -1;
		}
		for (p = buf.data; *p != '\0'; p = end) {
			pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				*out = xreallocarray(*out, cap, sizeof **out);
			}
			(*out)[n++] = (pid_t)pid;
		}
	}
	closedir(d);
	return (ssize_t)n;
}

/*
 * Appends ROOT's descendants to *OUT (*N of them, room for *CAP): every
 * thread's children, then theirs.  The cost is the size of ROOT's tree.
 */
/* Appends PID's children (every thread's) to *OUT. */
static void
proctree_add_children(pid_t pid, pid_t **out, size_t *n, size_t *cap)
{
	static struct buf buf;
	char path[300], *p, *end;
	struct dirent *de;
	long child;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%ld/task/%s/children",
		    (long)pid, de->d_name);
		if (proctree_read(path, &buf) <= 0)
			continue;
		for (p = buf.data; *p != '\0'; p = end) {
			child = strtol(p, &end, 10);
			if (end == p)
				break;
			if (*n == *cap) {
				*cap = *cap == 0 ? 16 : *cap * 2;
				*out = xreallocarray(*out, *cap, sizeof **out);
			}
			(*out)[(*n)++] = (pid_t)child;
		}
	}
	closedir(d);
}

/*
 * Appends ROOT's descendants to *OUT (*N of them, room for *CAP),
 * breadth first.  The cost is the size of ROOT's tree, not the host's.
 */
void
proctree_descendants(pid_t root, pid_t **out, size_t *n, size_t *cap)
{
	size_t i = *n;

	proctree_add_children(root, out, n, cap);
	for (; i < *n; i++)
		proctree_add_children((*out)[i], out, n, cap);
}

/*
 * PID's value of the environment variable NAME ("NAME=" included), or NULL
 * (static storage): errno is EAGAIN when the environment read empty (a
 * process in the middle of exec), ENOENT when it lacks NAME.
 */
const char *
proctree_getenv(pid_t pid, const char *name)
{
	static struct buf b;
	char path[64], *env;
	size_t len = strlen(name);
	ssize_t n, i;

	snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
	if ((n = proctree_read(path, &b)) < 0)
		return NULL;
	env = b.data;
	if (n == 0) {
		errno = EAGAIN;
		return NULL;
	}
	for (i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
		if (strncmp(env + i, name, len) == 0)
			return env + i + len;
	}
	errno = ENOENT;
	return NULL;
}

/*
 * The start time of process PID (clock ticks after boot, /proc's field
 * 22): with the pid, it names one process for good, since a pid is
 * reused but never at the same moment.  Returns 0, or -1.
 */
int
proctree_starttime(pid_t pid, uint64_t *start)
{
	static struct buf b;
	char path[64], *p;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (proctree_read(path, &b) <= 0)
		return -1;
	buf_append(&b, "", 1);
	/* The command name may hold anything, ')' too: the last one ends it. */
	if ((p = strrchr(b.data, ')')) == NULL)
		return -1;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -1;
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

/*
 * SIGKILL to every process whose environment holds NAME=VALUE for one of
 * the N VALUES: the processes of tasks a previous agent left, found by
 * the marker each of them carries (at start only: it reads all of /proc);
 * KILLED[i] is set when a process carrying VALUES[i] was killed.
 */
void
proctree_kill_marked(const char *name, char *const *values, size_t n,
    int *killed)
{
	char key[128];
	const char *v;
	struct dirent *de;
	size_t i;
	long pid;
	DIR *d;

	snprintf(key, sizeof key, "%s=", name);
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, NULL, 10)) <= 1 ||
		    pid == (long)getpid())
			continue;
		if ((v = proctree_getenv((pid_t)pid, key)) == NULL)
			continue;
		for (i = 0; i < n; i++) {
			if (strcmp(v, values[i]) == 0) {
				log_info("killing process %ld of a task of the "
				    "previous agent (%s)", pid, values[i]);
				if (kill((pid_t)pid, SIGKILL) == 0)
					killed[i] = 1;
				break;
			}
		}
	}
	closedir(d);
}
