/*
 * test-spool.c: the outbound spool keeps order; a sent message moves to
 * the window, which is bounded; rewinding puts the window back in front,
 * in order, ahead of what was never sent.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "agent.h"

static struct msg *
tagged(unsigned char tag, size_t len)
{
	struct msg *m = msg_new(len);

	memset(m->data, tag, len);
	return m;
}

static GString *
drain_tags(struct spool *s)
{
	GString *tags = g_string_new(NULL);
	struct msg *m;

	while ((m = spool_peek(s)) != NULL) {
		g_string_append_c(tags, (char)m->data[0]);
		spool_ack(s);
	}
	return tags;
}

static void
test_order_and_accounting(void)
{
	struct spool s;
	GString *tags;

	spool_init(&s, 1 << 20, 100);
	spool_push(&s, tagged('a', 10));
	spool_push(&s, tagged('b', 20));
	g_assert_cmpuint(spool_count(&s), ==, 2);
	g_assert_cmpuint(spool_bytes(&s), ==, 30 + 2 * sizeof(struct msg));
	tags = drain_tags(&s);
	g_assert_cmpstr(tags->str, ==, "ab");
	g_assert_cmpuint(spool_bytes(&s), ==, 0);
	g_string_free(tags, TRUE);
	spool_free(&s);
}

static void
test_rewind_puts_window_first(void)
{
	struct spool s;
	GString *tags;

	spool_init(&s, 1 << 20, 100);
	spool_push(&s, tagged('a', 1));
	spool_push(&s, tagged('b', 1));
	spool_push(&s, tagged('c', 1));
	spool_ack(&s);			/* a sent */
	spool_ack(&s);			/* b sent */
	spool_push(&s, tagged('d', 1));
	g_assert_cmpuint(spool_rewind(&s), ==, 2);
	g_assert_cmpuint(spool_count(&s), ==, 4);
	tags = drain_tags(&s);
	g_assert_cmpstr(tags->str, ==, "abcd");
	g_string_free(tags, TRUE);
	/* Everything is in the window now; a second rewind sends it again. */
	g_assert_cmpuint(spool_rewind(&s), ==, 4);
	spool_free(&s);
}

static void
test_rewind_with_empty_spool(void)
{
	struct spool s;

	spool_init(&s, 1 << 20, 100);
	g_assert_cmpuint(spool_rewind(&s), ==, 0);
	spool_push(&s, tagged('a', 1));
	spool_ack(&s);
	g_assert_null(spool_peek(&s));
	g_assert_cmpuint(spool_rewind(&s), ==, 1);
	g_assert_nonnull(spool_peek(&s));
	/* The tail is right: a push lands after the rewound message. */
	spool_push(&s, tagged('b', 1));
	spool_ack(&s);
	g_assert_cmpint(spool_peek(&s)->data[0], ==, 'b');
	spool_free(&s);
}

static void
test_window_is_bounded(void)
{
	struct spool s;
	GString *tags;
	int i;

	/* By count. */
	spool_init(&s, 1 << 20, 3);
	for (i = 0; i < 10; i++) {
		spool_push(&s, tagged((unsigned char)('a' + i), 1));
		spool_ack(&s);
	}
	g_assert_cmpuint(spool_rewind(&s), ==, 3);
	tags = drain_tags(&s);
	g_assert_cmpstr(tags->str, ==, "hij");
	g_string_free(tags, TRUE);
	spool_free(&s);

	/* By bytes. */
	spool_init(&s, 2 * (sizeof(struct msg) + 100), 1000);
	for (i = 0; i < 5; i++) {
		spool_push(&s, tagged((unsigned char)('a' + i), 100));
		spool_ack(&s);
	}
	g_assert_cmpuint(spool_rewind(&s), ==, 2);
	spool_free(&s);
}

/* An acking server: the window holds what is not acknowledged, however
 * much, and a rewind sends only that again. */
static void
test_acks(void)
{
	struct tstream *ts = tstream_new("acks", 0);
	struct spool s;
	struct msg *m;
	GString *tags;
	int i;

	spool_init(&s, 1000000, 2);	/* a window of two, without acks */
	spool_set_acking(&s, 1);
	for (i = 0; i < 5; i++) {
		m = tagged((unsigned char)('a' + i), 1);
		m->ts = tstream_ref(ts);
		m->seq = (uint64_t)i + 1;
		spool_push(&s, m);
		spool_ack(&s);		/* sent */
	}
	g_assert_cmpuint(s.win_count, ==, 5);	/* none acknowledged */
	g_assert_cmpuint(spool_bytes(&s), >, 0);	/* counted as held */
	tstream_ack(ts, 2);
	g_assert_cmpuint(spool_trim(&s), ==, 2);
	g_assert_cmpuint(s.win_count, ==, 3);
	tstream_ack(ts, 3);
	g_assert_cmpuint(spool_rewind(&s), ==, 2);
	g_assert_false(s.acking);	/* the next stream must ack anew */
	tags = drain_tags(&s);
	g_assert_cmpstr(tags->str, ==, "de");
	g_string_free(tags, TRUE);
	spool_free(&s);
	tstream_unref(ts);
}

/* A Pong goes ahead of everything waiting, but never ahead of the
 * message being sent; a message of the other protocol is dropped unsent;
 * a window of 0 keeps nothing once sent. */
static void
test_first_drop_and_no_window(void)
{
	struct spool s;
	GString *tags;

	spool_init(&s, 1 << 20, 100);
	spool_push_first(&s, tagged('x', 1), 1);	/* empty: first */
	spool_push(&s, tagged('a', 1));
	spool_push(&s, tagged('b', 1));
	spool_push_first(&s, tagged('p', 1), 1);	/* x is being sent */
	spool_push_first(&s, tagged('q', 1), 0);
	g_assert_cmpuint(spool_count(&s), ==, 5);
	spool_drop_first(&s);				/* q, never sent */
	g_assert_cmpuint(spool_count(&s), ==, 4);
	spool_set_window(&s, 0);
	tags = drain_tags(&s);
	g_assert_cmpstr(tags->str, ==, "xpab");
	g_assert_cmpuint(spool_rewind(&s), ==, 0);	/* nothing again */
	g_assert_cmpuint(spool_bytes(&s), ==, 0);
	g_string_free(tags, TRUE);
	spool_free(&s);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/spool/order-and-accounting",
	    test_order_and_accounting);
	g_test_add_func("/spool/rewind-puts-window-first",
	    test_rewind_puts_window_first);
	g_test_add_func("/spool/rewind-with-empty-spool",
	    test_rewind_with_empty_spool);
	g_test_add_func("/spool/window-is-bounded", test_window_is_bounded);
	g_test_add_func("/spool/acks", test_acks);
	g_test_add_func("/spool/first-drop-and-no-window",
	    test_first_drop_and_no_window);
	return g_test_run();
}
