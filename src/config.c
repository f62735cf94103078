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

/*
 * Parses LEN bytes of YAML; NAME is for messages.  Returns 0, or -1 with
 * *cause set ("file:line: what is wrong").
 */
int
config_parse(const char *text, size_t len, const char *name,
    struct config *c, char **cause)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	char path[CONFIG_MAX_DEPTH][128], key[400];
	struct buf list;
	char **items = NULL;
	unsigned long *lines = NULL;
	size_t n_items = 0;
	struct config_item *item;
	int depth = 0, expecting_key[CONFIG_MAX_DEPTH + 1], in_list = 0;
	int rc = -1, done = 0;
	unsigned long line, list_line = 0;
	const char *scalar;

	memset(c, 0, sizeof *c);
	*cause = NULL;
	buf_init(&list);
	memset(expecting_key, 0, sizeof expecting_key);
	if (!yaml_parser_initialize(&parser))
		fatalx("cannot initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			xasprintf(cause, "%s:%lu: %s", name,
			    (unsigned long)parser.problem_mark.line + 1,
			    parser.problem != NULL ? parser.problem :
			    "not valid YAML");
			goto out;
		}
		line = (unsigned long)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
			if (in_list || (depth > 0 && expecting_key[depth])) {
				config_fail(cause, name, line, "a mapping "
				    "where a value was expected");
				goto fail_event;
			}
			if (depth == CONFIG_MAX_DEPTH) {
				config_fail(cause, name, line, "settings nest "
				    "at most three levels (section: name: value, "
				    "or section: group: name: value)");
				goto fail_event;
			}
			depth++;
			expecting_key[depth] = 1;
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			if (depth > 0)
				expecting_key[depth] = 1;
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 0 || expecting_key[depth] || in_list) {
				config_fail(cause, name, line, "a list is only "
				    "allowed as a setting's value");
				goto fail_event;
			}
			in_list = 1;
			list_line = line;
			buf_clear(&list);
			break;
		case YAML_SEQUENCE_END_EVENT:
			buf_append(&list, "", 1);
			config_key(path, depth, key, sizeof key);
			if (config_repeated(c, key, name, list_line, cause))
				goto fail_event;
			item = config_add(c, key, list.data, list_line, 1);
			item->items = items;
			item->lines = lines;
			item->n_items = n_items;
			items = NULL;
			lines = NULL;
			n_items = 0;
			in_list = 0;
			expecting_key[depth] = 1;
			break;
		case YAML_SCALAR_EVENT:
			scalar = (const char *)ev.data.scalar.value;
			if (strlen(scalar) != ev.data.scalar.length) {
				config_fail(cause, name, line, "a NUL byte in "
				    "a value");
				goto fail_event;
			}
			if (in_list) {
				if (list.len != 0)
					buf_append(&list, ",", 1);
				buf_append(&list, scalar, strlen(scalar));
				items = xreallocarray(items, n_items + 1,
				    sizeof *items);
				lines = xreallocarray(lines, n_items + 1,
				    sizeof *lines);
				items[n_items] = xstrdup(scalar);
				lines[n_items++] = line;
				break;
			}
			if (depth == 0) {
				if (*scalar == '\0')
					break;	/* an empty document */
				config_fail(cause, name, line, "expected a "
				    "mapping of sections");
				goto fail_event;
			}
			if (expecting_key[depth]) {
				if (strlen(scalar) >= sizeof path[0]) {
					config_fail(cause, name, line,
					    "a name too long");
					goto fail_event;
				}
				snprintf(path[depth - 1], sizeof path[0], "%s",
				    scalar);
				expecting_key[depth] = 0;
				break;
			}
			config_key(path, depth, key, sizeof key);
			if (config_repeated(c, key, name, line, cause))
				goto fail_event;
			config_add(c, key, scalar, line, 0);
			expecting_key[depth] = 1;
			break;
		case YAML_ALIAS_EVENT:
			config_fail(cause, name, line, "aliases are not "
			    "supported");
			goto fail_event;
		case YAML_NO_EVENT:
			break;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
	goto out;
fail_event:
	yaml_event_delete(&ev);
out:
	if (rc != 0)
		config_free(c);
	while (n_items > 0)
		free(items[--n_items]);
	free(items);
	free(lines);
	buf_free(&list);
	yaml_parser_delete(&parser);
	return rc;
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
