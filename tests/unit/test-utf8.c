/*
 * test-utf8.c: UTF-8 repair replaces each maximal invalid subsequence with
 * one U+FFFD, passes valid text unchanged, and never consumes a character
 * that the end of the input cut off unless told the input is final.
 */

#include "config.h"

#include <string.h>

#include <glib.h>

#include "agent.h"

#define FFFD "\xef\xbf\xbd"

static char *
repair(const char *in, size_t len, int final, size_t *used)
{
	struct buf out;
	char *s;

	buf_init(&out);
	*used = utf8_repair(in, len, &out, final);
	buf_append(&out, "", 1);
	s = g_strdup(out.data);
	buf_free(&out);
	return s;
}

static void
check(const char *in, size_t len, const char *want)
{
	size_t used;
	char *got;

	got = repair(in, len, 1, &used);
	g_assert_cmpstr(got, ==, want);
	g_assert_cmpuint(used, ==, len);
	g_assert_true(g_utf8_validate(got, -1, NULL));
	g_free(got);
}

static void
test_valid_passes(void)
{
	check("", 0, "");
	check("hello\n", 6, "hello\n");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", 14,
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e");
	/* The largest code point and the edges around surrogates. */
	check("\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80", 10,
	    "\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80");
}

static void
test_nul_bytes_pass(void)
{
	struct buf out;

	buf_init(&out);
	g_assert_cmpuint(utf8_repair("a\0b", 3, &out, 1), ==, 3);
	g_assert_cmpuint(out.len, ==, 3);
	g_assert_cmpmem(out.data, out.len, "a\0b", 3);
	buf_free(&out);
}

static void
test_invalid_replaced(void)
{
	check("a\xff" "b", 3, "a" FFFD "b");
	check("\x80\x80", 2, FFFD FFFD);			/* lone continuations */
	check("\xc0\xaf", 2, FFFD FFFD);			/* overlong */
	check("\xe0\x80\xaf", 3, FFFD FFFD FFFD);		/* overlong, 3 bytes */
	check("\xed\xa0\x80", 3, FFFD FFFD FFFD);		/* a surrogate */
	check("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);	/* above U+10FFFF */
	check("\xf5\x80", 2, FFFD FFFD);
	/* A truncated sequence is one maximal subpart: one U+FFFD. */
	check("\xe2\x82" "x", 3, FFFD "x");
	check("\xf0\x9d\x84" "x", 4, FFFD "x");
	check("\xe2\x82\n", 3, FFFD "\n");
}

static void
test_cut_character_waits(void)
{
	size_t used;
	char *got;

	/* Not final: the cut character is left for the next piece. */
	got = repair("ab\xf0\x9d\x84", 5, 0, &used);
	g_assert_cmpstr(got, ==, "ab");
	g_assert_cmpuint(used, ==, 2);
	g_free(got);
	/* Final: it becomes U+FFFD. */
	got = repair("ab\xf0\x9d\x84", 5, 1, &used);
	g_assert_cmpstr(got, ==, "ab" FFFD);
	g_assert_cmpuint(used, ==, 5);
	g_free(got);
	/* An invalid byte at the end is not "cut": it is replaced at once. */
	got = repair("ab\xff", 3, 0, &used);
	g_assert_cmpstr(got, ==, "ab" FFFD);
	g_assert_cmpuint(used, ==, 3);
	g_free(got);
}

/* g_utf8_validate_len() refuses NUL bytes, which are valid UTF-8. */
static gboolean
valid_with_nuls(const char *s, size_t len)
{
	char *copy = g_memdup2(s, len);
	gboolean ok;
	size_t i;

	for (i = 0; i < len; i++)
		if (copy[i] == '\0')
			copy[i] = ' ';
	ok = g_utf8_validate_len(copy, len, NULL);
	g_free(copy);
	return ok;
}

/* Every two bytes followed by a continuation byte give valid UTF-8. */
static void
test_exhaustive_short(void)
{
	unsigned char in[3];
	struct buf out;
	unsigned a, b;

	buf_init(&out);
	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (unsigned char)a;
			in[1] = (unsigned char)b;
			in[2] = 0x80;
			buf_clear(&out);
			g_assert_cmpuint(utf8_repair(in, 3, &out, 1), ==, 3);
			g_assert_true(valid_with_nuls(out.data, out.len));
		}
	}
	buf_free(&out);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/utf8/valid-passes", test_valid_passes);
	g_test_add_func("/utf8/nul-bytes-pass", test_nul_bytes_pass);
	g_test_add_func("/utf8/invalid-replaced", test_invalid_replaced);
	g_test_add_func("/utf8/cut-character-waits", test_cut_character_waits);
	g_test_add_func("/utf8/exhaustive-short", test_exhaustive_short);
	return g_test_run();
}
