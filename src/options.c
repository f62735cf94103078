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

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

enum option_type {
	OPT_STRING,
	OPT_UINT,	/* decimal, within [min, max] */
	OPT_FACTOR,	/* decimal like 1.5, stored in hundredths */
	OPT_FLAG,	/* no value, or =true/=false */
	OPT_CHOICE,	/* one of the words in `arg', '|'-separated */
	OPT_COUNT,	/* each use adds one */
	OPT_HELP,
	OPT_VERSION,
};

struct option_entry {
	const char *name;	/* long name, with dashes */
	char short_name;
	enum option_type type;
	size_t offset;
	const char *env;
	const char *key;	/* in the configuration file */
	const char *def;	/* default, as it would be written */
	unsigned min, max;
	const char *arg;	/* the value's name in --help */
	const char *help;
};

#define OFF(field) offsetof(struct options, field)

static const struct option_entry options_table[] = {
	{ "config", 'c', OPT_STRING, OFF(config), "NODELINK_CONFIG", NULL,
	  NULL, 0, 0, "FILE",
	  "read settings from this YAML file" },
	{ "server", 's', OPT_STRING, OFF(server), "NODELINK_SERVER_ADDRESS",
	  "server.address", "localhost:9090", 0, 0, "ADDR[,ADDR...]",
	  "the nodelink server(s), host:port; the next is tried when one "
	  "fails" },
	{ "agent-id", 0, OPT_STRING, OFF(agent_id), "NODELINK_AGENT_ID",
	  "agent.id", NULL, 0, 0, "ID",
	  "this agent's ID (required)" },
	{ "agent-token", 0, OPT_STRING, OFF(agent_token),
	  "NODELINK_AGENT_TOKEN", "agent.token", NULL, 0, 0, "TOKEN",
	  "this agent's secret token (required); prefer the environment or "
	  "the file: a command line is visible to other users" },
	{ "tls", 0, OPT_FLAG, OFF(tls), "NODELINK_TLS", "server.tls_enabled",
	  NULL, 0, 0, NULL,
	  "connect with TLS" },
	{ "tls-ca-file", 0, OPT_STRING, OFF(tls_ca_file), NULL,
	  "server.tls_ca_file", NULL, 0, 0, "FILE",
	  "trusted CA certificates (PEM) for TLS; default: the system's" },
	{ "tls-server-name", 0, OPT_STRING, OFF(tls_server_name), NULL,
	  "server.tls_server_name", NULL, 0, 0, "NAME",
	  "the name the server's certificate must carry, if not its host" },
	{ "shell", 0, OPT_STRING, OFF(shell), "NODELINK_SHELL", "agent.shell",
	  "bash", 0, 0, "PATH",
	  "shell that runs commands as: SHELL -c CMD" },
	{ "docker-binary", 0, OPT_STRING, OFF(docker_binary),
	  "NODELINK_DOCKER_BINARY", "docker.binary", "docker", 0, 0, "PATH",
	  "the Docker CLI that runs Docker operations (podman works too)" },
	{ "max-concurrent-tasks", 0, OPT_UINT, OFF(max_concurrent_tasks),
	  "NODELINK_MAX_CONCURRENT_TASKS", "agent.max_concurrent_tasks",
	  "100", 1, 100000, "N",
	  "tasks running at once; more wait in a queue" },
	{ "max-queued-tasks", 0, OPT_UINT, OFF(max_queued_tasks), NULL,
	  "agent.max_queued_tasks", "1000", 0, 1000000, "N",
	  "tasks waiting; beyond them the agent answers busy" },
	{ "kill-grace", 0, OPT_UINT, OFF(kill_grace_s), NULL,
	  "agent.kill_grace", "10", 0, 3600, "SECONDS",
	  "SIGTERM to SIGKILL when a task is cancelled (0: SIGKILL at once)" },
	{ "default-timeout", 0, OPT_UINT, OFF(default_timeout_s), NULL,
	  "agent.default_timeout", "0", 0, 31536000, "SECONDS",
	  "time limit of tasks that set none (0: no limit)" },
	{ "flush-delay-ms", 0, OPT_UINT, OFF(flush_delay_ms), NULL,
	  "agent.flush_delay_ms", "100", 1, 60000, "MS",
	  "a partial output line is sent after this long" },
	{ "spool-mib", 0, OPT_UINT, OFF(spool_mib), "NODELINK_SPOOL_MIB",
	  "agent.spool_mib", "64", 1, 65536, "MIB",
	  "output held for the server before tasks' pipes pause" },
	{ "reconnect-initial-ms", 0, OPT_UINT, OFF(reconnect_initial_ms), NULL,
	  "server.reconnect_initial_ms", "1000", 1, 3600000, "MS",
	  "first reconnect delay ceiling" },
	{ "reconnect-max-ms", 0, OPT_UINT, OFF(reconnect_max_ms), NULL,
	  "server.reconnect_max_ms", "60000", 1, 3600000, "MS",
	  "largest reconnect delay" },
	{ "reconnect-multiplier", 0, OPT_FACTOR,
	  OFF(reconnect_multiplier_pct), NULL, "server.reconnect_multiplier",
	  "1.5", 100, 1000, "X",
	  "growth of the reconnect delay per failure" },
	{ "keepalive-ms", 0, OPT_UINT, OFF(keepalive_ms), NULL,
	  "server.keepalive_ms", "360000", 1000, 86400000, "MS",
	  "ping an idle connection this often (default gRPC servers refuse "
	  "pings more often than every 5 minutes)" },
	{ "keepalive-timeout-ms", 0, OPT_UINT, OFF(keepalive_timeout_ms), NULL,
	  "server.keepalive_timeout_ms", "20000", 100, 3600000, "MS",
	  "a ping unanswered this long means the server is gone" },
	{ "log-level", 0, OPT_CHOICE, OFF(log_level), "NODELINK_LOG_LEVEL",
	  "logging.level", "info", 0, 0, "debug|info|warn|error",
	  "the least severe messages logged" },
	{ "log-format", 0, OPT_CHOICE, OFF(log_format), "NODELINK_LOG_FORMAT",
	  "logging.format", "text", 0, 0, "text|json",
	  "log lines as text or as JSON objects" },
	{ "verbose", 'v', OPT_COUNT, OFF(verbose), NULL, NULL, NULL, 0, 0,
	  NULL, "log debug messages too (--log-level debug)" },
	{ "help", 'h', OPT_HELP, 0, NULL, NULL, NULL, 0, 0, NULL,
	  "show this help and exit" },
	{ "version", 'V', OPT_VERSION, 0, NULL, NULL, NULL, 0, 0, NULL,
	  "show the version and exit" },
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
	    e->type == OPT_FACTOR || e->type == OPT_CHOICE;
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
		if (*value == '\0') {
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

/* Every key in the file must name a setting: a typo is an error. */
static int
options_check_config(const struct config *cfg, const char *path,
    char **text)
{
	size_t i, k;

	for (i = 0; i < cfg->n; i++) {
		for (k = 0; k < OPTIONS_COUNT; k++) {
			if (options_table[k].key != NULL &&
			    strcmp(options_table[k].key, cfg->items[i].key) == 0)
				break;
		}
		if (k == OPTIONS_COUNT) {
			xasprintf(text, "%s:%lu: unknown setting '%s'", path,
			    cfg->items[i].line, cfg->items[i].key);
			return -1;
		}
	}
	return 0;
}

/*
 * Parses ARGV, then ENVP, then the configuration file, then applies
 * defaults.  On OPTIONS_EXIT, *text
 * holds --help or --version output for stdout; on OPTIONS_ERROR, *text is
 * the error.  The caller frees *text.
 */
enum options_result
options_parse(struct options *o, int argc, char **argv, char *const *envp,
    char **text)
{
	unsigned char seen[OPTIONS_COUNT];
	const struct option_entry *e;
	const struct config_item *item;
	struct config cfg;
	const char *arg, *name, *value, *eq;
	char origin[128];
	size_t i, len;
	int k;

	*text = NULL;
	memset(seen, 0, sizeof seen);
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
		snprintf(origin, sizeof origin, "command line");
		if (options_set(o, e, value, origin, text) != 0)
			return OPTIONS_ERROR;
		seen[e - options_table] = 1;
	}
	if (k < argc) {
		xasprintf(text, "unexpected argument '%s'", argv[k]);
		return OPTIONS_ERROR;
	}

	/* The configuration file, named on the command line or in the
	 * environment, comes between the environment and the defaults. */
	memset(&cfg, 0, sizeof cfg);
	if (o->config == NULL &&
	    (value = options_getenv(envp, "NODELINK_CONFIG")) != NULL &&
	    *value != '\0')
		o->config = xstrdup(value);
	if (o->config != NULL && config_load(o->config, &cfg, text) != 0)
		return OPTIONS_ERROR;
	if (options_check_config(&cfg, o->config, text) != 0) {
		config_free(&cfg);
		return OPTIONS_ERROR;
	}

	for (i = 0; i < OPTIONS_COUNT; i++) {
		e = &options_table[i];
		if (seen[i])
			continue;
		if (e->env != NULL &&
		    (value = options_getenv(envp, e->env)) != NULL) {
			snprintf(origin, sizeof origin, "%s", e->env);
			if (options_set(o, e, value, origin, text) != 0)
				goto error;
		} else if (e->key != NULL &&
		    (item = config_find(&cfg, e->key)) != NULL) {
			snprintf(origin, sizeof origin, "%s:%lu (%s)",
			    o->config, item->line, e->key);
			if (options_set(o, e, item->value, origin, text) != 0)
				goto error;
		} else if (e->def != NULL) {
			if (options_set(o, e, e->def, "default", text) != 0)
				fatalx("bad default for --%s", e->name);
		}
	}
	config_free(&cfg);
	if (o->verbose) {
		free(o->log_level);
		o->log_level = xstrdup("debug");
	}
	if (o->agent_id == NULL) {
		*text = xstrdup("no agent ID: give --agent-id ID or set "
		    "NODELINK_AGENT_ID");
		return OPTIONS_ERROR;
	}
	if (o->agent_token == NULL) {
		*text = xstrdup("no agent token: give --agent-token TOKEN or "
		    "set NODELINK_AGENT_TOKEN");
		return OPTIONS_ERROR;
	}
	return OPTIONS_OK;

error:
	config_free(&cfg);
	return OPTIONS_ERROR;
}

/* The --help text, built from the table. */
char *
options_help(void)
{
	const struct option_entry *e;
	struct buf b;
	char line[512], left[64];
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
		if (e->env != NULL || e->key != NULL) {
			snprintf(line, sizeof line, "\n  %-32s %s%s%s%s", "",
			    e->env != NULL ? "environment: " : "",
			    e->env != NULL ? e->env : "",
			    e->env != NULL && e->key != NULL ? ", file: " :
			    e->key != NULL ? "file: " : "",
			    e->key != NULL ? e->key : "");
			buf_append(&b, line, strlen(line));
		}
		buf_append(&b, "\n", 1);
	}
	snprintf(line, sizeof line,
	    "\nThe original agent's spelling works too: -agent_id=ID "
	    "-agent_token=TOKEN.\nThe command line wins over the environment, "
	    "which wins over the file.\n");
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
