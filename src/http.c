/*
 * http.c: the agent's HTTP endpoint (--http-listen), on the loop.
 *
 *   GET /healthz   200 while the loop runs (it answers: a wedged loop times
 *                  out), JSON with the connection, tasks, spool, host load
 *   GET /readyz    the same JSON; 200 only while a stream to a server is
 *                  established and the agent is not draining, else 503
 *   GET /metrics   Prometheus text format 0.0.4 (metrics.c)
 *
 * Anything else is 404, a method other than GET or HEAD 405.  libevent's
 * evhttp bounds header and body sizes and times idle connections out; a
 * request is answered at once from state the loop owns, so a slow client
 * costs the loop nothing but its buffered reply.
 */

#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "agent.h"

#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 1024
#define HTTP_TIMEOUT_S 10

static struct evhttp *http;
static struct agent *http_agent;

static void
http_state(struct metrics_state *st)
{
	memset(st, 0, sizeof *st);
	st->connected = link_connected(http_agent->link);
	st->server = link_server(http_agent->link);
	st->running = task_count(TASK_RUNNING);
	st->queued = task_count(TASK_QUEUED);
	st->spool_bytes = link_spooled(http_agent->link);
}

static void
http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *body)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void
http_on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_state st;
	const char *path;
	char *body;
	int ready;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		http_reply(req, 405, "Method Not Allowed", "text/plain",
		    "method not allowed\n");
		return;
	}
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL)
		path = "/";
	http_state(&st);
	if (strcmp(path, "/healthz") == 0) {
		body = metrics_health(&st, "ok");
		http_reply(req, 200, "OK", "application/json", body);
	} else if (strcmp(path, "/readyz") == 0) {
		ready = st.connected && !http_agent->shutting_down;
		body = metrics_health(&st, ready ? "ready" :
		    http_agent->shutting_down ? "draining" : "not connected");
		http_reply(req, ready ? 200 : 503, ready ? "OK" :
		    "Service Unavailable", "application/json", body);
	} else if (strcmp(path, "/metrics") == 0) {
		body = metrics_render(&st);
		http_reply(req, 200, "OK",
		    "text/plain; version=0.0.4; charset=utf-8", body);
	} else {
		http_reply(req, 404, "Not Found", "text/plain",
		    "not found: try /healthz, /readyz or /metrics\n");
		return;
	}
	free(body);
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
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[256], shown[300];
	unsigned port;

	if (http_split(listen, host, sizeof host, &port) != 0) {
		xasprintf(cause, "--http-listen takes ADDR:PORT, not '%s'",
		    listen);
		return -1;
	}
	http_agent = a;
	if ((http = evhttp_new(a->base)) == NULL)
		fatalx("cannot create the HTTP server");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(http, HTTP_MAX_BODY);
	evhttp_set_timeout(http, HTTP_TIMEOUT_S);
	evhttp_set_gencb(http, http_on_request, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, host,
	    (ev_uint16_t)port)) == NULL) {
		xasprintf(cause, "http: cannot listen on %s", listen);
		evhttp_free(http);
		http = NULL;
		return -1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
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
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
