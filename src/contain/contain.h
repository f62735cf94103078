/*
 * contain.h: how a task is started, contained and killed: the process
 * start (spawn-*.c), the cgroup v2 a task runs in (cgroup-*.c), and the
 * process tree and its records (proctree-*.c).  configure picks the
 * -linux or -none file of each pair, and spawn-posix.c where
 * posix_spawn() can do the job.
 */

#ifndef NODELINK_CONTAIN_H
#define NODELINK_CONTAIN_H

#include <sys/types.h>

#include <stdint.h>

/*
 * spawn-posix.c and spawn-fork.c: start PATH with ARGV and ENVP in a new
 * process group, stdin from /dev/null, stdout and stderr on the given
 * descriptors, in DIR (or the agent's directory when NULL), with no other
 * descriptor inherited.  Resource limits and a user to switch to, if any,
 * are set last before the program runs (spawn-fork.c: posix_spawn()
 * cannot).  Returns 0 and the pid, or an errno value and the step that
 * failed.
 */
/* A child can ask to be killed when its parent dies (spawn-fork.c). */
#if defined(__linux__) || defined(__FreeBSD__)
#define SPAWN_HAVE_PDEATHSIG 1
#else
#define SPAWN_HAVE_PDEATHSIG 0
#endif
/* What a child was doing when its start failed. */
enum spawn_step {
	SPAWN_STEP_NONE = -1,	/* (not said: the fork itself) */
	SPAWN_STEP_CGROUP, SPAWN_STEP_PGID, SPAWN_STEP_USER, SPAWN_STEP_DIR,
	SPAWN_STEP_FDS, SPAWN_STEP_LIMITS, SPAWN_STEP_EXEC,
};
const char *spawn_step_name(enum spawn_step);
struct spawn_rlimit {
	int resource;		/* RLIMIT_* */
	uint64_t soft, hard;
};
struct spawn_req {
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
	const struct spawn_rlimit *rlimits;
	size_t n_rlimits;
	int switch_user;	/* to uid, gid and groups: */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	enum spawn_step *failed_step;	/* set to what failed, or NULL */
	int pdeathsig;		/* SIGKILL when the agent dies, where the
				   system can (Linux, FreeBSD) */
	int script_fd;		/* at 4 in the child (a long command the
				   shell reads), or 0/-1: none (0-2 are
				   never a script) */
};
int spawn_start(const struct spawn_req *, pid_t *);
int spawn_fork(const struct spawn_req *, pid_t *);

/* cgroup-linux.c or cgroup-none.c: a cgroup v2 per task. */
int cgroup_setup(const char *, char **);
void cgroup_reuse(const char *);
const char *cgroup_base_path(void);
const char *cgroup_path(const char *);
int cgroup_ours(const char *);
int cgroup_open(const char *);
int cgroup_create(const char *);
int cgroup_populated(int);
int cgroup_signal(int, int);
int cgroup_cpu(int, uint64_t *, uint64_t *);
int cgroup_limit(int, const char *, uint64_t);
int cgroup_counter(int, const char *, const char *, uint64_t *);
int cgroup_remove_tree(const char *);
int cgroup_remove(const char *);
void cgroup_teardown(void);

/* proctree-linux.c or proctree-none.c: the subreaper that keeps a task's
 * orphans with the agent, and the agent's children. */
int proctree_subreaper_enable(void);
ssize_t proctree_children(pid_t **);
void proctree_descendants(pid_t, pid_t **, size_t *, size_t *);
const char *proctree_getenv(pid_t, const char *);
int proctree_starttime(pid_t, uint64_t *);
void proctree_kill_marked(const char *, char *const *, size_t, int *);

#endif /* NODELINK_CONTAIN_H */
