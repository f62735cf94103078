/*
 * compat/tree.h: BSD's <sys/tree.h> red-black tree macros (RB_*): the
 * system's where it has one (the BSDs), else libbsd's (Debian's
 * libbsd-dev, header only), else the agent's own (compat/tree-own.h, on
 * compat/rbtree.c: macOS).  configure decides which.
 */

#ifndef NODELINK_COMPAT_TREE_H
#define NODELINK_COMPAT_TREE_H

#if defined(USE_OWN_TREE_H)
#include "compat/tree-own.h"
#elif defined(HAVE_SYS_TREE_H)
#include <sys/tree.h>
#else
#include <bsd/sys/tree.h>
#endif

#endif /* NODELINK_COMPAT_TREE_H */
