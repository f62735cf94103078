/*
 * spawn.c: start a task's process.
 *
 * The child gets, in this order: default signal dispositions and an empty
 * signal mask (the agent ignores SIGPIPE, and ignored signals survive exec),
 * a process group of its own (so that a cancel reaches everything it
 * spawns), its working directory, /dev/null on stdin, the task's pipes on
 * stdout and stderr, and no other descriptor.
 *
 * posix_spawn() does all of that in one call where the platform has the
 * chdir and closefrom file actions (glibc 2.34+, recent BSDs); it never runs
 * pthread_atfork handlers, which matters in a process with gRPC's threads.
 * Elsewhere, fork() and exec(), with only async-signal-safe calls between
 * them and errors reported back through a close-on-exec pipe.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SPAWN_H
#include <spawn.h>
#endif

#include "agent.h"

#ifdef USE_POSIX_SPAWN

int
compat_spawn(const struct compat_spawn *s, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int error;

	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);

	if ((error = posix_spawnattr_init(&attr)) != 0)
		return error;
	if ((error = posix_spawn_file_actions_init(&fa)) != 0) {
		posix_spawnattr_destroy(&attr);
		return error;
	}
	if ((error = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) != 0 ||
	    (error = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (error = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (error = posix_spawnattr_setsigmask(&attr, &none)) != 0)
		goto out;
	if (s->dir != NULL && (error =
	    posix_spawn_file_actions_addchdir_np(&fa, s->dir)) != 0)
		goto out;
	if ((error = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, s->out_fd, 1)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, s->err_fd, 2)) != 0 ||
	    (error = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto out;
	error = posix_spawn(pid, s->path, &fa, &attr, s->argv, s->envp);
out:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return error;
}

#else /* fork and exec */

/*
 * Closes every descriptor from 3 up but KEEP, which the caller has moved
 * to 3 (where it is the lowest, so closefrom(4) spares it).
 */
static void
spawn_close_from(int keep)
{
#ifdef HAVE_CLOSEFROM
	(void)keep;
	closefrom(4);
#else
	long max, fd;

	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++) {
		if (fd != keep)
			close((int)fd);
	}
#endif
}

/* In the child: everything here is async-signal-safe. */
static void noreturn_fn
spawn_child(const struct compat_spawn *s, int report)
{
	struct sigaction sa;
	sigset_t none;
	int sig, fd, error;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setpgid(0, 0) != 0)
		goto fail;
	if (s->dir != NULL && chdir(s->dir) != 0)
		goto fail;
	if ((fd = open("/dev/null", O_RDONLY)) == -1)
		goto fail;
	if ((fd != 0 && dup2(fd, 0) == -1) ||
	    dup2(s->out_fd, 1) == -1 || dup2(s->err_fd, 2) == -1)
		goto fail;
	/* The report pipe moves to 3, close-on-exec, and all else goes. */
	if (report != 3) {
		if (dup2(report, 3) == -1)
			goto fail;
		report = 3;
	}
	if (fcntl(report, F_SETFD, FD_CLOEXEC) == -1)
		goto fail;
	spawn_close_from(report);
	execve(s->path, s->argv, s->envp);
fail:
	error = errno;
	(void)!write(report, &error, sizeof error);
	_exit(127);
}

int
compat_spawn(const struct compat_spawn *s, pid_t *pid)
{
	int report[2], error = 0;
	ssize_t n;
	pid_t child;

	if (compat_pipe_cloexec(report) != 0)
		return errno;
	child = fork();
	if (child == -1) {
		error = errno;
		close(report[0]);
		close(report[1]);
		return error;
	}
	if (child == 0) {
		close(report[0]);
		spawn_child(s, report[1]);
	}
	close(report[1]);
	do
		n = read(report[0], &error, sizeof error);
	while (n == -1 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)sizeof error) {
		/* The child never ran the task: reap it here. */
		while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
			;
		return error;
	}
	*pid = child;
	return 0;
}

#endif
