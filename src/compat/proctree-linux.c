/*
 * proctree-linux.c: finding every process of a task on Linux.
 *
 * A task's processes normally share its process group, but a child can
 * leave it (setsid, setpgid).  Two marks still tie it to the task: its
 * ancestry, and an environment variable the agent gives every task
 * (NODELINK_AGENT_TASK=<agent pid>-<serial>), which children inherit.  This
 * file walks /proc for both.  The agent is also made a child subreaper, so
 * that orphaned task processes are reparented to it: it reaps them, and
 * none is left behind as a zombie or under init where nothing would look.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

int
compat_subreaper_enable(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

struct proc_entry {
	pid_t pid;
	pid_t ppid;
	int marked;
	int member;
};

/* Reads a whole small /proc file; returns its length or -1. */
static ssize_t
proctree_read(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
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
proctree_has_marker(pid_t pid, const char *marker)
{
	static char env[65536];
	char path[64];
	ssize_t n, i;

	snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
	if ((n = proctree_read(path, env, sizeof env)) <= 0)
		return 0;
	/* NUL-separated entries; the buffer ends in a NUL too. */
	for (i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
		if (strcmp(env + i, marker) == 0)
			return 1;
	}
	return 0;
}

/*
 * Lists the live processes of the task whose first process is ROOT: its
 * descendants, every process carrying MARKER ("NAME=VALUE") in its
 * environment, the KNOWN ones found by earlier calls (an escapee whose
 * parent died was reparented to the agent: only this memory still ties it
 * to the task), and their descendants.  Zombies are left out: they are
 * dead.  Returns how many were found; *out holds them (the caller frees
 * it).
 */
size_t
compat_proctree_collect(pid_t root, const char *marker, const pid_t *known,
    size_t n_known, pid_t **out)
{
	struct proc_entry *all = NULL;
	size_t n = 0, cap = 0, i, k, found = 0;
	char state;
	struct dirent *de;
	char path[64], stat[512], *p;
	long pid, ppid;
	int changed;
	DIR *d;

	*out = NULL;
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if (proctree_read(path, stat, sizeof stat) <= 0)
			continue;
		/* The command name may hold spaces: fields follow its ')'. */
		if ((p = strrchr(stat, ')')) == NULL ||
		    sscanf(p + 1, " %c %ld", &state, &ppid) != 2 ||
		    state == 'Z')
			continue;
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			all = xreallocarray(all, cap, sizeof *all);
		}
		all[n].pid = (pid_t)pid;
		all[n].ppid = (pid_t)ppid;
		all[n].member = (pid_t)pid == root;
		for (k = 0; k < n_known && !all[n].member; k++)
			all[n].member = known[k] == (pid_t)pid;
		all[n].marked = 0;
		n++;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		if (!all[i].member && proctree_has_marker(all[i].pid, marker))
			all[i].member = all[i].marked = 1;
	}
	/* Descendants of members are members: repeat until nothing changes. */
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			size_t j;

			if (all[i].member)
				continue;
			for (j = 0; j < n; j++) {
				if (all[j].member && all[j].pid == all[i].ppid) {
					all[i].member = changed = 1;
					break;
				}
			}
		}
	} while (changed);
	for (i = 0; i < n; i++) {
		if (all[i].member)
			all[found++].pid = all[i].pid;
	}
	if (found == 0) {
		free(all);
		return 0;
	}
	*out = xreallocarray(NULL, found, sizeof **out);
	for (i = 0; i < found; i++)
		(*out)[i] = all[i].pid;
	free(all);
	return found;
}
