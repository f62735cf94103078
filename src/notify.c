/*
 * notify.c: systemd's readiness protocol, without libsystemd.
 *
 * Under Type=notify, systemd passes a datagram socket in $NOTIFY_SOCKET
 * (a path, or an abstract name written with a leading '@'): "READY=1"
 * once the agent runs its loop, "STOPPING=1" when it starts to drain,
 * "RELOADING=1" and "READY=1" around a SIGHUP's reload, "STATUS=" what an
 * operator sees in `systemctl status`.  With WatchdogSec=, "WATCHDOG=1"
 * at half the interval systemd gives (WATCHDOG_USEC), sent from the loop
 * itself (notify_watchdog_start): a loop that is stuck stops them, and
 * systemd restarts the agent.  Elsewhere the variables are unset and this
 * does nothing.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"

void
notify_systemd(const char *state)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	socklen_t len;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
#ifdef SOCK_CLOEXEC
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
#else	/* macOS: no SOCK_CLOEXEC (the loop is one thread: no race) */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1)
		return;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
	if (sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sun,
	    len) == -1)
		log_debug("cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/*
 * The watchdog interval systemd asks for, in microseconds, or 0: none, or
 * meant for another process (WATCHDOG_PID).
 */
static uint64_t
notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid;
	unsigned long long v;
	char *end;

	if (usec == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	if ((pid = getenv("WATCHDOG_PID")) != NULL &&
	    strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	v = strtoull(usec, &end, 10);
	return *end == '\0' ? (uint64_t)v : 0;
}

static struct event *notify_watchdog_ev;
static void (*notify_status_fn)(char *, size_t);

static void
notify_on_watchdog(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	notify_systemd("WATCHDOG=1");
	notify_status();
}

/*
 * Starts the watchdog's pings (and STATUS= with them, from STATUS_FN) if
 * systemd asked for them; returns the interval in ms, or 0.
 */
uint64_t
notify_watchdog_start(struct event_base *base,
    void (*status_fn)(char *, size_t))
{
	uint64_t usec = notify_watchdog_usec(), ms;
	struct timeval tv;

	notify_status_fn = status_fn;
	if (usec == 0)
		return 0;
	ms = usec / 2000 != 0 ? usec / 2000 : 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	notify_watchdog_ev = event_new(base, -1, EV_PERSIST,
	    notify_on_watchdog, NULL);
	if (notify_watchdog_ev == NULL ||
	    event_add(notify_watchdog_ev, &tv) != 0)
		fatalx("cannot start the watchdog's timer");
	notify_on_watchdog(-1, 0, NULL);
	return ms;
}

/* STATUS= now (a change an operator should see). */
void
notify_status(void)
{
	char status[256] = "STATUS=";

	if (notify_status_fn == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return;
	notify_status_fn(status + 7, sizeof status - 7);
	notify_systemd(status);
}

void
notify_stop(void)
{
	if (notify_watchdog_ev != NULL)
		event_free(notify_watchdog_ev);
	notify_watchdog_ev = NULL;
}
