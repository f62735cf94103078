/*
 * compat/tree-own.h: BSD's RB_* red-black tree macros, as much of them as
 * the agent uses, over compat/rbtree.c: for a system with neither
 * <sys/tree.h> nor libbsd (macOS).  The same names and arguments as the
 * BSDs', so every file reads the same whichever is used; configure
 * chooses (compat/tree.h).  The nodes are struct compat_rb_node, and the
 * generated functions convert between them and the caller's structures.
 */

#ifndef NODELINK_COMPAT_TREE_OWN_H
#define NODELINK_COMPAT_TREE_OWN_H

#include <stddef.h>
#include <stdint.h>

#include "compat/rbtree.h"

#define RB_HEAD(name, type)						\
struct name {								\
	struct compat_rb_node *rbh_root;				\
}
#define RB_INITIALIZER(root)	{ NULL }
#define RB_INIT(root)		do { (root)->rbh_root = NULL; } while (0)
#define RB_ENTRY(type)		struct compat_rb_node

/* The element of TYPE whose FIELD is node N (or NULL). */
#define COMPAT_RB_ELM(type, field, n)					\
	((n) == NULL ? NULL : (struct type *)(void *)((char *)(uintptr_t)(n) - \
	    offsetof(struct type, field)))

#define RB_PROTOTYPE(name, type, field, cmp)				\
struct type *name##_RB_INSERT(struct name *, struct type *);		\
struct type *name##_RB_REMOVE(struct name *, struct type *);		\
struct type *name##_RB_FIND(struct name *, struct type *);		\
struct type *name##_RB_MIN(struct name *);				\
struct type *name##_RB_NEXT(struct type *);

#define RB_GENERATE(name, type, field, cmp)				\
static int								\
name##_RB_CMP(const struct compat_rb_node *a,				\
    const struct compat_rb_node *b)					\
{									\
	return cmp(COMPAT_RB_ELM(type, field, a),			\
	    COMPAT_RB_ELM(type, field, b));				\
}									\
struct type *								\
name##_RB_INSERT(struct name *head, struct type *elm)			\
{									\
	return COMPAT_RB_ELM(type, field, compat_rb_insert(		\
	    &head->rbh_root, &elm->field, name##_RB_CMP));		\
}									\
struct type *								\
name##_RB_REMOVE(struct name *head, struct type *elm)			\
{									\
	compat_rb_remove(&head->rbh_root, &elm->field);			\
	return elm;							\
}									\
struct type *								\
name##_RB_FIND(struct name *head, struct type *key)			\
{									\
	return COMPAT_RB_ELM(type, field, compat_rb_find(		\
	    head->rbh_root, &key->field, name##_RB_CMP));		\
}									\
struct type *								\
name##_RB_MIN(struct name *head)					\
{									\
	return COMPAT_RB_ELM(type, field, compat_rb_min(head->rbh_root)); \
}									\
struct type *								\
name##_RB_NEXT(struct type *elm)					\
{									\
	return COMPAT_RB_ELM(type, field, compat_rb_next(&elm->field));	\
}

#define RB_INSERT(name, head, elm)	name##_RB_INSERT(head, elm)
#define RB_REMOVE(name, head, elm)	name##_RB_REMOVE(head, elm)
#define RB_FIND(name, head, elm)	name##_RB_FIND(head, elm)
#define RB_MIN(name, head)		name##_RB_MIN(head)
#define RB_NEXT(name, head, elm)	name##_RB_NEXT(elm)
#define RB_FOREACH(x, name, head)					\
	for ((x) = RB_MIN(name, head); (x) != NULL;			\
	    (x) = name##_RB_NEXT(x))
#define RB_FOREACH_SAFE(x, name, head, y)				\
	for ((x) = RB_MIN(name, head);					\
	    (x) != NULL && ((y) = name##_RB_NEXT(x), 1); (x) = (y))

#endif /* NODELINK_COMPAT_TREE_OWN_H */
