/*
 * compat/rbtree.h: the red-black tree of compat/rbtree.c, on nodes that
 * live inside the caller's structures.
 */

#ifndef NODELINK_COMPAT_RBTREE_H
#define NODELINK_COMPAT_RBTREE_H

struct compat_rb_node {
	struct compat_rb_node *left, *right, *parent;
	int red;
};
/* <0, 0, >0 as A sorts before, with or after B. */
typedef int (*compat_rb_cmp)(const struct compat_rb_node *,
    const struct compat_rb_node *);

/* Returns the node equal to N already there (N not inserted), or NULL. */
struct compat_rb_node *compat_rb_insert(struct compat_rb_node **,
    struct compat_rb_node *, compat_rb_cmp);
void compat_rb_remove(struct compat_rb_node **, struct compat_rb_node *);
struct compat_rb_node *compat_rb_find(struct compat_rb_node *,
    const struct compat_rb_node *, compat_rb_cmp);
struct compat_rb_node *compat_rb_min(struct compat_rb_node *);
struct compat_rb_node *compat_rb_next(struct compat_rb_node *);

#endif /* NODELINK_COMPAT_RBTREE_H */
