/*
 * wire.c: TaskRequest in, TaskResponse out.
 *
 * This is the only file that sees protobuf-c's generated types; the rest of
 * the agent works with struct request and struct response.  The C code is
 * generated with every string as bytes (see Makefile.am), so decoding sees
 * exactly what the server sent, NUL bytes included, and rejects what no
 * process could be given.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "nodelink.pb-c.h"

/*
 * Two numberings of the cancel exist.  The design document's, which
 * proto/nodelink.proto follows: TaskRequest.task_cancel = 5, answered at
 * TaskResponse.task_cancel = 8.  The released upstream server's own
 * agent.proto: TaskRequest.task_cancel = 6 (its 5 is a LogMessage it never
 * sends to agents), answered at TaskResponse.task_cancel = 7 (our 7 is
 * docker_operation).  Field 6 is unused in our TaskRequest, so a cancel
 * there is unambiguous.  This file alone decides which numbering a cancel
 * is read and answered in (--wire-dialect):
 *
 *   auto      a cancel at 5 or 6, answered in the numbering it came in
 *   design    only 5 is a cancel (6 is an unknown field, as before)
 *   upstream  a cancel at 5 or 6, always answered at 7
 *
 * protobuf-c keeps fields it does not know as unknown fields, their data
 * starting with the length prefix: field 6 is read from there, and
 * upstream's 7 is written as one.
 */
#define WIRE_UPSTREAM_CANCEL 6		/* TaskRequest */
#define WIRE_UPSTREAM_CANCEL_REPLY 7	/* TaskResponse */

static enum wire_dialect wire_current = WIRE_AUTO;
/* The released upstream server's numbering: configured, or, in auto, seen
 * (it has sent a cancel at field 6). */
static int wire_upstream_seen;

int
wire_parse_dialect(const char *name, enum wire_dialect *d)
{
	if (strcmp(name, "auto") == 0)
		*d = WIRE_AUTO;
	else if (strcmp(name, "design") == 0)
		*d = WIRE_DESIGN;
	else if (strcmp(name, "upstream") == 0)
		*d = WIRE_UPSTREAM;
	else if (strcmp(name, "upstream-head") == 0)
		*d = WIRE_HEAD;
	else
		return -1;
	return 0;
}

void
wire_set_dialect(enum wire_dialect d)
{
	wire_current = d;
	wire_upstream_seen = 0;
}


int
wire_is_upstream(void)
{
	return wire_current == WIRE_UPSTREAM ||
	    (wire_current == WIRE_AUTO && wire_upstream_seen);
}

/*
 * The released upstream's log_message is TaskRequest field 5, where the
 * design has its TaskCancel: in that dialect it is taken out of DATA
 * (into *LOG, and the rest into OUT) before the message is decoded.
 * Returns 1 if there was one, 0 if not (or the message does not scan).
 */
static int
wire_take_log_message(const unsigned char *data, size_t len, struct buf *out,
    char **log)
{
	size_t at = 0, start, k;
	uint64_t key, n;
	unsigned shift;
	int found = 0;

	buf_init(out);
	while (at < len) {
		start = at;
		for (key = 0, shift = 0; at < len && shift < 64; shift += 7) {
			key |= (uint64_t)(data[at] & 0x7f) << shift;
			if ((data[at++] & 0x80) == 0)
				break;
		}
		switch (key & 7) {
		case 0:
			while (at < len && (data[at] & 0x80) != 0)
				at++;
			at++;
			break;
		case 1:
			at += 8;
			break;
		case 5:
			at += 4;
			break;
		case 2:
			for (n = 0, shift = 0, k = 0; at < len && shift < 64;
			    shift += 7, k++) {
				n |= (uint64_t)(data[at] & 0x7f) << shift;
				if ((data[at++] & 0x80) == 0)
					break;
			}
			if (n > len - at || at > len) {
				buf_free(out);
				return 0;
			}
			if ((key >> 3) == 5) {
				free(*log);
				*log = xmemdup0(data + at, (size_t)n);
				at += (size_t)n;
				found = 1;
				continue;
			}
			at += (size_t)n;
			break;
		default:
			buf_free(out);
			return 0;
		}
		if (at > len) {
			buf_free(out);
			return 0;
		}
		buf_append(out, data + start, at - start);
	}
	if (!found)
		buf_free(out);
	return found;
}

/* The dialect configured (--wire-dialect). */
enum wire_dialect
wire_dialect(void)
{
	return wire_current;
}

/* Upstream's TaskCancel at field 6, if the message has one (else NULL). */
static Pb__TaskCancel *
wire_upstream_cancel(const Pb__TaskRequest *m)
{
	const ProtobufCMessageUnknownField *u;
	uint64_t len = 0;
	unsigned i, shift;
	size_t k;

	if (wire_current == WIRE_DESIGN)
		return NULL;
	for (i = m->base.n_unknown_fields; i > 0; i--) {
		u = &m->base.unknown_fields[i - 1];	/* the last one wins */
		if (u->tag != WIRE_UPSTREAM_CANCEL ||
		    u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		/* The length prefix (protobuf-c checked it when parsing). */
		for (k = 0, shift = 0; k < u->len && k < 10; k++, shift += 7) {
			len |= (uint64_t)(u->data[k] & 0x7f) << shift;
			if ((u->data[k] & 0x80) == 0)
				break;
		}
		if (k == u->len || k == 10 || len != u->len - k - 1)
			return NULL;
		return pb__task_cancel__unpack(NULL, (size_t)len,
		    u->data + k + 1);
	}
	return NULL;
}

/* A C string copy of a bytes field; NULL if it holds a NUL byte. */
static char *
wire_string(ProtobufCBinaryData b)
{
	if (b.len != 0 && memchr(b.data, '\0', b.len) != NULL)
		return NULL;
	return xmemdup0(b.data, b.len);
}

/*
 * A string field as a C string: no NUL byte (no process could be given
 * it) and valid UTF-8 (proto3 requires it, and the agent may quote it
 * back).  Returns 0, or -1 with *cause naming FIELD.
 */
static int
wire_field(ProtobufCBinaryData b, char **out, const char *field,
    char **cause)
{
	if ((*out = wire_string(b)) == NULL) {
		xasprintf(cause, "%s contains a NUL byte", field);
		return -1;
	}
	if (!utf8_valid(b.data, b.len)) {
		xasprintf(cause, "%s is not valid UTF-8", field);
		return -1;
	}
	return 0;
}

/* Copies N string fields into a NULL-terminated array of C strings. */
static int
wire_strings(ProtobufCBinaryData *in, size_t n, char ***out, size_t *n_out,
    const char *field, char **cause)
{
	char name[64];
	size_t i;

	*out = xcalloc(n + 1, sizeof **out);
	*n_out = 0;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s entry %zu", field, i + 1);
		if (wire_field(in[i], &(*out)[i], name, cause) != 0) {
			if ((*out)[i] != NULL)
				(*n_out)++;
			return -1;
		}
		(*n_out)++;
	}
	return 0;
}

/* Every entry is NAME=VALUE with a name. */
static int
wire_env(char **env, size_t n, const char *field, char **cause)
{
	size_t i;
	char *eq;

	for (i = 0; i < n; i++) {
		eq = strchr(env[i], '=');
		if (eq == NULL || eq == env[i]) {
			xasprintf(cause, "%s entry %zu is not NAME=VALUE",
			    field, i + 1);
			return -1;
		}
	}
	return 0;
}

static int
wire_decode_shell(const Pb__ShellExecute *m, struct request *req,
    char **cause)
{
	if (wire_field(m->cmd, &req->cmd, "cmd", cause) != 0)
		return -1;
	if (*req->cmd == '\0') {
		*cause = xstrdup("cmd is empty");
		return -1;
	}
	if (wire_field(m->working_dir, &req->working_dir, "working_dir",
	    cause) != 0)
		return -1;
	req->timeout_seconds = m->timeout_seconds;
	if (wire_strings(m->env, m->n_env, &req->env, &req->n_env, "env",
	    cause) != 0)
		return -1;
	if (wire_env(req->env, req->n_env, "env", cause) != 0)
		return -1;
	if (m->limits != NULL) {
		req->limits.memory_bytes = m->limits->memory_bytes;
		req->limits.cpu_seconds = m->limits->cpu_seconds;
		req->limits.max_processes = m->limits->max_processes;
		req->limits.max_open_files = m->limits->max_open_files;
		req->limits.max_file_bytes = m->limits->max_file_bytes;
		req->limits.max_output_bytes = m->limits->max_output_bytes;
	}
	req->pty = m->pty;
	req->rows = m->rows;
	req->cols = m->cols;
	req->want_stdin = m->stdin_pipe || m->pty;
	if (wire_field(m->user, &req->user, "user", cause) != 0)
		return -1;
	if (m->sandbox != NULL) {
		if (wire_field(m->sandbox->image, &req->sandbox_image,
		    "sandbox.image", cause) != 0)
			return -1;
		req->sandbox_network = m->sandbox->network;
	} else
		req->sandbox_image = xstrdup("");
	if (wire_strings(m->secret_env, m->n_secret_env, &req->secret_env,
	    &req->n_secret_env, "secret_env", cause) != 0 ||
	    wire_env(req->secret_env, req->n_secret_env, "secret_env",
	    cause) != 0)
		return -1;
	return 0;
}

static int
wire_decode_docker(const Pb__DockerOperation *m, struct docker_op *d,
    char **cause)
{
	const Pb__DockerRun *run;
	const Pb__DockerLogs *logs;

	switch (m->operation_case) {
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_RUN:
		run = m->docker_run;
		d->kind = DOCKER_RUN;
		d->detach = run->detach;
		d->remove = run->remove;
		if (wire_field(run->img, &d->img, "docker_run.img", cause) ||
		    wire_field(run->name, &d->name, "docker_run.name", cause) ||
		    wire_strings(run->args, run->n_args, &d->args, &d->n_args,
		    "docker_run.args", cause) ||
		    wire_strings(run->env, run->n_env, &d->env, &d->n_env,
		    "docker_run.env", cause) ||
		    wire_strings(run->ports, run->n_ports, &d->ports,
		    &d->n_ports, "docker_run.ports", cause) ||
		    wire_strings(run->volumes, run->n_volumes, &d->volumes,
		    &d->n_volumes, "docker_run.volumes", cause))
			return -1;
		return 0;
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_START:
		d->kind = DOCKER_START;
		return wire_field(m->docker_start->id, &d->id,
		    "docker_start.id", cause);
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_STOP:
		d->kind = DOCKER_STOP;
		d->stop_timeout = m->docker_stop->timeout_seconds;
		return wire_field(m->docker_stop->id, &d->id, "docker_stop.id",
		    cause);
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_LOGS:
		logs = m->docker_logs;
		d->kind = DOCKER_LOGS;
		d->follow = logs->follow;
		d->timestamps = logs->timestamps;
		if (wire_field(logs->id, &d->id, "docker_logs.id", cause) ||
		    wire_field(logs->tail, &d->tail, "docker_logs.tail", cause))
			return -1;
		return 0;
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_PULL:
		d->kind = DOCKER_PULL;
		return wire_field(m->docker_pull->img, &d->img,
		    "docker_pull.img", cause);
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_REMOVE:
		d->kind = DOCKER_REMOVE;
		d->force = m->docker_remove->force;
		return wire_field(m->docker_remove->id, &d->id,
		    "docker_remove.id", cause);
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_LIST:
		d->kind = DOCKER_LIST;
		d->all = m->docker_list->all;
		return 0;
	case PB__DOCKER_OPERATION__OPERATION_DOCKER_INSPECT:
		d->kind = DOCKER_INSPECT;
		return wire_field(m->docker_inspect->id, &d->id,
		    "docker_inspect.id", cause);
	default:
		*cause = xstrdup("docker_operation has no operation set");
		return -1;
	}
}

/* True if the N bytes at P are lower-case hex, and not all zeros. */
static int
wire_hex(const uint8_t *p, size_t n)
{
	size_t i;
	int nonzero = 0;

	for (i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
		nonzero |= p[i] != '0';
	}
	return nonzero;
}

/*
 * A W3C traceparent ("00-<32 hex trace ID>-<16 hex parent ID>-<2 hex
 * flags>"), or NULL: one that is absent or not that is ignored, with a
 * warning when it was given.
 */
static char *
wire_traceparent(ProtobufCBinaryData b)
{
	const uint8_t *p = b.data;

	if (b.len == 0)
		return NULL;
	if (b.len != 55 || p[0] != '0' || p[1] != '0' || p[2] != '-' ||
	    !wire_hex(p + 3, 32) || p[35] != '-' || !wire_hex(p + 36, 16) ||
	    p[52] != '-' || !(wire_hex(p + 53, 2) || (p[53] == '0' &&
	    p[54] == '0'))) {
		log_warnx("ignoring an invalid traceparent (%zu bytes)", b.len);
		return NULL;
	}
	return xmemdup0(b.data, b.len);
}

/* The reason is only logged (escaped): a bad one must not stop the cancel. */
static char *
wire_cancel_reason(const Pb__TaskCancel *c)
{
	char *reason;

	if ((reason = wire_string(c->reason)) == NULL)
		reason = xstrdup("(a reason with a NUL byte)");
	return reason;
}

/* A file transfer's chunk or request. */
static int
wire_decode_file(const Pb__TaskRequest *m, struct request *req, char **cause)
{
	if (m->task_case == PB__TASK_REQUEST__TASK_FILE_DOWNLOAD) {
		req->kind = REQUEST_DOWNLOAD;
		req->offset = m->file_download->offset;
		req->length = m->file_download->length;
		return wire_field(m->file_download->path, &req->path,
		    "file_download.path", cause);
	}
	req->kind = REQUEST_UPLOAD;
	req->input = (unsigned char *)xmemdup0(m->file_upload->data.data,
	    m->file_upload->data.len);
	req->input_len = m->file_upload->data.len;
	req->offset = m->file_upload->offset;
	req->last = m->file_upload->last;
	req->mode = m->file_upload->mode;
	req->overwrite = m->file_upload->overwrite;
	if (wire_field(m->file_upload->path, &req->path, "file_upload.path",
	    cause) != 0 || wire_field(m->file_upload->sha256, &req->sha256,
	    "file_upload.sha256", cause) != 0)
		return -1;
	return 0;
}

/* The TaskRequest in DATA, upstream's log_message (field 5 in its
 * dialect) taken out into REQ first; NULL if it does not decode. */
static Pb__TaskRequest *
wire_unpack_request(const void *data, size_t len, struct request *req)
{
	Pb__TaskRequest *m;
	struct buf rest;
	char *log = NULL;

	if (!wire_is_upstream() || !wire_take_log_message(
	    (const unsigned char *)data, len, &rest, &log)) {
		free(log);	/* (one found before the scan failed) */
		return pb__task_request__unpack(NULL, len, data);
	}
	m = pb__task_request__unpack(NULL, rest.len,
	    (const uint8_t *)rest.data);
	buf_free(&rest);
	req->log_message = log;
	return m;
}

/*
 * Decodes one TaskRequest.  Returns 0, or -1 with *cause set; even then
 * req->task_id is set when the message named one, so that the caller can
 * answer it.  wire_request_free() releases REQ in both cases.
 */
int
wire_decode_request(const void *data, size_t len, struct request *req,
    char **cause)
{
	Pb__TaskCancel *upstream_cancel;
	Pb__TaskRequest *m;
	int rc = 0;

	memset(req, 0, sizeof *req);
	*cause = NULL;
	m = wire_unpack_request(data, len, req);
	if (m == NULL) {
		xasprintf(cause, "not a TaskRequest (%zu bytes that do not "
		    "decode)", len);
		return -1;
	}
	req->task_id = wire_string(m->task_id);
	if (req->task_id == NULL) {
		*cause = xstrdup("task_id contains a NUL byte");
		rc = -1;
		goto out;
	}
	if (wire_field(m->agent_id, &req->agent_id, "agent_id", cause) != 0) {
		/* Answered with the agent's own ID, never echoed. */
		free(req->agent_id);
		req->agent_id = xstrdup("");
		rc = -1;
		goto out;
	}
	if (m->task_case == PB__TASK_REQUEST__TASK__NOT_SET &&
	    (upstream_cancel = wire_upstream_cancel(m)) != NULL) {
		if (!wire_upstream_seen && wire_current == WIRE_AUTO)
			log_info("the server sent a cancel at field 6: it is "
			    "the released upstream server, whose field 5 is a "
			    "log message");
		wire_upstream_seen = 1;
		req->kind = REQUEST_CANCEL;
		req->cancel_upstream = 1;
		req->reason = wire_cancel_reason(upstream_cancel);
		pb__task_cancel__free_unpacked(upstream_cancel, NULL);
		goto out;
	}
	req->traceparent = wire_traceparent(m->traceparent);
	if (req->log_message != NULL &&
	    m->task_case == PB__TASK_REQUEST__TASK__NOT_SET) {
		req->kind = REQUEST_LOG;
		goto out;
	}
	switch (m->task_case) {
	case PB__TASK_REQUEST__TASK_SHELL_EXECUTE:
		req->kind = REQUEST_SHELL;
		rc = wire_decode_shell(m->shell_execute, req, cause);
		break;
	case PB__TASK_REQUEST__TASK_DOCKER_OPERATION:
		req->kind = REQUEST_DOCKER;
		req->docker = xcalloc(1, sizeof *req->docker);
		rc = wire_decode_docker(m->docker_operation, req->docker, cause);
		break;
	case PB__TASK_REQUEST__TASK_TASK_CANCEL:
		req->kind = REQUEST_CANCEL;
		req->cancel_upstream = wire_current == WIRE_UPSTREAM;
		req->reason = wire_cancel_reason(m->task_cancel);
		break;
	case PB__TASK_REQUEST__TASK_ACK:
		req->kind = REQUEST_ACK;
		req->ack_seq = m->ack->seq;
		break;
	case PB__TASK_REQUEST__TASK_TASK_INPUT:
		req->kind = REQUEST_INPUT;
		req->input = (unsigned char *)xmemdup0(m->task_input->data.data,
		    m->task_input->data.len);
		req->input_len = m->task_input->data.len;
		req->input_eof = m->task_input->eof;
		break;
	case PB__TASK_REQUEST__TASK_TASK_RESIZE:
		req->kind = REQUEST_RESIZE;
		req->rows = m->task_resize->rows;
		req->cols = m->task_resize->cols;
		break;
	case PB__TASK_REQUEST__TASK_FILE_UPLOAD:
	case PB__TASK_REQUEST__TASK_FILE_DOWNLOAD:
		rc = wire_decode_file(m, req, cause);
		break;
	default:
		req->kind = REQUEST_NONE;
		break;
	}
out:
	pb__task_request__free_unpacked(m, NULL);
	return rc;
}

static void
wire_strings_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
wire_docker_free(struct docker_op *d)
{
	free(d->img);
	free(d->id);
	free(d->name);
	free(d->tail);
	wire_strings_free(d->args, d->n_args);
	wire_strings_free(d->env, d->n_env);
	wire_strings_free(d->ports, d->n_ports);
	wire_strings_free(d->volumes, d->n_volumes);
	free(d);
}

void
wire_request_free(struct request *req)
{
	size_t i;

	free(req->agent_id);
	free(req->task_id);
	free(req->cmd);
	for (i = 0; i < req->n_env; i++)
		free(req->env[i]);
	free(req->env);
	free(req->working_dir);
	free(req->user);
	free(req->sandbox_image);
	free(req->input);
	free(req->path);
	free(req->sha256);
	for (i = 0; i < req->n_secret_env; i++) {
		/* A secret does not linger in freed memory. */
		memset(req->secret_env[i], 0, strlen(req->secret_env[i]));
		free(req->secret_env[i]);
	}
	free(req->secret_env);
	free(req->reason);
	free(req->traceparent);
	free(req->log_message);
	if (req->docker != NULL)
		wire_docker_free(req->docker);
	memset(req, 0, sizeof *req);
}

static ProtobufCBinaryData
wire_bytes(const char *s, size_t len)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)s;
	b.len = len;
	return b;
}

/* Packs one TaskResponse into a message ready for the outbound spool. */
struct msg *
wire_encode_response(const struct response *r)
{
	Pb__TaskResponse m = PB__TASK_RESPONSE__INIT;
	Pb__ShellExecuteResponse shell = PB__SHELL_EXECUTE_RESPONSE__INIT;
	Pb__TaskCancelResponse cancel = PB__TASK_CANCEL_RESPONSE__INIT;
	Pb__DockerOperationResponse docker =
	    PB__DOCKER_OPERATION_RESPONSE__INIT;
	Pb__TaskResponse__ResourceUsage usage =
	    PB__TASK_RESPONSE__RESOURCE_USAGE__INIT;
	Pb__FileUploadResponse up = PB__FILE_UPLOAD_RESPONSE__INIT;
	Pb__FileDownloadResponse down = PB__FILE_DOWNLOAD_RESPONSE__INIT;
	ProtobufCMessageUnknownField upstream = { 0, 0, 0, NULL };
	struct msg *out;
	size_t len, n;

	m.agent_id = wire_bytes(r->agent_id, strlen(r->agent_id));
	m.task_id = wire_bytes(r->task_id, strlen(r->task_id));
	m.status = (Pb__TaskResponse__Status)r->status;
	m.is_final = r->is_final != 0;
	m.cancelled = r->cancelled != 0;
	m.seq = r->seq;
	m.reason = (Pb__TaskResponse__FailureReason)r->reason;
	if (r->usage != NULL) {
		usage.user_cpu_us = r->usage->user_cpu_us;
		usage.system_cpu_us = r->usage->system_cpu_us;
		usage.max_rss_kib = r->usage->max_rss_kib;
		usage.wall_ms = r->usage->wall_ms;
		usage.stdout_bytes = r->usage->stdout_bytes;
		usage.stderr_bytes = r->usage->stderr_bytes;
		m.usage = &usage;
	}
	if (r->is_cancel_reply && r->cancel_upstream) {
		cancel.message = wire_bytes(r->text, r->text_len);
		len = pb__task_cancel_response__get_packed_size(&cancel);
		upstream.data = xmalloc(len + 10);
		for (n = 0; len >= 0x80; len >>= 7)	/* the length prefix */
			upstream.data[n++] = (uint8_t)(len | 0x80);
		upstream.data[n++] = (uint8_t)len;
		upstream.len = n + pb__task_cancel_response__pack(&cancel,
		    upstream.data + n);
		upstream.tag = WIRE_UPSTREAM_CANCEL_REPLY;
		upstream.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		m.base.n_unknown_fields = 1;
		m.base.unknown_fields = &upstream;
	} else if (r->is_cancel_reply) {
		cancel.message = wire_bytes(r->text, r->text_len);
		m.response_case = PB__TASK_RESPONSE__RESPONSE_TASK_CANCEL;
		m.task_cancel = &cancel;
	} else if (r->file == 1) {
		up.size = r->file_size;
		if (r->sha256 != NULL)
			up.sha256 = wire_bytes(r->sha256, strlen(r->sha256));
		m.response_case = PB__TASK_RESPONSE__RESPONSE_FILE_UPLOAD;
		m.file_upload = &up;
	} else if (r->file == 2) {
		down.data.data = (uint8_t *)(uintptr_t)r->data;
		down.data.len = r->data_len;
		down.offset = r->file_offset;
		down.size = r->file_size;
		down.mode = r->file_mode;
		if (r->sha256 != NULL)
			down.sha256 = wire_bytes(r->sha256, strlen(r->sha256));
		m.response_case = PB__TASK_RESPONSE__RESPONSE_FILE_DOWNLOAD;
		m.file_download = &down;
	} else if (r->docker) {
		if (r->stream == OUTPUT_STDOUT)
			docker.stdout_text = wire_bytes(r->text, r->text_len);
		else
			docker.stderr_text = wire_bytes(r->text, r->text_len);
		docker.exit_code = r->exit_code;
		if (r->container_id != NULL)
			docker.container_id = wire_bytes(r->container_id,
			    strlen(r->container_id));
		m.response_case = PB__TASK_RESPONSE__RESPONSE_DOCKER_OPERATION;
		m.docker_operation = &docker;
	} else {
		if (r->stream == OUTPUT_STDOUT)
			shell.stdout_text = wire_bytes(r->text, r->text_len);
		else
			shell.stderr_text = wire_bytes(r->text, r->text_len);
		shell.exit_code = r->exit_code;
		m.response_case = PB__TASK_RESPONSE__RESPONSE_SHELL_EXECUTE;
		m.shell_execute = &shell;
	}
	len = pb__task_response__get_packed_size(&m);
	out = msg_new(len);
	out->len = pb__task_response__pack(&m, out->data);
	free(upstream.data);
	return out;
}

/* The wire name of a reason, for the log. */
const char *
fail_reason_name(enum fail_reason r)
{
	const ProtobufCEnumValue *v;

	v = protobuf_c_enum_descriptor_get_value(
	    &pb__task_response__failure_reason__descriptor, (int)r);
	return v != NULL ? v->name : "?";
}
