/*
 * pty.c: a pseudo-terminal for a task (ShellExecute.pty), the POSIX way:
 * posix_openpt, grantpt, unlockpt, ptsname, which Linux, the BSDs, macOS
 * and illumos all have.  The agent keeps the master; the slave becomes the
 * task's stdin, stdout, stderr and controlling terminal (spawn-fork.c).
 */

#include "config.h"

#include <sys/ioctl.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

/*
 * Opens a terminal of ROWS x COLS: *master for the agent (close-on-exec,
 * non-blocking), *slave for the task.  Returns 0, or an errno value.
 */
int
compat_openpty(int *master, int *slave, unsigned rows, unsigned cols)
{
	const char *name;
	int m, s, error;

	if ((m = posix_openpt(O_RDWR | O_NOCTTY)) == -1)
		return errno;
	if (grantpt(m) != 0 || unlockpt(m) != 0 ||
	    (name = ptsname(m)) == NULL ||
	    (s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		error = errno;
		close(m);
		return error;
	}
	if (fcntl(m, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) == -1 ||
	    compat_pty_resize(m, rows, cols) != 0) {
		error = errno;
		close(m);
		close(s);
		return error;
	}
	*master = m;
	*slave = s;
	return 0;
}

/* New size: the kernel sends SIGWINCH to the foreground process group. */
int
compat_pty_resize(int master, unsigned rows, unsigned cols)
{
	struct winsize ws;

	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	ws.ws_xpixel = ws.ws_ypixel = 0;
	return ioctl(master, TIOCSWINSZ, &ws) == 0 ? 0 : -1;
}

/* The terminal's end-of-file character (VEOF, ^D unless changed). */
unsigned char
compat_pty_eof_char(int master)
{
	struct termios t;

	if (tcgetattr(master, &t) != 0 || t.c_cc[VEOF] == _POSIX_VDISABLE)
		return 4;
	return (unsigned char)t.c_cc[VEOF];
}
