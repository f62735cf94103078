/*
 * compat/rbtree.c: a red-black tree of intrusive nodes, behind the RB_*
 * macros of compat/tree-own.h, for systems with neither <sys/tree.h> nor
 * libbsd (configure decides).  Written here from the textbook algorithm
 * (insertion and deletion with their colour fix-ups, parent pointers,
 * NULL leaves); tests/unit/test-rbtree.c checks its invariants against a
 * sorted array through random insertions and removals.
 */

#include "config.h"

#include <stddef.h>

#include "compat/rbtree.h"

static void
rb_rotate_left(struct compat_rb_node **root, struct compat_rb_node *x)
{
	struct compat_rb_node *y = x->right;

	x->right = y->left;
	if (y->left != NULL)
		y->left->parent = x;
	y->parent = x->parent;
	if (x->parent == NULL)
		*root = y;
	else if (x == x->parent->left)
		x->parent->left = y;
	else
		x->parent->right = y;
	y->left = x;
	x->parent = y;
}

static void
rb_rotate_right(struct compat_rb_node **root, struct compat_rb_node *x)
{
	struct compat_rb_node *y = x->left;

	x->left = y->right;
	if (y->right != NULL)
		y->right->parent = x;
	y->parent = x->parent;
	if (x->parent == NULL)
		*root = y;
	else if (x == x->parent->right)
		x->parent->right = y;
	else
		x->parent->left = y;
	y->right = x;
	x->parent = y;
}

static int
rb_red(const struct compat_rb_node *n)
{
	return n != NULL && n->red;
}

/* Z was inserted red: red parents with red children are repaired. */
static void
rb_insert_fixup(struct compat_rb_node **root, struct compat_rb_node *z)
{
	struct compat_rb_node *p, *g, *u;

	while ((p = z->parent) != NULL && p->red) {
		g = p->parent;
		if (p == g->left) {
			u = g->right;
			if (rb_red(u)) {
				p->red = u->red = 0;
				g->red = 1;
				z = g;
				continue;
			}
			if (z == p->right) {
				rb_rotate_left(root, p);
				z = p;
				p = z->parent;
			}
			p->red = 0;
			g->red = 1;
			rb_rotate_right(root, g);
		} else {
			u = g->left;
			if (rb_red(u)) {
				p->red = u->red = 0;
				g->red = 1;
				z = g;
				continue;
			}
			if (z == p->left) {
				rb_rotate_right(root, p);
				z = p;
				p = z->parent;
			}
			p->red = 0;
			g->red = 1;
			rb_rotate_left(root, g);
		}
	}
	(*root)->red = 0;
}

struct compat_rb_node *
compat_rb_insert(struct compat_rb_node **root, struct compat_rb_node *n,
    compat_rb_cmp cmp)
{
	struct compat_rb_node *parent = NULL, **link = root;
	int c;

	while (*link != NULL) {
		parent = *link;
		if ((c = cmp(n, parent)) < 0)
			link = &parent->left;
		else if (c > 0)
			link = &parent->right;
		else
			return parent;		/* there already */
	}
	n->left = n->right = NULL;
	n->parent = parent;
	n->red = 1;
	*link = n;
	rb_insert_fixup(root, n);
	return NULL;
}

/* V takes U's place beneath U's parent. */
static void
rb_transplant(struct compat_rb_node **root, struct compat_rb_node *u,
    struct compat_rb_node *v)
{
	if (u->parent == NULL)
		*root = v;
	else if (u == u->parent->left)
		u->parent->left = v;
	else
		u->parent->right = v;
	if (v != NULL)
		v->parent = u->parent;
}

/* A black node left X's side (X may be a NULL leaf beneath XP). */
static void
rb_remove_fixup(struct compat_rb_node **root, struct compat_rb_node *x,
    struct compat_rb_node *xp)
{
	struct compat_rb_node *w;

	while (x != *root && !rb_red(x)) {
		if (x == xp->left) {
			w = xp->right;
			if (rb_red(w)) {
				w->red = 0;
				xp->red = 1;
				rb_rotate_left(root, xp);
				w = xp->right;
			}
			if (!rb_red(w->left) && !rb_red(w->right)) {
				w->red = 1;
				x = xp;
				xp = x->parent;
				continue;
			}
			if (!rb_red(w->right)) {
				w->left->red = 0;
				w->red = 1;
				rb_rotate_right(root, w);
				w = xp->right;
			}
			w->red = xp->red;
			xp->red = 0;
			if (w->right != NULL)
				w->right->red = 0;
			rb_rotate_left(root, xp);
		} else {
			w = xp->left;
			if (rb_red(w)) {
				w->red = 0;
				xp->red = 1;
				rb_rotate_right(root, xp);
				w = xp->left;
			}
			if (!rb_red(w->left) && !rb_red(w->right)) {
				w->red = 1;
				x = xp;
				xp = x->parent;
				continue;
			}
			if (!rb_red(w->left)) {
				w->right->red = 0;
				w->red = 1;
				rb_rotate_left(root, w);
				w = xp->left;
			}
			w->red = xp->red;
			xp->red = 0;
			if (w->left != NULL)
				w->left->red = 0;
			rb_rotate_right(root, xp);
		}
		x = *root;
		break;
	}
	if (x != NULL)
		x->red = 0;
}

void
compat_rb_remove(struct compat_rb_node **root, struct compat_rb_node *z)
{
	struct compat_rb_node *y = z, *x, *xp;
	int y_red = y->red;

	if (z->left == NULL) {
		x = z->right;
		xp = z->parent;
		rb_transplant(root, z, z->right);
	} else if (z->right == NULL) {
		x = z->left;
		xp = z->parent;
		rb_transplant(root, z, z->left);
	} else {
		y = compat_rb_min(z->right);
		y_red = y->red;
		x = y->right;
		if (y->parent == z)
			xp = y;
		else {
			xp = y->parent;
			rb_transplant(root, y, y->right);
			y->right = z->right;
			y->right->parent = y;
		}
		rb_transplant(root, z, y);
		y->left = z->left;
		y->left->parent = y;
		y->red = z->red;
	}
	if (!y_red)
		rb_remove_fixup(root, x, xp);
}

struct compat_rb_node *
compat_rb_find(struct compat_rb_node *n, const struct compat_rb_node *key,
    compat_rb_cmp cmp)
{
	int c;

	while (n != NULL) {
		if ((c = cmp(key, n)) == 0)
			return n;
		n = c < 0 ? n->left : n->right;
	}
	return NULL;
}

struct compat_rb_node *
compat_rb_min(struct compat_rb_node *n)
{
	if (n == NULL)
		return NULL;
	while (n->left != NULL)
		n = n->left;
	return n;
}

struct compat_rb_node *
compat_rb_next(struct compat_rb_node *n)
{
	struct compat_rb_node *p;

	if (n->right != NULL)
		return compat_rb_min(n->right);
	for (p = n->parent; p != NULL && n == p->right; p = p->parent)
		n = p;
	return p;
}
