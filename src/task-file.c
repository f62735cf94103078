/*
 * task-file.c: file transfer tasks (TaskRequest file_upload and
 * file_download), confined to the agent's files.roots (files.c).
 *
 * An upload is one task whose chunks arrive as TaskRequests with the same
 * task ID, in order from offset 0.  They are written to a temporary file
 * beside the target (created with O_EXCL, never following a symlink, in
 * the directory opened when the first chunk came: a directory swapped for
 * a symlink meanwhile changes nothing), which is flushed to disk and only
 * then renamed to the target, after its SHA-256 matched the one the last
 * chunk gave.  A chunk sent again after a reconnect (an offset already
 * written) is ignored; a gap, a chunk over 1 MiB, a file over
 * files.max_bytes, a checksum that does not match, no chunk for
 * --file-idle-timeout, a cancel or the agent stopping: the task fails and
 * the temporary file is removed.
 *
 * A download reads the file in pieces of at most 1 MiB, each an
 * IN_PROGRESS message, through the spool: while the spool is full the
 * download waits (a file of any size never sits in memory), and between
 * pieces the loop does everything else.  The final carries the SHA-256 of
 * the bytes sent.  A file that changes size while it is read fails the
 * task: its bytes would be neither the old file nor the new one.
 *
 * Files are data: their bytes are never UTF-8 repaired.
 */

#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "agent.h"

#define FILE_CHUNK_MAX FILES_CHUNK_MAX

struct file_task {
	LIST_ENTRY(file_task) entry;
	struct agent *agent;
	struct task *task;
	int upload;
	EVP_MD_CTX *sha;
	struct event *timer;	/* upload: idle; download: the next piece */
	int cancelled;
	/* upload */
	int dirfd, fd;
	char *name, *tmpname;
	uint64_t next;		/* the offset the next chunk starts at */
	unsigned mode;
	int overwrite;
	/* download */
	uint64_t start, pos, end, size;
	int unsized;		/* the kernel says 0 bytes (/proc, /sys):
				   read to end of file */
	unsigned file_mode;
	int paused;
	unsigned char *piece;
	struct srun *run;	/* its START record: a restart answers it */
};

static LIST_HEAD(, file_task) file_tasks = LIST_HEAD_INITIALIZER(file_tasks);
static unsigned long file_serial;

static void
task_file_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
task_file_digest(struct file_task *ft, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(ft->sha, d, &n);
	task_file_hex(d, n, out);
}

static void
task_file_free(struct file_task *ft)
{
	LIST_REMOVE(ft, entry);
	if (ft->fd != -1)
		close(ft->fd);
	if (ft->tmpname != NULL && ft->dirfd != -1 &&
	    unlinkat(ft->dirfd, ft->tmpname, 0) != 0 && errno != ENOENT)
		log_warnx("task %s: cannot remove %s: %s", task_id(ft->task),
		    ft->tmpname, strerror(errno));
	if (ft->dirfd != -1)
		close(ft->dirfd);
	if (ft->timer != NULL)
		event_free(ft->timer);
	EVP_MD_CTX_free(ft->sha);
	state_task_ended(ft->run);
	free(ft->name);
	free(ft->tmpname);
	free(ft->piece);
	free(ft);
}

/* Ends the task with a FAILURE final (its temporary file removed). */
static void
task_file_fail(struct file_task *ft, enum fail_reason why, const char *fmt, ...)
    printflike(3, 4);

static void
task_file_fail(struct file_task *ft, enum fail_reason why, const char *fmt, ...)
{
	struct task *t = ft->task;
	struct final f;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	log_warnx("task %s: %s failed (%s): %s", task_id(t), ft->upload ?
	    "upload" : "download", fail_reason_name(why), text);
	memset(&f, 0, sizeof f);
	f.status = STATUS_FAILURE;
	f.exit_code = 1;
	f.cancelled = ft->cancelled;
	f.reason = why;
	f.text = text;
	metrics_task_finished(TASK_KIND_FILE, ft->cancelled ? OUTCOME_CANCELLED
	    : why == REASON_TIMED_OUT ? OUTCOME_TIMED_OUT : OUTCOME_FAILED, 0);
	/* The final first: its seq is kept to the task's reservation while
	 * its START record is still there (state.c). */
	task_send_final(t, &f);
	task_file_free(ft);
	free(text);
}

/* The final message of a transfer that worked. */
static void
task_file_done(struct file_task *ft, uint64_t size)
{
	struct task *t = ft->task;
	struct response r;
	char hex[65];

	task_file_digest(ft, hex);
	memset(&r, 0, sizeof r);
	r.status = STATUS_COMPLETED;
	r.file = ft->upload ? 1 : 2;
	r.file_size = size;
	r.file_mode = ft->file_mode;
	r.sha256 = hex;
	log_info("task %s: %s of %llu bytes done (sha256 %s)", task_id(t),
	    ft->upload ? "upload" : "download", (unsigned long long)(ft->upload
	    ? size : ft->end - ft->start), hex);
	metrics_task_finished(TASK_KIND_FILE, OUTCOME_SUCCEEDED, 0);
	task_send_file(t, &r, 1);	/* before the START record goes */
	task_file_free(ft);
}

/* Cancel (or the agent stopping): nothing is left behind. */
static void
task_file_on_cancelled(evutil_socket_t fd, short events, void *arg)
{
	struct file_task *ft = arg;

	(void)fd;
	(void)events;
	task_file_fail(ft, ft->agent->shutting_down ? REASON_SHUTTING_DOWN :
	    REASON_IO_ERROR, "cancelled: %s", ft->upload ? "the partial file "
	    "was removed" : "the download stopped");
}

static int
task_file_cancel(void *arg)
{
	struct file_task *ft = arg;

	if (ft->cancelled)
		return 1;
	ft->cancelled = 1;
	/* After the cancel's own answer, which dispatch.c sends next. */
	event_del(ft->timer);
	event_assign(ft->timer, ft->agent->base, -1, 0, task_file_on_cancelled, ft);
	event_active(ft->timer, EV_TIMEOUT, 0);
	return 0;
}

static void
task_file_on_idle(evutil_socket_t fd, short events, void *arg)
{
	struct file_task *ft = arg;

	(void)fd;
	(void)events;
	task_file_fail(ft, REASON_TIMED_OUT, "no chunk for %u seconds: the partial "
	    "file was removed", ft->agent->opts->file_idle_timeout_s);
}

static struct file_task *
task_file_new(struct task *t, int upload)
{
	struct file_task *ft;

	ft = xcalloc(1, sizeof *ft);
	ft->agent = task_agent(t);
	ft->task = t;
	ft->upload = upload;
	ft->dirfd = ft->fd = -1;
	if ((ft->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ft->sha, EVP_sha256(), NULL) != 1)
		fatalx("cannot start SHA-256");
	LIST_INSERT_HEAD(&file_tasks, ft, entry);
	task_set_state(t, TASK_RUNNING);
	task_set_cancel(t, task_file_cancel, ft);
	metrics_task_started(TASK_KIND_FILE);
	return ft;
}

/* The last chunk is in: flushed, checked, renamed into place. */
static void
task_file_finish_upload(struct file_task *ft, const char *want)
{
	char hex[65];
	EVP_MD_CTX *copy;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if ((copy = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(copy, ft->sha) != 1)
		fatalx("cannot copy SHA-256");
	EVP_DigestFinal_ex(copy, d, &n);
	EVP_MD_CTX_free(copy);
	task_file_hex(d, n, hex);
	if (*want != '\0' && strcmp(want, hex) != 0) {
		task_file_fail(ft, REASON_CHECKSUM_MISMATCH, "sha256 %s does not "
		    "match the %llu bytes received (%s): the partial file was "
		    "removed", want, (unsigned long long)ft->next, hex);
		return;
	}
	if (fchmod(ft->fd, ft->mode) != 0 || fsync(ft->fd) != 0) {
		task_file_fail(ft, REASON_IO_ERROR, "%s: %s", ft->name,
		    strerror(errno));
		return;
	}
	if (ft->overwrite ? renameat(ft->dirfd, ft->tmpname, ft->dirfd,
	    ft->name) != 0 : linkat(ft->dirfd, ft->tmpname, ft->dirfd,
	    ft->name, 0) != 0) {
		task_file_fail(ft, errno == EEXIST ? REASON_BAD_REQUEST :
		    REASON_IO_ERROR, "%s: %s%s", ft->name, strerror(errno),
		    errno == EEXIST ? " (set overwrite to replace it)" : "");
		return;
	}
	if (!ft->overwrite)
		(void)unlinkat(ft->dirfd, ft->tmpname, 0);
	free(ft->tmpname);
	ft->tmpname = NULL;
	(void)fsync(ft->dirfd);	/* the new name survives a power cut */
	task_file_done(ft, ft->next);
}

/* One chunk of upload FT. */
static void
task_file_take_chunk(struct file_task *ft, const struct request *req)
{
	const unsigned char *p = req->input;
	size_t len = req->input_len;
	ssize_t n;

	if (ft->cancelled)
		return;
	switch (files_chunk_verdict(ft->next, req->offset, len,
	    ft->agent->opts->file_max_bytes)) {
	case CHUNK_TOO_BIG:
		task_file_fail(ft, REASON_BAD_REQUEST, "a chunk of %zu bytes: at most "
		    "%d", len, FILE_CHUNK_MAX);
		return;
	case CHUNK_REPEAT:
		log_debug("task %s: chunk at %llu again: ignored",
		    task_id(ft->task), (unsigned long long)req->offset);
		return;
	case CHUNK_GAP:
		task_file_fail(ft, REASON_BAD_REQUEST, "a chunk at offset %llu, "
		    "expected %llu: a gap (the partial file was removed)",
		    (unsigned long long)req->offset,
		    (unsigned long long)ft->next);
		return;
	case CHUNK_OVERFLOW:
		task_file_fail(ft, REASON_BAD_REQUEST, "a chunk of %zu bytes at "
		    "offset %llu: past the largest offset there is (the partial "
		    "file was removed)", len, (unsigned long long)req->offset);
		return;
	case CHUNK_OVER_MAX:
		task_file_fail(ft, REASON_DENIED, "the file would be over "
		    "files.max_bytes (%llu bytes)",
		    (unsigned long long)ft->agent->opts->file_max_bytes);
		return;
	case CHUNK_WRITE:
		break;
	}
	while (len > 0) {
		n = write(ft->fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			task_file_fail(ft, REASON_IO_ERROR, "%s: %s", ft->name,
			    n == -1 ? strerror(errno) : "short write");
			return;
		}
		EVP_DigestUpdate(ft->sha, p, (size_t)n);
		p += n;
		len -= (size_t)n;
		ft->next += (uint64_t)n;
	}
	if (req->last)
		task_file_finish_upload(ft, req->sha256 != NULL ? req->sha256 : "");
	else
		timer_add_ms(ft->timer, (uint64_t)
		    ft->agent->opts->file_idle_timeout_s * 1000);
}

/* True if S is 64 lower-case hex digits. */
static int
file_is_sha256(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/*
 * The first chunk of an upload: the target checked, the temporary file
 * made.  Returns 0, or -1 with *cause and *why set.
 */
static int
task_file_upload_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct file_task *ft;
	struct stat sb;
	const char *name;
	int dirfd;

	if (req->offset != 0) {
		xasprintf(cause, "the first chunk is at offset %llu, not 0",
		    (unsigned long long)req->offset);
		*why = REASON_BAD_REQUEST;
		return -1;
	}
	if (*req->sha256 != '\0' && !file_is_sha256(req->sha256)) {
		*cause = xstrdup("sha256 is not 64 lower-case hex digits");
		*why = REASON_BAD_REQUEST;
		return -1;
	}
	if ((dirfd = files_open_parent(a->opts, req->path, &name, cause,
	    why)) == -1)
		return -1;
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(sb.st_mode) || !req->overwrite) {
			xasprintf(cause, "%s exists%s", req->path,
			    !S_ISREG(sb.st_mode) ? " and is not a regular "
			    "file" : " (set overwrite to replace it)");
			*why = S_ISREG(sb.st_mode) ? REASON_BAD_REQUEST :
			    REASON_DENIED;
			close(dirfd);
			return -1;
		}
	}
	ft = task_file_new(t, 1);
	ft->dirfd = dirfd;
	ft->name = xstrdup(name);
	/* Permission bits only: no set-user-ID file made by a root agent. */
	ft->mode = req->mode != 0 ? req->mode & 0777 : 0644;
	ft->overwrite = req->overwrite;
	ft->tmpname = files_temp_name(name, ++file_serial);
	ft->fd = openat(dirfd, ft->tmpname, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ft->fd == -1) {
		free(ft->tmpname);
		ft->tmpname = NULL;
		task_file_fail(ft, REASON_IO_ERROR, "%s: cannot create a temporary "
		    "file beside it: %s", req->path, strerror(errno));
		return 0;
	}
	if ((ft->timer = evtimer_new(a->base, task_file_on_idle, ft)) == NULL)
		fatalx("cannot create a timer");
	{
		/* Should the agent die now, the next start removes it. */
		char *tmp;
		const char *slash = strrchr(req->path, '/');

		xasprintf(&tmp, "%.*s/%s", (int)(slash - req->path),
		    req->path, ft->tmpname);
		ft->run = task_record_start(t, 0, NULL, NULL, tmp, NULL);
		free(tmp);
	}
	log_info("task %s: upload to %s started", task_id(t), req->path);
	task_file_take_chunk(ft, req);
	return 0;
}

/* The next piece of a download, once the spool has room. */
static void
task_file_on_piece(evutil_socket_t fd, short events, void *arg)
{
	struct file_task *ft = arg;
	struct response r;
	struct stat sb;
	size_t want;
	ssize_t n;

	(void)fd;
	(void)events;
	if (ft->cancelled)
		return;
	if (ft->pos >= ft->end) {
		task_file_done(ft, ft->unsized ? ft->pos : ft->size);
		return;
	}
	if (outbox_congested()) {
		ft->paused = 1;		/* task_file_resume_all() */
		return;
	}
	if (ft->unsized && ft->pos >= ft->agent->opts->file_max_bytes) {
		task_file_fail(ft, REASON_DENIED, "the file is over files.max_bytes "
		    "(%llu bytes)", (unsigned long long)
		    ft->agent->opts->file_max_bytes);
		return;
	}
	if (!ft->unsized && (fstat(ft->fd, &sb) != 0 ||
	    (uint64_t)sb.st_size != ft->size)) {
		task_file_fail(ft, REASON_IO_ERROR, "the file changed size while it "
		    "was read (from %llu to %lld bytes)",
		    (unsigned long long)ft->size, (long long)sb.st_size);
		return;
	}
	want = ft->end - ft->pos < FILE_CHUNK_MAX ?
	    (size_t)(ft->end - ft->pos) : FILE_CHUNK_MAX;
	do
		n = pread(ft->fd, ft->piece, want, (off_t)ft->pos);
	while (n == -1 && errno == EINTR);
	if (n == 0 && ft->unsized) {
		ft->end = ft->pos;	/* its end: the size is what was read */
		task_file_done(ft, ft->pos);
		return;
	}
	if (n == 0) {
		task_file_fail(ft, REASON_IO_ERROR, "the file ended at %llu bytes "
		    "while it was read (it had %llu)",
		    (unsigned long long)ft->pos, (unsigned long long)ft->size);
		return;
	}
	if (n == -1) {
		task_file_fail(ft, REASON_IO_ERROR, "reading at %llu: %s",
		    (unsigned long long)ft->pos, strerror(errno));
		return;
	}
	EVP_DigestUpdate(ft->sha, ft->piece, (size_t)n);
	memset(&r, 0, sizeof r);
	r.status = STATUS_IN_PROGRESS;
	r.file = 2;
	r.data = ft->piece;
	r.data_len = (size_t)n;
	r.file_offset = ft->pos;
	r.file_size = ft->size;		/* 0 while unsized: not known yet */
	r.file_mode = ft->file_mode;
	ft->pos += (uint64_t)n;
	task_send_file(ft->task, &r, 0);
	event_active(ft->timer, EV_TIMEOUT, 0);
}

static int
task_file_download_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	struct agent *a = task_agent(t);
	struct file_task *ft;
	struct stat sb;
	int fd;

	if ((fd = files_open_read(a->opts, req->path, cause, why)) == -1)
		return -1;
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < req->offset) {
		xasprintf(cause, "offset %llu is past the end of %s (%lld "
		    "bytes)", (unsigned long long)req->offset, req->path,
		    (long long)sb.st_size);
		*why = REASON_BAD_REQUEST;
		close(fd);
		return -1;
	}
	if ((uint64_t)sb.st_size > a->opts->file_max_bytes) {
		xasprintf(cause, "%s is over files.max_bytes (%llu bytes)",
		    req->path, (unsigned long long)a->opts->file_max_bytes);
		*why = REASON_DENIED;
		close(fd);
		return -1;
	}
	ft = task_file_new(t, 0);
	ft->fd = fd;
	ft->size = (uint64_t)sb.st_size;
	ft->file_mode = (unsigned)(sb.st_mode & 07777);
	ft->start = ft->pos = req->offset;
	ft->end = req->length != 0 && req->length < ft->size - ft->pos ?
	    ft->pos + req->length : ft->size;
	/* A kernel file (/proc, /sys) says 0 bytes and has more. */
	if (ft->size == 0 && S_ISREG(sb.st_mode)) {
		ft->unsized = 1;
		ft->end = req->length != 0 ? ft->pos + req->length :
		    UINT64_MAX;
	}
	ft->piece = xmalloc(FILE_CHUNK_MAX);
	if ((ft->timer = event_new(a->base, -1, 0, task_file_on_piece, ft)) == NULL)
		fatalx("cannot create an event");
	ft->run = task_record_start(t, 0, NULL, NULL, NULL, NULL);
	log_info("task %s: download of %s (%llu bytes from %llu) started",
	    task_id(t), req->path, (unsigned long long)(ft->end - ft->pos),
	    (unsigned long long)ft->pos);
	event_active(ft->timer, EV_TIMEOUT, 0);
	return 0;
}

/* Starts an upload (its first chunk) or a download; the contract of
 * task_proc_start(). */
int
task_file_start(struct task *t, const struct request *req, char **cause,
    enum fail_reason *why)
{
	if (req->kind == REQUEST_UPLOAD)
		return task_file_upload_start(t, req, cause, why);
	return task_file_download_start(t, req, cause, why);
}

/* A later chunk of the upload that task T is; false if T is none. */
int
task_file_chunk(struct task *t, const struct request *req)
{
	struct file_task *ft;

	LIST_FOREACH(ft, &file_tasks, entry) {
		if (ft->task == t && ft->upload) {
			task_file_take_chunk(ft, req);
			return 1;
		}
	}
	return 0;
}

/* The spool has room: paused downloads go on. */
void
task_file_resume_all(void)
{
	struct file_task *ft;

	LIST_FOREACH(ft, &file_tasks, entry) {
		if (!ft->paused)
			continue;
		ft->paused = 0;
		event_active(ft->timer, EV_TIMEOUT, 0);
	}
}

/*
 * Agent exit with transfers still open: each is forgotten (its temporary
 * file removed) with its START record left in the journal.
 */
void
task_file_detach_all(void)
{
	struct file_task *ft;

	while ((ft = LIST_FIRST(&file_tasks)) != NULL) {
		ft->run = NULL;
		task_file_free(ft);
	}
}

/* Agent shutdown: every transfer ends, no temporary file left. */
void
task_file_cancel_all(void)
{
	struct file_task *ft, *next;

	LIST_FOREACH_SAFE(ft, &file_tasks, entry, next)
		task_file_cancel(ft);
}
