/*
 * test-rbtree.c: the agent's own red-black tree (compat/rbtree.c) behind
 * its own RB_* macros (compat/tree-own.h), and its own list macros
 * (compat/queue-own.h), tested whichever the build uses: random
 * insertions and removals against a plain array, with the tree's
 * invariants checked after each (a black root, no red node with a red
 * child, the same number of black nodes on every path, in order).
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "compat/tree-own.h"
#include "compat/queue-own.h"

struct item {
	RB_ENTRY(item) node;
	int key;
	TAILQ_ENTRY(item) q;
	LIST_ENTRY(item) l;
};
RB_HEAD(item_tree, item);

static int
item_cmp(struct item *a, struct item *b)
{
	return a->key < b->key ? -1 : a->key > b->key;
}

RB_PROTOTYPE(item_tree, item, node, item_cmp)
RB_GENERATE(item_tree, item, node, item_cmp)

/* The black height beneath N, or -1 if an invariant is broken there. */
static int
black_height(const struct compat_rb_node *n, const struct compat_rb_node *p)
{
	int l, r;

	if (n == NULL)
		return 1;
	if (n->parent != p || (n->red && ((n->left != NULL && n->left->red) ||
	    (n->right != NULL && n->right->red))))
		return -1;
	l = black_height(n->left, n);
	r = black_height(n->right, n);
	if (l < 0 || r < 0 || l != r)
		return -1;
	return l + !n->red;
}

static void
check(struct item_tree *t, const int *present, int range)
{
	struct item *it;
	int k = -1, n = 0, want = 0;

	g_assert_true(t->rbh_root == NULL || !t->rbh_root->red);
	g_assert_cmpint(black_height(t->rbh_root, NULL), >, 0);
	RB_FOREACH(it, item_tree, t) {
		g_assert_cmpint(it->key, >, k);
		g_assert_true(present[it->key]);
		k = it->key;
		n++;
	}
	for (k = 0; k < range; k++)
		want += present[k];
	g_assert_cmpint(n, ==, want);
}

static void
test_random(void)
{
	enum { RANGE = 500, OPS = 20000 };
	struct item_tree t = RB_INITIALIZER(&t);
	struct item *items, key, *it, *next;
	int present[RANGE] = { 0 }, i, k;

	items = g_new0(struct item, RANGE);
	for (i = 0; i < RANGE; i++)
		items[i].key = i;
	for (i = 0; i < OPS; i++) {
		k = g_test_rand_int_range(0, RANGE);
		key.key = k;
		if (g_test_rand_bit()) {
			it = RB_INSERT(item_tree, &t, &items[k]);
			g_assert_true(present[k] ? it == &items[k] : it == NULL);
			present[k] = 1;
		} else if (present[k]) {
			g_assert_true(RB_FIND(item_tree, &t, &key) == &items[k]);
			RB_REMOVE(item_tree, &t, &items[k]);
			present[k] = 0;
		} else
			g_assert_null(RB_FIND(item_tree, &t, &key));
		if (i % 97 == 0)
			check(&t, present, RANGE);
	}
	check(&t, present, RANGE);
	/* Removing while walking, as the agent's clean-ups do. */
	RB_FOREACH_SAFE(it, item_tree, &t, next)
		RB_REMOVE(item_tree, &t, it);
	g_assert_null(t.rbh_root);
	g_free(items);
}

/* Ascending and descending insertions: the worst cases of a plain tree. */
static void
test_sorted(void)
{
	enum { N = 4096 };
	struct item_tree t;
	struct item *items;
	int present[N], i;

	RB_INIT(&t);
	items = g_new0(struct item, N);
	for (i = 0; i < N; i++) {
		items[i].key = i;
		present[i] = 1;
		RB_INSERT(item_tree, &t, &items[i]);
	}
	check(&t, present, N);
	/* A red-black tree of N nodes is at most 2 log2(N + 1) deep. */
	g_assert_cmpint(black_height(t.rbh_root, NULL), <=, 14);
	for (i = N - 1; i >= 0; i -= 2) {
		RB_REMOVE(item_tree, &t, &items[i]);
		present[i] = 0;
	}
	check(&t, present, N);
	g_free(items);
}

static void
test_lists(void)
{
	TAILQ_HEAD(, item) q = TAILQ_HEAD_INITIALIZER(q);
	LIST_HEAD(, item) l = LIST_HEAD_INITIALIZER(l);
	struct item a = { .key = 1 }, b = { .key = 2 }, c = { .key = 3 };
	struct item *it, *next;
	int sum = 0;

	TAILQ_INSERT_TAIL(&q, &b, q);
	TAILQ_INSERT_TAIL(&q, &c, q);
	TAILQ_INSERT_HEAD(&q, &a, q);
	TAILQ_REMOVE(&q, &c, q);
	TAILQ_INSERT_TAIL(&q, &c, q);
	TAILQ_FOREACH(it, &q, q)
		sum = sum * 10 + it->key;
	g_assert_cmpint(sum, ==, 123);
	LIST_INSERT_HEAD(&l, &a, l);
	LIST_INSERT_HEAD(&l, &b, l);
	LIST_INSERT_HEAD(&l, &c, l);
	LIST_REMOVE(&b, l);
	sum = 0;
	LIST_FOREACH_SAFE(it, &l, l, next) {
		sum = sum * 10 + it->key;
		LIST_REMOVE(it, l);
	}
	g_assert_cmpint(sum, ==, 31);
	g_assert_true(LIST_EMPTY(&l));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rbtree/random", test_random);
	g_test_add_func("/rbtree/sorted", test_sorted);
	g_test_add_func("/queue/lists", test_lists);
	return g_test_run();
}
