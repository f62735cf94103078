/*
 * compat/queue.h: BSD's <sys/queue.h> list macros (LIST, STAILQ, TAILQ),
 * which every C reader of this kind of code knows.  The BSDs and macOS have
 * a complete one; glibc's lacks the _SAFE iterators, so on such systems
 * the copy in libbsd (Debian's libbsd-dev, header only) is used; with
 * neither, the agent's own (compat/queue-own.h).  configure decides which.
 */

#ifndef NODELINK_COMPAT_QUEUE_H
#define NODELINK_COMPAT_QUEUE_H

#if defined(USE_OWN_QUEUE_H)
#include "compat/queue-own.h"
#elif defined(USE_BSD_QUEUE_H)
#include <bsd/sys/queue.h>
#else
#include <sys/queue.h>
#endif

#endif /* NODELINK_COMPAT_QUEUE_H */
