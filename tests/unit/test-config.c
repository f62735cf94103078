/*
 * test-config.c: the YAML configuration file.  Sections flatten to
 * section.name, lists to comma-separated values, every item keeps its line,
 * and whatever the agent could misread is an error naming the line.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.h"

static void
parse_ok(const char *text, struct config *c)
{
	char *cause = NULL;

	if (config_parse(text, strlen(text), "t.yaml", c, &cause) != 0)
		g_error("parse failed: %s", cause);
	g_assert_null(cause);
}

static void
test_seed_example(void)
{
	static const char text[] =
	    "server:\n"
	    "  address: \"localhost:9090\"\n"
	    "  tls_enabled: false\n"
	    "\n"
	    "agent:\n"
	    "  id: \"agent1\"\n"
	    "  token: \"secret_token1\"\n"
	    "  max_concurrent_tasks: 100\n"
	    "  \n"
	    "logging:\n"
	    "  level: \"info\"\n"
	    "  format: \"json\"\n";
	struct config c;
	const struct config_item *it;

	parse_ok(text, &c);
	g_assert_cmpuint(c.n, ==, 7);
	it = config_find(&c, "server.address");
	g_assert_nonnull(it);
	g_assert_cmpstr(it->value, ==, "localhost:9090");
	g_assert_cmpuint(it->line, ==, 2);
	g_assert_cmpstr(config_find(&c, "agent.token")->value, ==,
	    "secret_token1");
	g_assert_cmpstr(config_find(&c, "agent.max_concurrent_tasks")->value,
	    ==, "100");
	g_assert_cmpuint(config_find(&c, "logging.format")->line, ==, 12);
	g_assert_null(config_find(&c, "agent.nothing"));
	config_free(&c);
}

static void
test_lists_and_repeats(void)
{
	struct config c;

	parse_ok("server:\n  address:\n    - a:1\n    - b:2\n"
	    "agent:\n  id: first\n", &c);
	g_assert_cmpstr(config_find(&c, "server.address")->value, ==,
	    "a:1,b:2");
	g_assert_cmpuint(config_find(&c, "server.address")->line, ==, 3);
	g_assert_cmpstr(config_find(&c, "agent.id")->value, ==, "first");
	config_free(&c);
	parse_ok("server: {address: [x:1, y:2]}\n", &c);
	g_assert_cmpstr(config_find(&c, "server.address")->value, ==,
	    "x:1,y:2");
	config_free(&c);
}

/* A third level (tasks: limits: memory:), and list items kept apart with
 * their lines, commas and all (regular expressions hold them). */
static void
test_groups_and_items(void)
{
	const struct config_item *item;
	struct config c;

	parse_ok("tasks:\n  limits:\n    memory: 64M\n  allowed_users: [a]\n"
	    "policy:\n  deny:\n    - \"a{1,2}\"\n    - b\n", &c);
	g_assert_cmpstr(config_find(&c, "tasks.limits.memory")->value, ==,
	    "64M");
	g_assert_cmpuint(config_find(&c, "tasks.limits.memory")->line, ==, 3);
	g_assert_cmpstr(config_find(&c, "tasks.allowed_users")->value, ==, "a");
	item = config_find(&c, "policy.deny");
	g_assert_cmpuint(item->n_items, ==, 2);
	g_assert_cmpstr(item->items[0], ==, "a{1,2}");
	g_assert_cmpuint(item->lines[0], ==, 7);
	g_assert_cmpstr(item->items[1], ==, "b");
	g_assert_cmpuint(item->lines[1], ==, 8);
	config_free(&c);
}

static void
test_empty_files(void)
{
	struct config c;

	parse_ok("", &c);
	g_assert_cmpuint(c.n, ==, 0);
	config_free(&c);
	parse_ok("# only a comment\n", &c);
	g_assert_cmpuint(c.n, ==, 0);
	config_free(&c);
}

static void
expect_error(const char *text, const char *want)
{
	struct config c;
	char *cause = NULL;

	g_assert_cmpint(config_parse(text, strlen(text), "t.yaml", &c,
	    &cause), ==, -1);
	g_assert_nonnull(cause);
	if (strstr(cause, want) == NULL)
		g_error("'%s' does not contain '%s'", cause, want);
	g_assert_cmpuint(c.n, ==, 0);
	free(cause);
}

static void
test_errors(void)
{
	expect_error("agent:\n  id: [x\n", "t.yaml:3:");
	expect_error("just a scalar\n", "t.yaml:1: expected a mapping");
	expect_error("a:\n  b:\n    c:\n      d: 1\n", "t.yaml:4: settings nest at most");
	expect_error("a:\n  b: [{c: 1}]\n", "a mapping where a value");
	expect_error("a:\n  b: [[1]]\n", "a list is only allowed");
	expect_error("- x\n- y\n", "a list is only allowed");
	expect_error("a: &x\n  b: 1\nc: *x\n", "aliases are not supported");
	expect_error("a:\n  b: \"x\\0y\"\n", "a NUL byte");
	expect_error("a:\n  b: \"\\xff\"\n\xff", "t.yaml:");
	/* A setting given twice: an error, never "the last wins". */
	expect_error("agent:\n  id: first\n  id: second\n",
	    "t.yaml:3: agent.id is set twice (first at line 2)");
	expect_error("agent:\n  id: a\nserver:\n  address: x\nagent:\n"
	    "  id: b\n", "t.yaml:6: agent.id is set twice (first at line 2)");
	expect_error("policy:\n  deny: [a]\n  deny:\n    - b\n",
	    "t.yaml:4: policy.deny is set twice (first at line 2)");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/seed-example", test_seed_example);
	g_test_add_func("/config/lists-and-repeats", test_lists_and_repeats);
	g_test_add_func("/config/groups-and-items", test_groups_and_items);
	g_test_add_func("/config/empty-files", test_empty_files);
	g_test_add_func("/config/errors", test_errors);
	return g_test_run();
}
