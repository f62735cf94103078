/*
 * test-options.c: both spellings of the command line, the environment,
 * precedence, defaults and the errors a user sees.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "agent.h"

/* Parses the NULL-terminated arguments in AP as a command line. */
static enum options_result
vparse(struct options *o, char **text, const char *const *env, va_list ap)
{
	char *argv[32];
	const char *arg;
	int argc = 0;

	argv[argc++] = (char *)"nodelink-agent";
	while ((arg = va_arg(ap, const char *)) != NULL)
		argv[argc++] = (char *)arg;
	argv[argc] = NULL;
	options_init(o);
	return options_parse(o, argc, argv, (char *const *)env, text);
}

static enum options_result
parse(struct options *o, char **text, const char *const *env, ...)
{
	enum options_result r;
	va_list ap;

	va_start(ap, env);
	r = vparse(o, text, env, ap);
	va_end(ap);
	return r;
}

static const char *const no_env[] = { NULL };

static void
test_gnu_style(void)
{
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, no_env, "--agent-id", "a1",
	    "--agent-token=t1", "--server", "h:1", "-v", NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "a1");
	g_assert_cmpstr(o.agent_token, ==, "t1");
	g_assert_cmpstr(o.server, ==, "h:1");
	g_assert_cmpint(o.verbose, ==, 1);
	options_free(&o);
}

static void
test_seed_style(void)
{
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, no_env, "-agent_id=agent1",
	    "-agent_token=secret_token1", NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "agent1");
	g_assert_cmpstr(o.agent_token, ==, "secret_token1");
	options_free(&o);
	g_assert_cmpint(parse(&o, &text, no_env, "-agent_id", "x",
	    "--agent_token", "y", NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "x");
	g_assert_cmpstr(o.agent_token, ==, "y");
	options_free(&o);
}

static void
test_defaults(void)
{
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, no_env, "--agent-id=a",
	    "--agent-token=t", NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.server, ==, "localhost:9090");
	g_assert_cmpstr(o.shell, ==, "bash");
	g_assert_cmpuint(o.reconnect_initial_ms, ==, 1000);
	g_assert_cmpuint(o.reconnect_max_ms, ==, 60000);
	g_assert_cmpuint(o.reconnect_multiplier_pct, ==, 150);
	g_assert_cmpuint(o.spool_mib, ==, 64);
	/* Keep-alive must not trip a default server's 5-minute ping policy. */
	g_assert_cmpuint(o.keepalive_ms, >=, 300000);
	g_assert_cmpint(o.verbose, ==, 0);
	options_free(&o);
}

static void
test_environment_and_precedence(void)
{
	static const char *const env[] = {
		"PATH=/bin", "NODELINK_AGENT_ID=env-id",
		"NODELINK_AGENT_TOKEN=env-token",
		"NODELINK_SERVER_ADDRESS=env:1", NULL,
	};
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, env, NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "env-id");
	g_assert_cmpstr(o.agent_token, ==, "env-token");
	g_assert_cmpstr(o.server, ==, "env:1");
	options_free(&o);
	g_assert_cmpint(parse(&o, &text, env, "--agent-id", "flag-id",
	    "-server=flag:2", NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "flag-id");
	g_assert_cmpstr(o.server, ==, "flag:2");
	g_assert_cmpstr(o.agent_token, ==, "env-token");
	options_free(&o);
}

static void
expect_error(const char *want, ...)
{
	struct options o;
	enum options_result r;
	char *text;
	va_list ap;

	va_start(ap, want);
	r = vparse(&o, &text, no_env, ap);
	va_end(ap);
	g_assert_cmpint(r, ==, OPTIONS_ERROR);
	if (strstr(text, want) == NULL)
		g_error("error '%s' does not contain '%s'", text, want);
	free(text);
	options_free(&o);
}

static void
test_errors(void)
{
	expect_error("no agent ID", NULL);
	expect_error("no agent token", "--agent-id", "a", NULL);
	expect_error("unknown option '--nope'", "--nope=1", NULL);
	expect_error("unknown option '-x'", "-x", NULL);
	expect_error("option --server needs a value", "--server", NULL);
	expect_error("--spool-mib takes a whole number from 1 to 65536, not "
	    "'0'", "--spool-mib=0", NULL);
	expect_error("not '12abc'", "--flush-delay-ms=12abc", NULL);
	expect_error("--reconnect-multiplier takes a number", 
	    "--reconnect-multiplier=x", NULL);
	expect_error("must not be empty", "--agent-id=", NULL);
	expect_error("unexpected argument 'extra'", "extra", NULL);
}

static void
test_factor(void)
{
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, no_env, "--agent-id=a",
	    "--agent-token=t", "--reconnect-multiplier=2.25", NULL), ==,
	    OPTIONS_OK);
	g_assert_cmpuint(o.reconnect_multiplier_pct, ==, 225);
	options_free(&o);
}

static void
test_help_and_version(void)
{
	struct options o;
	char *text;

	g_assert_cmpint(parse(&o, &text, no_env, "--help", NULL), ==,
	    OPTIONS_EXIT);
	g_assert_nonnull(strstr(text, "--agent-id=ID"));
	g_assert_nonnull(strstr(text, "NODELINK_AGENT_TOKEN"));
	free(text);
	options_free(&o);
	g_assert_cmpint(parse(&o, &text, no_env, "--version", NULL), ==,
	    OPTIONS_EXIT);
	g_assert_true(g_str_has_prefix(text, "nodelink-agent " PACKAGE_VERSION
	    "\n"));
	free(text);
	options_free(&o);
}

static char *
write_config(const char *text)
{
	GError *error = NULL;
	char *path;
	int fd;

	fd = g_file_open_tmp("nodelink-test-XXXXXX.yaml", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, text, strlen(text)), ==, (int)strlen(text));
	close(fd);
	return path;
}

static void
test_config_file_precedence(void)
{
	const char *env[] = { "NODELINK_AGENT_TOKEN=env-token", NULL, NULL };
	struct options o;
	char *path, *arg, *text, *envcfg;

	path = write_config("server:\n  address: [a:1, b:2]\n"
	    "agent:\n  id: file-id\n  token: file-token\n"
	    "  max_concurrent_tasks: 7\n"
	    "logging:\n  format: json\n");
	arg = g_strconcat("--config=", path, NULL);
	/* The file fills what neither the command line nor env sets. */
	g_assert_cmpint(parse(&o, &text, env, arg, "--agent-id", "flag-id",
	    NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_id, ==, "flag-id");
	g_assert_cmpstr(o.agent_token, ==, "env-token");
	g_assert_cmpstr(o.server, ==, "a:1,b:2");
	g_assert_cmpuint(o.max_concurrent_tasks, ==, 7);
	g_assert_cmpstr(o.log_format, ==, "json");
	g_assert_cmpstr(o.log_level, ==, "info");
	options_free(&o);
	/* NODELINK_CONFIG names the file too. */
	envcfg = g_strconcat("NODELINK_CONFIG=", path, NULL);
	env[0] = envcfg;
	g_assert_cmpint(parse(&o, &text, env, NULL), ==, OPTIONS_OK);
	g_assert_cmpstr(o.agent_token, ==, "file-token");
	options_free(&o);
	unlink(path);
	g_free(envcfg);
	g_free(arg);
	g_free(path);
}

static void
test_config_file_errors(void)
{
	struct options o;
	char *path, *arg, *text;

	path = write_config("agent:\n  id: a\n  tokn: t\n");
	arg = g_strconcat("--config=", path, NULL);
	g_assert_cmpint(parse(&o, &text, no_env, arg, NULL), ==,
	    OPTIONS_ERROR);
	g_assert_nonnull(strstr(text, ":3: unknown setting 'agent.tokn'"));
	free(text);
	options_free(&o);
	unlink(path);
	g_free(path);
	g_free(arg);

	path = write_config("logging:\n  level: loud\n");
	arg = g_strconcat("--config=", path, NULL);
	g_assert_cmpint(parse(&o, &text, no_env, arg, "--agent-id=a",
	    "--agent-token=t", NULL), ==, OPTIONS_ERROR);
	g_assert_nonnull(strstr(text, ":2 (logging.level): --log-level takes "
	    "debug|info|warn|error, not 'loud'"));
	free(text);
	options_free(&o);
	unlink(path);
	g_free(path);
	g_free(arg);

	g_assert_cmpint(parse(&o, &text, no_env, "--config=/nonexistent/x",
	    NULL), ==, OPTIONS_ERROR);
	g_assert_nonnull(strstr(text, "/nonexistent/x: No such file"));
	free(text);
	options_free(&o);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/options/gnu-style", test_gnu_style);
	g_test_add_func("/options/seed-style", test_seed_style);
	g_test_add_func("/options/defaults", test_defaults);
	g_test_add_func("/options/environment-and-precedence",
	    test_environment_and_precedence);
	g_test_add_func("/options/errors", test_errors);
	g_test_add_func("/options/factor", test_factor);
	g_test_add_func("/options/help-and-version", test_help_and_version);
	g_test_add_func("/options/config-file-precedence",
	    test_config_file_precedence);
	g_test_add_func("/options/config-file-errors", test_config_file_errors);
	return g_test_run();
}
