/*
 * http.c: the agent's HTTP endpoint (--http-listen), on the loop.
 *
 *   GET /healthz   200 while the loop runs (it answers: a wedged loop times
 *                  out), JSON with the connection, tasks, spool, host load
 *   GET /readyz    the same JSON; 200 only while a stream to a server is
 *                  established and the agent is not draining, else 503
 *   GET /metrics   Prometheus text format 0.0.4 (metrics.c)
 *
 * Anything else is 404, a method other than GET or HEAD 405.  The server
 * is a small one on libevent's listener and bufferevents (its evhttp, in
 * libevent 2.1, cannot bound the number of connections): one request per
 * connection, the request's head bounded (8 KiB), three seconds to send it
 * and ten to take the reply, at most 64 connections at once.  At the cap a
 * new connection is served and the oldest one still silent is closed:
 * idle connections (a port scanner, a stuck client) must not keep a
 * health check out.  A request is answered at once from state the loop
 * owns, so a slow or hostile client costs the loop nothing but its
 * buffered reply.
 */

#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "agent.h"

#define HTTP_MAX_HEADERS 8192	/* request line and headers */
#define HTTP_HEAD_S 3		/* to send the request's head */
#define HTTP_TIMEOUT_S 10	/* to take the reply */
#define HTTP_MAX_CONNS 64

/* One connection: its bufferevent, and the deadline of each phase (a
 * client that dribbles a byte at a time must not keep its slot). */
struct http_conn {
	TAILQ_ENTRY(http_conn) entry;	/* oldest first */
	struct bufferevent *bev;
	struct event *deadline;
	int answered;		/* its reply is being written */
};
TAILQ_HEAD(http_conn_list, http_conn);

static struct evconnlistener *http_listener;
static struct agent *http_agent;
static unsigned http_conns;
static struct http_conn_list http_all = TAILQ_HEAD_INITIALIZER(http_all);

static void
http_state(struct metrics_state *st)
{
	memset(st, 0, sizeof *st);
	st->connected = link_connected(http_agent->link);
	st->server = link_server(http_agent->link);
	st->running = task_count(TASK_RUNNING);
	st->queued = task_count(TASK_QUEUED);
	st->spool_bytes = link_spooled(http_agent->link);
	st->max_running = http_agent->opts->max_concurrent_tasks;
	st->max_queued = http_agent->opts->max_queued_tasks;
	st->draining = http_agent->draining;
	st->shutting_down = http_agent->shutting_down;
}

static void
http_close(struct http_conn *hc)
{
	TAILQ_REMOVE(&http_all, hc, entry);
	bufferevent_free(hc->bev);
	event_free(hc->deadline);
	free(hc);
	http_conns--;
}

/* The reply is out: the connection is done (one request each). */
static void
http_on_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		http_close(arg);
}

/* The client went away, or took too long. */
static void
http_on_event(struct bufferevent *bev, short events, void *arg)
{
	(void)bev;
	(void)events;
	http_close(arg);
}

static void
http_on_deadline(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	http_close(arg);
}

static void
http_reply(struct http_conn *hc, int head, int code, const char *reason,
    const char *type, const char *extra, const char *body)
{
	struct bufferevent *bev = hc->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	struct timeval tv = { HTTP_TIMEOUT_S, 0 };
	size_t len = strlen(body);

	hc->answered = 1;
	evtimer_add(hc->deadline, &tv);	/* to take the reply */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s"
	    "Connection: close\r\n\r\n", code, reason, type, len, extra);
	if (!head)
		evbuffer_add(out, body, len);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, http_on_written, http_on_event, hc);
	bufferevent_enable(bev, EV_WRITE);
}

/* Answers the request line LINE ("GET /path HTTP/1.1"). */
static void
http_answer(struct http_conn *hc, char *line)
{
	struct metrics_state st;
	char *method, *path, *save = NULL, *q, *body;
	int ready, head;

	method = strtok_r(line, " ", &save);
	path = strtok_r(NULL, " ", &save);
	if (method == NULL || path == NULL) {
		http_reply(hc, 0, 400, "Bad Request", "text/plain", "",
		    "bad request\n");
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		http_reply(hc, 0, 405, "Method Not Allowed", "text/plain",
		    "Allow: GET, HEAD\r\n", "method not allowed\n");
		return;
	}
	if ((q = strchr(path, '?')) != NULL)
		*q = '\0';
	http_state(&st);
	if (strcmp(path, "/healthz") == 0) {
		body = metrics_health(&st, "ok");
		http_reply(hc, head, 200, "OK", "application/json", "", body);
	} else if (strcmp(path, "/readyz") == 0) {
		ready = st.connected && !http_agent->shutting_down &&
		    !http_agent->draining;
		body = metrics_health(&st, ready ? "ready" :
		    http_agent->shutting_down || http_agent->draining ?
		    "draining" : "not connected");
		http_reply(hc, head, ready ? 200 : 503, ready ? "OK" :
		    "Service Unavailable", "application/json", "", body);
	} else if (strcmp(path, "/metrics") == 0) {
		body = metrics_render(&st);
		http_reply(hc, head, 200, "OK",
		    "text/plain; version=0.0.4; charset=utf-8", "", body);
	} else {
		http_reply(hc, head, 404, "Not Found", "text/plain", "",
		    "not found: try /healthz, /readyz or /metrics\n");
		return;
	}
	free(body);
}

/* Waits for the whole head of the request, then answers it. */
static void
http_on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *hc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char *line;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1)
		end = evbuffer_search(in, "\n\n", 2, NULL);	/* bare LFs */
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > HTTP_MAX_HEADERS)
			http_reply(hc, 0, 431, "Request Header Fields Too "
			    "Large", "text/plain", "", "headers too large\n");
		return;
	}
	if ((size_t)end.pos > HTTP_MAX_HEADERS) {
		http_reply(hc, 0, 431, "Request Header Fields Too Large",
		    "text/plain", "", "headers too large\n");
		return;
	}
	line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
	http_answer(hc, line != NULL ? line : (char *)"");
	free(line);
}

/*
 * A new connection.  At the cap, the oldest one that has not sent its
 * request yet makes room; if all are taking replies, the new one waits
 * for none and is closed.
 */
static void
http_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct timeval tv = { HTTP_HEAD_S, 0 };
	struct timeval io = { HTTP_TIMEOUT_S, 0 };
	struct http_conn *hc;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (http_conns >= HTTP_MAX_CONNS) {
		TAILQ_FOREACH(hc, &http_all, entry)
			if (!hc->answered)
				break;
		if (hc == NULL) {
			log_debug("http: %d connections taking replies: one "
			    "refused", HTTP_MAX_CONNS);
			evutil_closesocket(fd);
			return;
		}
		log_debug("http: %d connections: the oldest silent one is "
		    "closed for a new one", HTTP_MAX_CONNS);
		http_close(hc);
	}
	bev = bufferevent_socket_new(http_agent->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	hc = xcalloc(1, sizeof *hc);
	hc->bev = bev;
	if ((hc->deadline = evtimer_new(http_agent->base, http_on_deadline,
	    hc)) == NULL || evtimer_add(hc->deadline, &tv) != 0)
		fatalx("cannot create an HTTP deadline");
	http_conns++;
	TAILQ_INSERT_TAIL(&http_all, hc, entry);
	bufferevent_setcb(bev, http_on_read, NULL, http_on_event, hc);
	bufferevent_set_timeouts(bev, &io, &io);
	bufferevent_setwatermark(bev, EV_READ, 0, HTTP_MAX_HEADERS + 1024);
	bufferevent_enable(bev, EV_READ);
}

/* Splits "host:port" ("[v6]:port" too); -1 if it is not that. */
static int
http_split(const char *listen, char *host, size_t size, unsigned *port)
{
	const char *colon;
	char *end;
	unsigned long p;

	if (*listen == '[') {
		if ((colon = strstr(listen, "]:")) == NULL)
			return -1;
		snprintf(host, size, "%.*s", (int)(colon - listen - 1),
		    listen + 1);
		colon++;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return -1;
		snprintf(host, size, "%.*s", (int)(colon - listen), listen);
	}
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

/*
 * Listens on LISTEN ("ADDR:PORT"; port 0 picks a free one, logged).
 * Returns 0, or -1 with *cause set.
 */
int
http_start(struct agent *a, const char *listen, char **cause)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	int sslen;
	socklen_t len = sizeof ss;
	char host[256], shown[300];
	unsigned port;

	if (http_split(listen, host, sizeof host, &port) != 0) {
		xasprintf(cause, "--http-listen takes ADDR:PORT, not '%s'",
		    listen);
		return -1;
	}
	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sslen = (int)sizeof *sin;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sslen = (int)sizeof *sin6;
	} else {
		xasprintf(cause, "--http-listen: '%s' is not an IP address",
		    host);
		return -1;
	}
	http_agent = a;
	http_listener = evconnlistener_new_bind(a->base, http_on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    16, (struct sockaddr *)&ss, sslen);
	if (http_listener == NULL) {
		xasprintf(cause, "http: cannot listen on %s", listen);
		return -1;
	}
	if (getsockname(evconnlistener_get_fd(http_listener),
	    (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(shown, sizeof shown, strchr(host, ':') != NULL ? "[%s]:%u" :
	    "%s:%u", host, port);
	log_info("http: listening on %s", shown);
	return 0;
}

void
http_stop(void)
{
	if (http_listener != NULL)
		evconnlistener_free(http_listener);
	http_listener = NULL;
}
