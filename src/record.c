/*
 * record.c: encoding and decoding the state directory's records (see
 * record.h).
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "record.h"

void
rec_enc_u64(struct buf *b, uint64_t v)
{
	unsigned char p[8];
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	buf_append(b, p, 8);
}

void
rec_enc_str(struct buf *b, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	unsigned char p[2];

	if (len > 0xffff)
		len = 0xffff;
	p[0] = (unsigned char)len;
	p[1] = (unsigned char)(len >> 8);
	buf_append(b, p, 2);
	if (len != 0)
		buf_append(b, s, len);
}

void
rec_dec_init(struct dec *d, const void *data, size_t len)
{
	d->p = data;
	d->left = len;
	d->bad = 0;
}

uint64_t
rec_dec_u64(struct dec *d)
{
	uint64_t v = 0;
	int i;

	if (d->left < 8) {
		d->bad = 1;
		return 0;
	}
	for (i = 0; i < 8; i++)
		v |= (uint64_t)d->p[i] << (8 * i);
	d->p += 8;
	d->left -= 8;
	return v;
}

/* A string, copied; "" if bad. */
char *
rec_dec_str(struct dec *d)
{
	size_t len;
	char *s;

	if (d->left < 2) {
		d->bad = 1;
		return xstrdup("");
	}
	len = (size_t)d->p[0] | (size_t)d->p[1] << 8;
	d->p += 2;
	d->left -= 2;
	if (len > d->left) {
		d->bad = 1;
		return xstrdup("");
	}
	s = xmemdup0(d->p, len);
	d->p += len;
	d->left -= len;
	return s;
}

/* R's START record into B: the task, its seq so far, its reservation. */
void
rec_start_encode(struct buf *b, const struct srun *r)
{
	buf_init(b);
	rec_enc_str(b, r->id);
	rec_enc_str(b, r->reply_id);
	rec_enc_u64(b, (uint64_t)r->kind);
	rec_enc_u64(b, (uint64_t)r->pid);
	rec_enc_u64(b, r->start_time);
	rec_enc_str(b, r->cgroup);
	rec_enc_str(b, r->marker);
	rec_enc_u64(b, tstream_seq(r->ts));
	rec_enc_str(b, r->tmpfile);
	rec_enc_u64(b, r->reserved);
	rec_enc_str(b, r->container);
}

/* A START record's fields after its ID into R (whose strings are
 * cleared first); 0, or -1 if it is cut short. */
int
rec_start_decode(struct dec *d, struct srun *r)
{
	rec_srun_clear(r);
	r->reply_id = rec_dec_str(d);
	r->kind = (int)rec_dec_u64(d);
	r->pid = (int64_t)rec_dec_u64(d);
	r->start_time = rec_dec_u64(d);
	r->cgroup = rec_dec_str(d);
	r->marker = rec_dec_str(d);
	r->seq = rec_dec_u64(d);
	r->tmpfile = rec_dec_str(d);
	/* (Absent from an older agent's records.) */
	r->reserved = d->left != 0 ? rec_dec_u64(d) : 0;
	r->container = d->left != 0 ? rec_dec_str(d) : xstrdup("");
	return d->bad ? -1 : 0;
}

/* The strings of a START record (a running task's or one read back). */
void
rec_srun_clear(struct srun *r)
{
	free(r->id);
	free(r->reply_id);
	free(r->cgroup);
	free(r->marker);
	free(r->tmpfile);
	free(r->container);
	r->id = r->reply_id = r->cgroup = r->marker = r->tmpfile = NULL;
	r->container = NULL;
}

/* Bytes of any length: a 64-bit length, then the bytes. */
void
rec_enc_bytes(struct buf *b, const void *p, size_t len)
{
	rec_enc_u64(b, (uint64_t)len);
	if (len != 0)
		buf_append(b, p, len);
}

/* Bytes written by rec_enc_bytes, copied into OUT (appended). */
void
rec_dec_bytes(struct dec *d, struct buf *out)
{
	uint64_t len = rec_dec_u64(d);

	if (d->bad || len > d->left) {
		d->bad = 1;
		return;
	}
	buf_append(out, d->p, (size_t)len);
	d->p += len;
	d->left -= len;
}
