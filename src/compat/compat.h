/*
 * compat.h: the platform shims.  Core code calls these named functions and
 * never tests for platform features itself; each shim's file picks the best
 * way its platform offers, as decided by configure.
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

/* spawn-posix.c and spawn-fork.c: start PATH with ARGV and ENVP in a new process group, stdin from
 * /dev/null, stdout and stderr on the given descriptors, in DIR (or the
 * agent's directory when NULL), with no other descriptor inherited.
 * Resource limits and a user to switch to, if any, are set last before
 * the program runs (spawn-fork.c: posix_spawn() cannot).
 * Returns 0 and the pid, or an errno value. */
/* A child can ask to be killed when its parent dies (spawn-fork.c). */
#if defined(__linux__) || defined(__FreeBSD__)
#define COMPAT_HAVE_PDEATHSIG 1
#else
#define COMPAT_HAVE_PDEATHSIG 0
#endif
struct compat_rlimit {
	int resource;		/* RLIMIT_* */
	uint64_t soft, hard;
};
struct compat_spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *dir;
	int in_fd;		/* stdin, or -1: /dev/null */
	int out_fd;
	int err_fd;
	int pty;		/* in/out/err are a terminal's: setsid and
				   make it the controlling one */
	int cgroup_fd;		/* start inside this cgroup v2, or -1 */
	const struct compat_rlimit *rlimits;
	size_t n_rlimits;
	int switch_user;	/* to uid, gid and groups: */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	const char **failed_step;	/* set to what failed, or NULL */
	int pdeathsig;		/* SIGKILL when the agent dies, where the
				   system can (Linux, FreeBSD) */
	int script_fd;		/* at 4 in the child (a long command the
				   shell reads), or 0/-1: none (0-2 are
				   never a script) */
};
int compat_spawn(const struct compat_spawn *, pid_t *);
int compat_spawn_fork(const struct compat_spawn *, pid_t *);

/* cgroup-linux.c or cgroup-none.c: a cgroup v2 per task. */
int compat_cgroup_setup(const char *, char **);
const char *compat_cgroup_path(const char *);
int compat_cgroup_ours(const char *);
int compat_cgroup_open(const char *);
int compat_cgroup_create(const char *);
int compat_cgroup_populated(int);
int compat_cgroup_signal(int, int);
int compat_cgroup_cpu(int, uint64_t *, uint64_t *);
int compat_cgroup_limit(int, const char *, uint64_t);
int compat_cgroup_counter(int, const char *, const char *, uint64_t *);
int compat_cgroup_remove_tree(const char *);
int compat_cgroup_remove(const char *);
void compat_cgroup_teardown(void);

/* proctree-linux.c or proctree-none.c: the subreaper that keeps a task's
 * orphans with the agent, and the agent's children. */
int compat_subreaper_enable(void);
ssize_t compat_proctree_children(pid_t **);
void compat_proctree_descendants(pid_t, pid_t **, size_t *, size_t *);
const char *compat_proc_getenv(pid_t, const char *);
int compat_proc_starttime(pid_t, uint64_t *);
void compat_proc_kill_marked(const char *, char *const *, size_t, int *);

/* pty.c: a pseudo-terminal for a task. */
int compat_openpty(int *, int *, unsigned, unsigned);
int compat_pty_resize(int, unsigned, unsigned);
unsigned char compat_pty_eof_char(int);

/* monotime.c: milliseconds from a clock that never goes back. */
uint64_t compat_monotime_ms(void);
int compat_datasync(int);	/* datasync.c */

/* features.c: which way each shim went, for --version and the tests. */
const char *compat_features(void);

#endif /* NODELINK_COMPAT_H */
