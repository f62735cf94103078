/*
 * record.h: the records of the state directory's journals (state.c,
 * outbox.c, finished.c, recovery.c), and their encoding: little-endian
 * 64-bit integers and strings of at most 65,535 bytes after a 16-bit
 * length.  A record read back is input like any other: decoding never
 * reads past its end, and says so (struct dec's bad).
 */

#ifndef RECORD_H
#define RECORD_H

enum record_type {
	REC_MSG = 1,		/* id, seq, final, message */
	REC_ACK = 2,		/* id, seq */
	REC_START = 3,		/* id, reply_id, kind, pid, start, cgroup, marker,
				   seq (the last sent when written), an upload's
				   temporary file, the seqs reserved, its
				   Docker container (the last two optional) */
	REC_FINAL = 4,		/* (finished/) id, message */
	REC_END = 5,		/* id: it ended, with nothing to send again
				   (a task of today's upstream protocol) */
};

/* A running task's START record. */
struct srun {
	LIST_ENTRY(srun) entry;
	char *id, *reply_id, *cgroup, *marker, *tmpfile;
	char *container;	/* the Docker container it runs, or "" */
	int kind;
	int64_t pid;
	uint64_t start_time;
	uint64_t seg;
	const struct tstream *ts;	/* its seq, when written again */
	struct srun **slot;	/* its task's pointer to it, or NULL */
	uint64_t seq;		/* (read back) */
	uint64_t reserved;	/* seqs up to this may be in use */
	uint64_t block;		/* the last reservation's size */
};

struct dec {
	const unsigned char *p;
	size_t left;
	int bad;
};

void rec_enc_u64(struct buf *, uint64_t);
void rec_enc_str(struct buf *, const char *);
void rec_dec_init(struct dec *, const void *, size_t);
uint64_t rec_dec_u64(struct dec *);
char *rec_dec_str(struct dec *);
void rec_enc_bytes(struct buf *, const void *, size_t);
void rec_dec_bytes(struct dec *, struct buf *);
void rec_start_encode(struct buf *, const struct srun *);
int rec_start_decode(struct dec *, struct srun *);
void rec_srun_clear(struct srun *);

#endif
