/*
 * options.c: the agent's settings, from one table.
 *
 * Each setting is named once, with its type, bounds, default, environment
 * variable, configuration file key and help text; the parser, the --help
 * text and the defaults all come from the table.  Precedence: command line,
 * then environment, then the configuration file (--config, config.c), then
 * the default, which is applied last so that "unset" stays distinguishable
 * from "set to the default".
 *
 * Two spellings are accepted side by side: GNU style (--agent-id ID,
 * --agent-id=ID, -v) and the Go flag style of the original agent
 * (-agent_id=agent1, -agent_id agent1); dashes and underscores in a name are
 * the same.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

enum option_type {
	OPT_STRING,
	OPT_UINT,	/* decimal, within [min, max] */
	OPT_FACTOR,	/* decimal like 1.5, stored in hundredths */
	OPT_FLAG,	/* no value, or =true/=false */
	OPT_CHOICE,	/* one of the words in `arg', '|'-separated */
	OPT_COUNT,	/* each use adds one */
	OPT_U64,	/* 64 bits; with a K, M, G or T suffix if arg is BYTES */
	OPT_RULES,	/* regular expressions: a list in the file (policy.c) */
	OPT_HELP,
	OPT_VERSION,
};

struct option_entry {
	const char *name;	/* long name, with dashes */
	char short_name;
	enum option_type type;
	size_t offset;
	int env;		/* settable as NODELINK_<NAME> (options_env_name) */
	const char *env_alias;	/* an older variable that works too */
	const char *key;	/* in the configuration file */
	int list;		/* the file may give a list (comma-joined) */
	const char *def;	/* default, as it would be written */
	unsigned min, max;
	int empty_ok;		/* a string may be "" */
	const char *arg;	/* the value's name in --help */
	const char *help;
};

#define OFF(field) offsetof(struct options, field)
/* A resource limit's default and ceiling (tasks.limits.*). */
#define OPTIONS_LIMIT(field, nm, keyname, argname, what) \
	{ .name = "limit-" nm, .type = OPT_U64, \
	  .offset = OFF(limit_default.field), .env = 1, \
	  .key = "tasks.limits." keyname, .def = "0", .arg = argname, \
	  .help = "a task's " what " unless it asks for another (0: no " \
	  "limit)" }, \
	{ .name = "limit-" nm "-ceiling", .type = OPT_U64, \
	  .offset = OFF(limit_ceiling.field), .env = 1, \
	  .key = "tasks.limits." keyname "_ceiling", .def = "0", \
	  .arg = argname, \
	  .help = "the highest " what " a task may ask for; more is lowered " \
	  "to this (0: no ceiling)" }
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define OPTIONS_DEFAULT_CONFIG SYSCONFDIR "/nodelink/agent.yaml"
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#define OPTIONS_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/nodelink-agent"

static const struct option_entry options_table[] = {
	{ .name = "config", .short_name = 'c', .type = OPT_STRING,
	  .offset = OFF(config), .env = 1, .arg = "FILE|none",
	  .help = "read settings from this YAML file (default: "
	  OPTIONS_DEFAULT_CONFIG " if it exists; none: no file)" },
	{ .name = "server", .short_name = 's', .type = OPT_STRING,
	  .offset = OFF(server), .env = 1,
	  .env_alias = "NODELINK_SERVER_ADDRESS", .key = "server.address",
	  .list = 1, .def = "localhost:9090", .arg = "ADDR[,ADDR...]",
	  .help = "the nodelink server(s), host:port; the next is tried "
	  "when one fails" },
	{ .name = "agent-id", .type = OPT_STRING, .offset = OFF(agent_id),
	  .env = 1, .key = "agent.id", .arg = "ID",
	  .help = "this agent's ID (required)" },
	{ .name = "agent-token", .type = OPT_STRING,
	  .offset = OFF(agent_token), .env = 1, .key = "agent.token",
	  .arg = "TOKEN",
	  .help = "this agent's secret token (required); prefer the "
	  "environment or the file: a command line is visible to other "
	  "users" },
	{ .name = "agent-token-file", .type = OPT_STRING,
	  .offset = OFF(agent_token_file), .env = 1, .key = "agent.token_file",
	  .arg = "FILE",
	  .help = "read the token from this file (one line), again before "
	  "each reconnect: a token that never sits in argv or the "
	  "environment, and rotates without a restart" },
	{ .name = "tls", .type = OPT_FLAG, .offset = OFF(tls), .env = 1,
	  .key = "server.tls_enabled",
	  .help = "connect with TLS (implied by any TLS file or name)" },
	{ .name = "tls-ca-file", .type = OPT_STRING,
	  .offset = OFF(tls_ca_file), .env = 1, .key = "server.tls_ca_file",
	  .arg = "FILE",
	  .help = "trusted CA certificates (PEM) for TLS; default: the "
	  "system's" },
	{ .name = "tls-cert-file", .type = OPT_STRING,
	  .offset = OFF(tls_cert_file), .env = 1,
	  .key = "server.tls_cert_file", .arg = "FILE",
	  .help = "the agent's certificate (PEM) for mutual TLS" },
	{ .name = "tls-key-file", .type = OPT_STRING,
	  .offset = OFF(tls_key_file), .env = 1, .key = "server.tls_key_file",
	  .arg = "FILE",
	  .help = "the private key (PEM) of --tls-cert-file" },
	{ .name = "tls-server-name", .type = OPT_STRING,
	  .offset = OFF(tls_server_name), .env = 1,
	  .key = "server.tls_server_name", .arg = "NAME",
	  .help = "the name the server's certificate must carry, if not its "
	  "host" },
	{ .name = "wire-dialect", .type = OPT_CHOICE,
	  .offset = OFF(wire_dialect), .env = 1, .key = "server.wire_dialect",
	  .def = "auto", .arg = "auto|design|upstream|upstream-head",
	  .help = "the server's protocol: StreamTasks with the design's "
	  "cancel (TaskRequest 5, answered at 8) or the released upstream "
	  "server's (6, answered at 7); today's upstream StreamCommunication "
	  "(upstream-head); or auto: StreamTasks, each cancel's own "
	  "numbering, and StreamCommunication for a server that does not "
	  "know StreamTasks" },
	{ .name = "cgroup-root", .type = OPT_STRING,
	  .offset = OFF(cgroup_root), .env = 1, .key = "agent.cgroup_root",
	  .def = "auto", .arg = "DIR|auto|none",
	  .help = "where each task gets a cgroup v2 of its own (auto: in the "
	  "agent's own cgroup; none: process groups only)" },
	{ .name = "state-dir", .type = OPT_STRING, .offset = OFF(state_dir),
	  .env = 1, .key = "agent.state_dir", .empty_ok = 1,
	  .def = OPTIONS_DEFAULT_STATE_DIR, .arg = "DIR|none",
	  .help = "keep the journal of messages not yet acknowledged and the "
	  "memory of finished tasks here, so that a killed agent loses "
	  "nothing and runs nothing twice ('' or none: memory only)" },
	{ .name = "delivery-wait", .type = OPT_UINT,
	  .offset = OFF(delivery_wait_s), .env = 1,
	  .key = "agent.delivery_wait", .def = "5", .min = 0, .max = 3600,
	  .arg = "SECONDS",
	  .help = "at exit without a state directory, how long to wait for "
	  "the server to take the last messages" },
	{ .name = "file-roots", .type = OPT_STRING, .offset = OFF(file_roots),
	  .env = 1, .key = "files.roots", .list = 1, .arg = "DIR[,DIR...]",
	  .help = "file upload and download only beneath these directories "
	  "(none by default: file transfer refused)" },
	{ .name = "file-max-bytes", .type = OPT_U64,
	  .offset = OFF(file_max_bytes), .env = 1, .key = "files.max_bytes",
	  .def = "1G", .arg = "BYTES",
	  .help = "the largest file uploaded or downloaded" },
	{ .name = "file-idle-timeout", .type = OPT_UINT,
	  .offset = OFF(file_idle_timeout_s), .env = 1,
	  .key = "files.idle_timeout", .def = "60", .min = 1, .max = 86400,
	  .arg = "SECONDS",
	  .help = "an upload with no chunk for this long fails, its partial "
	  "file removed" },
	{ .name = "http-listen", .type = OPT_STRING,
	  .offset = OFF(http_listen), .env = 1, .key = "http.listen",
	  .arg = "ADDR:PORT",
	  .help = "serve /healthz, /readyz and /metrics here (port 0: any "
	  "free one, logged); off by default" },
	{ .name = "shell", .type = OPT_STRING, .offset = OFF(shell), .env = 1,
	  .key = "agent.shell", .def = "bash", .arg = "PATH",
	  .help = "shell that runs commands as: SHELL -c CMD" },
	{ .name = "docker-binary", .type = OPT_STRING,
	  .offset = OFF(docker_binary), .env = 1, .key = "docker.binary",
	  .def = "docker", .arg = "PATH",
	  .help = "the Docker CLI that runs Docker operations (podman works "
	  "too)" },
	{ .name = "max-concurrent-tasks", .type = OPT_UINT,
	  .offset = OFF(max_concurrent_tasks), .env = 1,
	  .key = "agent.max_concurrent_tasks", .def = "100", .min = 1,
	  .max = 100000, .arg = "N",
	  .help = "tasks running at once; more wait in a queue" },
	{ .name = "max-queued-tasks", .type = OPT_UINT,
	  .offset = OFF(max_queued_tasks), .env = 1,
	  .key = "agent.max_queued_tasks", .def = "1000", .min = 0,
	  .max = 1000000, .arg = "N",
	  .help = "tasks waiting; beyond them the agent answers busy" },
	{ .name = "max-queued-bytes", .type = OPT_U64,
	  .offset = OFF(max_queued_bytes), .env = 1,
	  .key = "agent.max_queued_bytes", .def = "256M", .arg = "BYTES",
	  .help = "the requests of waiting tasks, at most (a request may be "
	  "16 MiB: 1,000 of them would be 16 GB); beyond it the agent "
	  "answers busy" },
	{ .name = "max-task-input", .type = OPT_U64,
	  .offset = OFF(max_task_input), .env = 1, .key = "tasks.max_input",
	  .def = "8M", .arg = "BYTES",
	  .help = "a task's input (TaskInput) waiting for it to read, at "
	  "most; past it the task ends, LIMIT_EXCEEDED" },
	OPTIONS_LIMIT(memory_bytes, "memory", "memory", "BYTES",
	    "memory limit (cgroup memory.max, else RLIMIT_AS)"),
	OPTIONS_LIMIT(cpu_seconds, "cpu-seconds", "cpu_seconds", "SECONDS",
	    "CPU time limit"),
	OPTIONS_LIMIT(max_processes, "processes", "processes", "N",
	    "process limit (cgroup pids.max, else RLIMIT_NPROC)"),
	OPTIONS_LIMIT(max_open_files, "open-files", "open_files", "N",
	    "open file limit"),
	OPTIONS_LIMIT(max_file_bytes, "file-size", "file_size", "BYTES",
	    "file size limit"),
	OPTIONS_LIMIT(max_output_bytes, "output", "output", "BYTES",
	    "output limit (stdout and stderr together; past it the task is "
	    "killed)"),
	{ .name = "allowed-users", .type = OPT_STRING,
	  .offset = OFF(allowed_users), .env = 1,
	  .key = "tasks.allowed_users", .list = 1, .arg = "USER[,USER...]",
	  .help = "users (names or uids) a task may ask to run as; only "
	  "an agent running as root can switch (none by default)" },
	{ .name = "sandbox-image", .type = OPT_STRING,
	  .offset = OFF(sandbox_image), .env = 1, .key = "tasks.sandbox.image",
	  .arg = "IMAGE",
	  .help = "run every shell task inside a fresh container of this "
	  "image (docker run --rm -i), whatever the request says" },
	{ .name = "sandbox-network", .type = OPT_FLAG,
	  .offset = OFF(sandbox_network), .env = 1,
	  .key = "tasks.sandbox.network",
	  .help = "give sandbox containers forced by --sandbox-image a "
	  "network (default: none)" },
	{ .name = "policy-allow", .type = OPT_RULES,
	  .offset = OFF(policy_allow), .key = "policy.allow", .list = 1,
	  .env = 1, .arg = "REGEX",
	  .help = "shell commands allowed: when there are rules, a command "
	  "must match one whole (POSIX extended regular expressions; a "
	  "list in the file, one a line in the environment)" },
	{ .name = "policy-deny", .type = OPT_RULES,
	  .offset = OFF(policy_deny), .key = "policy.deny", .list = 1,
	  .env = 1, .arg = "REGEX",
	  .help = "shell commands refused: a command matching one anywhere "
	  "is refused, whatever the allow rules say" },
	{ .name = "policy-allow-env", .type = OPT_RULES,
	  .offset = OFF(policy_allow_env), .key = "policy.allow_env",
	  .list = 1, .env = 1, .arg = "REGEX",
	  .help = "with command rules, a request setting BASH_ENV, ENV, "
	  "SHELLOPTS, BASHOPTS, PS4, BASH_FUNC_* or LD_* (which change what "
	  "an allowed command runs) is refused unless the name matches one "
	  "of these whole" },
	{ .name = "policy-images", .type = OPT_RULES,
	  .offset = OFF(policy_images), .key = "policy.images", .list = 1,
	  .env = 1, .arg = "REGEX",
	  .help = "Docker images allowed (docker run, pull, sandboxes): when "
	  "there are rules, a reference must match one whole" },
	{ .name = "kill-grace", .type = OPT_UINT, .offset = OFF(kill_grace_s),
	  .env = 1, .key = "agent.kill_grace", .def = "10", .min = 0,
	  .max = 3600, .arg = "SECONDS",
	  .help = "SIGTERM to SIGKILL when a task is cancelled (0: SIGKILL "
	  "at once)" },
	{ .name = "drain-timeout", .type = OPT_UINT,
	  .offset = OFF(drain_timeout_s), .env = 1,
	  .key = "agent.drain_timeout", .def = "0", .min = 0,
	  .max = 31536000, .arg = "SECONDS",
	  .help = "SIGQUIT drains: no new tasks, the running and queued ones "
	  "finish, then exit; past this long the rest are cancelled as on "
	  "SIGTERM (0: no limit)" },
	{ .name = "default-timeout", .type = OPT_UINT,
	  .offset = OFF(default_timeout_s), .env = 1,
	  .key = "agent.default_timeout", .def = "0", .min = 0,
	  .max = 31536000, .arg = "SECONDS",
	  .help = "time limit of tasks that set none (0: no limit)" },
	{ .name = "flush-delay-ms", .type = OPT_UINT,
	  .offset = OFF(flush_delay_ms), .env = 1,
	  .key = "agent.flush_delay_ms", .def = "100", .min = 1,
	  .max = 60000, .arg = "MS",
	  .help = "a partial output line is sent after this long" },
	{ .name = "spool-mib", .type = OPT_UINT, .offset = OFF(spool_mib),
	  .env = 1, .key = "agent.spool_mib", .def = "64", .min = 1,
	  .max = 65536, .arg = "MIB",
	  .help = "messages held for the server before tasks' pipes and "
	  "the server's requests pause" },
	{ .name = "reconnect-initial-ms", .type = OPT_UINT,
	  .offset = OFF(reconnect_initial_ms), .env = 1,
	  .key = "server.reconnect_initial_ms", .def = "1000", .min = 1,
	  .max = 3600000, .arg = "MS",
	  .help = "first reconnect delay ceiling" },
	{ .name = "reconnect-max-ms", .type = OPT_UINT,
	  .offset = OFF(reconnect_max_ms), .env = 1,
	  .key = "server.reconnect_max_ms", .def = "60000", .min = 1,
	  .max = 3600000, .arg = "MS",
	  .help = "largest reconnect delay" },
	{ .name = "reconnect-multiplier", .type = OPT_FACTOR,
	  .offset = OFF(reconnect_multiplier_pct), .env = 1,
	  .key = "server.reconnect_multiplier", .def = "1.5", .min = 100,
	  .max = 1000, .arg = "X",
	  .help = "growth of the reconnect delay per failure" },
	{ .name = "keepalive-ms", .type = OPT_UINT,
	  .offset = OFF(keepalive_ms), .env = 1, .key = "server.keepalive_ms",
	  .def = "360000", .min = 1000, .max = 86400000, .arg = "MS",
	  .help = "ping an idle connection this often (default gRPC servers "
	  "refuse pings more often than every 5 minutes)" },
	{ .name = "keepalive-timeout-ms", .type = OPT_UINT,
	  .offset = OFF(keepalive_timeout_ms), .env = 1,
	  .key = "server.keepalive_timeout_ms", .def = "20000", .min = 100,
	  .max = 3600000, .arg = "MS",
	  .help = "a ping unanswered this long means the server is gone" },
	{ .name = "log-level", .type = OPT_CHOICE, .offset = OFF(log_level),
	  .env = 1, .key = "logging.level", .def = "info",
	  .arg = "debug|info|warn|error",
	  .help = "the least severe messages logged" },
	{ .name = "log-format", .type = OPT_CHOICE, .offset = OFF(log_format),
	  .env = 1, .key = "logging.format", .def = "text", .arg = "text|json",
	  .help = "log lines as text or as JSON objects" },
	{ .name = "check-config", .type = OPT_FLAG,
	  .offset = OFF(check_config),
	  .help = "load every setting (file, environment, command line), "
	  "print the effective ones with where each came from (secrets "
	  "masked) and exit: 0, or 2 with every error found" },
	{ .name = "verbose", .short_name = 'v', .type = OPT_COUNT,
	  .offset = OFF(verbose),
	  .help = "log debug messages too (--log-level debug)" },
	{ .name = "help", .short_name = 'h', .type = OPT_HELP,
	  .help = "show this help and exit" },
	{ .name = "version", .short_name = 'V', .type = OPT_VERSION,
	  .help = "show the version and exit" },
};

#define OPTIONS_COUNT (sizeof options_table / sizeof options_table[0])

void
options_init(struct options *o)
{
	memset(o, 0, sizeof *o);
}

void
options_free(struct options *o)
{
	const struct option_entry *e;
	size_t i;

	for (i = 0; i < o->n_servers; i++)
		free(o->servers[i]);
	free(o->servers);
	if (o->origins != NULL) {
		for (i = 0; i < OPTIONS_COUNT; i++)
			free(o->origins[i]);
		free(o->origins);
	}
	free(o->tls_roots);
	free(o->tls_cert);
	if (o->tls_key != NULL)
		memset(o->tls_key, 0, strlen(o->tls_key));
	free(o->tls_key);
	free(o->token_warning);
	rules_free(o->policy_allow);
	rules_free(o->policy_deny);
	rules_free(o->policy_images);
	rules_free(o->policy_allow_env);
	for (i = 0; i < OPTIONS_COUNT; i++) {
		e = &options_table[i];
		if (e->type == OPT_STRING || e->type == OPT_CHOICE)
			free(*(char **)((char *)o + e->offset));
	}
	options_init(o);
}

/* Compares a user's spelling with a table name: '_' and '-' are equal. */
static int
options_name_is(const char *given, size_t len, const char *name)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (name[i] == '\0')
			return 0;
		if (given[i] == name[i] ||
		    (given[i] == '_' && name[i] == '-'))
			continue;
		return 0;
	}
	return name[len] == '\0';
}

static const struct option_entry *
options_find_long(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < OPTIONS_COUNT; i++) {
		if (options_name_is(name, len, options_table[i].name))
			return &options_table[i];
	}
	return NULL;
}

static const struct option_entry *
options_find_short(char c)
{
	size_t i;

	for (i = 0; i < OPTIONS_COUNT; i++) {
		if (options_table[i].short_name == c && c != 0)
			return &options_table[i];
	}
	return NULL;
}

static int
options_takes_value(const struct option_entry *e)
{
	return e->type == OPT_STRING || e->type == OPT_UINT ||
	    e->type == OPT_FACTOR || e->type == OPT_CHOICE ||
	    e->type == OPT_U64 || e->type == OPT_RULES;
}

/* Parses "1.5" as 150; at most two decimals. */
static int
options_parse_factor(const char *s, unsigned *out)
{
	unsigned long whole = 0, frac = 0;
	int digits = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		whole = whole * 10 + (unsigned long)(*p++ - '0');
		if (whole > 1000)
			return -1;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && digits < 2) {
			frac = frac * 10 + (unsigned long)(*p++ - '0');
			digits++;
		}
		if (digits == 0)
			return -1;
		if (digits == 1)
			frac *= 10;
	}
	if (*p != '\0')
		return -1;
	*out = (unsigned)(whole * 100 + frac);
	return 0;
}

/* Parses a whole number, with a binary suffix (K, M, G, T, as KiB ...) if
 * BYTES. */
static int
options_parse_u64(const char *s, int bytes, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	uint64_t n = 0, mult = 1;
	const char *p = s;
	int i;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0' && bytes &&
	    (u = strchr(units, *p >= 'a' ? *p - 'a' + 'A' : *p)) != NULL) {
		for (i = 0; i <= u - units; i++)
			mult *= 1024;
		p++;
		if (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0)
			p += strlen(p);
	}
	if (*p != '\0' || (n != 0 && mult > UINT64_MAX / n))
		return -1;
	*out = n * mult;
	return 0;
}

/* True if VALUE is one of the '|'-separated words in CHOICES. */
static int
options_is_choice(const char *choices, const char *value)
{
	size_t len = strlen(value);
	const char *p = choices, *end;

	for (;;) {
		end = strchr(p, '|');
		if ((size_t)((end != NULL ? end : p + strlen(p)) - p) == len &&
		    strncmp(p, value, len) == 0)
			return 1;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

/*
 * Rules from one value (the command line's or the environment's): one
 * rule a line, since a rule may hold a comma.
 */
static int
options_set_rules(const struct option_entry *e, void *field,
    const char *value, const char *origin, char **cause)
{
	char *copy, *line, *save = NULL, **v = NULL, *c;
	size_t n = 0;

	copy = xstrdup(value);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = line;
	}
	rules_free(*(struct rules **)field);
	*(struct rules **)field = rules_compile(e->key, v, NULL, n, NULL,
	    cause);
	free(v);
	free(copy);
	if (*(struct rules **)field == NULL) {
		c = *cause;
		xasprintf(cause, "%s: %s", origin, c);
		free(c);
		return -1;
	}
	return 0;
}

/* Stores VALUE into the setting; returns -1 with *cause set on bad input. */
static int
options_set(struct options *o, const struct option_entry *e,
    const char *value, const char *origin, char **cause)
{
	void *field = (char *)o + e->offset;
	unsigned long n;
	unsigned f;
	char *end;

	switch (e->type) {
	case OPT_STRING:
		if (*value == '\0' && !e->empty_ok) {
			xasprintf(cause, "%s: --%s must not be empty", origin,
			    e->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case OPT_CHOICE:
		if (!options_is_choice(e->arg, value)) {
			xasprintf(cause, "%s: --%s takes %s, not '%s'", origin,
			    e->name, e->arg, value);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case OPT_UINT:
		errno = 0;
		n = strtoul(value, &end, 10);
		if (*value < '0' || *value > '9' || *end != '\0' ||
		    errno != 0 || n < e->min || n > e->max) {
			xasprintf(cause, "%s: --%s takes a whole number from "
			    "%u to %u, not '%s'", origin, e->name, e->min,
			    e->max, value);
			return -1;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	case OPT_FACTOR:
		if (options_parse_factor(value, &f) != 0 || f < e->min ||
		    f > e->max) {
			xasprintf(cause, "%s: --%s takes a number from %u.%02u "
			    "to %u.%02u, not '%s'", origin, e->name,
			    e->min / 100, e->min % 100, e->max / 100,
			    e->max % 100, value);
			return -1;
		}
		*(unsigned *)field = f;
		return 0;
	case OPT_U64:
		if (options_parse_u64(value, strcmp(e->arg, "BYTES") == 0,
		    (uint64_t *)field) != 0) {
			xasprintf(cause, "%s: --%s takes a whole number%s, not "
			    "'%s'", origin, e->name, strcmp(e->arg, "BYTES") ==
			    0 ? " of bytes, with K, M, G or T for KiB, MiB, "
			    "GiB, TiB" : "", value);
			return -1;
		}
		return 0;
	case OPT_RULES:
		return options_set_rules(e, field, value, origin, cause);
	case OPT_FLAG:
	case OPT_COUNT:
		if (value == NULL || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
			(*(int *)field)++;
		else if (strcmp(value, "false") == 0 ||
		    strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
			*(int *)field = 0;
		else {
			xasprintf(cause, "%s: --%s takes true or false, not "
			    "'%s'", origin, e->name, value);
			return -1;
		}
		return 0;
	case OPT_HELP:
	case OPT_VERSION:
		break;
	}
	return 0;
}

/* Looks NAME up in an environment array of "NAME=VALUE" strings. */
static const char *
options_getenv(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	}
	return NULL;
}

/* NODELINK_ and the option's name in capitals, '_' for '-'. */
static void
options_env_name(const struct option_entry *e, char *buf, size_t size)
{
	size_t i;

	snprintf(buf, size, "NODELINK_%s", e->name);
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '-')
			buf[i] = '_';
		else if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	}
}

/* True if SECTION (LEN bytes) begins some setting's key, as "agent". */
static int
options_is_section(const char *section, size_t len)
{
	size_t k;

	for (k = 0; k < OPTIONS_COUNT; k++) {
		if (options_table[k].key != NULL &&
		    strncmp(options_table[k].key, section, len) == 0 &&
		    options_table[k].key[len] == '.')
			return 1;
	}
	return 0;
}

/*
 * A key as an error message may show it: names as settings have them are
 * shown (shortened); anything else might be a line of a file that is not
 * the agent's, such as a password hash, and is not shown at all.
 */
static char *
options_shown_key(const char *key)
{
	size_t len = strlen(key);

	if (len == 0 || strspn(key, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len)
		return xstrdup("(a name no setting has)");
	return vis_strdup(key, len, 40);
}

/* Records where setting E's value came from. */
static void
options_origin(struct options *o, const struct option_entry *e,
    const char *origin)
{
	size_t i = (size_t)(e - options_table);

	free(o->origins[i]);
	o->origins[i] = xstrdup(origin);
}

/* Adds one error to the list --check-config reports (a line each). */
static void
options_add_error(struct buf *errs, const char *error)
{
	if (errs->len != 0)
		buf_append(errs, "\n", 1);
	buf_append(errs, error, strlen(error));
}

/*
 * Every key in the file must name a setting (a typo is an error), and
 * have the shape the setting takes.  A key is quoted shortened and
 * escaped: the file may be anything, even one that is not the agent's.
 */
static void
options_check_config(const struct config *cfg, const char *path,
    struct buf *errs)
{
	const struct config_item *item;
	const struct option_entry *e;
	char *shown, *error = NULL;
	char **text = &error;
	size_t i, k;

	for (i = 0; i < cfg->n; i++) {
		item = &cfg->items[i];
		for (k = 0, e = NULL; k < OPTIONS_COUNT && e == NULL; k++) {
			if (options_table[k].key != NULL &&
			    strcmp(options_table[k].key, item->key) == 0)
				e = &options_table[k];
		}
		shown = options_shown_key(item->key);
		if (e == NULL &&
		    options_is_section(item->key, strlen(item->key)))
			xasprintf(text, "%s:%lu: '%s' must be a mapping of "
			    "settings (%s: then name: value lines indented "
			    "below it)", path, item->line, shown, shown);
		else if (e == NULL)
			xasprintf(text, "%s:%lu: unknown setting '%s'", path,
			    item->line, shown);
		else if (item->list && !e->list)
			xasprintf(text, "%s:%lu: %s takes one value, not a "
			    "list", path, item->line, shown);
		free(shown);
		if (error != NULL)
			options_add_error(errs, error);
		free(error);
		error = NULL;
	}
}

/* Addresses split at commas, blanks trimmed; at least one. */
static int
options_split_servers(struct options *o, char **text)
{
	const char *p = o->server, *end;
	size_t len;

	while (*p != '\0') {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0) {
			o->servers = xreallocarray(o->servers,
			    o->n_servers + 1, sizeof *o->servers);
			o->servers[o->n_servers++] = xstrndup(p, len);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (o->n_servers == 0) {
		xasprintf(text, "--server: no server address in '%s'",
		    o->server);
		return -1;
	}
	return 0;
}

/*
 * Reads the token from --agent-token-file: its first line, without the
 * newline.  Returns 0, or -1 with *text saying why (the token is kept).
 * A file others can read is a token others have: a warning, logged by
 * the caller the first time (*text set, 0 returned, is not an error).
 */
int
options_read_token(struct options *o, char **text)
{
	struct buf b;
	struct stat sb;
	char *cause;
	size_t len;

	*text = NULL;
	/* Read again before each reconnect, on the loop: a FIFO or a device
	 * must not block it (nor a file of any size). */
	buf_init(&b);
	if (buf_read_file(&b, o->agent_token_file, 0, 64 * 1024, &sb,
	    &cause) != 0) {
		xasprintf(text, "agent token file %s", cause);
		free(cause);
		buf_free(&b);
		return -1;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		xasprintf(text, "agent token file %s is writable by other users "
		    "(mode %03o): chmod go-w it", o->agent_token_file,
		    (unsigned)(sb.st_mode & 0777));
		memset(b.data, 0, b.len);
		buf_free(&b);
		return -1;
	}
	for (len = 0; len < b.len && b.data[len] != '\n' &&
	    b.data[len] != '\r'; len++)
		;
	if (len == 0 || memchr(b.data, '\0', len) != NULL) {
		xasprintf(text, "agent token file %s: %s", o->agent_token_file,
		    len == 0 ? "empty" : "holds a NUL byte");
		buf_free(&b);
		return -1;
	}
	free(o->agent_token);
	o->agent_token = xmemdup0(b.data, len);
	log_set_secret(o->agent_token);
	memset(b.data, 0, b.len);
	buf_free(&b);
	if (sb.st_mode & (S_IRGRP | S_IROTH))
		xasprintf(text, "agent token file %s is readable by other "
		    "users (mode %03o): chmod 600 it", o->agent_token_file,
		    (unsigned)(sb.st_mode & 0777));
	return 0;
}

/* Reads the PEM file PATH (WHAT, for messages) whole into *OUT. */
static int
options_read_pem(const char *path, const char *what, char **out,
    char **text)
{
	struct buf pem;
	char *cause;

	buf_init(&pem);
	if (buf_read_file(&pem, path, 0, 16 * 1024 * 1024, NULL, &cause) !=
	    0) {
		xasprintf(text, "cannot read the %s file %s", what, cause);
		free(cause);
		buf_free(&pem);
		return -1;
	}
	buf_append(&pem, "", 1);
	*out = pem.data;
	return 0;
}

/* A default above its ceiling would be lowered for every task: say so. */
static int
options_check_limits(const struct options *o, char **text)
{
	const uint64_t *d = &o->limit_default.memory_bytes;
	const uint64_t *c = &o->limit_ceiling.memory_bytes;
	static const char *const names[LIMITS_COUNT] = { "memory",
	    "cpu-seconds", "processes", "open-files", "file-size", "output" };
	char *why;
	size_t i;

	if (limits_check(&o->limit_default, &why) != 0 ||
	    limits_check(&o->limit_ceiling, &why) != 0) {
		xasprintf(text, "--limit-*: %s", why);
		free(why);
		return -1;
	}
	for (i = 0; i < LIMITS_COUNT; i++) {
		if (c[i] != 0 && d[i] > c[i]) {
			xasprintf(text, "--limit-%s (%llu) is above "
			    "--limit-%s-ceiling (%llu)", names[i],
			    (unsigned long long)d[i], names[i],
			    (unsigned long long)c[i]);
			return -1;
		}
	}
	return 0;
}

/* What needs more than a look at one value: status 2 if it fails. */
static int
options_finish(struct options *o, char **text)
{
	size_t i;

	for (i = 0; i < OPTIONS_COUNT; i++) {
		if (options_table[i].offset == OFF(state_dir) &&
		    options_table[i].type == OPT_STRING)
			o->state_dir_explicit = o->origins[i] != NULL &&
			    strcmp(o->origins[i], "default") != 0;
	}
	if (options_check_limits(o, text) != 0)
		return -1;
	if (options_split_servers(o, text) != 0)
		return -1;
	/* Never plaintext by surprise: a TLS setting means TLS. */
	if (o->tls_ca_file != NULL || o->tls_server_name != NULL ||
	    o->tls_cert_file != NULL || o->tls_key_file != NULL)
		o->tls = 1;
	if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
		*text = xstrdup("mutual TLS needs both --tls-cert-file and "
		    "--tls-key-file");
		return -1;
	}
	if (o->tls_cert_file != NULL && (options_read_pem(
	    o->tls_cert_file, "TLS certificate", &o->tls_cert, text) != 0 ||
	    options_read_pem(o->tls_key_file, "TLS key", &o->tls_key,
	    text) != 0 || tls_check_pair(o->tls_cert, o->tls_key,
	    o->tls_cert_file, o->tls_key_file, text) != 0))
		return -1;
	if (o->tls && o->tls_ca_file != NULL && options_read_pem(
	    o->tls_ca_file, "TLS CA", &o->tls_roots, text) != 0)
		return -1;
	return 0;
}

/*
 * The command line: each option set is marked in SEEN.  OPTIONS_OK, or
 * OPTIONS_EXIT/OPTIONS_ERROR with *text set (see options_parse).
 */
static enum options_result
options_parse_argv(struct options *o, int argc, char **argv,
    unsigned char *seen, char **text)
{
	const struct option_entry *e;
	const char *arg, *name, *value, *eq;
	size_t len;
	int k;

	for (k = 1; k < argc; k++) {
		arg = argv[k];
		if (strcmp(arg, "--") == 0) {
			k++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		value = NULL;
		if (arg[1] != '-' && arg[2] == '\0') {
			e = options_find_short(arg[1]);
			if (e == NULL) {
				xasprintf(text, "unknown option '%s'", arg);
				return OPTIONS_ERROR;
			}
		} else {
			name = arg + (arg[1] == '-' ? 2 : 1);
			eq = strchr(name, '=');
			len = eq != NULL ? (size_t)(eq - name) : strlen(name);
			e = options_find_long(name, len);
			if (e == NULL) {
				xasprintf(text, "unknown option '%.*s'",
				    (int)(len + (size_t)(name - arg)), arg);
				return OPTIONS_ERROR;
			}
			if (eq != NULL)
				value = eq + 1;
		}
		if (e->type == OPT_HELP) {
			*text = options_help();
			return OPTIONS_EXIT;
		}
		if (e->type == OPT_VERSION) {
			*text = options_version();
			return OPTIONS_EXIT;
		}
		if (options_takes_value(e) && value == NULL) {
			if (k + 1 >= argc) {
				xasprintf(text, "option --%s needs a value",
				    e->name);
				return OPTIONS_ERROR;
			}
			value = argv[++k];
		}
		if (options_set(o, e, value, "command line", text) != 0)
			return OPTIONS_ERROR;
		seen[e - options_table] = 1;
		options_origin(o, e, "command line");
	}
	if (k < argc) {
		xasprintf(text, "unexpected argument '%s'", argv[k]);
		return OPTIONS_ERROR;
	}
	return OPTIONS_OK;
}

/*
 * The configuration file, named on the command line or in the
 * environment, or the default one if it exists (one that was named must),
 * read into CFG: 0, or -1 with *text set.
 */
static int
options_load_config(struct options *o, char *const *envp, struct config *cfg,
    char **text)
{
	const char *value;
	char env[64];

	memset(cfg, 0, sizeof *cfg);
	options_env_name(&options_table[0], env, sizeof env);
	if (o->config == NULL && (value = options_getenv(envp, env)) != NULL &&
	    *value != '\0') {
		o->config = xstrdup(value);
		options_origin(o, &options_table[0], env);
	}
	if (o->config == NULL && access(OPTIONS_DEFAULT_CONFIG, F_OK) == 0) {
		o->config = xstrdup(OPTIONS_DEFAULT_CONFIG);
		options_origin(o, &options_table[0], "default");
	}
	if (o->config != NULL && strcmp(o->config, "none") == 0) {
		free(o->config);
		o->config = NULL;
	}
	if (o->config != NULL && config_load(o->config, cfg, text) != 0)
		return -1;
	return 0;
}

/*
 * Option E, not on the command line, from the environment, else the file
 * CFG, else its default; errors appended to ERRS.
 */
static void
options_apply_one(struct options *o, const struct option_entry *e,
    char *const *envp, const struct config *cfg, struct buf *errs)
{
	const struct config_item *item = NULL;
	const char *value = NULL;
	char origin[128], env[64], *cause;
	struct rules **rules;

	if (e->env) {
		options_env_name(e, env, sizeof env);
		if ((value = options_getenv(envp, env)) == NULL &&
		    e->env_alias != NULL &&
		    (value = options_getenv(envp, e->env_alias)) != NULL)
			snprintf(env, sizeof env, "%s", e->env_alias);
	}
	if (value != NULL)
		snprintf(origin, sizeof origin, "%s", env);
	else if (e->key != NULL && (item = config_find(cfg, e->key)) != NULL) {
		snprintf(origin, sizeof origin, "%s:%lu (%s)", o->config,
		    item->line, e->key);
		value = item->value;
	} else if (e->def != NULL) {
		snprintf(origin, sizeof origin, "default");
		value = e->def;
	}
	if (value == NULL)
		return;
	if (e->type == OPT_RULES && item != NULL && value == item->value &&
	    item->list) {
		/* Each item a rule, reported by its own line. */
		rules = (struct rules **)((char *)o + e->offset);
		rules_free(*rules);
		if ((*rules = rules_compile(e->key, item->items, item->lines,
		    item->n_items, o->config, &cause)) == NULL) {
			options_add_error(errs, cause);
			free(cause);
		} else
			options_origin(o, e, origin);
		return;
	}
	if (options_set(o, e, value, origin, &cause) != 0) {
		options_add_error(errs, cause);
		free(cause);
	} else
		options_origin(o, e, origin);
}

/* What every agent needs: an ID and a token (read here from its file). */
static int
options_check_required(struct options *o, char **text)
{
	if (o->agent_id == NULL) {
		*text = xstrdup("no agent ID: give --agent-id ID or set "
		    "NODELINK_AGENT_ID");
		return -1;
	}
	if (o->agent_token_file != NULL && o->agent_token != NULL) {
		*text = xstrdup("give the agent token or a token file, not "
		    "both");
		return -1;
	}
	if (o->agent_token_file != NULL) {
		if (options_read_token(o, text) != 0)
			return -1;
		o->token_warning = *text;	/* main logs it */
		*text = NULL;
	}
	if (o->agent_token == NULL) {
		*text = xstrdup("no agent token: give --agent-token-file FILE, "
		    "or --agent-token TOKEN, or set NODELINK_AGENT_TOKEN");
		return -1;
	}
	return 0;
}

/*
 * Parses ARGV, then ENVP, then the configuration file, then applies
 * defaults.  On OPTIONS_EXIT, *text holds --help or --version output for
 * stdout; on OPTIONS_ERROR, *text is the error (every error of the
 * environment and the file, one a line).  The caller frees *text.
 */
enum options_result
options_parse(struct options *o, int argc, char **argv, char *const *envp,
    char **text)
{
	unsigned char seen[OPTIONS_COUNT];
	enum options_result r;
	struct config cfg;
	struct buf errs;
	size_t i;

	*text = NULL;
	memset(seen, 0, sizeof seen);
	if (o->origins == NULL)
		o->origins = xcalloc(OPTIONS_COUNT, sizeof *o->origins);
	if ((r = options_parse_argv(o, argc, argv, seen, text)) != OPTIONS_OK)
		return r;
	if (options_load_config(o, envp, &cfg, text) != 0)
		return OPTIONS_ERROR;
	buf_init(&errs);
	options_check_config(&cfg, o->config, &errs);
	for (i = 0; i < OPTIONS_COUNT; i++) {
		if (!seen[i])
			options_apply_one(o, &options_table[i], envp, &cfg,
			    &errs);
	}
	config_free(&cfg);
	if (errs.len != 0) {
		buf_append(&errs, "", 1);
		*text = errs.data;
		return OPTIONS_ERROR;
	}
	if (o->verbose) {
		free(o->log_level);
		o->log_level = xstrdup("debug");
	}
	if (options_check_required(o, text) != 0 ||
	    options_finish(o, text) != 0)
		return OPTIONS_ERROR;
	return OPTIONS_OK;
}

/*
 * The effective settings, one a line with where each came from, the
 * token masked: --check-config's output.
 */
char *
options_describe(const struct options *o)
{
	const struct option_entry *e;
	char line[1024], shown[512], *v;
	struct buf b;
	size_t i;

	buf_init(&b);
	snprintf(line, sizeof line, "# %s %s: effective settings\n",
	    AGENT_NAME, PACKAGE_VERSION);
	buf_append(&b, line, strlen(line));
	for (i = 0; i < OPTIONS_COUNT; i++) {
		e = &options_table[i];
		if (e->type == OPT_HELP || e->type == OPT_VERSION ||
		    e->offset == OFF(check_config) || o->origins[i] == NULL)
			continue;
		if (e->type == OPT_STRING || e->type == OPT_CHOICE) {
			v = *(char **)((char *)o + e->offset);
			if (v == NULL)
				continue;
			if (e->offset == OFF(agent_token))
				snprintf(shown, sizeof shown, "***");
			else
				vis_escape(shown, sizeof shown, v, strlen(v), 0);
		} else if (e->type == OPT_RULES) {
			v = rules_describe(*(struct rules **)((char *)o +
			    e->offset));
			vis_escape(shown, sizeof shown, v, strlen(v), 0);
			free(v);
		} else if (e->type == OPT_U64)
			snprintf(shown, sizeof shown, "%llu", (unsigned long long)
			    *(uint64_t *)((char *)o + e->offset));
		else if (e->type == OPT_FACTOR)
			snprintf(shown, sizeof shown, "%u.%02u",
			    *(unsigned *)((char *)o + e->offset) / 100,
			    *(unsigned *)((char *)o + e->offset) % 100);
		else if (e->type == OPT_UINT)
			snprintf(shown, sizeof shown, "%u",
			    *(unsigned *)((char *)o + e->offset));
		else
			snprintf(shown, sizeof shown, "%s",
			    *(int *)((char *)o + e->offset) ? "true" : "false");
		snprintf(line, sizeof line, "%-24s = %-28s # %s\n", e->name,
		    shown, o->origins[i]);
		buf_append(&b, line, strlen(line));
	}
	buf_append(&b, "", 1);
	return b.data;
}

/* The --help text, built from the table. */
char *
options_help(void)
{
	const struct option_entry *e;
	struct buf b;
	char line[768], left[64], env[64];
	size_t i;

	buf_init(&b);
	snprintf(line, sizeof line,
	    "Usage: %s [OPTION]...\n"
	    "Run tasks for a nodelink server: keep one gRPC stream open to it,\n"
	    "run the shell commands it sends, and stream their output back.\n\n",
	    AGENT_NAME);
	buf_append(&b, line, strlen(line));
	for (i = 0; i < OPTIONS_COUNT; i++) {
		e = &options_table[i];
		snprintf(left, sizeof left, "%c%c%c --%s%s%s",
		    e->short_name ? '-' : ' ', e->short_name ? e->short_name : ' ',
		    e->short_name ? ',' : ' ', e->name,
		    e->arg != NULL ? "=" : "", e->arg != NULL ? e->arg : "");
		snprintf(line, sizeof line, "  %-32s %s", left, e->help);
		buf_append(&b, line, strlen(line));
		if (e->def != NULL) {
			snprintf(line, sizeof line, " [%s]", e->def);
			buf_append(&b, line, strlen(line));
		}
		if (e->env || e->key != NULL) {
			if (e->env)
				options_env_name(e, env, sizeof env);
			snprintf(line, sizeof line, "\n  %-32s %s%s%s%s%s%s", "",
			    e->env ? "environment: " : "", e->env ? env : "",
			    e->env_alias != NULL ? " or " : "",
			    e->env_alias != NULL ? e->env_alias : "",
			    e->env && e->key != NULL ? ", file: " :
			    e->key != NULL ? "file: " : "",
			    e->key != NULL ? e->key : "");
			buf_append(&b, line, strlen(line));
		}
		buf_append(&b, "\n", 1);
	}
	snprintf(line, sizeof line,
	    "\nEvery setting but -v, -h and -V can also come from the "
	    "environment, as NODELINK_\nand its name in capitals with '_' for "
	    "'-': --kill-grace=5 is NODELINK_KILL_GRACE=5.\nThe original "
	    "agent's spelling works too: -agent_id=ID -agent_token=TOKEN.\n"
	    "The command line wins over the environment, which wins over the "
	    "file.\nTasks never see NODELINK_* variables.\n");
	buf_append(&b, line, strlen(line));
	buf_append(&b, "", 1);
	return b.data;
}

/* The --version text, in the GNU format. */
char *
options_version(void)
{
	char *s;

	xasprintf(&s, "%s %s\n"
	    "License: MIT <https://opensource.org/licenses/MIT>.\n"
	    "This is free software: you are free to change and redistribute it.\n"
	    "There is NO WARRANTY, to the extent permitted by law.\n"
	    "\nBuilt with: %s\n",
	    AGENT_NAME, PACKAGE_VERSION, compat_features());
	return s;
}
