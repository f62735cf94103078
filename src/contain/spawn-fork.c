/*
 * spawn-fork.c: start a task's process with fork() and exec(): where
 * posix_spawn() lacks the chdir or closefrom file action (configure
 * decides; spawn-posix.c says what the child gets), and for a task that
 * starts inside its own cgroup, has resource limits, or runs as another
 * user, none of which posix_spawn() can do.
 *
 * The user is switched in the order that leaves nothing behind:
 * supplementary groups, then gid, then uid, and only then the working
 * directory (entered with the user's own rights).  On Linux the child
 * makes the system calls itself: the C library's setuid() would signal
 * every thread it believes the process has, and a vfork() child shares
 * the agent's list of them.
 *
 * A task with a cgroup is started by vfork(): the child moves itself into
 * the cgroup (one write to cgroup.procs) before anything else and before
 * exec, so not one instruction of the task runs outside it and nothing it
 * forks can escape.  vfork() copies no page tables: a fork() of the agent
 * (or clone3's CLONE_INTO_CGROUP, which is a fork) costs more than the
 * rest of starting a task.  The child shares the agent's memory until it
 * execs, and touches none of it but its own stack.  On Linux every task
 * is started so (a task without a cgroup comes here for its
 * PR_SET_PDEATHSIG, which posix_spawn() cannot set); elsewhere the tasks
 * without a cgroup fork, since there setuid() and the rest are the C
 * library's, not raw system calls known to be safe in a vfork child.
 *
 * A vfork() child still gets a copy of the agent's descriptor table, and
 * the agent holds two descriptors per running task: with 5,000 tasks each
 * start copied (and the child then closed) 10,000 of them.  Where Linux
 * has close_range(CLOSE_RANGE_UNSHARE) the child shares the table instead
 * (clone with CLONE_FILES), and its first act is to take a table of its
 * own holding only the descriptors below a few low "slots": the agent
 * keeps those slots open on /dev/null, puts the task's descriptors in them
 * for the spawn, and puts /dev/null back once the child has exec'd.  A
 * start then costs the same with 5 tasks running or 5,000.
 *
 * Moving a process into a cgroup is slow (the kernel's cgroup migration:
 * 0.24 ms, a quarter of a trivial task's life), so on x86-64 the child is
 * created in its cgroup instead: clone3() with CLONE_INTO_CGROUP, and
 * CLONE_VM | CLONE_VFORK as vfork() has, on a stack of its own.  No C
 * library wraps that, hence a few lines of assembly (spawn_clone3).  A
 * kernel without it (before 5.7) gets the move.
 *
 * Between fork() and exec() the child makes only async-signal-safe calls:
 * the agent has gRPC's threads, whose locks may be held at the fork.  An
 * error before exec() goes back to the agent through a close-on-exec pipe,
 * so that the task's FAILURE final can say what it was.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#endif
#ifdef __FreeBSD__
#include <sys/procctl.h>
#endif

#include <errno.h>
#include <sys/ioctl.h>

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"



/* In the child: the user's groups, gid and uid, in that order. */
static int
spawn_switch_user(const struct spawn_req *s)
{
#ifdef __linux__
#ifdef SYS_setuid32	/* 32-bit ABIs: SYS_setuid takes 16-bit IDs */
	if (syscall(SYS_setgroups32, s->n_groups, s->groups) != 0 ||
	    syscall(SYS_setgid32, s->gid) != 0 ||
	    syscall(SYS_setuid32, s->uid) != 0)
		return -1;
#else
	if (syscall(SYS_setgroups, s->n_groups, s->groups) != 0 ||
	    syscall(SYS_setgid, s->gid) != 0 ||
	    syscall(SYS_setuid, s->uid) != 0)
		return -1;
#endif
#else
	if (setgroups((int)s->n_groups, s->groups) != 0 ||
	    setgid(s->gid) != 0 || setuid(s->uid) != 0)
		return -1;
#endif
	return 0;
}

/* What the child was doing when it failed, for the task's reason. */
static const char *const spawn_steps[] = {
	"moving into its cgroup", "making its process group",
	"switching to its user", "entering its working directory",
	"setting up its descriptors", "setting its resource limits",
	"running the program",
};

const char *
spawn_step_name(enum spawn_step step)
{
	if ((int)step < 0 ||
	    (size_t)step >= sizeof spawn_steps / sizeof spawn_steps[0])
		return "starting it";
	return spawn_steps[step];
}

/*
 * In the child: SIGKILL when the agent dies, however it dies, so that a
 * task does not run on with nobody to report it (what it started itself
 * the next agent ends, state.c).  An agent already gone: exit now.
 */
static int
spawn_pdeathsig(pid_t parent)
{
#if defined(__linux__)
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		return -1;
#elif defined(__FreeBSD__)
	int sig = SIGKILL;

	if (procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig) != 0)
		return -1;
#endif
	if (getppid() != parent)
		_exit(127);
	return 0;
}

/* In the child: everything here is async-signal-safe. */
static void noreturn_fn
spawn_child(const struct spawn_req *s, int report, int move,
    pid_t parent)
{
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	size_t i;
	int sig, fd, error[2], script = -1;

	/* Into the cgroup before anything else. */
	error[0] = SPAWN_STEP_CGROUP;
	if (move) {
		if ((fd = openat(s->cgroup_fd, "cgroup.procs", O_WRONLY)) == -1 ||
		    write(fd, "0", 1) != 1)
			goto fail;
		close(fd);
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* A terminal's task leads a session of its own (and its group). */
	error[0] = SPAWN_STEP_PGID;
	if (s->pty ? setsid() == -1 : setpgid(0, 0) != 0)
		goto fail;
	error[0] = SPAWN_STEP_USER;
	if (s->switch_user && spawn_switch_user(s) != 0)
		goto fail;
	/* After the user switch, which would clear it. */
	error[0] = SPAWN_STEP_PGID;
	if (s->pdeathsig && spawn_pdeathsig(parent) != 0)
		goto fail;
	error[0] = SPAWN_STEP_DIR;
	if (s->dir != NULL && chdir(s->dir) != 0)
		goto fail;
	error[0] = SPAWN_STEP_FDS;
	if (s->in_fd != -1)
		fd = s->in_fd;
	else if ((fd = open("/dev/null", O_RDONLY)) == -1)
		goto fail;
	if ((fd != 0 && dup2(fd, 0) == -1) ||
	    dup2(s->out_fd, 1) == -1 || dup2(s->err_fd, 2) == -1)
		goto fail;
	/* The terminal on 0 becomes the session's controlling one. */
	if (s->pty && ioctl(0, TIOCSCTTY, 0) == -1)
		goto fail;
	/* A long command's script goes out of the way of the moves below
	 * (it may be on 3 or 4). */
	if (s->script_fd > 2 &&
	    (script = fcntl(s->script_fd, F_DUPFD, 5)) == -1)
		goto fail;
	/* The report pipe moves to 3, close-on-exec, and all else goes. */
	if (report != 3) {
		if (dup2(report, 3) == -1)
			goto fail;
		report = 3;
	}
	if (fcntl(report, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	/* ... but the script, at 4, for the shell to read (it closes it). */
	if (script != -1 && dup2(script, 4) == -1)
		goto fail;
	closefrom(script != -1 ? 5 : 4);	/* the report pipe, at 3, stays */
	/* Last: a low open-files limit must not stop the moves above. */
	error[0] = SPAWN_STEP_LIMITS;
	for (i = 0; i < s->n_rlimits; i++) {
		rl.rlim_cur = (rlim_t)s->rlimits[i].soft;
		rl.rlim_max = (rlim_t)s->rlimits[i].hard;
		if (setrlimit(s->rlimits[i].resource, &rl) != 0)
			goto fail;
	}
	error[0] = SPAWN_STEP_EXEC;
	execve(s->path, s->argv, s->envp);
fail:
	error[1] = errno;
	(void)!write(report, error, sizeof error);
	_exit(127);
}

/*
 * AddressSanitizer cannot follow a child running on a stack of its own
 * (it warns, on the agent's log, at every start): built with it, tasks
 * start by plain vfork().
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_UNDER_ASAN
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define SPAWN_UNDER_ASAN
#endif

#if defined(__linux__) && defined(HAVE_CLOSE_RANGE) && \
    defined(CLOSE_RANGE_UNSHARE) && !defined(SPAWN_UNDER_ASAN)
#define SPAWN_SLOTS

/* Valgrind refuses clone() with these flags (it stops the agent): under
 * it, tasks start by vfork(), which it runs as a fork. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

enum { SLOT_OUT, SLOT_ERR, SLOT_IN, SLOT_REPORT, SLOT_CGROUP, SLOT_SCRIPT,
	SLOT_NULL, N_SLOTS };
static int spawn_slot[N_SLOTS];
static int spawn_slots_state;		/* 0 not yet, 1 ready, -1 unusable */
static unsigned spawn_bound;		/* above every slot */
/* The child's stack until it execs (it shares the agent's memory). */
static char spawn_stack[64 * 1024] __attribute__((aligned(16)));

struct spawn_clone {
	struct spawn_req s;		/* its descriptors are slots */
	int report;
	int move;
	pid_t parent;
};

#if defined(__x86_64__) && defined(SYS_clone3) && \
    (defined(__GNUC__) || defined(__clang__))
#define SPAWN_CLONE3
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/* The kernel's struct clone_args (its version 2, with the cgroup). */
struct spawn_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
	    stack_size, tls, set_tid, set_tid_size, cgroup;
};
static int spawn_clone3_state;		/* 0 untried, 1 works, -1 not here */

/*
 * clone3(ARGS); the child, on ARGS' stack, runs FN(ARG) and exits with
 * what it returns.  Returns the child's pid, or -errno.  FN and ARG ride
 * in r12 and r13, which the system call keeps for the child.
 */
static long
spawn_clone3(struct spawn_clone_args *args, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = SYS_clone3;
	register void *r12 __asm__("r12") = (void *)(uintptr_t)fn;
	register void *r13 __asm__("r13") = arg;

	__asm__ volatile(
	    "syscall\n\t"
	    "test %%rax, %%rax\n\t"
	    "jnz 1f\n\t"
	    "xor %%ebp, %%ebp\n\t"	/* the child: a new stack */
	    "mov %%r13, %%rdi\n\t"
	    "call *%%r12\n\t"
	    "mov %%eax, %%edi\n\t"
	    "mov $60, %%eax\n\t"		/* SYS_exit */
	    "syscall\n\t"
	    "hlt\n"
	    "1:"
	    : "+r"(rax)
	    : "D"(args), "S"(sizeof *args), "r"(r12), "r"(r13)
	    : "rcx", "r11", "memory", "cc");
	return rax;
}
#endif

/* The slots, opened once, close-on-exec, on /dev/null. */
static int
spawn_slots_ready(void)
{
	int i;

	if (spawn_slots_state != 0)
		return spawn_slots_state == 1;
	spawn_slots_state = -1;
	if (RUNNING_ON_VALGRIND)
		return 0;
	for (i = 0; i < N_SLOTS; i++) {
		if ((spawn_slot[i] = open("/dev/null", O_RDWR | O_CLOEXEC)) ==
		    -1) {
			while (i-- > 0)
				close(spawn_slot[i]);
			return 0;
		}
		if ((unsigned)spawn_slot[i] >= spawn_bound)
			spawn_bound = (unsigned)spawn_slot[i] + 1;
	}
	spawn_slots_state = 1;
	return 1;
}

/* Slot I holds descriptor FD (or /dev/null again, FD -1). */
static int
spawn_slot_put(int i, int fd)
{
	if (fd == -1)
		fd = spawn_slot[SLOT_NULL];
	if (fd == spawn_slot[i])
		return 0;
	return dup3(fd, spawn_slot[i], O_CLOEXEC) == -1 ? -1 : 0;
}

/* In the child, sharing the agent's table: a small one of its own. */
static int
spawn_clone_child(void *arg)
{
	struct spawn_clone *c = arg;
	int error[2];

	if (close_range(spawn_bound, ~0U, CLOSE_RANGE_UNSHARE) != 0 &&
	    unshare(CLONE_FILES) != 0) {
		/* (Still the agent's table: nothing of it is touched.) */
		error[0] = SPAWN_STEP_FDS;
		error[1] = errno;
		(void)!write(c->report, error, sizeof error);
		_exit(127);
	}
	spawn_child(&c->s, c->report, c->move, c->parent);
}

/*
 * Starts the child through the slots: returns its pid, or -1 with errno
 * set (and -2 when the slots cannot be used: vfork then).
 */
static pid_t
spawn_through_slots(const struct spawn_req *s, int report, int move,
    pid_t parent)
{
	struct spawn_clone c;
	pid_t child = -1;
	int error = 0, i;

	if (!spawn_slots_ready())
		return -2;
	c.s = *s;
	c.move = move;
	c.parent = parent;
	if (spawn_slot_put(SLOT_OUT, s->out_fd) != 0 ||
	    spawn_slot_put(SLOT_ERR, s->err_fd) != 0 ||
	    spawn_slot_put(SLOT_IN, s->in_fd) != 0 ||
	    spawn_slot_put(SLOT_REPORT, report) != 0 ||
	    spawn_slot_put(SLOT_CGROUP, s->cgroup_fd) != 0 ||
	    spawn_slot_put(SLOT_SCRIPT, s->script_fd > 2 ? s->script_fd : -1)
	    != 0)
		error = errno;
	else {
		c.s.out_fd = spawn_slot[SLOT_OUT];
		c.s.err_fd = spawn_slot[SLOT_ERR];
		c.s.in_fd = s->in_fd != -1 ? spawn_slot[SLOT_IN] : -1;
		c.s.cgroup_fd = s->cgroup_fd != -1 ?
		    spawn_slot[SLOT_CGROUP] : -1;
		c.s.script_fd = s->script_fd > 2 ? spawn_slot[SLOT_SCRIPT] : -1;
		c.report = spawn_slot[SLOT_REPORT];
		child = -1;
#ifdef SPAWN_CLONE3
		if (move && spawn_clone3_state >= 0) {
			struct spawn_clone_args ca;
			long r;

			/* Born in its cgroup: no move. */
			memset(&ca, 0, sizeof ca);
			ca.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES |
			    SPAWN_CLONE_INTO_CGROUP;
			ca.exit_signal = SIGCHLD;
			ca.stack = (uint64_t)(uintptr_t)spawn_stack;
			ca.stack_size = sizeof spawn_stack;
			ca.cgroup = (uint64_t)s->cgroup_fd;
			c.move = 0;
			r = spawn_clone3(&ca, spawn_clone_child, &c);
			if (r > 0) {
				spawn_clone3_state = 1;
				child = (pid_t)r;
			} else if (spawn_clone3_state == 0 && (r == -ENOSYS ||
			    r == -EINVAL || r == -E2BIG))
				spawn_clone3_state = -1;	/* not here */
			c.move = move;	/* else: the move, as below */
		}
		if (child == -1)
#endif
		child = clone(spawn_clone_child, spawn_stack +
		    sizeof spawn_stack, CLONE_VM | CLONE_VFORK | CLONE_FILES |
		    SIGCHLD, &c);
		if (child == -1)
			error = errno;
	}
	/* The child has exec'd (or exited): the slots let go of the
	 * task's descriptors, or the pipes would never see EOF. */
	for (i = 0; i < SLOT_NULL; i++)
		(void)spawn_slot_put(i, -1);
	/* An emulator (qemu-user, as OBS, Copr and buildx builders run
	 * tests) refuses these clone flags: vfork from now on. */
	if (child == -1 && error == EINVAL) {
		spawn_slots_state = -1;
		return -2;
	}
	errno = error;
	return child;
}
#endif

#ifndef USE_POSIX_SPAWN
int
spawn_start(const struct spawn_req *s, pid_t *pid)
{
	return spawn_fork(s, pid);
}
#endif

int
spawn_fork(const struct spawn_req *s, pid_t *pid)
{
	int report[2], error = 0, move = 0, failed[2];
	pid_t parent;
	sigset_t all, saved;
	ssize_t n;
	pid_t child;

	if (compat_pipe_cloexec(report) != 0)
		return errno;
	/*
	 * No signal handler may run in the child before it has reset them
	 * all: libevent's would write to the agent's own signal pipe.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	move = s->cgroup_fd != -1;
	parent = getpid();
#ifdef SPAWN_SLOTS
	if ((child = spawn_through_slots(s, report[1], move, parent)) != -2)
		goto started;
#endif
#ifdef __linux__
	child = vfork();	/* every task: the child touches only its stack */
#else
	child = move ? vfork() : fork();
#endif
	if (child == 0) {
		close(report[0]);
		spawn_child(s, report[1], move, parent);
	}
#ifdef SPAWN_SLOTS
started:
#endif
	error = errno;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (child == -1) {
		close(report[0]);
		close(report[1]);
		return error;
	}
	close(report[1]);
	do
		n = read(report[0], failed, sizeof failed);
	while (n == -1 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)sizeof failed) {
		/* The child never ran the task: reap it here. */
		while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
			;
		if (s->failed_step != NULL && failed[0] >= 0 &&
		    (size_t)failed[0] < sizeof spawn_steps /
		    sizeof spawn_steps[0])
			*s->failed_step = (enum spawn_step)failed[0];
		return failed[1];
	}
	*pid = child;
	return 0;
}
