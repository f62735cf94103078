/*
 * test-wire.c: TaskRequest decoding (what the agent accepts and what it
 * refuses, with which words) and TaskResponse encoding (every field the
 * server reads, byte-exact output).
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.h"
#include "nodelink.pb-c.h"

static ProtobufCBinaryData
bytes(const char *s)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)s;
	b.len = strlen(s);
	return b;
}

static GBytes *
pack_request(const Pb__TaskRequest *m)
{
	size_t len = pb__task_request__get_packed_size(m);
	uint8_t *buf = g_malloc(len);

	pb__task_request__pack(m, buf);
	return g_bytes_new_take(buf, len);
}

static int
decode(GBytes *b, struct request *req, char **cause)
{
	gsize len;
	const void *data = g_bytes_get_data(b, &len);

	return wire_decode_request(data, len, req, cause);
}

static void
test_decode_shell(void)
{
	Pb__TaskRequest m = PB__TASK_REQUEST__INIT;
	Pb__ShellExecute sh = PB__SHELL_EXECUTE__INIT;
	ProtobufCBinaryData env[2];
	struct request req;
	char *cause;
	GBytes *b;

	m.agent_id = bytes("agent1");
	m.task_id = bytes("task-1");
	m.task_case = PB__TASK_REQUEST__TASK_SHELL_EXECUTE;
	m.shell_execute = &sh;
	sh.cmd = bytes("echo hi");
	env[0] = bytes("A=1");
	env[1] = bytes("B=x=y");
	sh.n_env = 2;
	sh.env = env;
	sh.working_dir = bytes("/tmp");
	sh.timeout_seconds = 30;
	b = pack_request(&m);
	g_assert_cmpint(decode(b, &req, &cause), ==, 0);
	g_assert_null(cause);
	g_assert_cmpint(req.kind, ==, REQUEST_SHELL);
	g_assert_cmpstr(req.agent_id, ==, "agent1");
	g_assert_cmpstr(req.task_id, ==, "task-1");
	g_assert_cmpstr(req.cmd, ==, "echo hi");
	g_assert_cmpuint(req.n_env, ==, 2);
	g_assert_cmpstr(req.env[1], ==, "B=x=y");
	g_assert_null(req.env[2]);
	g_assert_cmpstr(req.working_dir, ==, "/tmp");
	g_assert_cmpuint(req.timeout_seconds, ==, 30);
	wire_request_free(&req);
	g_bytes_unref(b);
}

static void
expect_refused(Pb__TaskRequest *m, const char *want)
{
	struct request req;
	char *cause;
	GBytes *b;

	b = pack_request(m);
	g_assert_cmpint(decode(b, &req, &cause), ==, -1);
	g_assert_nonnull(cause);
	if (strstr(cause, want) == NULL)
		g_error("cause '%s' does not contain '%s'", cause, want);
	/* The task ID is still there to answer, when it is usable. */
	if (m->task_id.len != 0 && memchr(m->task_id.data, 0,
	    m->task_id.len) == NULL)
		g_assert_nonnull(req.task_id);
	free(cause);
	wire_request_free(&req);
	g_bytes_unref(b);
}

static void
test_decode_refusals(void)
{
	Pb__TaskRequest m = PB__TASK_REQUEST__INIT;
	Pb__ShellExecute sh = PB__SHELL_EXECUTE__INIT;
	ProtobufCBinaryData env[1], nul;

	m.task_id = bytes("t");
	m.task_case = PB__TASK_REQUEST__TASK_SHELL_EXECUTE;
	m.shell_execute = &sh;
	sh.cmd = bytes("");
	expect_refused(&m, "cmd is empty");

	nul.data = (uint8_t *)"ec\0ho";
	nul.len = 5;
	sh.cmd = nul;
	expect_refused(&m, "cmd contains a NUL byte");

	sh.cmd = bytes("true");
	env[0] = bytes("NOEQUALS");
	sh.n_env = 1;
	sh.env = env;
	expect_refused(&m, "env entry 1 is not NAME=VALUE");
	env[0] = bytes("=value");
	expect_refused(&m, "env entry 1 is not NAME=VALUE");

	sh.n_env = 0;
	m.task_id = nul;
	expect_refused(&m, "task_id contains a NUL byte");
}

static void
test_decode_garbage(void)
{
	static const unsigned char garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x07 };
	struct request req;
	char *cause;

	g_assert_cmpint(wire_decode_request(garbage, sizeof garbage, &req,
	    &cause), ==, -1);
	g_assert_nonnull(strstr(cause, "not a TaskRequest (5 bytes"));
	g_assert_null(req.task_id);
	free(cause);
	wire_request_free(&req);
}

static void
test_decode_kinds(void)
{
	Pb__TaskRequest m = PB__TASK_REQUEST__INIT;
	Pb__TaskCancel cancel = PB__TASK_CANCEL__INIT;
	struct request req;
	char *cause;
	GBytes *b;

	wire_set_dialect(WIRE_AUTO);	/* (no upstream cancel seen yet) */
	m.task_id = bytes("t");
	b = pack_request(&m);
	g_assert_cmpint(decode(b, &req, &cause), ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_NONE);
	wire_request_free(&req);
	g_bytes_unref(b);

	m.task_case = PB__TASK_REQUEST__TASK_TASK_CANCEL;
	m.task_cancel = &cancel;
	cancel.reason = bytes("user asked");
	b = pack_request(&m);
	g_assert_cmpint(decode(b, &req, &cause), ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_CANCEL);
	g_assert_cmpstr(req.reason, ==, "user asked");
	wire_request_free(&req);
	g_bytes_unref(b);
}

static Pb__TaskResponse *
unpack(struct msg *m)
{
	Pb__TaskResponse *r;

	r = pb__task_response__unpack(NULL, m->len, m->data);
	g_assert_nonnull(r);
	free(m);
	return r;
}

static void
test_encode_output(void)
{
	struct response r;
	Pb__TaskResponse *m;

	memset(&r, 0, sizeof r);
	r.agent_id = "agent1";
	r.task_id = "t1";
	r.seq = 7;
	r.status = STATUS_IN_PROGRESS;
	r.stream = OUTPUT_STDERR;
	r.text = "a\0b\n";
	r.text_len = 4;
	m = unpack(wire_encode_response(&r));
	g_assert_cmpmem(m->agent_id.data, m->agent_id.len, "agent1", 6);
	g_assert_cmpmem(m->task_id.data, m->task_id.len, "t1", 2);
	g_assert_cmpuint(m->seq, ==, 7);
	g_assert_cmpint(m->status, ==, PB__TASK_RESPONSE__STATUS__IN_PROGRESS);
	g_assert_false(m->is_final);
	g_assert_cmpint(m->response_case, ==,
	    PB__TASK_RESPONSE__RESPONSE_SHELL_EXECUTE);
	g_assert_cmpuint(m->shell_execute->stdout_text.len, ==, 0);
	g_assert_cmpmem(m->shell_execute->stderr_text.data,
	    m->shell_execute->stderr_text.len, "a\0b\n", 4);
	pb__task_response__free_unpacked(m, NULL);
}

static void
test_encode_final_and_cancel(void)
{
	struct response r;
	Pb__TaskResponse *m;

	memset(&r, 0, sizeof r);
	r.agent_id = "agent1";
	r.task_id = "t1";
	r.seq = 1;
	r.status = STATUS_COMPLETED;
	r.is_final = 1;
	r.cancelled = 1;
	r.exit_code = 137;
	m = unpack(wire_encode_response(&r));
	g_assert_true(m->is_final);
	g_assert_true(m->cancelled);
	g_assert_cmpint(m->status, ==, PB__TASK_RESPONSE__STATUS__COMPLETED);
	g_assert_cmpint(m->shell_execute->exit_code, ==, 137);
	pb__task_response__free_unpacked(m, NULL);

	r.is_cancel_reply = 1;
	r.text = "cancelled";
	r.text_len = 9;
	m = unpack(wire_encode_response(&r));
	g_assert_cmpint(m->response_case, ==,
	    PB__TASK_RESPONSE__RESPONSE_TASK_CANCEL);
	g_assert_cmpmem(m->task_cancel->message.data,
	    m->task_cancel->message.len, "cancelled", 9);
	pb__task_response__free_unpacked(m, NULL);
}

/* Upstream's cancel: TaskRequest field 6, answered at TaskResponse 7. */
static void
test_dialects(void)
{
	/* task_id "t1", then field 6: TaskCancel { reason "r" } */
	static const uint8_t at6[] = { 0x12, 0x02, 't', '1', 0x32, 0x03, 0x0a,
	    0x01, 'r' };
	struct response r;
	struct request req;
	struct msg *out;
	Pb__TaskResponse *m;
	char *cause;

	wire_set_dialect(WIRE_AUTO);
	g_assert_cmpint(wire_decode_request(at6, sizeof at6, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_CANCEL);
	g_assert_cmpint(req.cancel_upstream, ==, 1);
	g_assert_cmpstr(req.reason, ==, "r");
	wire_request_free(&req);

	wire_set_dialect(WIRE_DESIGN);
	g_assert_cmpint(wire_decode_request(at6, sizeof at6, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_NONE);
	wire_request_free(&req);
	wire_set_dialect(WIRE_AUTO);

	memset(&r, 0, sizeof r);
	r.agent_id = "a";
	r.task_id = "t1";
	r.seq = 1;
	r.status = STATUS_COMPLETED;
	r.is_final = r.cancelled = r.is_cancel_reply = r.cancel_upstream = 1;
	r.text = "bye";
	r.text_len = 3;
	out = wire_encode_response(&r);
	/* In our numbering, field 7 is docker_operation: its stdout (1)
	 * carries what upstream reads as TaskCancelResponse.message (1). */
	m = pb__task_response__unpack(NULL, out->len, out->data);
	g_assert_nonnull(m);
	g_assert_cmpint(m->response_case, ==,
	    PB__TASK_RESPONSE__RESPONSE_DOCKER_OPERATION);
	g_assert_cmpmem(m->docker_operation->stdout_text.data,
	    m->docker_operation->stdout_text.len, "bye", 3);
	g_assert_true(m->is_final && m->cancelled);
	pb__task_response__free_unpacked(m, NULL);
	free(out);
}

/* The released upstream server's field 5 is a log message: in its
 * dialect (configured, or seen in auto) it is taken out and said, never
 * read as the design's cancel; the rest of the message decodes. */
static void
test_upstream_log_message(void)
{
	/* task_id "t" (2), log_message "hi" (5), agent_id "a" (1). */
	static const unsigned char log[] = { 0x12, 0x01, 't', 0x2a, 0x02,
	    'h', 'i', 0x0a, 0x01, 'a' };
	static const unsigned char at6[] = { 0x12, 0x01, 't', 0x32, 0x03,
	    0x0a, 0x01, 'r' };
	struct request req;
	char *cause;

	wire_set_dialect(WIRE_UPSTREAM);
	g_assert_cmpint(wire_decode_request(log, sizeof log, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_LOG);
	g_assert_cmpstr(req.log_message, ==, "hi");
	g_assert_cmpstr(req.agent_id, ==, "a");
	wire_request_free(&req);

	/* auto: the design's cancel at 5 until a cancel at 6 is seen. */
	wire_set_dialect(WIRE_AUTO);
	g_assert_cmpint(wire_decode_request(log, sizeof log, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_CANCEL);
	wire_request_free(&req);
	g_assert_cmpint(wire_decode_request(at6, sizeof at6, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_CANCEL);
	wire_request_free(&req);
	g_assert_true(wire_is_upstream());
	g_assert_cmpint(wire_decode_request(log, sizeof log, &req, &cause),
	    ==, 0);
	g_assert_cmpint(req.kind, ==, REQUEST_LOG);
	wire_request_free(&req);
	wire_set_dialect(WIRE_AUTO);
	g_assert_false(wire_is_upstream());
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/wire/decode-shell", test_decode_shell);
	g_test_add_func("/wire/dialects", test_dialects);
	g_test_add_func("/wire/decode-refusals", test_decode_refusals);
	g_test_add_func("/wire/decode-garbage", test_decode_garbage);
	g_test_add_func("/wire/decode-kinds", test_decode_kinds);
	g_test_add_func("/wire/upstream-log-message",
	    test_upstream_log_message);
	g_test_add_func("/wire/encode-output", test_encode_output);
	g_test_add_func("/wire/encode-final-and-cancel",
	    test_encode_final_and_cancel);
	return g_test_run();
}
