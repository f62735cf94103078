/*
 * compat/queue-own.h: BSD's LIST, STAILQ and TAILQ macros, as much of
 * them as the agent uses, for a system with neither a complete
 * <sys/queue.h> nor libbsd.  The same names and arguments as the BSDs';
 * configure chooses (compat/queue.h).
 */

#ifndef NODELINK_COMPAT_QUEUE_OWN_H
#define NODELINK_COMPAT_QUEUE_OWN_H

#include <stddef.h>

/* A doubly linked list: removal from anywhere in constant time. */
#define LIST_HEAD(name, type)						\
struct name {								\
	struct type *lh_first;						\
}
#define LIST_HEAD_INITIALIZER(head)	{ NULL }
#define LIST_ENTRY(type)						\
struct {								\
	struct type *le_next;						\
	struct type **le_prev;	/* the pointer that points here */	\
}
#define LIST_FIRST(head)	((head)->lh_first)
#define LIST_EMPTY(head)	((head)->lh_first == NULL)
#define LIST_NEXT(elm, field)	((elm)->field.le_next)
#define LIST_INIT(head)		do { (head)->lh_first = NULL; } while (0)
#define LIST_INSERT_HEAD(head, elm, field) do {				\
	if (((elm)->field.le_next = (head)->lh_first) != NULL)		\
		(head)->lh_first->field.le_prev = &(elm)->field.le_next; \
	(head)->lh_first = (elm);					\
	(elm)->field.le_prev = &(head)->lh_first;			\
} while (0)
#define LIST_REMOVE(elm, field) do {					\
	if ((elm)->field.le_next != NULL)				\
		(elm)->field.le_next->field.le_prev =			\
		    (elm)->field.le_prev;				\
	*(elm)->field.le_prev = (elm)->field.le_next;			\
} while (0)
#define LIST_FOREACH(var, head, field)					\
	for ((var) = LIST_FIRST(head); (var) != NULL;			\
	    (var) = LIST_NEXT(var, field))
#define LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST(head);					\
	    (var) != NULL && ((tvar) = LIST_NEXT(var, field), 1);	\
	    (var) = (tvar))

/* A singly linked tail queue: append and take from the head. */
#define STAILQ_HEAD(name, type)						\
struct name {								\
	struct type *stqh_first;					\
	struct type **stqh_last;	/* the last next pointer */	\
}
#define STAILQ_HEAD_INITIALIZER(head)	{ NULL, &(head).stqh_first }
#define STAILQ_ENTRY(type)						\
struct {								\
	struct type *stqe_next;						\
}
#define STAILQ_FIRST(head)	((head)->stqh_first)
#define STAILQ_EMPTY(head)	((head)->stqh_first == NULL)
#define STAILQ_NEXT(elm, field)	((elm)->field.stqe_next)
#define STAILQ_INIT(head) do {						\
	(head)->stqh_first = NULL;					\
	(head)->stqh_last = &(head)->stqh_first;			\
} while (0)
#define STAILQ_INSERT_TAIL(head, elm, field) do {			\
	(elm)->field.stqe_next = NULL;					\
	*(head)->stqh_last = (elm);					\
	(head)->stqh_last = &(elm)->field.stqe_next;			\
} while (0)
#define STAILQ_INSERT_HEAD(head, elm, field) do {			\
	if (((elm)->field.stqe_next = (head)->stqh_first) == NULL)	\
		(head)->stqh_last = &(elm)->field.stqe_next;		\
	(head)->stqh_first = (elm);					\
} while (0)
#define STAILQ_INSERT_AFTER(head, listelm, elm, field) do {		\
	if (((elm)->field.stqe_next = (listelm)->field.stqe_next) == NULL)\
		(head)->stqh_last = &(elm)->field.stqe_next;		\
	(listelm)->field.stqe_next = (elm);				\
} while (0)
#define STAILQ_REMOVE_HEAD(head, field) do {				\
	if (((head)->stqh_first =					\
	    (head)->stqh_first->field.stqe_next) == NULL)		\
		(head)->stqh_last = &(head)->stqh_first;		\
} while (0)
#define STAILQ_CONCAT(head1, head2) do {				\
	if (!STAILQ_EMPTY(head2)) {					\
		*(head1)->stqh_last = (head2)->stqh_first;		\
		(head1)->stqh_last = (head2)->stqh_last;		\
		STAILQ_INIT(head2);					\
	}								\
} while (0)
#define STAILQ_FOREACH(var, head, field)				\
	for ((var) = STAILQ_FIRST(head); (var) != NULL;			\
	    (var) = STAILQ_NEXT(var, field))

/* A doubly linked tail queue. */
#define TAILQ_HEAD(name, type)						\
struct name {								\
	struct type *tqh_first;						\
	struct type **tqh_last;		/* the last next pointer */	\
}
#define TAILQ_HEAD_INITIALIZER(head)	{ NULL, &(head).tqh_first }
#define TAILQ_ENTRY(type)						\
struct {								\
	struct type *tqe_next;						\
	struct type **tqe_prev;	/* the pointer that points here */	\
}
#define TAILQ_FIRST(head)	((head)->tqh_first)
#define TAILQ_EMPTY(head)	((head)->tqh_first == NULL)
#define TAILQ_NEXT(elm, field)	((elm)->field.tqe_next)
#define TAILQ_INIT(head) do {						\
	(head)->tqh_first = NULL;					\
	(head)->tqh_last = &(head)->tqh_first;				\
} while (0)
#define TAILQ_INSERT_HEAD(head, elm, field) do {			\
	if (((elm)->field.tqe_next = (head)->tqh_first) != NULL)	\
		(head)->tqh_first->field.tqe_prev =			\
		    &(elm)->field.tqe_next;				\
	else								\
		(head)->tqh_last = &(elm)->field.tqe_next;		\
	(head)->tqh_first = (elm);					\
	(elm)->field.tqe_prev = &(head)->tqh_first;			\
} while (0)
#define TAILQ_INSERT_TAIL(head, elm, field) do {			\
	(elm)->field.tqe_next = NULL;					\
	(elm)->field.tqe_prev = (head)->tqh_last;			\
	*(head)->tqh_last = (elm);					\
	(head)->tqh_last = &(elm)->field.tqe_next;			\
} while (0)
#define TAILQ_REMOVE(head, elm, field) do {				\
	if ((elm)->field.tqe_next != NULL)				\
		(elm)->field.tqe_next->field.tqe_prev =			\
		    (elm)->field.tqe_prev;				\
	else								\
		(head)->tqh_last = (elm)->field.tqe_prev;		\
	*(elm)->field.tqe_prev = (elm)->field.tqe_next;			\
} while (0)
#define TAILQ_FOREACH(var, head, field)					\
	for ((var) = TAILQ_FIRST(head); (var) != NULL;			\
	    (var) = TAILQ_NEXT(var, field))
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))

#endif /* NODELINK_COMPAT_QUEUE_OWN_H */
