/*
 * test-state.c: the journal's records come back as written, a torn or
 * corrupt tail is cut off and everything before it kept, records written
 * ahead by the journal's thread keep their order with those written at
 * once (and a failed write ahead cuts its partial record and tells its
 * caller), and the finished-task store answers for many more tasks than
 * the registry remembers, across a restart.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <glib.h>

#include "agent.h"

struct seen {
	int n;
	int last;
	struct journal *j;
};

static void
count(void *arg, const struct jrec *r)
{
	struct seen *s = arg;

	g_assert_cmpuint(r->len, ==, 4);
	s->last = (int)r->data[0] | (int)r->data[1] << 8;
	s->n++;
	journal_retain(s->j, r->seg);	/* kept: still live */
}

static char *
tmpdir(void)
{
	char *d = g_strdup("/tmp/nodelink-test-state-XXXXXX");

	g_assert_nonnull(g_mkdtemp(d));
	return d;
}

static void
append_n(struct journal *j, int from, int n)
{
	unsigned char v[4];
	struct iovec_c iov;
	int i;

	for (i = from; i < from + n; i++) {
		v[0] = (unsigned char)i;
		v[1] = (unsigned char)(i >> 8);
		v[2] = v[3] = 0xab;
		iov.base = v;
		iov.len = 4;
		g_assert_cmpuint(journal_append(j, 1, &iov, 1, 1, 0, NULL), !=,
		    0);
	}
}

/* Replays DIR, returning what was seen. */
static struct seen
replay(struct event_base *base, const char *dir)
{
	struct journal *j;
	struct seen s = { 0, -1, NULL };
	char *cause = NULL;

	j = journal_open(base, dir, "journal", 1 << 20, &cause);
	g_assert_nonnull(j);
	s.j = j;
	g_assert_cmpint(journal_replay(j, count, &s, &cause), ==, 0);
	journal_close(j);
	return s;
}

/*
 * A record whose payload holds, at its end, a whole record with a valid
 * checksum (as a task's output could), then a bad sector in the outer
 * record: it is skipped whole, and the inner one is never read.
 */
static void
test_journal_forged_in_torn(struct event_base *base, const char *dir)
{
	unsigned char inner[64], outer[200];
	struct iovec_c iov[1];
	struct journal *j;
	struct seen s;
	char *cause = NULL, path[512];
	uint32_t crc;
	FILE *f;

	j = journal_open(base, dir, "journal", 1 << 20, &cause);
	g_assert_nonnull(j);
	g_assert_cmpint(journal_replay(j, count, &(struct seen){ 0, 0, j },
	    &cause), ==, 0);
	append_n(j, 0, 3);
	/* The forged record: type 9, 4 bytes; then an outer record whose
	 * payload ends with it. */
	memset(inner, 0, sizeof inner);
	inner[0] = 5;			/* length: type + 4 */
	inner[8] = 9;
	memcpy(inner + 9, "evil", 4);
	crc = crc32c(0, inner + 8, 5);
	inner[4] = (unsigned char)crc;
	inner[5] = (unsigned char)(crc >> 8);
	inner[6] = (unsigned char)(crc >> 16);
	inner[7] = (unsigned char)(crc >> 24);
	memset(outer, 'x', sizeof outer);
	memcpy(outer + sizeof outer - 13, inner, 13);
	iov[0].base = outer;
	iov[0].len = sizeof outer;
	journal_append(j, 1, iov, 1, 1, 0, NULL);
	journal_close(j);
	/* A bad sector in the outer record's data: its checksum fails. */
	snprintf(path, sizeof path, "%s/%016llx.seg", dir, 1ULL);
	g_assert_nonnull(f = fopen(path, "r+b"));
	g_assert_cmpint(fseek(f, 3 * 13 + 20, SEEK_SET), ==, 0);
	fputc('y', f);
	fclose(f);
	s = replay(base, dir);
	g_assert_cmpint(s.n, ==, 3);	/* the three, not the forged one */
}

static void
test_journal_torn_and_corrupt(void)
{
	struct event_base *base = event_base_new();
	struct journal *j;
	struct seen s;
	char *dir = tmpdir(), *cause = NULL, path[512], cmd[600];

	j = journal_open(base, dir, "journal", 1 << 20, &cause);
	g_assert_cmpint(journal_replay(j, count, &(struct seen){ 0, 0, j },
	    &cause), ==, 0);
	append_n(j, 0, 100);
	journal_close(j);
	s = replay(base, dir);
	g_assert_cmpint(s.n, ==, 100);
	g_assert_cmpint(s.last, ==, 99);

	/* Torn: the last record loses 3 bytes. */
	snprintf(path, sizeof path, "%s/%016llx.seg", dir, 1ULL);
	g_assert_cmpint(truncate(path, 100 * 13 - 3), ==, 0);
	s = replay(base, dir);
	g_assert_cmpint(s.n, ==, 99);
	g_assert_cmpint(s.last, ==, 98);

	/* Corrupt: a byte of record 50 flipped; that record alone is lost,
	 * the reading goes on at record 51. */
	snprintf(cmd, sizeof cmd, "printf '\\377' | dd of=%s bs=1 seek=%d "
	    "conv=notrunc status=none", path, 50 * 13 + 10);
	g_assert_cmpint(system(cmd), ==, 0);
	s = replay(base, dir);
	g_assert_cmpint(s.n, ==, 98);
	g_assert_cmpint(s.last, ==, 98);

	/* The first record's length garbled too: reading goes on only where
	 * intact records run to the end of the file (a record that a task
	 * printed inside a torn one must not be taken for the agent's), so
	 * with two bad spots what lies between them is lost as well. */
	snprintf(cmd, sizeof cmd, "printf '\\377\\377' | dd of=%s bs=1 "
	    "seek=0 conv=notrunc status=none", path);
	g_assert_cmpint(system(cmd), ==, 0);
	s = replay(base, dir);
	g_assert_cmpint(s.n, ==, 48);
	g_assert_cmpint(s.last, ==, 98);

	/* A record a task printed inside a record gone bad (its output is
	 * journaled verbatim): skipped with it, never read as the agent's
	 * own. */
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	test_journal_forged_in_torn(base, dir);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(dir);
	event_base_free(base);
}

#define AHEAD_N 40
#define AHEAD_BIG (64 * 1024)

/* Record I: its number (4 bytes), then AHEAD_BIG bytes of I, or none
 * (the small ones). */
static unsigned char ahead_big[AHEAD_N][AHEAD_BIG];
static unsigned char ahead_small[AHEAD_N][4];

struct ahead {
	struct event_base *base;
	int next;		/* the cookie expected next */
	int want;
	int ok, failed;
};

static void
ahead_written(void *arg, void *cookie, uint64_t seg)
{
	struct ahead *a = arg;

	g_assert_cmpint((int)(intptr_t)cookie - 1, ==, a->next);
	a->next++;
	if (seg != 0)
		a->ok++;
	else
		a->failed++;
	if (a->next == a->want)
		event_base_loopbreak(a->base);
}

/* Record I of the kinds the agent makes: large ones written ahead, small
 * ones behind them, and passes (no record). */
static void
ahead_one(struct journal *j, struct ahead *a, int i)
{
	void *cookie = (void *)(intptr_t)(i + 1);	/* never NULL */
	int queued;

	ahead_small[i][0] = (unsigned char)i;
	ahead_small[i][1] = ahead_small[i][2] = ahead_small[i][3] = 0xcd;
	memset(ahead_big[i], i, AHEAD_BIG);
	if (i % 7 == 3)
		queued = journal_pass(j, cookie);
	else
		(void)journal_append_ahead(j, 2, ahead_small[i], 4,
		    ahead_big[i], i % 5 == 4 ? 0 : AHEAD_BIG, 0, cookie,
		    &queued);
	if (!queued)		/* done at once: the caller goes on */
		ahead_written(a, cookie, i % 7 == 3 ? 0 : 1);
}

struct ahead_seen {
	int n;
	int last;
};

static void
ahead_count(void *arg, const struct jrec *r)
{
	struct ahead_seen *s = arg;
	int i = r->data[0];

	g_assert_cmpint(r->type, ==, 2);
	g_assert_cmpint(i, >, s->last);	/* in order */
	g_assert_cmpuint(r->len, ==, 4 + (i % 5 == 4 ? 0 : AHEAD_BIG));
	g_assert_cmpint(r->data[3], ==, 0xcd);
	if (r->len > 4) {
		g_assert_cmpint(r->data[4], ==, i);
		g_assert_cmpint(r->data[r->len - 1], ==, i);
	}
	s->last = i;
	s->n++;
}

static struct ahead_seen
ahead_replay(struct event_base *base, const char *dir)
{
	struct ahead_seen s = { 0, -1 };
	struct journal *j;
	char *cause = NULL;

	j = journal_open(base, dir, "journal", 1 << 20, &cause);
	g_assert_nonnull(j);
	g_assert_cmpint(journal_replay(j, ahead_count, &s, &cause), ==, 0);
	journal_close(j);
	return s;
}

/* Writes ahead, in order with the rest, across segments (1 MiB each). */
static void
test_journal_write_ahead(void)
{
	struct event_base *base = event_base_new();
	struct ahead a = { base, 0, AHEAD_N, 0, 0 };
	struct ahead_seen s;
	struct journal *j;
	char *dir = tmpdir(), *cause = NULL, cmd[600];
	int i, passes = 0, records = 0;

	j = journal_open(base, dir, "journal", 1 << 20, &cause);
	g_assert_cmpint(journal_replay(j, ahead_count,
	    &(struct ahead_seen){ 0, -1 }, &cause), ==, 0);
	journal_on_written(j, ahead_written, &a);
	for (i = 0; i < AHEAD_N; i++) {
		ahead_one(j, &a, i);
		if (i % 7 == 3)
			passes++;
		else
			records++;
	}
	g_assert_cmpuint(journal_queued(j), >, 0);
	if (a.next < a.want)
		event_base_dispatch(base);
	g_assert_cmpint(a.next, ==, AHEAD_N);
	g_assert_cmpint(a.ok, ==, records);
	g_assert_cmpint(a.failed, ==, passes);
	g_assert_cmpuint(journal_queued(j), ==, 0);
	journal_close(j);
	s = ahead_replay(base, dir);
	g_assert_cmpint(s.n, ==, records);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(dir);
	event_base_free(base);
}

/*
 * A write ahead that fails (the file size limit here; a full disk in
 * life): its partial record is cut, it and the writes queued after it are
 * reported unwritten, in order, and what was written before is intact.
 */
static void
test_journal_write_ahead_fails(void)
{
	struct event_base *base = event_base_new();
	struct ahead a = { base, 0, 10, 0, 0 };
	struct ahead_seen s;
	struct journal *j;
	struct rlimit old, rl;
	struct stat sb;
	char *dir = tmpdir(), *cause = NULL, cmd[600], path[512];
	int i, queued;

	j = journal_open(base, dir, "journal", 16 << 20, &cause);
	g_assert_cmpint(journal_replay(j, ahead_count,
	    &(struct ahead_seen){ 0, -1 }, &cause), ==, 0);
	journal_on_written(j, ahead_written, &a);
	/* Room for four records and a part of the fifth. */
	g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
	rl = old;
	rl.rlim_cur = 4 * (AHEAD_BIG + 4 + 9) + 1000;
	signal(SIGXFSZ, SIG_IGN);
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
	for (i = 0; i < 10; i++) {
		memset(ahead_big[i], i, AHEAD_BIG);
		ahead_small[i][0] = (unsigned char)i;
		ahead_small[i][1] = ahead_small[i][2] = ahead_small[i][3] =
		    0xcd;
		g_assert_cmpuint(journal_append_ahead(j, 2, ahead_small[i], 4,
		    ahead_big[i], AHEAD_BIG, 0, (void *)(intptr_t)(i + 1),
		    &queued), !=, 0);
		g_assert_cmpint(queued, ==, 1);
	}
	event_base_dispatch(base);
	g_assert_cmpint(a.ok, ==, 4);
	g_assert_cmpint(a.failed, ==, 6);
	/* Failing now: nothing is written until the retry. */
	g_assert_cmpuint(journal_append_ahead(j, 2, ahead_small[0], 4,
	    ahead_big[0], AHEAD_BIG, 0, NULL, &queued), ==, 0);
	g_assert_cmpint(queued, ==, 0);
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
	signal(SIGXFSZ, SIG_DFL);
	journal_close(j);
	/* Cut where the fifth began: no torn record is left to read. */
	snprintf(path, sizeof path, "%s/%016llx.seg", dir, 1ULL);
	g_assert_cmpint(stat(path, &sb), ==, 0);
	g_assert_cmpint(sb.st_size, ==, 4 * (AHEAD_BIG + 4 + 9));
	s = ahead_replay(base, dir);
	g_assert_cmpint(s.n, ==, 4);
	g_assert_cmpint(s.last, ==, 3);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(dir);
	event_base_free(base);
}

static int
seg_exists(const char *dir, uint64_t seg)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof path, "%s/%016llx.seg", dir,
	    (unsigned long long)seg);
	return stat(path, &sb) == 0;
}

/*
 * A segment whose records are all released is kept while a write ahead
 * is queued (that write may be what replaces them: a task's final after
 * its START is released), and goes once the queue is empty.
 */
static void
test_journal_hold_back(void)
{
	struct event_base *base = event_base_new();
	struct ahead a = { base, 0, 3, 0, 0 };
	struct journal *j;
	struct iovec_c iov;
	char *dir = tmpdir(), *cause = NULL, cmd[600];
	uint64_t small, big;
	int queued, i;

	j = journal_open(base, dir, "journal", 64 * 1024, &cause);
	g_assert_cmpint(journal_replay(j, ahead_count,
	    &(struct ahead_seen){ 0, -1 }, &cause), ==, 0);
	journal_on_written(j, ahead_written, &a);
	for (i = 0; i < 3; i++) {
		ahead_small[i][0] = (unsigned char)i;
		memset(ahead_big[i], i, AHEAD_BIG);
	}
	iov.base = ahead_small[0];
	iov.len = 4;
	small = journal_append(j, 2, &iov, 1, 1, 0, NULL);
	big = journal_append_ahead(j, 2, ahead_small[0], 4, ahead_big[0],
	    AHEAD_BIG, 0, (void *)(intptr_t)1, &queued);
	g_assert_cmpuint(small, ==, big);	/* both in the first */
	a.want = 1;
	event_base_dispatch(base);
	journal_release(j, big);
	/* Past its size: the next goes to a new segment, and stays queued
	 * until the loop runs. */
	g_assert_cmpuint(journal_append_ahead(j, 2, ahead_small[1], 4,
	    ahead_big[1], AHEAD_BIG, 0, (void *)(intptr_t)2, &queued), >,
	    small);
	g_assert_cmpint(queued, ==, 1);
	journal_release(j, small);	/* the first is dead now, but ... */
	g_assert_true(seg_exists(dir, small));
	a.want = 2;
	event_base_dispatch(base);
	g_assert_cmpint(a.ok, ==, 2);
	g_assert_false(seg_exists(dir, small));	/* ... gone when written */
	journal_close(j);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(dir);
	event_base_free(base);
}

static struct msg *
final_for(int i)
{
	char text[64];
	struct msg *m;

	snprintf(text, sizeof text, "final of %d", i);
	m = msg_new(strlen(text));
	memcpy(m->data, text, strlen(text));
	return m;
}

/* Far more finished tasks than the registry's 10,000, and a restart. */
static void
test_finished_store(void)
{
	struct event_base *base = event_base_new();
	struct msg *m;
	char *dir = tmpdir(), *cause = NULL, id[32], cmd[600], want[64];
	int i;

	g_assert_cmpint(state_open(base, dir, 1, &cause), ==, 0);
	for (i = 0; i < 30000; i++) {
		snprintf(id, sizeof id, "task-%d", i);
		m = final_for(i);
		finished_add(id, m);
		msg_free(m);
	}
	state_close();
	g_assert_cmpint(state_open(base, dir, 1, &cause), ==, 0);
	for (i = 0; i < 30000; i += 997) {
		snprintf(id, sizeof id, "task-%d", i);
		m = finished_final(id);
		g_assert_nonnull(m);
		snprintf(want, sizeof want, "final of %d", i);
		g_assert_cmpuint(m->len, ==, strlen(want));
		g_assert_cmpint(memcmp(m->data, want, m->len), ==, 0);
		msg_free(m);
	}
	g_assert_null(finished_final("task-30000"));
	g_assert_null(finished_final("never"));
	state_close();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	g_assert_cmpint(system(cmd), ==, 0);
	g_free(dir);
	event_base_free(base);
}

/* The check value of CRC-32C, and the fast path equal to the portable one
 * for every length and alignment, and when continued piece by piece. */
static void
test_crc32c(void)
{
	static unsigned char big[100000];
	unsigned char data[300];
	uint32_t a, b;
	size_t i, off, len;

	g_assert_cmphex(crc32c(0, "123456789", 9), ==, 0xe3069283);
	g_assert_cmphex(crc32c_portable(0, "123456789", 9), ==, 0xe3069283);
	for (i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)g_test_rand_int();
	for (off = 0; off < 9; off++) {
		for (len = 0; len + off <= sizeof data; len += 7) {
			a = crc32c(0, data + off, len);
			b = crc32c_portable(0, data + off, len);
			g_assert_cmphex(a, ==, b);
			b = crc32c(crc32c(0, data + off, len / 3), data + off +
			    len / 3, len - len / 3);
			g_assert_cmphex(a, ==, b);
		}
	}
	/* Long enough for the three chains, split anywhere. */
	for (i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)g_test_rand_int();
	for (len = 24000; len <= sizeof big; len += 4999) {
		a = crc32c(0, big, len);
		g_assert_cmphex(a, ==, crc32c_portable(0, big, len));
		off = (size_t)g_test_rand_int_range(0, (gint32)len);
		g_assert_cmphex(a, ==, crc32c(crc32c(0, big, off), big + off,
		    len - off));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_set_level(LOG_ERROR);
	if (evthread_use_pthreads() != 0)	/* the journal's threads */
		g_error("no threads in libevent");
	g_test_add_func("/journal/torn-and-corrupt",
	    test_journal_torn_and_corrupt);
	g_test_add_func("/state/finished-store", test_finished_store);
	g_test_add_func("/journal/crc32c", test_crc32c);
	g_test_add_func("/journal/write-ahead", test_journal_write_ahead);
	g_test_add_func("/journal/write-ahead-fails",
	    test_journal_write_ahead_fails);
	g_test_add_func("/journal/hold-back", test_journal_hold_back);
	return g_test_run();
}
