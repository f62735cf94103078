/*
 * test-policy.c: the command policy and the limits a task gets.  Deny
 * rules match anywhere, allow and image rules only whole; a rule that
 * does not compile names its file and line; limits are the request's,
 * lowered to the ceiling, or the default.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.h"

static struct rules *
compile(const char *name, const char *a, const char *b)
{
	char *p[2] = { (char *)a, (char *)b };
	unsigned long lines[2] = { 7, 8 };
	char *cause = NULL;
	struct rules *rs;

	rs = rules_compile(name, p, lines, b != NULL ? 2 : 1, "agent.yaml",
	    &cause);
	g_assert_null(cause);
	g_assert_nonnull(rs);
	return rs;
}

static void
test_deny_and_allow(void)
{
	struct options o;
	char *why = NULL;

	memset(&o, 0, sizeof o);
	/* No rules: everything may run. */
	g_assert_cmpint(policy_check_command(&o, "rm -rf /", &why), ==, 0);
	o.policy_deny = compile("policy.deny", "rm +-[a-z]*r", "shutdown");
	o.policy_allow = compile("policy.allow", "ls( -[a-z]+)?( /[a-z]+)*",
	    "echo .*");
	g_assert_cmpint(policy_check_command(&o, "ls -l /tmp", &why), ==, 0);
	g_assert_cmpint(policy_check_command(&o, "echo hi", &why), ==, 0);
	/* Deny matches anywhere, and wins over allow. */
	g_assert_cmpint(policy_check_command(&o, "echo x; rm -fr /", &why),
	    ==, -1);
	g_assert_cmpstr(why, ==, "command refused by policy: matches "
	    "policy.deny rule 1 ('rm +-[a-z]*r')");
	free(why);
	/* Allow must match the whole command. */
	g_assert_cmpint(policy_check_command(&o, "ls; cat /etc/passwd",
	    &why), ==, -1);
	g_assert_nonnull(strstr(why, "matches no policy.allow rule"));
	free(why);
	g_assert_cmpint(policy_check_command(&o, "xls", &why), ==, -1);
	free(why);
	rules_free(o.policy_deny);
	rules_free(o.policy_allow);
}

static void
test_images(void)
{
	struct options o;
	char *why = NULL;

	memset(&o, 0, sizeof o);
	g_assert_cmpint(policy_check_image(&o, "anything", &why), ==, 0);
	o.policy_images = compile("policy.images", "alpine(:[0-9.]+)?",
	    "registry\\.example\\.com/.*");
	g_assert_cmpint(policy_check_image(&o, "alpine:3.19", &why), ==, 0);
	g_assert_cmpint(policy_check_image(&o,
	    "registry.example.com/team/app:1", &why), ==, 0);
	g_assert_cmpint(policy_check_image(&o, "evil/alpine:3.19", &why), ==,
	    -1);
	g_assert_cmpstr(why, ==, "image 'evil/alpine:3.19' refused by policy: "
	    "matches no policy.images rule");
	free(why);
	rules_free(o.policy_images);
}

static void
test_bad_rules(void)
{
	char *p[3] = { (char *)"ok", (char *)"a(b", (char *)"[z-a]" };
	unsigned long lines[3] = { 3, 4, 5 };
	char *cause = NULL;

	g_assert_null(rules_compile("policy.deny", p, lines, 3, "f.yaml",
	    &cause));
	g_assert_nonnull(strstr(cause, "f.yaml:4: policy.deny rule 2 'a(b' "
	    "is not a valid extended regular expression: "));
	g_assert_nonnull(strstr(cause, "\nf.yaml:5: policy.deny rule 3 "
	    "'[z-a]'"));
	free(cause);
	/* Rules whose compiled form would take gigabytes (the C library
	 * copies what is repeated) are refused before regcomp sees them;
	 * ordinary ones compile. */
	{
		char *costly[] = { (char *)"a+++++++++++++++++++++++++++++++",
		    (char *)"((a{255}){255}){255}",
		    (char *)"(((((((((((((((((a)))))))))))))))))" };
		char *fine[] = { (char *)"echo [a-z, ]+",
		    (char *)"ls( -[a-z]+)?( /[a-z/]*)?", (char *)"a{1,2}",
		    (char *)"x[[:alpha:]]{3}|y(z|w)*", (char *)"[]a]+" };
		struct rules *rs;
		size_t i;

		for (i = 0; i < 3; i++) {
			g_assert_null(rules_compile("policy.allow", &costly[i],
			    NULL, 1, NULL, &cause));
			g_assert_nonnull(strstr(cause, "it repeats") != NULL ?
			    cause : strstr(cause, "nest too deep"));
			free(cause);
			cause = NULL;
		}
		g_assert_nonnull(rs = rules_compile("policy.allow", fine,
		    NULL, 5, NULL, &cause));
		rules_free(rs);
	}
}

static void
test_limits(void)
{
	struct options o;
	struct limits asked, got;
	char *s;

	memset(&o, 0, sizeof o);
	memset(&asked, 0, sizeof asked);
	o.limit_default.max_open_files = 64;
	o.limit_ceiling.memory_bytes = 256 << 20;
	o.limit_ceiling.max_output_bytes = 1000;
	asked.memory_bytes = 1ULL << 40;
	asked.cpu_seconds = 5;
	limits_effective(&o, &asked, "t1", &got);
	g_assert_cmpuint(got.memory_bytes, ==, 256 << 20);	/* lowered */
	g_assert_cmpuint(got.cpu_seconds, ==, 5);		/* as asked */
	g_assert_cmpuint(got.max_open_files, ==, 64);		/* default */
	g_assert_cmpuint(got.max_output_bytes, ==, 1000);	/* ceiling */
	g_assert_cmpuint(got.max_processes, ==, 0);		/* none */
	s = limits_describe_value(0, 64 << 20);
	g_assert_cmpstr(s, ==, "64 MiB");
	free(s);
	s = limits_describe_value(5, 1048576);
	g_assert_cmpstr(s, ==, "1048576 bytes");
	free(s);
}

/* With command rules, variables that change what the shell runs are
 * refused unless policy.allow_env names them; without rules, anything. */
static void
test_environment(void)
{
	char *env[] = { (char *)"HOME=/root", (char *)"BASH_ENV=/tmp/x",
	    (char *)"LD_PRELOAD=/tmp/y.so" };
	char *fn[] = { (char *)"BASH_FUNC_echo%%=() { id; }" };
	char *safe[] = { (char *)"BASH_ENVIRONMENT=1", (char *)"LDX=1",
	    (char *)"ENVY=1" };
	struct options o;
	char *why = NULL;

	memset(&o, 0, sizeof o);
	g_assert_cmpint(policy_check_env(&o, env, 3, NULL, 0, &why), ==, 0);
	o.policy_allow = compile("policy.allow", "echo [a-z]+", NULL);
	g_assert_cmpint(policy_check_env(&o, env, 3, NULL, 0, &why), ==, -1);
	g_assert_cmpstr(why, ==, "environment variable BASH_ENV refused by "
	    "policy: it changes what the shell runs (a policy.allow_env rule "
	    "may allow it)");
	free(why);
	g_assert_cmpint(policy_check_env(&o, NULL, 0, fn, 1, &why), ==, -1);
	g_assert_nonnull(strstr(why, "BASH_FUNC_echo%%"));
	free(why);
	g_assert_cmpint(policy_check_env(&o, safe, 3, NULL, 0, &why), ==, 0);
	o.policy_allow_env = compile("policy.allow_env", "BASH_ENV",
	    "LD_[A-Z]+");
	g_assert_cmpint(policy_check_env(&o, env, 3, NULL, 0, &why), ==, 0);
	rules_free(o.policy_allow);
	rules_free(o.policy_allow_env);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_set_level(LOG_ERROR);
	g_test_add_func("/policy/deny-and-allow", test_deny_and_allow);
	g_test_add_func("/policy/images", test_images);
	g_test_add_func("/policy/bad-rules", test_bad_rules);
	g_test_add_func("/limits/effective", test_limits);
	g_test_add_func("/policy/environment", test_environment);
	return g_test_run();
}
