/*
 * link.c: the agent's one gRPC stream to the server.
 *
 * The link opens /pb.AgentService/StreamTasks with the agent's credentials
 * as metadata, hands every TaskRequest to the dispatcher, and sends the
 * agent's TaskResponses from an outbound spool, exactly one SEND_MESSAGE in
 * flight at a time (gRPC allows no more, and does not always say so).  A
 * message leaves the spool only when gRPC reports it sent; a send that
 * fails stays at the head and goes out first on the next stream.
 *
 * When the stream ends, for whatever reason, the link logs the status and
 * opens a new one on a fresh channel after a delay from backoff.c; a stream
 * that failed before the server sent anything moves to the next address
 * of --server's list.  What was sent last on the old stream is sent again
 * first (spool.c): delivery is at-least-once.  Calls
 * are never wait-for-ready: an unreachable server fails a call at once, and
 * the agent's own backoff, not gRPC's, decides when to try again.
 *
 * Everything here runs on the loop's thread; completions arrive through
 * link-cq.c.
 */

#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "agent.h"

#define LINK_METHOD "/pb.AgentService/StreamTasks"
/* Today's upstream server's only method (--wire-dialect upstream-head). */
#define LINK_METHOD_HEAD "/pb.AgentService/StreamCommunication"
#define LINK_MAX_RECEIVE (16 * 1024 * 1024)
#define LINK_HEALTHY_SECONDS 10
/*
 * The resend window: after a stream ends, at most this much of what was
 * sent last goes out again (see spool.c).  Generous for what HTTP/2 and TCP
 * buffers can hold in flight on one connection.
 */
#define LINK_RESEND_BYTES (4 * 1024 * 1024)
#define LINK_RESEND_COUNT 1024
/* A closing stream waits this long for the server's status. */
#define LINK_CLOSE_WAIT_MS 1000
/* A send in flight longer than this is held by flow control (a slow or
 * stalled server), not just busy: tasks read on into the spool. */
#define LINK_BUSY_MS 50
/* The channel's state is looked at again at least this often. */
#define LINK_WATCH_SECONDS 2

struct link_call;

/* One batch's tag: the handler and the call it belongs to. */
struct link_call_op {
	struct link_op op;	/* first: the tag is a struct link_op * */
	struct link_call *call;
};

struct link_call {
	struct link *link;
	grpc_call *call;
	int pending;		/* batches started and not completed */
	int finished;		/* status received */
	int send_failed;	/* no more sends on this call */
	int got_message;
	int connected;		/* the server's headers arrived */
	int head;		/* StreamCommunication, not StreamTasks */

	grpc_metadata md[2];
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	grpc_byte_buffer *recv_buf;
	grpc_byte_buffer *send_buf;

	struct link_call_op op_start, op_metadata, op_recv, op_send, op_status,
	    op_close;
};

struct link {
	struct event_base *base;
	struct options *opts;		/* the token file is re-read */
	struct link_handlers h;
	struct link_cq *cq;
	grpc_channel *channel;
	struct link_call *call;		/* the live call, if any */
	int calls;			/* live or still draining */

	struct spool spool;
	size_t spool_limit;
	int congested;
	int busy;			/* link_busy() said so */
	int send_stuck;			/* ... for LINK_BUSY_MS: not now */
	struct event *busy_timer;
	struct link_call *recv_held;	/* a receive waits for the spool */

	char *const *addrs;		/* --server's list */
	size_t n_addrs;
	size_t addr;			/* the one in use */

	struct link_op watch_op;	/* the channel's state, watched */
	int watching;

	int head;			/* this stream speaks upstream-head */
	unsigned char *addr_head;	/* auto: what each server spoke */

	struct backoff backoff;
	struct event *retry;
	struct event *close_wait;
	int closing;
};

static void link_connect(struct link *);

/* Jitter for the reconnect delay: libevent's generator does the job. */
static uint32_t
link_random32(void *arg)
{
	uint32_t r;

	(void)arg;
	evutil_secure_rng_get_bytes(&r, sizeof r);
	return r;
}
static void link_pump(struct link *);
static void link_busy_check(struct link *);
static void link_resume_readers(struct link *);
static void link_on_busy(evutil_socket_t, short, void *);
static void link_recv_next(struct link_call *);

const char *
link_status_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	if ((unsigned)code < sizeof names / sizeof names[0])
		return names[code];
	return "?";
}

/* Frees a call once its status has arrived and no batch is outstanding. */
static void
link_call_release(struct link_call *c)
{
	struct link *l = c->link;

	if (!c->finished || c->pending != 0)
		return;
	if (l->call == c)
		l->call = NULL;
	grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->initial_md);
	grpc_metadata_array_destroy(&c->trailing_md);
	grpc_slice_unref(c->details);
	grpc_slice_unref(c->md[0].value);
	grpc_slice_unref(c->md[1].value);
	gpr_free((void *)c->error_string);
	free(c);
	l->calls--;
}

static int
link_start_batch(struct link_call *c, const grpc_op *ops, size_t n,
    struct link_call_op *tag, const char *what)
{
	grpc_call_error error;

	error = grpc_call_start_batch(c->call, ops, n, tag, NULL);
	if (error != GRPC_CALL_OK) {
		log_error("cannot start %s on the stream: gRPC call error %d",
		    what, (int)error);
		return -1;
	}
	c->pending++;
	return 0;
}

/* The stream's metadata went out (or could not). */
static void
link_on_start(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;

	c->pending--;
	if (!ok)
		log_debug("stream metadata not sent");
	link_call_release(c);
}

/* The live call's stream is established (counted once per call). */
static void
link_mark_connected(struct link *l)
{
	struct link_call *c = l->call;

	if (c == NULL || c->finished || c->connected)
		return;
	c->connected = 1;
	metrics.connects++;
}

/*
 * Watches the channel's connectivity: a server need not send anything
 * (not even its headers) before it has a task, so "the stream is
 * established" is the channel READY with the call still open.
 */
static void
link_watch(struct link *l)
{
	grpc_connectivity_state st;

	if (l->watching || l->channel == NULL || l->closing)
		return;
	st = grpc_channel_check_connectivity_state(l->channel, 0);
	if (st == GRPC_CHANNEL_READY)
		link_mark_connected(l);
	/* Once established, the watch has done its job: a connection that
	 * breaks ends the call, and the next connect watches again.  (Left
	 * on, its deadline woke three threads every LINK_WATCH_SECONDS, and
	 * without a deadline it still holds a gRPC timer, which makes gRPC's
	 * timer thread wake every second.) */
	if (st == GRPC_CHANNEL_SHUTDOWN ||
	    (st == GRPC_CHANNEL_READY && l->call != NULL &&
	    l->call->connected))
		return;
	l->watching = 1;
	/* A deadline: a lame channel (an address gRPC cannot parse) never
	 * changes state, and a watch must not outlive the agent's stop. */
	grpc_channel_watch_connectivity_state(l->channel, st,
	    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_seconds(LINK_WATCH_SECONDS, GPR_TIMESPAN)),
	    link_cq_queue(l->cq), &l->watch_op);
}

/* The channel's state changed (or the channel went away): look again. */
static void
link_on_watch(struct link_op *op, int ok)
{
	struct link *l = (struct link *)((char *)op -
	    offsetof(struct link, watch_op));

	(void)ok;
	l->watching = 0;
	link_watch(l);
}

/* The server's initial metadata arrived: the stream is established. */
static void
link_on_metadata(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;

	c->pending--;
	if (ok)
		link_mark_connected(c->link);
	link_call_release(c);
}

/* The agent's half-close went out. */
static void
link_on_close_sent(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;

	(void)ok;
	c->pending--;
	link_call_release(c);
}

/* A message from the server arrived, or its side of the stream ended. */
static void
link_on_recv(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;
	struct link *l = c->link;
	grpc_byte_buffer_reader reader;
	grpc_slice slice;
	grpc_byte_buffer *bb;

	c->pending--;
	bb = c->recv_buf;
	c->recv_buf = NULL;
	if (!ok || bb == NULL) {
		/* The server ended its side; the status follows. */
		link_call_release(c);
		return;
	}
	if (!c->got_message) {
		c->got_message = 1;
		log_info("receiving tasks from %s", l->addrs[l->addr]);
	}
	metrics_server_message();
	if (!grpc_byte_buffer_reader_init(&reader, bb)) {
		log_error("cannot read a message from the server");
		grpc_byte_buffer_destroy(bb);
	} else {
		slice = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
		grpc_byte_buffer_destroy(bb);
		if (!l->closing)
			l->h.request(l->h.arg, GRPC_SLICE_START_PTR(slice),
			    GRPC_SLICE_LENGTH(slice));
		grpc_slice_unref(slice);
	}
	if (c->finished)
		;
	else if (l->congested && l->recv_held == NULL && !l->spool.acking) {
		/* Every answer needs spool room: let gRPC's flow control hold
		 * the server back until the spool drains (link_on_send).  Not
		 * for an acking server: its acks are what drains it. */
		l->recv_held = c;
		log_debug("outbound spool full: not reading requests");
	} else
		link_recv_next(c);
	link_call_release(c);
}

static void
link_recv_next(struct link_call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_buf;
	link_start_batch(c, &op, 1, &c->op_recv, "a receive");
}

/* Below the low mark again: tasks read on, and so does the stream. */
static void
link_check_drained(struct link *l)
{
	struct link_call *c = l->recv_held;

	if (!l->congested || spool_bytes(&l->spool) > l->spool_limit / 2)
		return;
	l->congested = 0;
	log_debug("outbound spool drained to %zu bytes",
	    spool_bytes(&l->spool));
	link_resume_readers(l);
	l->recv_held = NULL;
	if (c != NULL && !c->finished)
		link_recv_next(c);
}

/*
 * The server acknowledged messages: it is an acking server, whose acks
 * release the window (spool.c).
 */
void
link_acked(struct link *l)
{
	metrics.acks++;
	spool_set_acking(&l->spool, 1);
	spool_trim(&l->spool);
	link_check_drained(l);
}

/* A message left for the server: the spool's head is done with. */
static void
link_on_send(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;
	struct link *l = c->link;

	c->pending--;
	grpc_byte_buffer_destroy(c->send_buf);
	c->send_buf = NULL;
	if (ok && !c->finished) {
		/* A server of upstream's dialects never acknowledges and shows
		 * a repeat to its user: a completed send counts as stored. */
		if (wire_is_upstream() && !c->head) {
			spool_set_window(&l->spool, 0);
			if (l->h.sent != NULL && spool_peek(&l->spool) != NULL)
				l->h.sent(l->h.arg, spool_peek(&l->spool));
		}
		/* (After the status, the spool was rewound: nothing to ack.) */
		spool_ack(&l->spool);
		metrics.messages_sent++;
		link_check_drained(l);
	} else {
		/* Kept at the head: it goes first on the next stream. */
		c->send_failed = 1;
	}
	link_pump(l);
	l->send_stuck = 0;
	if (l->busy)
		link_busy_check(l);
	link_call_release(c);
}

/* The stream is over: its status says why; reconnect after a delay. */
static void
link_on_status(struct link_op *op, int ok)
{
	struct link_call *c = ((struct link_call_op *)op)->call;
	struct link *l = c->link;
	char *details;
	const char *server;
	uint64_t delay;
	size_t resend;

	(void)ok;
	c->pending--;
	c->finished = 1;
	if (l->call == c)
		l->call = NULL;
	if (l->recv_held == c)
		l->recv_held = NULL;
	server = l->addrs[l->addr];

	/* What the transport took last may not have reached the server. */
	resend = spool_rewind(&l->spool);
	metrics.messages_resent += resend;
	if (c->connected)
		metrics.disconnects++;
	c->connected = 0;
	if ((unsigned)c->status < METRICS_GRPC_CODES)
		metrics.connect_attempts[c->status]++;
	if (resend != 0)
		log_debug("%zu recently sent message(s) will be sent again",
		    resend);

	details = xmemdup0(GRPC_SLICE_START_PTR(c->details),
	    GRPC_SLICE_LENGTH(c->details) < 512 ?
	    GRPC_SLICE_LENGTH(c->details) : 512);
	if (l->closing) {
		log_debug("stream closed: status %d (%s) %s", (int)c->status,
		    link_status_name(c->status), details);
	} else if (c->status == GRPC_STATUS_UNIMPLEMENTED &&
	    wire_dialect() == WIRE_AUTO) {
		/* The other protocol, at once; remembered for this server
		 * until it fails the same way. */
		l->addr_head[l->addr] = !c->head;
		log_warnx("server %s does not know %s: speaking %s (%s) to it",
		    server, c->head ? LINK_METHOD_HEAD : LINK_METHOD,
		    c->head ? LINK_METHOD : LINK_METHOD_HEAD, c->head ?
		    "the design's StreamTasks" : "today's upstream nodelink");
		timer_add_ms(l->retry, 0);
	} else {
		delay = backoff_next(&l->backoff, compat_monotime_ms(),
		    link_random32, NULL);
		/* A stream that never got going: try the next server. */
		if (!c->got_message && l->n_addrs > 1)
			l->addr = (l->addr + 1) % l->n_addrs;
		if (c->status == GRPC_STATUS_UNAUTHENTICATED ||
		    c->status == GRPC_STATUS_PERMISSION_DENIED ||
		    (c->status == GRPC_STATUS_UNKNOWN &&
		    strstr(details, "unauthorized") != NULL))
			log_error("server %s rejected agent '%s': status %d "
			    "(%s): %s; retrying %s in %.1f s", server,
			    l->opts->agent_id, (int)c->status,
			    link_status_name(c->status), details,
			    l->addrs[l->addr], (double)delay / 1000.0);
		else
			log_warnx("stream to %s ended: status %d (%s): %s; "
			    "reconnecting to %s in %.1f s", server,
			    (int)c->status, link_status_name(c->status),
			    *details != '\0' ? details : "no details",
			    l->addrs[l->addr], (double)delay / 1000.0);
		if (c->error_string != NULL)
			log_debug("gRPC error: %s", c->error_string);
		timer_add_ms(l->retry, delay);
	}
	free(details);
	link_call_release(c);
}

static void
link_on_retry(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	link_connect(arg);
}


/* The server did not end a closing stream in time: cancel it. */
static void
link_on_close_wait(evutil_socket_t fd, short events, void *arg)
{
	struct link *l = arg;

	(void)fd;
	(void)events;
	if (l->call != NULL)
		grpc_call_cancel(l->call->call, NULL);
}

static grpc_channel *
link_channel_new(const struct link *l)
{
	grpc_channel_credentials *creds;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel *ch;
	grpc_arg args[7];
	grpc_channel_args chargs;
	char agent[64];

	snprintf(agent, sizeof agent, "%s/%s", AGENT_NAME, PACKAGE_VERSION);
	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_KEEPALIVE_TIME_MS;
	args[0].value.integer = (int)l->opts->keepalive_ms;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
	args[1].value.integer = (int)l->opts->keepalive_timeout_ms;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS;
	args[2].value.integer = 1;
	/* Keep pinging an idle stream: the default stops after two pings. */
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA;
	args[3].value.integer = 0;
	args[4].type = GRPC_ARG_INTEGER;
	args[4].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[4].value.integer = LINK_MAX_RECEIVE;
	args[5].type = GRPC_ARG_STRING;
	args[5].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	args[5].value.string = agent;
	chargs.num_args = 6;
	chargs.args = args;
	if (l->opts->tls_server_name != NULL) {
		args[6].type = GRPC_ARG_STRING;
		args[6].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		args[6].value.string = l->opts->tls_server_name;
		chargs.num_args = 7;
	}

	if (l->opts->tls && l->opts->tls_cert != NULL) {
		pair.private_key = l->opts->tls_key;
		pair.cert_chain = l->opts->tls_cert;
		creds = grpc_ssl_credentials_create(l->opts->tls_roots, &pair,
		    NULL, NULL);
	} else if (l->opts->tls)
		creds = grpc_ssl_credentials_create(l->opts->tls_roots, NULL,
		    NULL, NULL);
	else
		creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(l->addrs[l->addr], creds, &chargs);
	grpc_channel_credentials_release(creds);
	return ch;
}

static void
link_call_op_init(struct link_call_op *op, struct link_call *c,
    void (*done)(struct link_op *, int))
{
	op->op.done = done;
	op->call = c;
}

/* A token file is read again before each connect: rotation needs no
 * restart.  A file that cannot be read keeps the token in use. */
static void
link_refresh_token(struct link *l)
{
	char *text;

	if (l->opts->agent_token_file == NULL)
		return;
	if (options_read_token(l->opts, &text) != 0)
		log_warnx("%s; keeping the token read before", text);
	free(text);
}

/* Opens a new stream on a fresh channel. */
static void
link_connect(struct link *l)
{
	struct link_call *c;
	grpc_op ops[2];

	if (l->closing)
		return;
	if (l->channel != NULL)
		grpc_channel_destroy(l->channel);
	l->channel = link_channel_new(l);

	c = xcalloc(1, sizeof *c);
	c->link = l;
	link_call_op_init(&c->op_start, c, link_on_start);
	link_call_op_init(&c->op_metadata, c, link_on_metadata);
	link_call_op_init(&c->op_recv, c, link_on_recv);
	link_call_op_init(&c->op_send, c, link_on_send);
	link_call_op_init(&c->op_status, c, link_on_status);
	link_call_op_init(&c->op_close, c, link_on_close_sent);
	grpc_metadata_array_init(&c->initial_md);
	grpc_metadata_array_init(&c->trailing_md);
	c->details = grpc_empty_slice();
	c->head = wire_dialect() == WIRE_HEAD ||
	    (wire_dialect() == WIRE_AUTO && l->addr_head[l->addr]);
	l->head = c->head;
	/* Upstream's servers have no acks and show a repeat to their
	 * users: a message whose send completed is never sent again. */
	spool_set_window(&l->spool, c->head || wire_is_upstream() ? 0 :
	    LINK_RESEND_COUNT);
	c->md[0].key = grpc_slice_from_static_string("agent_id");
	c->md[0].value = grpc_slice_from_copied_string(l->opts->agent_id);
	link_refresh_token(l);
	c->md[1].key = grpc_slice_from_static_string("agent_token");
	c->md[1].value = grpc_slice_from_copied_string(l->opts->agent_token);
	c->call = grpc_channel_create_call(l->channel, NULL,
	    GRPC_PROPAGATE_DEFAULTS, link_cq_queue(l->cq),
	    grpc_slice_from_static_string(c->head ? LINK_METHOD_HEAD :
	    LINK_METHOD), NULL,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (c->call == NULL)
		fatalx("gRPC refused to create a call to %s",
		    l->addrs[l->addr]);
	l->call = c;
	l->calls++;
	log_info("connecting to %s as agent '%s'", l->addrs[l->addr],
	    l->opts->agent_id);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 2;
	ops[0].data.send_initial_metadata.metadata = c->md;
	link_start_batch(c, ops, 1, &c->op_start, "the stream");

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
	ops[0].data.recv_status_on_client.status = &c->status;
	ops[0].data.recv_status_on_client.status_details = &c->details;
	ops[0].data.recv_status_on_client.error_string = &c->error_string;
	if (link_start_batch(c, ops, 1, &c->op_status, "the status") != 0)
		fatalx("cannot watch the stream's status");

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata =
	    &c->initial_md;
	link_start_batch(c, ops, 1, &c->op_metadata, "the server's headers");
	link_recv_next(c);

	backoff_connected(&l->backoff, compat_monotime_ms());
	link_watch(l);
	link_pump(l);
}

/* gRPC is done with a message's bytes (any thread). */
static void
link_slice_done(void *arg)
{
	msg_unref(arg);
}

/*
 * Starts sending the spool's head if nothing is in flight.  gRPC takes
 * the message's own bytes, not a copy: it holds the message (refs) until
 * its transport has written them, which may be after the send completes
 * and the message left the window.
 */
static void
link_pump(struct link *l)
{
	struct link_call *c = l->call;
	struct msg *m = spool_peek(&l->spool);
	grpc_slice slice;
	grpc_op op;

	if (c == NULL || c->finished || c->send_failed ||
	    c->send_buf != NULL)
		return;
	/* A message made for the other protocol (journaled before the
	 * agent knew which this server speaks) would end the stream. */
	if (m != NULL && m->head != c->head) {
		while (m != NULL && m->head != c->head) {
			log_debug("a message of the %s protocol dropped: this "
			    "server speaks the other", m->head ?
			    "upstream-head" : "design's");
			spool_drop_first(&l->spool);
			m = spool_peek(&l->spool);
		}
		link_check_drained(l);	/* (the spool may have room now) */
	}
	if (m == NULL)
		return;
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	slice = grpc_slice_new_with_user_data(m->data, m->len,
	    link_slice_done, m);
	c->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = c->send_buf;
	if (link_start_batch(c, &op, 1, &c->op_send, "a send") != 0) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
		c->send_failed = 1;
	}
}

struct link *
link_new(struct event_base *base, struct options *opts,
    const struct link_handlers *h)
{
	struct link *l;

	l = xcalloc(1, sizeof *l);
	l->base = base;
	l->opts = opts;
	l->h = *h;
	spool_init(&l->spool, LINK_RESEND_BYTES, LINK_RESEND_COUNT);
	l->addr_head = xcalloc(opts->n_servers + 1, 1);
	l->spool_limit = (size_t)opts->spool_mib * 1024 * 1024;
	l->addrs = opts->servers;
	l->n_addrs = opts->n_servers;
	backoff_init(&l->backoff, opts->reconnect_initial_ms,
	    opts->reconnect_max_ms, opts->reconnect_multiplier_pct,
	    LINK_HEALTHY_SECONDS * 1000);
	l->watch_op.done = link_on_watch;
	l->retry = evtimer_new(base, link_on_retry, l);
	l->close_wait = evtimer_new(base, link_on_close_wait, l);
	l->busy_timer = evtimer_new(base, link_on_busy, l);
	if (l->retry == NULL || l->close_wait == NULL || l->busy_timer == NULL)
		fatalx("cannot create the link's timers");
	l->cq = link_cq_start(base);
	return l;
}

void
link_start(struct link *l)
{
	link_connect(l);
}

/* Queues M ahead of everything waiting (a Pong): right after the message
 * being sent, if one is. */
void
link_send_first(struct link *l, struct msg *m)
{
	spool_push_first(&l->spool, m, l->call != NULL &&
	    l->call->send_buf != NULL);
	link_pump(l);
}

/*
 * In auto: StreamCommunication is tried first with every server (the
 * previous agent spoke it: its answers wait in the spool).
 */
void
link_prefer_head(struct link *l)
{
	size_t i;

	for (i = 0; i < l->n_addrs; i++)
		l->addr_head[i] = 1;
}

/* True while the stream speaks today's upstream protocol. */
int
link_speaks_head(const struct link *l)
{
	return l->head;
}

/* Queues a message; it is sent, in order, as soon as a stream takes it. */
void
link_send(struct link *l, struct msg *m)
{
	spool_push(&l->spool, m);
	if (!l->congested && spool_bytes(&l->spool) > l->spool_limit) {
		l->congested = 1;
		log_info("outbound spool full (%zu bytes in %zu messages): "
		    "pausing task output", spool_bytes(&l->spool),
		    spool_count(&l->spool));
	}
	link_pump(l);
}

/* True while the spool is full (outbox.c adds the journal's backlog). */
int
link_congested(const struct link *l)
{
	return l->congested;
}

/* True while link_busy() holds readers (see there). */
int
link_holding(const struct link *l)
{
	return l->busy;
}

/*
 * One of the link's reasons to pause readers is over (a full spool, a
 * send in flight): the drained handler hears it, and outbox.c decides
 * (outbox_resume_readers) whether anything else still holds them.
 */
static void
link_resume_readers(struct link *l)
{
	if (!l->congested && !l->busy)
		l->h.drained(l->h.arg);
}

/*
 * True while a message is being sent and another waits behind it: a task
 * that just made one pauses (the drained handler resumes it when this
 * ends), and its pipe gathers what it writes meanwhile.  The next read
 * takes all of it, so a fast task's output leaves in fewer, larger
 * messages: each costs gRPC, the completion queue's thread and the loop
 * the same, whatever its size.  Never while no stream sends: the spool
 * fills then, up to its limit.
 */
int
link_busy(struct link *l)
{
	struct link_call *c = l->call;

	if (c == NULL || c->send_buf == NULL || l->send_stuck)
		return 0;
	if (!l->busy) {
		l->busy = 1;
		timer_add_ms(l->busy_timer, LINK_BUSY_MS);
	}
	return 1;
}

/* Busy no more (or still, for another while): paused tasks read on. */
static void
link_busy_check(struct link *l)
{
	struct link_call *c = l->call;

	if (c != NULL && c->send_buf != NULL && !l->send_stuck) {
		timer_add_ms(l->busy_timer, LINK_BUSY_MS);
		return;
	}
	l->busy = 0;
	evtimer_del(l->busy_timer);
	link_resume_readers(l);
}

/* A send has been in flight for LINK_BUSY_MS: flow control holds it. */
static void
link_on_busy(evutil_socket_t fd, short events, void *arg)
{
	struct link *l = arg;

	(void)fd;
	(void)events;
	l->send_stuck = 1;
	if (l->busy)
		link_busy_check(l);
}

/* Bytes waiting for the server. */
size_t
link_spooled(const struct link *l)
{
	return spool_bytes(&l->spool);
}

/* True while a stream to a server is established. */
int
link_connected(const struct link *l)
{
	return l->call != NULL && l->call->connected && !l->call->finished &&
	    l->channel != NULL && grpc_channel_check_connectivity_state(
	    l->channel, 0) == GRPC_CHANNEL_READY;
}

/* The server address in use (or tried next). */
const char *
link_server(const struct link *l)
{
	return l->addrs[l->addr];
}

/* True once link_close() has nothing left to wait for. */
int
link_idle(const struct link *l)
{
	return l->calls == 0;
}

/*
 * Ends the stream cleanly: the agent half-closes, and the server ends the
 * call once it has read everything; a server that does not within
 * LINK_CLOSE_WAIT_MS is cut off.  The caller runs the loop until
 * link_idle().
 */
void
link_close(struct link *l)
{
	struct link_call *c = l->call;
	grpc_op op;

	l->closing = 1;
	evtimer_del(l->retry);
	if (c == NULL)
		return;
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	if (link_start_batch(c, &op, 1, &c->op_close, "the close") != 0)
		grpc_call_cancel(c->call, NULL);
	else
		timer_add_ms(l->close_wait, LINK_CLOSE_WAIT_MS);
}

void
link_free(struct link *l)
{
	if (l->channel != NULL)
		grpc_channel_destroy(l->channel);
	l->channel = NULL;	/* a watch completes in link_cq_stop */
	link_cq_stop(l->cq);
	spool_free(&l->spool);
	event_free(l->retry);
	event_free(l->close_wait);
	event_free(l->busy_timer);
	free(l->addr_head);
	free(l);
}

/* Each message not known to be stored, in order (a re-execution). */
void
link_each_message(const struct link *l, void (*fn)(void *, const struct msg *),
    void *arg)
{
	spool_each(&l->spool, fn, arg);
}
