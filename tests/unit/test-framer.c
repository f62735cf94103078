/*
 * test-framer.c: output framing.  Chunks are whole lines, at most one piece
 * per overlong line, never a split character; whatever the read sizes, the
 * chunks put together equal the input (modulo U+FFFD for invalid bytes).
 */

#include "config.h"

#include <string.h>

#include <glib.h>

#include "agent.h"

struct chunks {
	GPtrArray *list;
	GString *all;
};

static void
collect(void *arg, const char *text, size_t len)
{
	struct chunks *c = arg;

	g_ptr_array_add(c->list, g_strndup(text, len));
	g_string_append_len(c->all, text, (gssize)len);
}

static void
chunks_init(struct chunks *c)
{
	c->list = g_ptr_array_new_with_free_func(g_free);
	c->all = g_string_new(NULL);
}

static void
chunks_free(struct chunks *c)
{
	g_ptr_array_unref(c->list);
	g_string_free(c->all, TRUE);
}

#define CHUNK(c, i) ((const char *)g_ptr_array_index((c)->list, (i)))

static void
test_whole_lines(void)
{
	struct framer f;
	struct chunks c;

	chunks_init(&c);
	framer_init(&f, 1024);
	framer_push(&f, "one\ntw", 6, collect, &c);
	g_assert_cmpuint(c.list->len, ==, 1);
	g_assert_cmpstr(CHUNK(&c, 0), ==, "one\n");
	g_assert_cmpuint(framer_pending(&f), ==, 2);
	framer_push(&f, "o\nthree\nfo", 10, collect, &c);
	g_assert_cmpuint(c.list->len, ==, 2);
	g_assert_cmpstr(CHUNK(&c, 1), ==, "two\nthree\n");
	framer_flush(&f, 1, collect, &c);
	g_assert_cmpstr(CHUNK(&c, 2), ==, "fo");
	g_assert_cmpuint(framer_pending(&f), ==, 0);
	framer_free(&f);
	chunks_free(&c);
}

static void
test_partial_flush_keeps_cut_character(void)
{
	struct framer f;
	struct chunks c;

	chunks_init(&c);
	framer_init(&f, 1024);
	framer_push(&f, "prompt \xe2\x82", 9, collect, &c);
	g_assert_cmpuint(c.list->len, ==, 0);
	framer_flush(&f, 0, collect, &c);
	g_assert_cmpuint(c.list->len, ==, 1);
	g_assert_cmpstr(CHUNK(&c, 0), ==, "prompt ");
	g_assert_cmpuint(framer_pending(&f), ==, 2);
	framer_push(&f, "\xac\n", 2, collect, &c);
	g_assert_cmpstr(CHUNK(&c, 1), ==, "\xe2\x82\xac\n");
	framer_free(&f);
	chunks_free(&c);
}

static void
test_long_line_in_pieces(void)
{
	struct framer f;
	struct chunks c;
	char *line;
	guint i;

	chunks_init(&c);
	framer_init(&f, 100);
	line = g_strnfill(350, 'x');
	framer_push(&f, line, 350, collect, &c);
	g_assert_cmpuint(c.list->len, ==, 3);
	for (i = 0; i < 3; i++)
		g_assert_cmpuint(strlen(CHUNK(&c, i)), ==, 100);
	g_assert_cmpuint(framer_pending(&f), ==, 50);
	framer_push(&f, "\n", 1, collect, &c);
	g_assert_cmpuint(strlen(CHUNK(&c, 3)), ==, 51);
	g_free(line);
	framer_free(&f);
	chunks_free(&c);
}

static void
test_piece_never_splits_character(void)
{
	struct framer f;
	struct chunks c;
	GString *in;
	guint i;

	chunks_init(&c);
	framer_init(&f, 10);
	in = g_string_new(NULL);
	for (i = 0; i < 40; i++)
		g_string_append(in, "\xe2\x82\xac");	/* 3 bytes each */
	framer_push(&f, in->str, in->len, collect, &c);
	framer_flush(&f, 1, collect, &c);
	for (i = 0; i < c.list->len; i++) {
		g_assert_true(g_utf8_validate(CHUNK(&c, i), -1, NULL));
		g_assert_cmpuint(strlen(CHUNK(&c, i)), <=, 10);
	}
	g_assert_cmpstr(c.all->str, ==, in->str);
	g_string_free(in, TRUE);
	framer_free(&f);
	chunks_free(&c);
}

static void
test_eof_replaces_cut_character(void)
{
	struct framer f;
	struct chunks c;

	chunks_init(&c);
	framer_init(&f, 1024);
	framer_push(&f, "end\xf0\x9d", 5, collect, &c);
	framer_flush(&f, 1, collect, &c);
	g_assert_cmpstr(c.all->str, ==, "end\xef\xbf\xbd");
	framer_free(&f);
	chunks_free(&c);
}

/*
 * Random text, valid UTF-8 with newlines, fed in random read sizes: the
 * output equals the input and every chunk but the last ends a line or is
 * a full piece.
 */
static void
test_random_read_sizes(void)
{
	static const char *const alphabet[] = {
		"a", "b", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
	};
	struct framer f;
	struct chunks c;
	GString *in;
	GRand *rnd;
	gsize off, n;
	guint i, round;

	rnd = g_rand_new_with_seed(42);
	for (round = 0; round < 50; round++) {
		in = g_string_new(NULL);
		for (i = 0; i < 5000; i++)
			g_string_append(in, alphabet[g_rand_int_range(rnd, 0,
			    G_N_ELEMENTS(alphabet))]);
		chunks_init(&c);
		framer_init(&f, (size_t)g_rand_int_range(rnd, 4, 200));
		for (off = 0; off < in->len; off += n) {
			n = (gsize)g_rand_int_range(rnd, 1, 300);
			if (n > in->len - off)
				n = in->len - off;
			framer_push(&f, in->str + off, n, collect, &c);
		}
		framer_flush(&f, 1, collect, &c);
		g_assert_cmpstr(c.all->str, ==, in->str);
		for (i = 0; i < c.list->len; i++) {
			const char *s = CHUNK(&c, i);
			size_t len = strlen(s);

			g_assert_true(g_utf8_validate(s, -1, NULL));
			g_assert_cmpuint(len, <=, f.max_piece);
			if (i + 1 < c.list->len && s[len - 1] != '\n')
				g_assert_cmpuint(len, >, f.max_piece - 4);
		}
		framer_free(&f);
		chunks_free(&c);
		g_string_free(in, TRUE);
	}
	g_rand_free(rnd);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/framer/whole-lines", test_whole_lines);
	g_test_add_func("/framer/partial-flush-keeps-cut-character",
	    test_partial_flush_keeps_cut_character);
	g_test_add_func("/framer/long-line-in-pieces", test_long_line_in_pieces);
	g_test_add_func("/framer/piece-never-splits-character",
	    test_piece_never_splits_character);
	g_test_add_func("/framer/eof-replaces-cut-character",
	    test_eof_replaces_cut_character);
	g_test_add_func("/framer/random-read-sizes", test_random_read_sizes);
	return g_test_run();
}
