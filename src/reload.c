/*
 * reload.c: SIGHUP re-reads the configuration.
 *
 * The settings are parsed again from the start (the same command line, the
 * environment, the file) into a fresh set.  A set with any error is
 * rejected whole: logged, and the running settings kept.  Otherwise the
 * settings that can change under running tasks change (log level and
 * format, concurrency and queue limits, kill grace, default timeout, flush
 * delay, the token), and every other one that differs is logged as needing
 * a restart.
 */

#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* What a reload may change: each is taken over from the new set. */
#define RELOAD_STRING(f) { #f, offsetof(struct options, f), 1 }
#define RELOAD_UINT(f) { #f, offsetof(struct options, f), 0 }
static const struct reload_field {
	const char *name;
	size_t offset;
	int string;
} reload_live[] = {
	RELOAD_STRING(log_level), RELOAD_STRING(log_format),
	RELOAD_STRING(agent_token),
	RELOAD_UINT(max_concurrent_tasks), RELOAD_UINT(max_queued_tasks),
	RELOAD_UINT(kill_grace_s), RELOAD_UINT(default_timeout_s),
	RELOAD_UINT(flush_delay_ms), RELOAD_UINT(delivery_wait_s),
	RELOAD_STRING(allowed_users), RELOAD_STRING(sandbox_image),
}, reload_restart[] = {
	RELOAD_STRING(server), RELOAD_STRING(agent_id),
	RELOAD_STRING(tls_ca_file), RELOAD_STRING(tls_cert_file),
	RELOAD_STRING(tls_key_file), RELOAD_STRING(tls_server_name),
	RELOAD_STRING(shell), RELOAD_STRING(docker_binary),
	RELOAD_STRING(wire_dialect), RELOAD_STRING(cgroup_root),
	RELOAD_STRING(state_dir),
	RELOAD_STRING(http_listen), RELOAD_STRING(agent_token_file),
	RELOAD_UINT(spool_mib),
	RELOAD_UINT(keepalive_ms), RELOAD_UINT(keepalive_timeout_ms),
	RELOAD_UINT(reconnect_initial_ms), RELOAD_UINT(reconnect_max_ms),
};

/* Two rule lists are the same if they hold the same patterns. */
static int
reload_rules_differ(const struct rules *a, const struct rules *b)
{
	char *x = rules_describe(a), *y = rules_describe(b);
	int differ = strcmp(x, y) != 0 || rules_count(a) != rules_count(b);

	free(x);
	free(y);
	return differ;
}

/*
 * The task controls (limits, users, sandbox, policy) apply from the next
 * task on: a tightened policy must not wait for a restart.
 */
static int
reload_task_controls(struct options *o, struct options *n)
{
	struct rules **mine[] = { &o->policy_allow, &o->policy_deny,
	    &o->policy_images, &o->policy_allow_env };
	struct rules **theirs[] = { &n->policy_allow, &n->policy_deny,
	    &n->policy_images, &n->policy_allow_env };
	static const char *const names[] = { "policy.allow", "policy.deny",
	    "policy.images", "policy.allow_env" };
	struct rules *t;
	size_t i;
	int changed = 0;

	if (memcmp(&o->limit_default, &n->limit_default,
	    sizeof o->limit_default) != 0 || memcmp(&o->limit_ceiling,
	    &n->limit_ceiling, sizeof o->limit_ceiling) != 0) {
		log_info("reload: task limits changed");
		o->limit_default = n->limit_default;
		o->limit_ceiling = n->limit_ceiling;
		changed++;
	}
	if (o->sandbox_network != n->sandbox_network) {
		log_info("reload: sandbox_network changed");
		o->sandbox_network = n->sandbox_network;
		changed++;
	}
	for (i = 0; i < 3; i++) {
		if (!reload_rules_differ(*mine[i], *theirs[i]))
			continue;
		log_info("reload: %s changed: %zu rules", names[i],
		    rules_count(*theirs[i]));
		t = *mine[i];
		*mine[i] = *theirs[i];
		*theirs[i] = t;
		changed++;
	}
	return changed;
}

static int
reload_differs(const struct options *a, const struct options *b,
    const struct reload_field *f)
{
	const char *x, *y;

	if (!f->string)
		return *(const unsigned *)((const char *)a + f->offset) !=
		    *(const unsigned *)((const char *)b + f->offset);
	x = *(char *const *)((const char *)a + f->offset);
	y = *(char *const *)((const char *)b + f->offset);
	if (x == NULL || y == NULL)
		return x != y;
	return strcmp(x, y) != 0;
}

/* Moves field F from FROM to TO (strings are swapped, to be freed with
 * FROM). */
static void
reload_take(struct options *to, struct options *from,
    const struct reload_field *f)
{
	char **x, **y, *t;

	if (!f->string) {
		*(unsigned *)((char *)to + f->offset) =
		    *(unsigned *)((char *)from + f->offset);
		return;
	}
	x = (char **)((char *)to + f->offset);
	y = (char **)((char *)from + f->offset);
	t = *x;
	*x = *y;
	*y = t;
}

/*
 * Parses the settings again (ARGC, ARGV, ENVP as at start) and applies
 * what can change live to O.  Returns how many settings changed, or -1 if
 * the new settings were rejected.
 */
int
reload_options(struct options *o, int argc, char **argv, char *const *envp)
{
	struct options n;
	enum log_level level;
	char *text, *line, *save = NULL;
	size_t i;
	int changed = 0;

	options_init(&n);
	if (options_parse(&n, argc, argv, envp, &text) != OPTIONS_OK) {
		for (line = strtok_r(text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_error("reload: %s", line);
		log_error("reload: new configuration rejected; the running "
		    "settings are kept");
		free(text);
		options_free(&n);
		return -1;
	}
	for (i = 0; i < sizeof reload_restart / sizeof reload_restart[0]; i++) {
		if (reload_differs(o, &n, &reload_restart[i]))
			log_warnx("reload: %s changed: needs a restart",
			    reload_restart[i].name);
	}
	for (i = 0; i < sizeof reload_live / sizeof reload_live[0]; i++) {
		if (!reload_differs(o, &n, &reload_live[i]))
			continue;
		if (reload_live[i].offset != offsetof(struct options,
		    agent_token))
			log_info("reload: %s changed", reload_live[i].name);
		reload_take(o, &n, &reload_live[i]);
		changed++;
	}
	changed += reload_task_controls(o, &n);
	if (log_parse_level(o->log_level, &level) == 0)
		log_set_level(level);
	log_set_json(strcmp(o->log_format, "json") == 0);
	log_set_secret(o->agent_token);
	if (n.token_warning != NULL)
		log_warnx("%s", n.token_warning);
	options_free(&n);
	return changed;
}
