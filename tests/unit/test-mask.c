/*
 * test-mask.c: secret masking.  Whatever the read sizes, the masked stream
 * equals the one-shot reference (longest secret first, left to right), no
 * secret value ever leaves whole or in part through a split, and only
 * bytes that could begin a secret are held back.
 */

#include "config.h"

#include <string.h>

#include <glib.h>

#include "agent.h"

/* The reference: at each position the longest secret that matches. */
static char *
reference(char *const *secrets, size_t n, const char *s, size_t len)
{
	GString *out = g_string_new(NULL);
	size_t i = 0, k, best, sl;

	while (i < len) {
		best = 0;
		for (k = 0; k < n; k++) {
			sl = strlen(secrets[k]);
			if (sl >= MASK_MIN_LEN && sl <= len - i && sl > best &&
			    memcmp(s + i, secrets[k], sl) == 0)
				best = sl;
		}
		if (best != 0) {
			g_string_append(out, "***");
			i += best;
		} else
			g_string_append_c(out, s[i++]);
	}
	return g_string_free(out, FALSE);
}

/* Masks S fed in pieces cut at CUTS (ascending), then the end. */
static char *
masked(char *const *secrets, size_t n, const char *s, size_t len,
    const size_t *cuts, size_t ncuts)
{
	struct mask m;
	struct buf out;
	size_t at = 0, i;
	char *r;

	mask_init(&m, secrets, n);
	buf_init(&out);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		mask_push(&m, s + at, to - at, &out);
		at = to;
	}
	mask_flush(&m, &out);
	g_assert_cmpuint(mask_held(&m), ==, 0);
	mask_free(&m);
	r = g_strndup(out.data != NULL ? out.data : "", out.len);
	buf_free(&out);
	return r;
}

static void
test_whole(void)
{
	char *secrets[] = { (char *)"hunter2-secret" };
	char *r;

	r = masked(secrets, 1, "token=hunter2-secret;", 21, NULL, 0);
	g_assert_cmpstr(r, ==, "token=***;");
	g_free(r);
	r = masked(secrets, 1, "nothing here", 12, NULL, 0);
	g_assert_cmpstr(r, ==, "nothing here");
	g_free(r);
}

/* Two pieces, cut at every position: never a piece of the value out. */
static void
test_every_split(void)
{
	char *secrets[] = { (char *)"hunter2-secret" };
	const char *s = "a hunter2-secret b hunter2-secre";
	size_t len = strlen(s), cut;
	char *r;

	for (cut = 0; cut <= len; cut++) {
		r = masked(secrets, 1, s, len, &cut, 1);
		g_assert_cmpstr(r, ==, "a *** b hunter2-secre");
		g_free(r);
	}
}

/* Only what could begin a secret is held; the rest goes on at once. */
static void
test_holds_only_a_prefix(void)
{
	char *secrets[] = { (char *)"password" };
	struct mask m;
	struct buf out;

	mask_init(&m, secrets, 1);
	buf_init(&out);
	mask_push(&m, "abc pass", 8, &out);
	g_assert_cmpuint(out.len, ==, 4);
	g_assert_cmpuint(mask_held(&m), ==, 4);
	mask_push(&m, "w", 1, &out);
	g_assert_cmpuint(mask_held(&m), ==, 5);
	mask_push(&m, "x", 1, &out);	/* "passwx" is no secret */
	g_assert_cmpuint(mask_held(&m), ==, 0);
	g_assert_cmpuint(out.len, ==, 10);
	g_assert_cmpint(memcmp(out.data, "abc passwx", 10), ==, 0);
	/* "ppass": the second p may still begin one. */
	mask_push(&m, "ppass", 5, &out);
	g_assert_cmpuint(mask_held(&m), ==, 4);
	mask_push(&m, "word!", 5, &out);
	g_assert_cmpuint(mask_held(&m), ==, 0);
	g_assert_cmpint(memcmp(out.data + 10, "p***!", 5), ==, 0);
	buf_free(&out);
	mask_free(&m);
}

static void
test_byte_at_a_time(void)
{
	char *secrets[] = { (char *)"s3cr3t!!" };
	const char *s = "x s3cr3t!! y s3cr3t s3cr3t!!";
	size_t len = strlen(s), cuts[64], i;
	char *r;

	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	r = masked(secrets, 1, s, len, cuts, len - 1);
	g_assert_cmpstr(r, ==, "x *** y s3cr3t ***");
	g_free(r);
}

static void
test_overlapping(void)
{
	char *secrets[] = { (char *)"abcd1234", (char *)"abcd12345678",
	    (char *)"34567" };
	const char *s = "abcd12345678 abcd1234 abcd12 1234567";
	size_t len = strlen(s), cut;
	char *r, *want;

	want = reference(secrets, 3, s, len);
	g_assert_cmpstr(want, ==, "*** *** abcd12 12***");
	for (cut = 0; cut <= len; cut++) {
		r = masked(secrets, 3, s, len, &cut, 1);
		g_assert_cmpstr(r, ==, want);
		g_free(r);
	}
	g_free(want);
}

static void
test_utf8_and_short(void)
{
	char *secrets[] = { (char *)"ключ", (char *)"abc" };
	const char *s = "é ключ é abc";
	char *r;

	r = masked(secrets, 2, s, strlen(s), NULL, 0);
	/* "abc" is shorter than MASK_MIN_LEN: not masked. */
	g_assert_cmpstr(r, ==, "é *** é abc");
	g_free(r);
}

/* Random texts of secret pieces, random cuts: always the reference. */
static void
test_random(void)
{
	char *secrets[] = { (char *)"aab!", (char *)"aab!aab", (char *)"b!a?",
	    (char *)"zzzzzzzz" };
	const char alphabet[] = "ab!?z";
	char s[200], *r, *want;
	size_t cuts[20], ncuts, len, i, k;
	int round;

	for (round = 0; round < 2000; round++) {
		len = (size_t)g_test_rand_int_range(0, (int)sizeof s);
		for (i = 0; i < len; i++)
			s[i] = alphabet[g_test_rand_int_range(0, 5)];
		ncuts = (size_t)g_test_rand_int_range(0, 20);
		for (i = 0; i < ncuts; i++)
			cuts[i] = len == 0 ? 0 :
			    (size_t)g_test_rand_int_range(0, (int)len + 1);
		/* ascending */
		for (i = 1; i < ncuts; i++)
			for (k = i; k > 0 && cuts[k - 1] > cuts[k]; k--) {
				size_t t = cuts[k];

				cuts[k] = cuts[k - 1];
				cuts[k - 1] = t;
			}
		want = reference(secrets, 4, s, len);
		r = masked(secrets, 4, s, len, cuts, ncuts);
		g_assert_cmpstr(r, ==, want);
		g_free(r);
		g_free(want);
	}
}

static void
test_in_a_string(void)
{
	char *entries[] = { (char *)"TOKEN=hunter2-secret", (char *)"X=ab" };
	char *r;

	r = mask_entries_in(entries, 2, "echo hunter2-secret ab");
	g_assert_cmpstr(r, ==, "echo *** ab");
	free(r);
}

/* A value with line feeds, as a terminal prints it (\r\n), and as it is. */
static void
test_terminal_line_ends(void)
{
	char *secrets[] = { (char *)"first-line\nsecond-line" };
	char *r;

	r = masked(secrets, 1, "<first-line\r\nsecond-line>", 26, NULL, 0);
	g_assert_cmpstr(r, ==, "<***>");
	g_free(r);
	r = masked(secrets, 1, "<first-line\nsecond-line>", 25, NULL, 0);
	g_assert_cmpstr(r, ==, "<***>");
	g_free(r);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mask/whole", test_whole);
	g_test_add_func("/mask/every-split", test_every_split);
	g_test_add_func("/mask/holds-only-a-prefix", test_holds_only_a_prefix);
	g_test_add_func("/mask/byte-at-a-time", test_byte_at_a_time);
	g_test_add_func("/mask/overlapping", test_overlapping);
	g_test_add_func("/mask/utf8-and-short", test_utf8_and_short);
	g_test_add_func("/mask/random-splits", test_random);
	g_test_add_func("/mask/in-a-string", test_in_a_string);
	g_test_add_func("/mask/terminal-line-ends", test_terminal_line_ends);
	return g_test_run();
}
