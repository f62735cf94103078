/*
 * policy.c: the command policy, lists of POSIX extended regular expressions
 * from the configuration file (policy.allow, policy.deny, policy.images).
 *
 * A deny rule refuses a command it matches anywhere, as `grep -E' would
 * find it.  An allow rule (and an image rule) must match the whole
 * command (the whole image reference): were "ls" enough to match
 * "ls; rm -rf /", an allow list would allow everything.  Deny wins; when
 * there are allow rules, a command must match one of them.
 *
 * This is a guard rail against mistakes, not a security boundary: a shell
 * command can hide what it runs in a thousand ways.  A sandbox image or a
 * user to run as is the boundary.  Still, with command rules the request's
 * environment must not change what an allowed command runs: BASH_ENV and
 * ENV name a file the shell runs first, SHELLOPTS, BASHOPTS and PS4 turn
 * on xtrace and its command substitutions, BASH_FUNC_NAME%% redefines a
 * command, LD_* loads a library into every program.  A request setting
 * one (in env or secret_env) is refused unless policy.allow_env allows
 * that name.
 *
 * Rules are compiled once, when the settings are read; a rule that does
 * not compile is a configuration error naming its file and line.
 */

#include "config.h"

#include <sys/types.h>

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct rule {
	char *pattern;
	unsigned long line;	/* in the file, 0 if not from one */
	regex_t re;
};

struct rules {
	char *name;		/* the setting, as policy.deny */
	struct rule *v;
	size_t n;
};

void
rules_free(struct rules *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++) {
		regfree(&rs->v[i].re);
		free(rs->v[i].pattern);
	}
	free(rs->v);
	free(rs->name);
	free(rs);
}

/*
 * How big a pattern becomes once compiled, roughly: the C library's
 * regcomp() copies a repeated part once per repetition, so that "a{255}"
 * nested three deep, or a hundred "+" in a row, takes gigabytes and time
 * before it fails.  A rule is a few words and a class or two: one whose
 * estimate passes POLICY_RE_WEIGHT_MAX, whose groups nest deeper than
 * POLICY_RE_DEPTH_MAX, or that repeats a repetition (undefined in POSIX
 * EREs) is refused with a clear error instead.
 */
#define POLICY_RE_WEIGHT_MAX 100000
#define POLICY_RE_DEPTH_MAX 16
#define POLICY_RE_LEN_MAX 4096

struct re_scan {
	const char *p;
	int depth;
	const char *why;	/* set when refused */
};

static uint64_t policy_re_seq(struct re_scan *);

/* An interval's upper bound ({m}, {m,}, {m,n}), P after the '{'. */
static uint64_t
policy_re_interval(struct re_scan *s)
{
	uint64_t lo = 0, hi;
	int comma = 0;

	while (*s->p >= '0' && *s->p <= '9' && lo < 100000)
		lo = lo * 10 + (uint64_t)(*s->p++ - '0');
	hi = lo;
	if (*s->p == ',') {
		comma = 1;
		s->p++;
		if (*s->p >= '0' && *s->p <= '9')
			for (hi = 0; *s->p >= '0' && *s->p <= '9' &&
			    hi < 100000; s->p++)
				hi = hi * 10 + (uint64_t)(*s->p - '0');
	}
	if (*s->p == '}')
		s->p++;
	return comma && hi == lo ? lo + 1 : hi + 1;
}

/* One atom and its repetitions; its weight. */
static uint64_t
policy_re_piece(struct re_scan *s)
{
	uint64_t w = 1, times;
	int repeated = 0;

	switch (*s->p) {
	case '(':
		s->p++;
		if (++s->depth > POLICY_RE_DEPTH_MAX) {
			s->why = "its groups nest too deep";
			return 0;
		}
		w = policy_re_seq(s);
		s->depth--;
		if (*s->p == ')')
			s->p++;
		break;
	case '[':
		/* A bracket expression: "]" first is a member. */
		s->p++;
		if (*s->p == '^')
			s->p++;
		if (*s->p == ']')
			s->p++;
		while (*s->p != '\0' && *s->p != ']') {
			if (*s->p == '[' && (s->p[1] == ':' || s->p[1] == '.' ||
			    s->p[1] == '=')) {
				char end = s->p[1];

				for (s->p += 2; *s->p != '\0' && !(*s->p == end &&
				    s->p[1] == ']'); s->p++)
					;
				if (*s->p != '\0')
					s->p++;
			}
			if (*s->p != '\0')
				s->p++;
		}
		if (*s->p == ']')
			s->p++;
		break;
	case '\\':
		s->p += s->p[1] != '\0' ? 2 : 1;
		break;
	default:
		s->p++;
		break;
	}
	while (s->why == NULL && (*s->p == '*' || *s->p == '+' ||
	    *s->p == '?' || (*s->p == '{' && s->p[1] >= '0' &&
	    s->p[1] <= '9'))) {
		if (repeated++) {
			s->why = "it repeats a repetition";
			return 0;
		}
		times = *s->p == '{' ? (s->p++, policy_re_interval(s)) :
		    (s->p++, 2);
		w *= times;
		if (w > POLICY_RE_WEIGHT_MAX) {
			s->why = "it repeats too much";
			return 0;
		}
	}
	return w;
}

/* A sequence of pieces and alternatives, up to ')' or the end. */
static uint64_t
policy_re_seq(struct re_scan *s)
{
	uint64_t w = 0;

	while (s->why == NULL && *s->p != '\0' && *s->p != ')') {
		if (*s->p == '|') {
			s->p++;
			continue;
		}
		w += policy_re_piece(s);
		if (w > POLICY_RE_WEIGHT_MAX && s->why == NULL)
			s->why = "it repeats too much";
	}
	return w;
}

/* NULL if PATTERN may be compiled, else why not. */
static const char *
policy_re_too_costly(const char *pattern)
{
	struct re_scan s;

	if (strlen(pattern) > POLICY_RE_LEN_MAX)
		return "it is too long";
	memset(&s, 0, sizeof s);
	s.p = pattern;
	while (s.why == NULL && *s.p != '\0') {
		(void)policy_re_seq(&s);
		if (*s.p == ')')
			s.p++;		/* unbalanced: regcomp says so */
	}
	return s.why;
}

/*
 * Compiles the N patterns (with their LINES in FILE, or none) of the
 * setting NAME.  Returns the rules, or NULL with *cause set to one line
 * per pattern that does not compile.
 */
struct rules *
rules_compile(const char *name, char *const *patterns,
    const unsigned long *lines, size_t n, const char *file, char **cause)
{
	struct rules *rs;
	struct rule *r;
	struct buf errs;
	char msg[256], *shown, *line;
	const char *costly;
	size_t i;
	int rc = 0;

	rs = xcalloc(1, sizeof *rs);
	rs->name = xstrdup(name);
	rs->v = xcalloc(n + 1, sizeof *rs->v);
	buf_init(&errs);
	for (i = 0; i < n; i++) {
		r = &rs->v[rs->n];
		if ((costly = policy_re_too_costly(patterns[i])) != NULL)
			snprintf(msg, sizeof msg, "%s", costly);
		if (costly != NULL ||
		    (rc = regcomp(&r->re, patterns[i], REG_EXTENDED)) != 0) {
			if (costly == NULL)
				regerror(rc, &r->re, msg, sizeof msg);
			shown = vis_strdup(patterns[i], strlen(patterns[i]),
			    120);
			if (file != NULL && lines != NULL)
				xasprintf(&line, "%s:%lu: %s rule %zu '%s' is "
				    "not a valid extended regular expression: "
				    "%s", file, lines[i], name, i + 1, shown,
				    msg);
			else
				xasprintf(&line, "%s rule %zu '%s' is not a "
				    "valid extended regular expression: %s",
				    name, i + 1, shown, msg);
			if (errs.len != 0)
				buf_append(&errs, "\n", 1);
			buf_append(&errs, line, strlen(line));
			free(line);
			free(shown);
			continue;
		}
		r->pattern = xstrdup(patterns[i]);
		r->line = lines != NULL ? lines[i] : 0;
		rs->n++;
	}
	if (errs.len != 0) {
		buf_append(&errs, "", 1);
		*cause = errs.data;
		rules_free(rs);
		return NULL;
	}
	buf_free(&errs);
	return rs;
}

size_t
rules_count(const struct rules *rs)
{
	return rs != NULL ? rs->n : 0;
}

/* The patterns, comma-separated, for --check-config. */
char *
rules_describe(const struct rules *rs)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; rs != NULL && i < rs->n; i++) {
		if (i != 0)
			buf_append(&b, ", ", 2);
		buf_append(&b, rs->v[i].pattern, strlen(rs->v[i].pattern));
	}
	buf_append(&b, "", 1);
	return b.data;
}

/*
 * The first rule that matches S (anywhere in it, or, if WHOLE, all of
 * it), numbered from 1; 0 if none does.  POSIX matching is leftmost-
 * longest, so a whole match, if there is one, is the match found at 0.
 */
static size_t
rules_match(const struct rules *rs, const char *s, int whole)
{
	regmatch_t m;
	size_t i, len = strlen(s);

	for (i = 0; rs != NULL && i < rs->n; i++) {
		if (regexec(&rs->v[i].re, s, 1, &m, 0) != 0)
			continue;
		if (!whole || (m.rm_so == 0 && (size_t)m.rm_eo == len))
			return i + 1;
	}
	return 0;
}

static char *
policy_refusal(const char *what, const char *how, const struct rules *rs,
    size_t k)
{
	char *shown, *s;

	shown = vis_strdup(rs->v[k - 1].pattern,
	    strlen(rs->v[k - 1].pattern), 200);
	xasprintf(&s, "%s refused by policy: %s %s rule %zu ('%s')", what,
	    how, rs->name, k, shown);
	free(shown);
	return s;
}

/*
 * Whether the shell command CMD may run: 0, or -1 with *why set to the
 * one-line refusal for the task's FAILURE final.
 */
int
policy_check_command(const struct options *o, const char *cmd, char **why)
{
	size_t k;

	if ((k = rules_match(o->policy_deny, cmd, 0)) != 0) {
		*why = policy_refusal("command", "matches", o->policy_deny, k);
		return -1;
	}
	if (rules_count(o->policy_allow) != 0 &&
	    rules_match(o->policy_allow, cmd, 1) == 0) {
		xasprintf(why, "command refused by policy: matches no "
		    "policy.allow rule (%zu rules; each must match the whole "
		    "command)", rules_count(o->policy_allow));
		return -1;
	}
	return 0;
}

/* True if environment variable NAME (LEN bytes) can change what an
 * allowed command runs (see above). */
static int
policy_env_dangerous(const char *name, size_t len)
{
	static const char *const exact[] = { "BASH_ENV", "ENV", "SHELLOPTS",
	    "BASHOPTS", "PS4" };
	size_t i;

	for (i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (len == strlen(exact[i]) && memcmp(name, exact[i], len) == 0)
			return 1;
	return (len >= 9 && memcmp(name, "BASH_FUNC_", 9) == 0) ||
	    (len >= 3 && memcmp(name, "LD_", 3) == 0);
}

/*
 * Whether a request with environment entries ENV (N) and SECRET (M), each
 * "NAME=VALUE", may run when command rules are configured: 0, or -1 with
 * *why naming the variable.
 */
int
policy_check_env(const struct options *o, char *const *env, size_t n,
    char *const *secret, size_t m, char **why)
{
	char *const *lists[2] = { env, secret };
	size_t counts[2] = { n, m }, i, k, len;
	const char *eq;
	char *name, *shown;

	if (rules_count(o->policy_allow) == 0 &&
	    rules_count(o->policy_deny) == 0)
		return 0;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < counts[k]; i++) {
			eq = strchr(lists[k][i], '=');
			len = eq != NULL ? (size_t)(eq - lists[k][i]) :
			    strlen(lists[k][i]);
			if (!policy_env_dangerous(lists[k][i], len))
				continue;
			name = xstrndup(lists[k][i], len);
			if (rules_match(o->policy_allow_env, name, 1) != 0) {
				free(name);
				continue;
			}
			shown = vis_strdup(name, len, 100);
			xasprintf(why, "environment variable %s refused by "
			    "policy: it changes what the shell runs (a "
			    "policy.allow_env rule may allow it)", shown);
			free(shown);
			free(name);
			return -1;
		}
	}
	return 0;
}

/* The same for a Docker image reference IMAGE (policy.images). */
int
policy_check_image(const struct options *o, const char *image, char **why)
{
	char *shown;

	if (rules_count(o->policy_images) != 0 &&
	    rules_match(o->policy_images, image, 1) == 0) {
		shown = vis_strdup(image, strlen(image), 200);
		xasprintf(why, "image '%s' refused by policy: matches no "
		    "policy.images rule", shown);
		free(shown);
		return -1;
	}
	return 0;
}
