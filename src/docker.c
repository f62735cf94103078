/*
 * docker.c: Docker's grammar, and the Docker CLI's argument vectors.
 *
 * A server's values reach the Docker CLI only as whole elements of an
 * argument vector, never through a shell, and only after they match the
 * grammar Docker itself uses (the distribution project's reference
 * grammar for images, the daemon's for names and IDs).  Every value that
 * goes before the image is attached to its option ("--env=KEY=VALUE"), so
 * no value can be read as an option of its own; none of the checked
 * values can start with '-'; and what follows the image (the container's
 * command) is never parsed by the CLI.
 *
 * Pure functions, unit-tested in tests/unit/test-docker.c.
 */

#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define DOCKER_LABEL "nodelink.task-id"

static int
docker_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
docker_alnum(int c)
{
	return isascii(c) && isalnum(c);
}

/* path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* over [P, END). */
static int
docker_path_component(const char *p, const char *end)
{
	const char *sep;

	if (p == end || !docker_lower_alnum((unsigned char)*p))
		return 0;
	while (p < end) {
		while (p < end && docker_lower_alnum((unsigned char)*p))
			p++;
		if (p == end)
			return 1;
		sep = p;
		if (*p == '.')
			p++;
		else if (*p == '_')
			p += (p + 1 < end && p[1] == '_') ? 2 : 1;
		else if (*p == '-') {
			while (p < end && *p == '-')
				p++;
		} else
			return 0;
		if (p == end || !docker_lower_alnum((unsigned char)*p) ||
		    p == sep)
			return 0;
	}
	return 1;
}

/* domain := component ('.' component)* [':' port]; component a DNS label. */
static int
docker_domain(const char *p, const char *end)
{
	const char *colon = memchr(p, ':', (size_t)(end - p)), *label;

	if (colon != NULL) {
		if (colon + 1 == end)
			return 0;
		for (label = colon + 1; label < end; label++) {
			if (!isdigit((unsigned char)*label))
				return 0;
		}
		end = colon;
	}
	if (p == end)
		return 0;
	while (p < end) {
		label = p;
		while (p < end && *p != '.') {
			if (!docker_alnum((unsigned char)*p) && *p != '-')
				return 0;
			p++;
		}
		if (p == label || *label == '-' || p[-1] == '-')
			return 0;
		if (p < end && ++p == end)
			return 0;	/* a trailing dot */
	}
	return 1;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int
docker_tag(const char *p)
{
	size_t n = 0;

	if (!docker_alnum((unsigned char)*p) && *p != '_')
		return 0;
	for (; *p != '\0'; p++, n++) {
		if (!docker_alnum((unsigned char)*p) && *p != '_' &&
		    *p != '.' && *p != '-')
			return 0;
	}
	return n <= 128;
}

/* digest := algorithm ':' hex{32,}; algorithm components [A-Za-z][A-Za-z0-9]* */
static int
docker_digest(const char *p)
{
	const char *colon = strchr(p, ':');
	size_t hex = 0;
	int start = 1;

	if (colon == NULL || colon == p)
		return 0;
	for (; p < colon; p++) {
		if (start) {
			if (!isascii((unsigned char)*p) ||
			    !isalpha((unsigned char)*p))
				return 0;
			start = 0;
		} else if (strchr("+.-_", *p) != NULL)
			start = 1;
		else if (!docker_alnum((unsigned char)*p))
			return 0;
	}
	if (start)
		return 0;
	for (p = colon + 1; *p != '\0'; p++, hex++) {
		if (!isxdigit((unsigned char)*p))
			return 0;
	}
	return hex >= 32;
}

/*
 * An image reference: [domain/]path[:tag][@digest], at most 255 characters
 * of name.  Returns 1 if REF is one.
 */
int
docker_check_image(const char *ref)
{
	char *copy, *at, *name_end, *p, *slash, *last_slash, *colon;
	int ok = 0;

	if (*ref == '\0' || strlen(ref) > 512)
		return 0;
	copy = xstrdup(ref);
	if ((at = strchr(copy, '@')) != NULL) {
		*at = '\0';
		if (!docker_digest(at + 1))
			goto out;
	}
	/* A tag's colon comes after the last slash (a port's before it). */
	last_slash = strrchr(copy, '/');
	colon = strrchr(last_slash != NULL ? last_slash : copy, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (!docker_tag(colon + 1))
			goto out;
	}
	name_end = copy + strlen(copy);
	if (name_end == copy || name_end - copy > 255)
		goto out;
	p = copy;
	slash = strchr(p, '/');
	if (slash != NULL && (memchr(p, '.', (size_t)(slash - p)) != NULL ||
	    memchr(p, ':', (size_t)(slash - p)) != NULL ||
	    (slash - p == 9 && strncmp(p, "localhost", 9) == 0))) {
		if (!docker_domain(p, slash))
			goto out;
		p = slash + 1;
	}
	for (;;) {
		slash = strchr(p, '/');
		if (!docker_path_component(p, slash != NULL ? slash : name_end))
			goto out;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	ok = 1;
out:
	free(copy);
	return ok;
}

/* A container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, as the daemon requires. */
int
docker_check_name(const char *name)
{
	const char *p = name;

	if (!docker_alnum((unsigned char)*p) || strlen(name) > 253)
		return 0;
	for (p++; *p != '\0'; p++) {
		if (!docker_alnum((unsigned char)*p) && *p != '_' &&
		    *p != '.' && *p != '-')
			return 0;
	}
	return 1;
}

/* A container: an ID (hexadecimal, a prefix of one) or a name. */
int
docker_check_container(const char *id)
{
	return docker_check_name(id);	/* hex IDs are names' subset */
}

/* A published port: [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/tcp|udp|sctp]. */
int
docker_check_port(const char *spec)
{
	const char *p = spec, *slash;
	int fields = 0;

	if (*p == '\0' || strlen(spec) > 128)
		return 0;
	slash = strchr(spec, '/');
	if (slash != NULL && strcmp(slash, "/tcp") != 0 &&
	    strcmp(slash, "/udp") != 0 && strcmp(slash, "/sctp") != 0)
		return 0;
	/* Digits, dots (an IPv4 address), dashes (ranges), colons. */
	for (; *p != '\0' && p != slash; p++) {
		if (*p == ':')
			fields++;
		else if (!isdigit((unsigned char)*p) && *p != '.' && *p != '-')
			return 0;
	}
	return isdigit((unsigned char)*spec) && fields <= 2 &&
	    isdigit((unsigned char)p[-1]);
}

/* A volume: SOURCE:TARGET[:OPTIONS]; TARGET absolute, SOURCE no option. */
int
docker_check_volume(const char *spec)
{
	const char *colon, *target, *opts;

	if (*spec == '\0' || *spec == '-' || strlen(spec) > 4096)
		return 0;
	if ((colon = strchr(spec, ':')) == NULL || colon == spec)
		return 0;
	target = colon + 1;
	if (*target != '/')
		return 0;
	if ((opts = strchr(target, ':')) != NULL) {
		for (opts++; *opts != '\0'; opts++) {
			if (!isalpha((unsigned char)*opts) && *opts != ',')
				return 0;
		}
	}
	return 1;
}

/* An environment entry: NAME=VALUE with a NAME, any VALUE. */
int
docker_check_env(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq != NULL && eq != kv && *kv != '-';
}

/* logs --tail: a number of lines, or "all". */
int
docker_check_tail(const char *tail)
{
	const char *p = tail;

	if (strcmp(tail, "all") == 0)
		return 1;
	if (*p == '\0' || strlen(tail) > 9)
		return 0;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
	}
	return 1;
}

struct docker_vec {
	char **v;
	size_t n;
};

static void
docker_push(struct docker_vec *a, const char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void
docker_pushf(struct docker_vec *a, const char *option, const char *value)
{
	char *s;

	xasprintf(&s, "%s=%s", option, value);
	docker_push(a, s);
	free(s);
}

/* A limit as NAME=SOFT:HARD for --ulimit. */
static void
docker_ulimit(struct docker_vec *a, const char *name, uint64_t soft,
    uint64_t hard)
{
	char v[96];

	snprintf(v, sizeof v, "%s=%llu:%llu", name, (unsigned long long)soft,
	    (unsigned long long)hard);
	docker_pushf(a, "--ulimit", v);
}

/*
 * A sandbox's options: input kept open, no network unless asked, its
 * directory and user, secret values passed by name only (the CLI reads
 * them from its environment: a command line is visible to every user of
 * the host), and the limits as the container runtime's.
 */
static void
docker_sandbox_options(struct docker_vec *a, const struct docker_op *d)
{
	const struct limits *l = &d->limits;
	char v[32];
	size_t i;

	docker_push(a, "--interactive");
	if (!d->network)
		docker_push(a, "--network=none");
	if (d->workdir != NULL)
		docker_pushf(a, "--workdir", d->workdir);
	if (d->user != NULL)
		docker_pushf(a, "--user", d->user);
	for (i = 0; i < d->n_env_names; i++)
		docker_pushf(a, "--env", d->env_names[i]);
	if (l->memory_bytes != 0) {
		snprintf(v, sizeof v, "%llu",
		    (unsigned long long)l->memory_bytes);
		docker_pushf(a, "--memory", v);
		docker_pushf(a, "--memory-swap", v);	/* no swap on top */
	}
	if (l->max_processes != 0) {
		snprintf(v, sizeof v, "%llu",
		    (unsigned long long)l->max_processes);
		docker_pushf(a, "--pids-limit", v);
	}
	if (l->cpu_seconds != 0)
		docker_ulimit(a, "cpu", l->cpu_seconds, l->cpu_seconds + 1);
	if (l->max_open_files != 0)
		docker_ulimit(a, "nofile", l->max_open_files,
		    l->max_open_files);
	if (l->max_file_bytes != 0)
		docker_ulimit(a, "fsize", l->max_file_bytes,
		    l->max_file_bytes);
}

/* Checks each of N values, naming FIELD and the entry in *cause. */
static int
docker_check_all(char *const *v, size_t n, int (*check)(const char *),
    const char *field, const char *what, char **cause)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!check(v[i])) {
			xasprintf(cause, "%s entry %zu is not %s", field, i + 1,
			    what);
			return -1;
		}
	}
	return 0;
}

static int
docker_check_one(const char *value, int (*check)(const char *),
    const char *field, const char *what, char **cause)
{
	char *shown;

	if (check(value))
		return 0;
	shown = vis_strdup(value, strlen(value), 80);
	xasprintf(cause, "%s '%s' is not %s", field, shown, what);
	free(shown);
	return -1;
}

/* The operations on one container: subcommand and the ID's field name. */
struct docker_container_op {
	enum docker_kind kind;
	const char *cmd;
	const char *field;
};
static const struct docker_container_op docker_container_ops[] = {
	{ DOCKER_START, "start", "docker_start.id" },
	{ DOCKER_STOP, "stop", "docker_stop.id" },
	{ DOCKER_LOGS, "logs", "docker_logs.id" },
	{ DOCKER_REMOVE, "rm", "docker_remove.id" },
	{ DOCKER_INSPECT, "inspect", "docker_inspect.id" },
	{ DOCKER_NONE, NULL, NULL },
};

void
docker_argv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* A run's arguments after `docker': 0, or -1 with *cause set. */
static int
docker_run_argv(struct docker_vec *a, const struct docker_op *d,
    const char *task_id, const char *name, const char *cidfile, char **cause)
{
	size_t i;

	if (docker_check_one(d->img, docker_check_image, "docker_run.img",
	    "an image reference", cause) ||
	    (*d->name != '\0' && docker_check_one(d->name, docker_check_name,
	    "docker_run.name", "a container name", cause)) ||
	    docker_check_all(d->env, d->n_env, docker_check_env,
	    "docker_run.env", "NAME=VALUE", cause) ||
	    docker_check_all(d->ports, d->n_ports, docker_check_port,
	    "docker_run.ports", "[IP:]HOST:CONTAINER[/PROTOCOL]", cause) ||
	    docker_check_all(d->volumes, d->n_volumes, docker_check_volume,
	    "docker_run.volumes", "SOURCE:/TARGET[:OPTIONS]", cause))
		return -1;
	docker_push(a, "run");
	if (d->detach)
		docker_push(a, "--detach");
	if (d->remove)
		docker_push(a, "--rm");
	if (*d->name != '\0')
		docker_pushf(a, "--name", d->name);
	else if (name != NULL)
		docker_pushf(a, "--name", name);
	docker_pushf(a, "--label", DOCKER_LABEL);
	/* --label=nodelink.task-id=ID: one element, whatever the ID. */
	free(a->v[a->n - 1]);
	xasprintf(&a->v[a->n - 1], "--label=%s=%s", DOCKER_LABEL, task_id);
	if (cidfile != NULL)
		docker_pushf(a, "--cidfile", cidfile);
	for (i = 0; i < d->n_env; i++)
		docker_pushf(a, "--env", d->env[i]);
	for (i = 0; i < d->n_ports; i++)
		docker_pushf(a, "--publish", d->ports[i]);
	for (i = 0; i < d->n_volumes; i++)
		docker_pushf(a, "--volume", d->volumes[i]);
	if (d->sandbox)
		docker_sandbox_options(a, d);
	docker_push(a, d->img);
	/* After the image: the container's, never parsed by the CLI. */
	for (i = 0; i < d->n_args; i++)
		docker_push(a, d->args[i]);
	return 0;
}

/* An operation on one container: check it, then its options. */
static int
docker_container_argv(struct docker_vec *a, const struct docker_op *d,
    char **cause)
{
	const struct docker_container_op *op;
	char t[16];

	for (op = docker_container_ops; op->cmd != NULL; op++) {
		if (op->kind == d->kind)
			break;
	}
	if (op->cmd == NULL) {
		*cause = xstrdup("docker_operation has no operation set");
		return -1;
	}
	if (docker_check_one(d->id, docker_check_container, op->field,
	    "a container ID or name", cause))
		return -1;
	docker_push(a, op->cmd);
	switch (d->kind) {
	case DOCKER_STOP:
		if (d->stop_timeout != 0) {
			snprintf(t, sizeof t, "%u", (unsigned)d->stop_timeout);
			docker_pushf(a, "--time", t);
		}
		break;
	case DOCKER_LOGS:
		if (*d->tail != '\0' && docker_check_one(d->tail,
		    docker_check_tail, "docker_logs.tail",
		    "a number of lines or \"all\"", cause))
			return -1;
		if (d->follow)
			docker_push(a, "--follow");
		if (*d->tail != '\0')
			docker_pushf(a, "--tail", d->tail);
		if (d->timestamps)
			docker_push(a, "--timestamps");
		break;
	case DOCKER_REMOVE:
		if (d->force)
			docker_push(a, "--force");
		break;
	default:
		break;
	}
	docker_push(a, d->id);
	return 0;
}

/*
 * The Docker CLI's argument vector for operation D, argv[0] being BINARY.
 * A run is labelled with TASK_ID; NAME names it when the request did not
 * (NULL: unnamed); CIDFILE receives its container ID.  Returns NULL with
 * *cause naming the field when a value fails Docker's grammar.
 */
char **
docker_argv(const struct docker_op *d, const char *binary,
    const char *task_id, const char *name, const char *cidfile, char **cause)
{
	struct docker_vec a = { NULL, 0 };
	int rc;

	docker_push(&a, binary);
	switch (d->kind) {
	case DOCKER_RUN:
		rc = docker_run_argv(&a, d, task_id, name, cidfile, cause);
		break;
	case DOCKER_PULL:
		rc = docker_check_one(d->img, docker_check_image,
		    "docker_pull.img", "an image reference", cause) ? -1 : 0;
		if (rc == 0) {
			docker_push(&a, "pull");
			docker_push(&a, d->img);
		}
		break;
	case DOCKER_LIST:
		docker_push(&a, "ps");
		if (d->all)
			docker_push(&a, "--all");
		rc = 0;
		break;
	default:
		rc = docker_container_argv(&a, d, cause);
		break;
	}
	if (rc != 0) {
		docker_argv_free(a.v);
		return NULL;
	}
	return a.v;
}
