/*
 * buf.c: a growable byte buffer, used for partial output lines and for
 * building repaired text.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

/* Makes room for N more bytes; grows by half again to stay amortised O(1). */
void
buf_reserve(struct buf *b, size_t n)
{
	size_t want;

	if (n <= b->cap - b->len)
		return;
	want = b->cap + b->cap / 2;
	if (want < b->len + n)
		want = b->len + n;
	if (want < 256)
		want = 256;
	b->data = xrealloc(b->data, want);
	b->cap = want;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Drops the first N bytes. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_clear(struct buf *b)
{
	b->len = 0;
}


/*
 * Reads PATH into B (emptied first) only if it is a regular file of at
 * most MAX bytes: opened non-blocking (a FIFO never blocks the caller,
 * on the loop a reload or a reconnect) with FLAGS added (O_NOFOLLOW: never
 * through a symbolic link); its stat in *SB if SB is not NULL.  Returns
 * 0, or -1 with *cause set ("PATH: why").
 */
int
buf_read_file(struct buf *b, const char *path, int flags, size_t max,
    struct stat *sb, char **cause)
{
	struct stat st;
	ssize_t n;
	int fd;

	buf_clear(b);
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags)) ==
	    -1) {
		xasprintf(cause, "%s: %s", path, errno == ELOOP &&
		    (flags & O_NOFOLLOW) ? "a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		xasprintf(cause, "%s: larger than %zu bytes", path, max);
		close(fd);
		return -1;
	}
	if (sb != NULL)
		*sb = st;
	buf_reserve(b, (size_t)st.st_size + 1);
	for (;;) {
		if (b->len == b->cap)
			buf_reserve(b, 4096);
		n = read(fd, b->data + b->len, b->cap - b->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || b->len + (size_t)n > max)
			break;
		b->len += (size_t)n;
	}
	close(fd);
	if (n == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (n > 0) {
		xasprintf(cause, "%s: larger than %zu bytes", path, max);
		return -1;
	}
	return 0;
}
