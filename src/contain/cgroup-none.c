/*
 * cgroup-none.c: where there are no cgroups (the BSDs, macOS, or a build
 * without the process tree), a task's processes are its process group
 * (track.c says what that reaches).
 */

#include "config.h"

#include <errno.h>

#include "agent.h"

int
cgroup_setup(const char *root, char **where)
{
	(void)root;
	*where = xstrdup("this system has no cgroups");
	return -1;
}

const char *
cgroup_path(const char *name)
{
	return name;
}

int
cgroup_ours(const char *path)
{
	(void)path;
	return 0;
}

int
cgroup_open(const char *name)
{
	(void)name;
	errno = ENOSYS;
	return -1;
}

int
cgroup_create(const char *name)
{
	(void)name;
	errno = ENOSYS;
	return -1;
}

int
cgroup_populated(int dirfd)
{
	(void)dirfd;
	return -1;
}

int
cgroup_signal(int dirfd, int sig)
{
	(void)dirfd;
	(void)sig;
	errno = ENOSYS;
	return -1;
}

int
cgroup_cpu(int dirfd, uint64_t *user_us, uint64_t *system_us)
{
	(void)dirfd;
	*user_us = *system_us = 0;
	errno = ENOSYS;
	return -1;
}

int
cgroup_remove_tree(const char *path)
{
	(void)path;
	return 0;
}

int
cgroup_remove(const char *name)
{
	(void)name;
	return 0;
}

void
cgroup_teardown(void)
{
}

int
cgroup_limit(int dirfd, const char *file, uint64_t value)
{
	(void)dirfd;
	(void)file;
	(void)value;
	return -1;
}

int
cgroup_counter(int dirfd, const char *file, const char *key,
    uint64_t *value)
{
	(void)dirfd;
	(void)file;
	(void)key;
	(void)value;
	return -1;
}

void
cgroup_reuse(const char *base)
{
	(void)base;
}

const char *
cgroup_base_path(void)
{
	return NULL;
}
