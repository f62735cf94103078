/*
 * compat/tree.h: BSD's <sys/tree.h> red-black tree macros (RB_*): the
 * system's where it has one (the BSDs), else libbsd's (Debian's
 * libbsd-dev, header only).  configure decides which.
 */

#ifndef NODELINK_COMPAT_TREE_H
#define NODELINK_COMPAT_TREE_H

#ifdef HAVE_SYS_TREE_H
#include <sys/tree.h>
#else
#include <bsd/sys/tree.h>
#endif

#endif /* NODELINK_COMPAT_TREE_H */
