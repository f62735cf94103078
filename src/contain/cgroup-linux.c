/*
 * cgroup-linux.c: one cgroup v2 per task, where the system has a usable
 * hierarchy.
 *
 * A task's cgroup is the exact set of its processes: a child cannot leave
 * it (setsid, a double fork and a dropped environment change nothing),
 * `populated 0' in its cgroup.events says every one has ended, and
 * cgroup.kill ends them all in one write.  The kernel tracks this, so the
 * agent's cost per task does not grow with the number of processes on
 * the host.
 *
 * The base is a directory the agent creates at start, nodelink-<pid>,
 * beside or below its own cgroup: under --cgroup-root if given, else in
 * the agent's own cgroup (delegated to it, e.g. systemd's Delegate=yes),
 * on the unified hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on
 * hybrid systems).  Tasks get <base>/t<serial>.  Where no base can be
 * made, the agent says why and uses process groups (track.c).
 *
 * Resource limits use the memory and pids controllers where the base can
 * hand them to its children: that needs them enabled in the parent's
 * cgroup.subtree_control, which cgroup v2 allows only for a cgroup with no
 * processes of its own (a --cgroup-root made for the agent, or the root).
 * Where they are missing, task-proc.c falls back to setrlimit().
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static char *cgroup_base;	/* <hierarchy>/<agent's cgroup>/nodelink-<pid> */
static int cgroup_has_kill;	/* cgroup.kill exists (Linux 5.14) */
static char cgroup_controllers[32];	/* " memory pids", as enabled */

/* Reads a small file at DIRFD/NAME; returns its length or -1. */
static ssize_t
cgroup_read(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

static int
cgroup_write(int dirfd, const char *name, const char *value)
{
	ssize_t n;
	int fd, saved;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, value, strlen(value));
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

/* The unified hierarchy's mount point, or NULL. */
static const char *
cgroup_hierarchy(void)
{
	static const char *const places[] = { "/sys/fs/cgroup",
	    "/sys/fs/cgroup/unified" };
	char path[PATH_MAX];
	struct stat sb;
	size_t i;

	for (i = 0; i < sizeof places / sizeof places[0]; i++) {
		snprintf(path, sizeof path, "%s/cgroup.procs", places[i]);
		if (stat(path, &sb) != 0)
			continue;
		snprintf(path, sizeof path, "%s/cgroup.controllers",
		    places[i]);
		if (stat(path, &sb) == 0)	/* only cgroup v2 has it */
			return places[i];
	}
	return NULL;
}

/* The agent's own cgroup on the unified hierarchy ("0::/path"). */
static int
cgroup_own(char *out, size_t size)
{
	char buf[4096], *line, *save = NULL;
	int fd;
	ssize_t n;

	if ((fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(out, size, "%s", line + 3);
			return 0;
		}
	}
	return -1;
}

/*
 * Under systemd's Delegate=yes the agent starts alone in a cgroup it may
 * write, and cgroup v2's "no internal processes" rule then forbids
 * enabling controllers for cgroups beneath it while it is there: memory
 * and process limits would silently become rlimits.  So when it is the
 * only process in PARENT, it moves itself into a leaf beneath it
 * (PARENT/agent) and enables in PARENT's cgroup.subtree_control the
 * controllers the limits need that PARENT offers; task cgroups are then
 * made beside its leaf.  When other processes share PARENT, nothing moves
 * (it is not the agent's to rearrange), and the log says so.  *NOTE gets
 * what was done, for the log.
 */
static void
cgroup_delegated(const char *parent, char *note, size_t size)
{
	char buf[4096], path[2 * PATH_MAX], offered[256], *p, *save = NULL;
	long pid;
	int fd, others = 0;
	ssize_t n;

	*note = '\0';
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((n = cgroup_read(fd, "cgroup.procs", buf, sizeof buf)) <= 0) {
		close(fd);
		return;
	}
	for (p = strtok_r(buf, "\n", &save); p != NULL;
	    p = strtok_r(NULL, "\n", &save))
		if ((pid = strtol(p, NULL, 10)) > 0 && pid != (long)getpid())
			others = 1;
	if (others || n == sizeof buf - 1) {
		snprintf(note, size, "; other processes share %.1024s, so the agent "
		    "stays there and its task cgroups get no controllers of "
		    "their own from it", parent);
		close(fd);
		return;
	}
	snprintf(path, sizeof path, "%s/agent", parent);
	if ((mkdir(path, 0755) != 0 && errno != EEXIST) ||
	    cgroup_write(fd, "agent/cgroup.procs", "0") != 0) {
		snprintf(note, size, "; cannot move into %.1024s: %s", path,
		    strerror(errno));
		close(fd);
		return;
	}
	offered[0] = '\0';
	if (cgroup_read(fd, "cgroup.controllers", offered,
	    sizeof offered) < 0)
		offered[0] = '\0';
	if (strstr(offered, "memory") != NULL)
		(void)cgroup_write(fd, "cgroup.subtree_control", "+memory");
	if (strstr(offered, "pids") != NULL)
		(void)cgroup_write(fd, "cgroup.subtree_control", "+pids");
	offered[strcspn(offered, "\n")] = '\0';
	snprintf(note, size, "; the agent moved itself into %.1024s (controllers "
	    "offered: %s)", path, *offered != '\0' ? offered : "none");
	close(fd);
}

/* Removes empty nodelink-* cgroups that agents before this one left. */
static void
cgroup_clean_stale(const char *parent)
{
	char path[2 * PATH_MAX], events[256];
	struct dirent *de;
	long pid;
	int pfd;
	DIR *d;

	if ((d = opendir(parent)) == NULL)
		return;
	pfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "nodelink-", 9) != 0)
			continue;
		/* Another agent's, still running: not ours to remove. */
		pid = strtol(de->d_name + 9, NULL, 10);
		if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/cgroup.events", de->d_name);
		if (cgroup_read(pfd, path, events, sizeof events) <= 0 ||
		    strstr(events, "populated 0") == NULL)
			continue;
		snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
		cgroup_remove_tree(path);
	}
	closedir(d);
}

/*
 * Moves a throwaway child into a test cgroup under BASE_FD, as a task
 * would be: a hierarchy where that fails (controllers enabled above, a
 * root outside the agent's delegation) must not fail every task.
 * Returns 0 or an errno value.
 */
static int
cgroup_probe(int base_fd)
{
	int fd, status, error = 0;
	pid_t pid;

	if (mkdirat(base_fd, "probe", 0755) != 0 && errno != EEXIST)
		return errno;
	if ((fd = openat(base_fd, "probe/cgroup.procs", O_WRONLY |
	    O_CLOEXEC)) == -1) {
		error = errno;
		unlinkat(base_fd, "probe", AT_REMOVEDIR);
		return error;
	}
	if ((pid = fork()) == 0)
		_exit(write(fd, "0", 1) == 1 ? 0 : errno & 0x7f);
	close(fd);
	if (pid == -1)
		error = errno;
	else {
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (!WIFEXITED(status))
			error = EIO;
		else
			error = WEXITSTATUS(status);
	}
	unlinkat(base_fd, "probe", AT_REMOVEDIR);
	return error;
}

/*
 * Sets up the base for task cgroups under ROOT ("auto" or NULL: find one;
 * "none": do not).  Returns 0 with *where set to the base, or -1 with
 * *where saying why not; the caller frees it.
 */
/*
 * A re-executed agent goes on with the cgroup base BASE of the agent it
 * was (cgroup_reuse): its tasks' cgroups are there, and it is already in
 * its delegated leaf, if it moved into one.
 */
static char *cgroup_reused;

void
cgroup_reuse(const char *base)
{
	free(cgroup_reused);
	cgroup_reused = base != NULL && *base != '\0' ? xstrdup(base) : NULL;
}

/* The base BASE again, as cgroup_setup would have made it; 0 or -1. */
static int
cgroup_setup_reused(const char *base, char **where)
{
	char path[PATH_MAX + 32], controllers[256];
	int fd;

	snprintf(path, sizeof path, "%s/cgroup.procs", base);
	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    access(path, F_OK) != 0) {
		xasprintf(where, "the cgroup %s of the agent before its "
		    "re-execution: %s", base, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	cgroup_has_kill = faccessat(fd, "cgroup.kill", W_OK, 0) == 0;
	cgroup_controllers[0] = '\0';
	if (cgroup_read(fd, "cgroup.subtree_control", controllers,
	    sizeof controllers) > 0) {
		if (strstr(controllers, "memory") != NULL)
			strcat(cgroup_controllers, " memory");
		if (strstr(controllers, "pids") != NULL)
			strcat(cgroup_controllers, " pids");
	}
	close(fd);
	cgroup_base = xstrdup(base);
	xasprintf(where, "%s (%s; limits:%s; kept across the re-execution)",
	    base, cgroup_has_kill ? "cgroup.kill" : "freeze and signal",
	    *cgroup_controllers != '\0' ? cgroup_controllers :
	    " rlimits only");
	return 0;
}

int
cgroup_setup(const char *root, char **where)
{
	char own[PATH_MAX], parent[PATH_MAX + 64], path[2 * PATH_MAX + 128];
	char note[PATH_MAX + 256] = "";
	const char *hier;
	struct stat sb;
	int fd, error;

	*where = NULL;
	if (cgroup_reused != NULL)
		return cgroup_setup_reused(cgroup_reused, where);
	if (root != NULL && strcmp(root, "none") == 0) {
		*where = xstrdup("turned off (--cgroup-root none)");
		return -1;
	}
	if (root != NULL && strcmp(root, "auto") != 0)
		snprintf(parent, sizeof parent, "%s", root);
	else {
		if ((hier = cgroup_hierarchy()) == NULL) {
			*where = xstrdup("no cgroup v2 hierarchy is mounted");
			return -1;
		}
		if (cgroup_own(own, sizeof own) != 0) {
			*where = xstrdup("the agent's own cgroup is unknown");
			return -1;
		}
		snprintf(parent, sizeof parent, "%s%s", hier,
		    strcmp(own, "/") == 0 ? "" : own);
	}
	snprintf(path, sizeof path, "%s/cgroup.procs", parent);
	if (stat(path, &sb) != 0) {
		xasprintf(where, "%s is not a cgroup v2 directory", parent);
		return -1;
	}
	if (root == NULL || strcmp(root, "auto") == 0)
		cgroup_delegated(parent, note, sizeof note);
	cgroup_clean_stale(parent);
	snprintf(path, sizeof path, "%s/nodelink-%ld", parent, (long)getpid());
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		xasprintf(where, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(where, "%s: %s", path, strerror(errno));
		rmdir(path);
		return -1;
	}
	cgroup_has_kill = faccessat(fd, "cgroup.kill", W_OK, 0) == 0;
	if ((error = cgroup_probe(fd)) != 0) {
		xasprintf(where, "a process cannot move into %s: %s", path,
		    strerror(error));
		close(fd);
		rmdir(path);
		return -1;
	}
	/* Each on its own: one missing must not cost the others. */
	cgroup_controllers[0] = '\0';
	if (cgroup_write(fd, "cgroup.subtree_control", "+memory") == 0)
		strcat(cgroup_controllers, " memory");
	if (cgroup_write(fd, "cgroup.subtree_control", "+pids") == 0)
		strcat(cgroup_controllers, " pids");
	close(fd);
	cgroup_base = xstrdup(path);
	xasprintf(where, "%s (%s; limits:%s%s)", path, cgroup_has_kill ?
	    "cgroup.kill" : "freeze and signal", *cgroup_controllers != '\0' ?
	    cgroup_controllers : " rlimits only, no memory or pids "
	    "controller here", note);
	return 0;
}

/* The task cgroup NAME's path (static storage). */
const char *
cgroup_path(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", cgroup_base, name);
	return path;
}

/* A descriptor of task cgroup NAME's directory, or -1. */
int
cgroup_open(const char *name)
{
	if (cgroup_base == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return open(cgroup_path(name), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
}

/* Creates task cgroup NAME; returns its directory's descriptor or -1. */
int
cgroup_create(const char *name)
{
	const char *path;
	int fd, saved;

	if (cgroup_base == NULL) {
		errno = ENOSYS;
		return -1;
	}
	path = cgroup_path(name);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		saved = errno;
		rmdir(path);
		errno = saved;
	}
	return fd;
}

/* 1 while any process is in the cgroup, 0 when none is, -1 on error. */
int
cgroup_populated(int dirfd)
{
	char buf[256], *p;

	if (cgroup_read(dirfd, "cgroup.events", buf, sizeof buf) <= 0)
		return -1;
	if ((p = strstr(buf, "populated ")) == NULL)
		return -1;
	return p[10] == '1';
}

/* Sends SIG to every process in the cgroup; SIGKILL in one write. */
int
cgroup_signal(int dirfd, int sig)
{
	char buf[65536], *p, *nl;
	size_t have = 0;
	ssize_t n;
	long pid;
	int fd, frozen = 0;

	if (sig == SIGKILL && cgroup_has_kill)
		return cgroup_write(dirfd, "cgroup.kill", "1");
	/* A frozen cgroup cannot fork while its list is read. */
	if (sig == SIGKILL)
		frozen = cgroup_write(dirfd, "cgroup.freeze", "1") == 0;
	if ((fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* One pid a line; a read may end inside one: it is carried over. */
	while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			if ((pid = strtol(p, NULL, 10)) > 0)
				kill((pid_t)pid, sig);
		}
		have = strlen(p);
		memmove(buf, p, have);
	}
	close(fd);
	if (frozen)
		cgroup_write(dirfd, "cgroup.freeze", "0");
	return 0;
}

/* CPU time the cgroup's processes used, in microseconds. */
int
cgroup_cpu(int dirfd, uint64_t *user_us, uint64_t *system_us)
{
	char buf[1024], *p;

	if (cgroup_read(dirfd, "cpu.stat", buf, sizeof buf) <= 0)
		return -1;
	*user_us = *system_us = 0;
	if ((p = strstr(buf, "user_usec ")) != NULL)
		*user_us = strtoull(p + 10, NULL, 10);
	if ((p = strstr(buf, "system_usec ")) != NULL)
		*system_us = strtoull(p + 12, NULL, 10);
	return 0;
}

/*
 * Writes a limit (memory.max, pids.max) of the task cgroup at DIRFD.
 * Returns 0, or -1 if its controller is not there (rlimits then).
 */
int
cgroup_limit(int dirfd, const char *file, uint64_t value)
{
	char v[32];

	snprintf(v, sizeof v, "%llu", (unsigned long long)value);
	if (cgroup_write(dirfd, file, v) != 0)
		return -1;
	if (strcmp(file, "memory.max") == 0)
		(void)cgroup_write(dirfd, "memory.swap.max", "0");
	return 0;
}

/* The counter KEY of the flat-keyed FILE (memory.events: oom_kill). */
int
cgroup_counter(int dirfd, const char *file, const char *key,
    uint64_t *value)
{
	char buf[1024], *p;
	size_t len = strlen(key);

	if (cgroup_read(dirfd, file, buf, sizeof buf) <= 0)
		return -1;
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n'),
	    p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, key, len) == 0 && p[len] == ' ') {
			*value = strtoull(p + len + 1, NULL, 10);
			return 0;
		}
	}
	return -1;
}

/* Removes the cgroup at PATH and any empty children it has. */
int
cgroup_remove_tree(const char *path)
{
	char child[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (rmdir(path) == 0 || errno != EBUSY)
		return 0;
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(child, sizeof child, "%s/%s", path, de->d_name);
		cgroup_remove_tree(child);
	}
	closedir(d);
	return rmdir(path);
}

/*
 * True if PATH is a task cgroup of this or an earlier agent: beneath the
 * directory that holds this agent's base, in a nodelink-* cgroup, with no
 * step outside (a recorded path is not trusted: state.c).
 */
int
cgroup_ours(const char *path)
{
	char real[PATH_MAX], parent[PATH_MAX], *slash;
	size_t len;

	if (cgroup_base == NULL || realpath(path, real) == NULL)
		return 0;
	snprintf(parent, sizeof parent, "%s", cgroup_base);
	if ((slash = strrchr(parent, '/')) == NULL)
		return 0;
	slash[1] = '\0';
	len = strlen(parent);
	return strncmp(real, parent, len) == 0 &&
	    strncmp(real + len, "nodelink-", 9) == 0 &&
	    strchr(real + len, '/') != NULL;
}

/* Removes task cgroup NAME (it must be empty). */
int
cgroup_remove(const char *name)
{
	if (cgroup_base == NULL)
		return 0;
	return rmdir(cgroup_path(name));
}

/* Removes the base (agent exit). */
void
cgroup_teardown(void)
{
	if (cgroup_base == NULL)
		return;
	if (cgroup_remove_tree(cgroup_base) != 0)
		log_warnx("cannot remove %s: %s", cgroup_base, strerror(errno));
	free(cgroup_base);
	cgroup_base = NULL;
}

/* The directory of the agent's task cgroups, or NULL. */
const char *
cgroup_base_path(void)
{
	return cgroup_base;
}
