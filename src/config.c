/*
 * config.c: the YAML configuration file, parsed with libyaml.
 *
 * The file is a mapping of sections to settings, as in the original
 * agent's design:
 *
 *     server:
 *       address: "localhost:9090"     # or a list of addresses
 *     agent:
 *       id: "agent1"
 *       token: "secret_token1"
 *       max_concurrent_tasks: 100
 *     logging:
 *       level: "info"
 *       format: "json"
 *
 * A section may hold one more level of mappings (tasks: limits: memory:).
 * config_parse() flattens it into "section.name" (or "section.sub.name")
 * = "value" items with their line numbers; a list of scalars becomes one
 * comma-separated value, and its items are kept apart too, each with its
 * line (for lists whose items may hold commas, such as regular
 * expressions).  What the settings mean is options.c's business.
 * Anything else (anchors and aliases, deeper nesting, a list of mappings,
 * a setting given twice) is an error with its line, never silently
 * ignored: with "last wins", a second `token:' lower in a long file
 * quietly overrides the one an operator reads.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "agent.h"

/* Nesting deeper than section.sub.name is refused. */
#define CONFIG_MAX_DEPTH 3

static struct config_item *
config_add(struct config *c, const char *key, const char *value,
    unsigned long line, int list)
{
	struct config_item *item;

	c->items = xreallocarray(c->items, c->n + 1, sizeof *c->items);
	item = &c->items[c->n++];
	memset(item, 0, sizeof *item);
	item->key = xstrdup(key);
	item->value = xstrdup(value);
	item->line = line;
	item->list = list;
	return item;
}

/* The dotted key of the setting at DEPTH. */
static void
config_key(char path[][128], int depth, char *key, size_t size)
{
	size_t len = 0;
	int i;

	key[0] = '\0';
	for (i = 0; i < depth && len < size; i++)
		len += (size_t)snprintf(key + len, size - len, "%s%s",
		    i != 0 ? "." : "", path[i]);
}

void
config_free(struct config *c)
{
	size_t i, k;

	for (i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].value);
		for (k = 0; k < c->items[i].n_items; k++)
			free(c->items[i].items[k]);
		free(c->items[i].items);
		free(c->items[i].lines);
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}

/* The value of KEY, or NULL. */
const struct config_item *
config_find(const struct config *c, const char *key)
{
	size_t i;

	for (i = c->n; i > 0; i--) {
		if (strcmp(c->items[i - 1].key, key) == 0)
			return &c->items[i - 1];
	}
	return NULL;
}

/* Fails if KEY is set already (at its first line). */
static int
config_repeated(const struct config *c, const char *key, const char *name,
    unsigned long line, char **cause)
{
	const struct config_item *first;

	if ((first = config_find(c, key)) == NULL)
		return 0;
	xasprintf(cause, "%s:%lu: %s is set twice (first at line %lu)", name,
	    line, key, first->line);
	return -1;
}

static int
config_fail(char **cause, const char *name, unsigned long line,
    const char *what)
{
	xasprintf(cause, "%s:%lu: %s", name, line, what);
	return -1;
}

/* Where config_parse is in the document. */
struct config_reader {
	const char *name;	/* the file, for messages */
	struct config *c;
	char path[CONFIG_MAX_DEPTH][128];	/* the names above */
	int depth;
	int expecting_key[CONFIG_MAX_DEPTH + 1];
	int in_list;		/* a setting's list of values: */
	unsigned long list_line;
	struct buf list;	/* ... joined with commas */
	char **items;		/* ... one by one */
	unsigned long *lines;
	size_t n_items;
};

static int
config_on_mapping(struct config_reader *r, unsigned long line, char **cause)
{
	if (r->in_list || (r->depth > 0 && r->expecting_key[r->depth]))
		return config_fail(cause, r->name, line, "a mapping where a "
		    "value was expected");
	if (r->depth == CONFIG_MAX_DEPTH)
		return config_fail(cause, r->name, line, "settings nest at "
		    "most three levels (section: name: value, or section: "
		    "group: name: value)");
	r->depth++;
	r->expecting_key[r->depth] = 1;
	return 0;
}

static int
config_on_list(struct config_reader *r, unsigned long line, char **cause)
{
	if (r->depth == 0 || r->expecting_key[r->depth] || r->in_list)
		return config_fail(cause, r->name, line, "a list is only "
		    "allowed as a setting's value");
	r->in_list = 1;
	r->list_line = line;
	buf_clear(&r->list);
	return 0;
}

static int
config_on_list_end(struct config_reader *r, char **cause)
{
	struct config_item *item;
	char key[400];

	buf_append(&r->list, "", 1);
	config_key(r->path, r->depth, key, sizeof key);
	if (config_repeated(r->c, key, r->name, r->list_line, cause))
		return -1;
	item = config_add(r->c, key, r->list.data, r->list_line, 1);
	item->items = r->items;
	item->lines = r->lines;
	item->n_items = r->n_items;
	r->items = NULL;
	r->lines = NULL;
	r->n_items = 0;
	r->in_list = 0;
	r->expecting_key[r->depth] = 1;
	return 0;
}

static int
config_on_scalar(struct config_reader *r, const yaml_event_t *ev,
    unsigned long line, char **cause)
{
	const char *scalar = (const char *)ev->data.scalar.value;
	char key[400];

	if (strlen(scalar) != ev->data.scalar.length)
		return config_fail(cause, r->name, line, "a NUL byte in a "
		    "value");
	if (r->in_list) {
		if (r->list.len != 0)
			buf_append(&r->list, ",", 1);
		buf_append(&r->list, scalar, strlen(scalar));
		r->items = xreallocarray(r->items, r->n_items + 1,
		    sizeof *r->items);
		r->lines = xreallocarray(r->lines, r->n_items + 1,
		    sizeof *r->lines);
		r->items[r->n_items] = xstrdup(scalar);
		r->lines[r->n_items++] = line;
		return 0;
	}
	if (r->depth == 0) {
		if (*scalar == '\0')
			return 0;	/* an empty document */
		return config_fail(cause, r->name, line, "expected a mapping "
		    "of sections");
	}
	if (r->expecting_key[r->depth]) {
		if (strlen(scalar) >= sizeof r->path[0])
			return config_fail(cause, r->name, line, "a name too "
			    "long");
		snprintf(r->path[r->depth - 1], sizeof r->path[0], "%s",
		    scalar);
		r->expecting_key[r->depth] = 0;
		return 0;
	}
	config_key(r->path, r->depth, key, sizeof key);
	if (config_repeated(r->c, key, r->name, line, cause))
		return -1;
	config_add(r->c, key, scalar, line, 0);
	r->expecting_key[r->depth] = 1;
	return 0;
}

/* One parser event: 0, 1 at the stream's end, or -1 with *cause set. */
static int
config_on_event(struct config_reader *r, const yaml_event_t *ev,
    char **cause)
{
	unsigned long line = (unsigned long)ev->start_mark.line + 1;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_MAPPING_START_EVENT:
		return config_on_mapping(r, line, cause);
	case YAML_MAPPING_END_EVENT:
		r->depth--;
		if (r->depth > 0)
			r->expecting_key[r->depth] = 1;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
		return config_on_list(r, line, cause);
	case YAML_SEQUENCE_END_EVENT:
		return config_on_list_end(r, cause);
	case YAML_SCALAR_EVENT:
		return config_on_scalar(r, ev, line, cause);
	case YAML_ALIAS_EVENT:
		return config_fail(cause, r->name, line, "aliases are not "
		    "supported");
	default:
		return 0;
	}
}

/*
 * Parses LEN bytes of YAML; NAME is for messages.  Returns 0, or -1 with
 * *cause set ("file:line: what is wrong").
 */
int
config_parse(const char *text, size_t len, const char *name,
    struct config *c, char **cause)
{
	struct config_reader r;
	yaml_parser_t parser;
	yaml_event_t ev;
	int rc = 0;

	memset(c, 0, sizeof *c);
	memset(&r, 0, sizeof r);
	*cause = NULL;
	r.name = name;
	r.c = c;
	buf_init(&r.list);
	if (!yaml_parser_initialize(&parser))
		fatalx("cannot initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			xasprintf(cause, "%s:%lu: %s", name,
			    (unsigned long)parser.problem_mark.line + 1,
			    parser.problem != NULL ? parser.problem :
			    "not valid YAML");
			rc = -1;
			break;
		}
		rc = config_on_event(&r, &ev, cause);
		yaml_event_delete(&ev);
	}
	if (rc < 0)
		config_free(c);
	while (r.n_items > 0)
		free(r.items[--r.n_items]);
	free(r.items);
	free(r.lines);
	buf_free(&r.list);
	yaml_parser_delete(&parser);
	return rc < 0 ? -1 : 0;
}

/*
 * Reads and parses PATH; the same contract as config_parse().  The file
 * can set the shell tasks run with: one that other users can write is
 * refused, as sshd refuses such a key file.
 */
int
config_load(const char *path, struct config *c, char **cause)
{
	struct buf text;
	struct stat sb;
	int rc;

	memset(c, 0, sizeof *c);
	/* Read again by SIGHUP, on the loop: never blocking (buf.c). */
	buf_init(&text);
	if (buf_read_file(&text, path, 0, 1024 * 1024, &sb, cause) != 0) {
		buf_free(&text);
		return -1;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		xasprintf(cause, "%s: writable by other users (mode %03o), who "
		    "could make the agent run anything; chmod go-w it",
		    path, (unsigned)(sb.st_mode & 0777));
		buf_free(&text);
		return -1;
	}
	rc = config_parse(text.data != NULL ? text.data : "", text.len, path,
	    c, cause);
	buf_free(&text);
	return rc;
}
