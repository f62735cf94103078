/*
 * wire-head.c: ServerMessage in, AgentMessage out: today's upstream
 * protocol (proto/upstream-head.proto, --wire-dialect upstream-head).
 *
 * The only file that sees that protocol's protobuf-c types; head.c works
 * with struct head_request and the encoders below.  As in wire.c, the C
 * code is generated with every string as bytes: a request is checked
 * here (a NUL byte in what becomes an argument or a variable is refused),
 * and every string sent is valid UTF-8, repaired here if need be, since
 * upstream's server ends the whole stream on a message it cannot decode.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "upstream-head.pb-c.h"

/* A field as a C string; -1 with *cause if it holds a NUL byte. */
static int
head_string(ProtobufCBinaryData b, char **out, const char *what,
    char **cause)
{
	if (b.len == 0) {
		*out = xstrdup("");
		return 0;
	}
	if (memchr(b.data, '\0', b.len) != NULL) {
		xasprintf(cause, "%s holds a NUL byte", what);
		*out = xstrdup("");
		return -1;
	}
	*out = xmemdup0(b.data, b.len);
	return 0;
}

static int
head_env(Pb__HeadEnvEntry **entries, size_t n, struct head_request *r,
    char **cause)
{
	char *k, *v;
	size_t i;

	r->env = xcalloc(n + 1, sizeof *r->env);
	for (i = 0; i < n; i++) {
		if (head_string(entries[i]->key, &k, "an env name",
		    cause) != 0) {
			free(k);
			return -1;
		}
		if (head_string(entries[i]->value, &v, "an env value",
		    cause) != 0 || *k == '\0' || strchr(k, '=') != NULL) {
			if (*cause == NULL)
				xasprintf(cause, "env name '%.100s' is not a "
				    "variable name", k);
			free(k);
			free(v);
			return -1;
		}
		xasprintf(&r->env[r->n_env++], "%s=%s", k, v);
		free(k);
		free(v);
	}
	return 0;
}

static int
head_command(const Pb__CommandRequest *c, struct head_request *r,
    char **cause)
{
	size_t i;

	r->kind = HEAD_COMMAND;
	if (head_string(c->request_id, &r->id, "request_id", cause) != 0 ||
	    head_string(c->command, &r->command, "command", cause) != 0 ||
	    head_string(c->working_dir, &r->working_dir, "working_dir",
	    cause) != 0)
		return -1;
	r->args = xcalloc(c->n_args + 1, sizeof *r->args);
	for (i = 0; i < c->n_args; i++, r->n_args++)
		if (head_string(c->args[i], &r->args[i], "an argument",
		    cause) != 0) {
			r->n_args++;
			return -1;
		}
	r->timeout_seconds = c->timeout_seconds;
	return head_env(c->env, c->n_env, r, cause);
}

static int
head_terminal(const Pb__ServerMessage *m, struct head_request *r,
    char **cause)
{
	switch (m->message_case) {
	case PB__SERVER_MESSAGE__MESSAGE_TERMINAL_CREATE_REQUEST:
		r->kind = HEAD_TERM_CREATE;
		if (head_string(m->terminal_create_request->session_id, &r->id,
		    "session_id", cause) != 0 ||
		    head_string(m->terminal_create_request->shell, &r->shell,
		    "shell", cause) != 0 ||
		    head_string(m->terminal_create_request->working_dir,
		    &r->working_dir, "working_dir", cause) != 0)
			return -1;
		return head_env(m->terminal_create_request->env,
		    m->terminal_create_request->n_env, r, cause);
	case PB__SERVER_MESSAGE__MESSAGE_TERMINAL_COMMAND_REQUEST:
		r->kind = HEAD_TERM_COMMAND;
		if (head_string(m->terminal_command_request->session_id,
		    &r->id, "session_id", cause) != 0 ||
		    head_string(m->terminal_command_request->command_id,
		    &r->command_id, "command_id", cause) != 0)
			return -1;
		/* (A NUL byte goes to the shell as it is: it is input.) */
		r->command = m->terminal_command_request->command.len != 0 ?
		    xmemdup0(m->terminal_command_request->command.data,
		    m->terminal_command_request->command.len) : xstrdup("");
		r->command_len = m->terminal_command_request->command.len;
		return 0;
	default:
		r->kind = HEAD_TERM_CLOSE;
		return head_string(m->terminal_close_request->session_id,
		    &r->id, "session_id", cause);
	}
}

/*
 * Decodes one ServerMessage.  Returns 0, or -1 with *cause set (R is then
 * still to be freed, its kind and ID set where they could be read).
 */
int
wire_head_decode(const void *data, size_t len, struct head_request *r,
    char **cause)
{
	Pb__ServerMessage *m;
	int rc = 0;

	memset(r, 0, sizeof *r);
	*cause = NULL;
	if ((m = pb__server_message__unpack(NULL, len, data)) == NULL) {
		*cause = xstrdup("not a ServerMessage");
		return -1;
	}
	switch (m->message_case) {
	case PB__SERVER_MESSAGE__MESSAGE_PING:
		r->kind = HEAD_PING;
		r->timestamp = m->ping->timestamp;
		break;
	case PB__SERVER_MESSAGE__MESSAGE_COMMAND_REQUEST:
		rc = head_command(m->command_request, r, cause);
		break;
	case PB__SERVER_MESSAGE__MESSAGE_TERMINAL_CREATE_REQUEST:
	case PB__SERVER_MESSAGE__MESSAGE_TERMINAL_COMMAND_REQUEST:
	case PB__SERVER_MESSAGE__MESSAGE_TERMINAL_CLOSE_REQUEST:
		rc = head_terminal(m, r, cause);
		break;
	case PB__SERVER_MESSAGE__MESSAGE_METRICS_REQUEST:
		r->kind = HEAD_METRICS;
		rc = head_string(m->metrics_request->request_id, &r->id,
		    "request_id", cause);
		break;
	case PB__SERVER_MESSAGE__MESSAGE_SYSTEM_INFO_REQUEST:
		r->kind = HEAD_SYSINFO;
		rc = head_string(m->system_info_request->request_id, &r->id,
		    "request_id", cause);
		break;
	default:
		r->kind = HEAD_NONE;
		break;
	}
	pb__server_message__free_unpacked(m, NULL);
	return rc;
}

void
wire_head_request_free(struct head_request *r)
{
	size_t i;

	free(r->id);
	free(r->command_id);
	free(r->command);
	free(r->working_dir);
	free(r->shell);
	for (i = 0; i < r->n_args; i++)
		free(r->args[i]);
	free(r->args);
	for (i = 0; i < r->n_env; i++)
		free(r->env[i]);
	free(r->env);
	memset(r, 0, sizeof *r);
}

/* -- encoding ---------------------------------------------------------- */

/*
 * The strings of one message, each valid UTF-8: repaired copies are kept
 * here until the message is packed.
 */
struct head_text {
	struct buf bufs[8];
	size_t n;
};

static ProtobufCBinaryData
head_text(struct head_text *ht, const char *s, size_t len)
{
	ProtobufCBinaryData b;
	struct buf *out;

	if (s == NULL)
		len = 0;
	if (len == 0 || utf8_valid(s, len) || ht->n == 8) {
		b.data = (uint8_t *)(uintptr_t)(s != NULL ? s : "");
		b.len = ht->n == 8 && len != 0 && !utf8_valid(s, len) ?
		    utf8_valid_prefix(s, len) : len;
		return b;
	}
	out = &ht->bufs[ht->n++];
	buf_init(out);
	utf8_repair(s, len, out, 1);
	b.data = (uint8_t *)out->data;
	b.len = out->len;
	return b;
}

static ProtobufCBinaryData
head_str(struct head_text *ht, const char *s)
{
	return head_text(ht, s, s != NULL ? strlen(s) : 0);
}

static void
head_text_free(struct head_text *ht)
{
	size_t i;

	for (i = 0; i < ht->n; i++)
		buf_free(&ht->bufs[i]);
	ht->n = 0;
}

static struct msg *
head_pack(Pb__AgentMessage *am, struct head_text *ht)
{
	struct msg *m;

	m = msg_new(pb__agent_message__get_packed_size(am));
	pb__agent_message__pack(am, m->data);
	m->head = 1;
	if (ht != NULL)
		head_text_free(ht);
	return m;
}

struct msg *
wire_head_pong(int64_t now, int64_t ping_timestamp)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__Pong p = PB__PONG__INIT;

	p.timestamp = now;
	p.ping_timestamp = ping_timestamp;
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_PONG;
	am.pong = &p;
	return head_pack(&am, NULL);
}

/* A CommandResponse; OUT and ERR are cut by the caller to fit. */
struct msg *
wire_head_command(const char *id, int exit_code, const char *out,
    size_t out_len, const char *err, size_t err_len, const char *error,
    int timeout)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__CommandResponse c = PB__COMMAND_RESPONSE__INIT;
	struct head_text ht = { .n = 0 };

	c.request_id = head_str(&ht, id);
	c.exit_code = exit_code;
	c.stdout_text = head_text(&ht, out, out_len);
	c.stderr_text = head_text(&ht, err, err_len);
	c.error = head_str(&ht, error);
	c.timeout = timeout != 0;
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_COMMAND_RESPONSE;
	am.command_response = &c;
	return head_pack(&am, &ht);
}

struct msg *
wire_head_term_create(const char *session, int ok, const char *error,
    const char *shell)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__TerminalCreateResponse r = PB__TERMINAL_CREATE_RESPONSE__INIT;
	struct head_text ht = { .n = 0 };

	r.session_id = head_str(&ht, session);
	r.success = ok != 0;
	r.error = head_str(&ht, error);
	r.shell = head_str(&ht, shell);
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_TERMINAL_CREATE_RESPONSE;
	am.terminal_create_response = &r;
	return head_pack(&am, &ht);
}

/* One line of a session (OUT from stdout, or ERR from stderr), or its
 * acknowledgement or final message. */
struct msg *
wire_head_term_output(const char *session, const char *command_id,
    const char *out, size_t out_len, const char *err, size_t err_len,
    int final, int exit_code)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__TerminalCommandResponse r = PB__TERMINAL_COMMAND_RESPONSE__INIT;
	struct head_text ht = { .n = 0 };

	r.session_id = head_str(&ht, session);
	r.command_id = head_str(&ht, command_id);
	r.output = head_text(&ht, out, out_len);
	r.error = head_text(&ht, err, err_len);
	r.is_final = final != 0;
	r.exit_code = exit_code;
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_TERMINAL_COMMAND_RESPONSE;
	am.terminal_command_response = &r;
	return head_pack(&am, &ht);
}

struct msg *
wire_head_term_close(const char *session, int ok, const char *error)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__TerminalCloseResponse r = PB__TERMINAL_CLOSE_RESPONSE__INIT;
	struct head_text ht = { .n = 0 };

	r.session_id = head_str(&ht, session);
	r.success = ok != 0;
	r.error = head_str(&ht, error);
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_TERMINAL_CLOSE_RESPONSE;
	am.terminal_close_response = &r;
	return head_pack(&am, &ht);
}

/* A MetricsResponse: HM, or ERROR (HM NULL). */
struct msg *
wire_head_metrics(const char *id, const struct host_metrics *hm,
    const char *error)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__MetricsResponse r = PB__METRICS_RESPONSE__INIT;
	Pb__SystemMetrics sm = PB__SYSTEM_METRICS__INIT;
	Pb__MemoryMetrics mem = PB__MEMORY_METRICS__INIT;
	Pb__DiskMetrics *disks = NULL, **dp = NULL;
	Pb__NetworkMetrics *nets = NULL, **np = NULL;
	Pb__ProcessMetrics procs[HOST_TOP_PROCS], *pp[HOST_TOP_PROCS];
	struct head_text ht = { .n = 0 };
	struct msg *m;
	size_t i;

	r.request_id = head_str(&ht, id);
	r.error = head_str(&ht, error);
	if (hm != NULL) {
		sm.cpu_usage_percent = hm->cpu_percent;
		mem.total = hm->mem_total;
		mem.available = hm->mem_available;
		mem.used = hm->mem_used;
		mem.used_percent = hm->mem_used_percent;
		mem.free = hm->mem_free;
		mem.cached = hm->mem_cached;
		mem.buffers = hm->mem_buffers;
		sm.memory = &mem;
		disks = xcalloc(hm->n_disks + 1, sizeof *disks);
		dp = xcalloc(hm->n_disks + 1, sizeof *dp);
		for (i = 0; i < hm->n_disks; i++) {
			pb__disk_metrics__init(&disks[i]);
			/* (hostinfo.c made every name valid UTF-8.) */
			disks[i].device.data = (uint8_t *)hm->disks[i].device;
			disks[i].device.len = strlen(hm->disks[i].device);
			disks[i].mountpoint.data =
			    (uint8_t *)hm->disks[i].mountpoint;
			disks[i].mountpoint.len =
			    strlen(hm->disks[i].mountpoint);
			disks[i].filesystem.data = (uint8_t *)hm->disks[i].fstype;
			disks[i].filesystem.len = strlen(hm->disks[i].fstype);
			disks[i].total = hm->disks[i].total;
			disks[i].used = hm->disks[i].used;
			disks[i].free = hm->disks[i].free;
			disks[i].used_percent = hm->disks[i].used_percent;
			dp[i] = &disks[i];
		}
		sm.n_disks = hm->n_disks;
		sm.disks = dp;
		nets = xcalloc(hm->n_nets + 1, sizeof *nets);
		np = xcalloc(hm->n_nets + 1, sizeof *np);
		for (i = 0; i < hm->n_nets; i++) {
			pb__network_metrics__init(&nets[i]);
			nets[i].interface.data = (uint8_t *)hm->nets[i].name;
			nets[i].interface.len = strlen(hm->nets[i].name);
			nets[i].bytes_sent = hm->nets[i].bytes_sent;
			nets[i].bytes_recv = hm->nets[i].bytes_recv;
			nets[i].packets_sent = hm->nets[i].packets_sent;
			nets[i].packets_recv = hm->nets[i].packets_recv;
			nets[i].errors_in = hm->nets[i].errors_in;
			nets[i].errors_out = hm->nets[i].errors_out;
			nets[i].drops_in = hm->nets[i].drops_in;
			nets[i].drops_out = hm->nets[i].drops_out;
			np[i] = &nets[i];
		}
		sm.n_network_interfaces = hm->n_nets;
		sm.network_interfaces = np;
		for (i = 0; i < hm->n_procs; i++) {
			pb__process_metrics__init(&procs[i]);
			procs[i].pid = hm->procs[i].pid;
			procs[i].name = head_str(&ht, hm->procs[i].name);
			procs[i].cpu_percent = hm->procs[i].cpu_percent;
			procs[i].memory_rss = hm->procs[i].rss;
			procs[i].memory_vms = hm->procs[i].vms;
			procs[i].status.data = (uint8_t *)(uintptr_t)
			    hm->procs[i].status;
			procs[i].status.len = strlen(hm->procs[i].status);
			procs[i].create_time = hm->procs[i].create_time;
			procs[i].num_threads = hm->procs[i].threads;
			pp[i] = &procs[i];
		}
		sm.n_processes = hm->n_procs;
		sm.processes = pp;
		sm.timestamp = hm->timestamp;
		sm.load_average_1m = hm->load[0];
		sm.load_average_5m = hm->load[1];
		sm.load_average_15m = hm->load[2];
		r.metrics = &sm;
	}
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_METRICS_RESPONSE;
	am.metrics_response = &r;
	m = head_pack(&am, &ht);
	free(disks);
	free(dp);
	free(nets);
	free(np);
	return m;
}

/* A SystemInfoResponse: HI, or ERROR (HI NULL). */
struct msg *
wire_head_sysinfo(const char *id, const struct host_info *hi,
    const char *error)
{
	Pb__AgentMessage am = PB__AGENT_MESSAGE__INIT;
	Pb__SystemInfoResponse r = PB__SYSTEM_INFO_RESPONSE__INIT;
	Pb__SystemInfo si = PB__SYSTEM_INFO__INIT;
	struct head_text ht = { .n = 0 };
	ProtobufCBinaryData *ifaces = NULL;
	struct msg *m;
	size_t i;

	r.request_id = head_str(&ht, id);
	r.error = head_str(&ht, error);
	if (hi != NULL) {
		si.hostname = head_str(&ht, hi->hostname);
		si.platform = head_str(&ht, hi->platform);
		si.arch = head_str(&ht, hi->arch);
		si.os_version = head_str(&ht, hi->os_version);
		si.cpu_count = hi->cpus;
		si.total_memory = hi->total_memory;
		ifaces = xcalloc(hi->n_ifaces + 1, sizeof *ifaces);
		for (i = 0; i < hi->n_ifaces; i++) {
			ifaces[i].data = (uint8_t *)hi->ifaces[i];
			ifaces[i].len = strlen(hi->ifaces[i]);
		}
		si.n_network_interfaces = hi->n_ifaces;
		si.network_interfaces = ifaces;
		si.kernel_version = head_str(&ht, hi->kernel);
		si.uptime_seconds = hi->uptime;
		r.system_info = &si;
	}
	am.message_case = PB__AGENT_MESSAGE__MESSAGE_SYSTEM_INFO_RESPONSE;
	am.system_info_response = &r;
	m = head_pack(&am, &ht);
	free(ifaces);
	return m;
}
