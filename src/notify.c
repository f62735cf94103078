/*
 * notify.c: systemd's readiness protocol, without libsystemd.
 *
 * Under Type=notify, systemd passes a datagram socket in $NOTIFY_SOCKET
 * (a path, or an abstract name written with a leading '@'): "READY=1"
 * once the agent runs its loop, "STOPPING=1" when it starts to drain.
 * Elsewhere the variable is unset and this does nothing.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sun,
	    len) == -1)
		log_debug("cannot notify systemd: %s", strerror(errno));
	close(fd);
}
