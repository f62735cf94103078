/*
 * agent.h: the one private header of nodelink-agent.
 *
 * The agent is a single libevent loop that owns all state; the threads
 * that block for it (gRPC's completion queue, the journal's writer and
 * syncer) hand results back as loop events.  Prototypes are grouped by
 * the file that defines them; each file's functions carry its name as
 * their prefix.  The files, by layer (each calls only its own layer and
 * those below; tests/check-layers.py checks it, doc/architecture.md
 * draws it):
 *
 *   main.c        start-up, signals, the loop, the one shutdown path
 *   dispatch.c    a request from the server -> what acts on its kind
 *   http.c        /healthz, /readyz, /metrics on the loop
 *   metrics-text.c  the counters as Prometheus text and health JSON
 *   reload.c      SIGHUP: the settings read again, the live ones applied
 *   notify.c      systemd's readiness protocol, watchdog, status
 *   recovery.c    what the previous agent left, put right at start
 *
 *   task-shell.c  shell tasks: SHELL -c CMD
 *   task-docker.c Docker operations through the Docker CLI
 *   task-file.c   file upload and download (files.c: confinement)
 *   task-proc.c   a task that is a process: spawn, pipes, kill, final
 *   admit.c       the concurrency limit and the queue behind it
 *   task.c        the task registry, its responses and finals
 *
 *   outbox.c      journal, then link; pausing task output; acks
 *   state.c       the state directory: lock, START records, seqs
 *   finished.c    finished tasks' finals, kept and indexed
 *   record.c      the state directory's record encoding (record.h)
 *   journal.c     checksummed records in segment files, its threads
 *
 *   link.c        the gRPC stream: calls, receives, reconnects
 *   link-cq.c     completion-queue thread -> loop bridge
 *   spool.c       outbound messages and the resend window (pure)
 *   wire.c        TaskRequest decoding and TaskResponse encoding
 *   msg.c         the message type; each task's stream of messages
 *
 *   framer.c      output bytes -> whole-line, UTF-8-safe chunks (pure)
 *   mask.c        secret values -> *** in output, split or not (pure)
 *   policy.c      the command policy: allow and deny rules
 *   limits.c, user.c  a task's resource limits; its user
 *   docker.c      Docker's grammar and the CLI's argument vectors (pure)
 *   files.c       where file transfer may read and write
 *   kill.c        a task's kill sequence: TERM, grace, KILL (pure)
 *   reaper.c      SIGCHLD -> the task that owns the pid
 *   track.c       where a task's processes are: its cgroup, or its
 *                 process group and the escapees a sweep finds
 *   metrics.c     the counters
 *   options.c, config.c  the settings: command line, environment, YAML
 *   tls.c         the agent's TLS certificate and key, checked at start
 *   timer.c       libevent timers in milliseconds
 *
 *   contain/      starting, containing and killing processes: spawn,
 *                 cgroups, the process tree (contain/contain.h)
 *   compat/       platform shims behind named functions (compat.h)
 *
 *   log.c, vis.c, utf8.c, buf.c, xmalloc.c  logging (every message
 *                 escaped), escaping, UTF-8 repair, buffers, allocation
 */

#ifndef NODELINK_AGENT_H
#define NODELINK_AGENT_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "compat/queue.h"

struct event_base;
struct dec;		/* record.h */

#define AGENT_NAME "nodelink-agent"

/* Attribute helpers; portable compilers without them lose only warnings. */
#if defined(__GNUC__) || defined(__clang__)
#define printflike(a, b) __attribute__((format(printf, a, b)))
#define noreturn_fn __attribute__((noreturn))
#else
#define printflike(a, b)
#define noreturn_fn
#endif

/* xmalloc.c: allocation never returns NULL to the caller. */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xmemdup0(const void *, size_t);
int xasprintf(char **, const char *, ...) printflike(2, 3);
int xvasprintf(char **, const char *, va_list) printflike(2, 0);

/* buf.c: a growable byte buffer. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *);
void buf_free(struct buf *);
void buf_reserve(struct buf *, size_t);
void buf_append(struct buf *, const void *, size_t);
void buf_consume(struct buf *, size_t);
void buf_clear(struct buf *);
struct stat;
int buf_read_file(struct buf *, const char *, int, size_t, struct stat *,
	    char **);

/* timer.c */
struct event;
void timer_add_ms(struct event *, uint64_t);

/* log.c */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level);
void log_detect_journald(void);
int log_parse_level(const char *, enum log_level *);
void log_set_json(int);
void log_set_secret(const char *);
void log_scope_secrets(char *const *, size_t);
void log_scope_clear(void);
void log_msg(enum log_level, const char *, ...) printflike(2, 3);
void log_trace(enum log_level, const char *, const char *, const char *,
	    ...) printflike(4, 5);
void log_vmsg(enum log_level, const char *, va_list) printflike(2, 0);
void noreturn_fn fatalx(const char *, ...) printflike(1, 2);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
/* (As OpenBSD's log_warnx: the caller says what errno meant, if it does.) */
#define log_warnx(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* vis.c: untrusted text escaped into bounded space (never allocates). */
#define VIS_JSON 1
size_t vis_escape(char *, size_t, const char *, size_t, int);
char *vis_strdup(const char *, size_t, size_t);

/* Resource limits of one task; 0 is "none" (kept in step with
 * ShellExecute.ResourceLimits). */
struct limits {
	uint64_t memory_bytes;
	uint64_t cpu_seconds;
	uint64_t max_processes;
	uint64_t max_open_files;
	uint64_t max_file_bytes;
	uint64_t max_output_bytes;
};
#define LIMITS_COUNT 6
/* What a task's processes used (TaskResponse.ResourceUsage). */
struct usage {
	uint64_t user_cpu_us, system_cpu_us, max_rss_kib, wall_ms;
	uint64_t stdout_bytes, stderr_bytes;
};
/* Why a final is a FAILURE, or what a limit did (TaskResponse.reason). */
enum fail_reason {
	REASON_NONE, REASON_BAD_REQUEST, REASON_BUSY, REASON_START_FAILED,
	REASON_TIMED_OUT, REASON_DENIED, REASON_LIMIT_EXCEEDED,
	REASON_AGENT_RESTARTED, REASON_IO_ERROR, REASON_CHECKSUM_MISMATCH,
	REASON_SHUTTING_DOWN,
};
const char *fail_reason_name(enum fail_reason);

/* options.c */
struct options {
	char *config;			/* YAML file, or NULL */
	char *server;			/* host:port[,host:port...] */
	char **servers;			/* ... split, at least one */
	size_t n_servers;
	int tls;
	char *tls_ca_file;
	char *tls_roots;		/* its PEM, read at start */
	char *tls_cert_file;		/* mutual TLS: the agent's own */
	char *tls_key_file;
	char *tls_cert, *tls_key;	/* their PEM, read at start */
	char *tls_server_name;
	char *log_level;		/* debug|info|warn|error */
	char *log_format;		/* text|json */
	char *agent_id;
	char *agent_token;
	char *agent_token_file;		/* the token, re-read on reconnect */
	char *token_warning;		/* the file is readable by others */
	int check_config;		/* print the settings and exit */
	char **origins;			/* where each setting came from */
	char *shell;			/* runs tasks as: shell -c cmd */
	char *docker_binary;		/* the Docker CLI (or podman) */
	char *wire_dialect;		/* auto|design|upstream */
	char *cgroup_root;		/* auto|none|DIR */
	char *state_dir;		/* DIR|none */
	char *file_roots;		/* file transfer beneath these */
	uint64_t file_max_bytes;
	unsigned file_idle_timeout_s;
	int state_dir_explicit;		/* given, not the default */
	unsigned delivery_wait_s;	/* exit: wait for the server */
	char *http_listen;		/* ADDR:PORT, or NULL */
	int verbose;
	unsigned flush_delay_ms;	/* partial lines wait this long */
	unsigned spool_mib;		/* outbound output before pipes pause */
	unsigned reconnect_initial_ms;
	unsigned reconnect_max_ms;
	unsigned reconnect_multiplier_pct;
	unsigned keepalive_ms;
	unsigned keepalive_timeout_ms;
	unsigned kill_grace_s;		/* SIGTERM to SIGKILL; 0: SIGKILL */
	unsigned drain_timeout_s;	/* SIGQUIT's drain, at most (0: none) */
	unsigned default_timeout_s;	/* 0: none */
	unsigned max_concurrent_tasks;
	unsigned max_queued_tasks;
	uint64_t max_queued_bytes;
	uint64_t max_task_input;
	/* Task controls; a reload applies them. */
	struct limits limit_default;	/* for tasks that ask for none */
	struct limits limit_ceiling;	/* what no task gets more of */
	char *allowed_users;		/* user switching: names or uids */
	char *sandbox_image;		/* every shell task in a container */
	int sandbox_network;
	struct rules *policy_allow, *policy_deny, *policy_images;
	struct rules *policy_allow_env;	/* names the guard below lets by */
};
enum options_result { OPTIONS_OK, OPTIONS_EXIT, OPTIONS_ERROR };
void options_init(struct options *);
void options_free(struct options *);
enum options_result options_parse(struct options *, int, char **,
	    char *const *, char **);
int options_read_token(struct options *, char **);
char *options_help(void);
char *options_describe(const struct options *);
char *options_version(void);

/* config.c: the YAML configuration file, flattened to section.name. */
struct config_item {
	char *key;
	char *value;		/* a list's items joined with commas */
	unsigned long line;
	int list;		/* the file gave a list */
	char **items;		/* ... whose items are these */
	unsigned long *lines;	/* ... on these lines */
	size_t n_items;
};
struct config {
	struct config_item *items;
	size_t n;
};
int config_parse(const char *, size_t, const char *, struct config *,
	    char **);
int config_load(const char *, struct config *, char **);
const struct config_item *config_find(const struct config *, const char *);
void config_free(struct config *);

/* policy.c: the command policy's regular expressions. */
struct rules;
struct rules *rules_compile(const char *, char *const *,
	    const unsigned long *, size_t, const char *, char **);
size_t rules_count(const struct rules *);
char *rules_describe(const struct rules *);
void rules_free(struct rules *);
int policy_check_command(const struct options *, const char *, char **);
int policy_check_image(const struct options *, const char *, char **);
int policy_check_env(const struct options *, char *const *, size_t,
	    char *const *, size_t, char **);

/* crc32c.c */
uint32_t crc32c(uint32_t, const void *, size_t);
uint32_t crc32c_portable(uint32_t, const void *, size_t);

/* journal.c: an append-only log of checksummed records in segments. */
struct journal;
struct jrec {
	int type;
	const unsigned char *data;	/* the payload */
	size_t len;
	uint64_t seg, offset;
};
struct iovec_c {
	const void *base;
	size_t len;
};
struct journal *journal_open(struct event_base *, const char *, const char *,
	    uint64_t, char **);
void journal_on_rotate(struct journal *, void (*)(void *), void *);
int journal_replay(struct journal *, void (*)(void *, const struct jrec *),
	    void *, char **);
uint64_t journal_append(struct journal *, int, const struct iovec_c *,
	    size_t, int, int, uint64_t *);
uint64_t journal_append_ahead(struct journal *, int, const void *, size_t,
	    const void *, size_t, int, void *, int *);
int journal_pass(struct journal *, void *);
uint64_t journal_append_durable(struct journal *, int, const void *, size_t);
size_t journal_queued(const struct journal *);
uint64_t journal_queued_bytes(const struct journal *);
void journal_on_written(struct journal *, void (*)(void *, void *, uint64_t),
	    void *);
void journal_replay_done(struct journal *);
void journal_retain(struct journal *, uint64_t);
void journal_release(struct journal *, uint64_t);
int journal_read(struct journal *, uint64_t, uint64_t, struct buf *);
void journal_each_segment(struct journal *, void (*)(void *, uint64_t, size_t,
	    time_t), void *);
void journal_drop(struct journal *, uint64_t);
uint64_t journal_bytes(const struct journal *);
uint64_t journal_current(const struct journal *);
void journal_close(struct journal *);

/* state.c: the state directory: its lock, journal, START records. */
struct srun;
struct msg;
struct link;
struct agent;
struct task;
int state_open(struct event_base *, const char *, int, char **);
int state_active(void);
const char *state_directory(void);
struct journal *state_journal(void);
uint64_t state_journal_bytes(void);
void state_drop_journal(void);
struct srun *state_task_started(const struct srun *, struct srun **);
void state_task_ended(struct srun *);
void state_task_done(const char *);
void state_seq_use(struct srun *, uint64_t);
void state_close(void);

/* finished.c: the finished tasks a state directory remembers. */
int finished_open(struct event_base *, const char *, char **);
void finished_add(const char *, const struct msg *);
struct msg *finished_final(const char *);
size_t finished_count(void);
void finished_close(void);

/* handover.c: re-executing in place (SIGUSR2), tasks untouched. */
void handover_init(char **, uint64_t);
void handover_begin(struct agent *);
void handover_stop(void);
int handover_load(void);
int handover_has_task(const char *);
void handover_adopt(struct agent *);

/* head.c: today's upstream protocol on the agent's machinery. */
void head_request(struct agent *, const void *, size_t);
void head_restarted(const char *, int);
int head_adopt_sink(const char *, int, struct dec *);
void head_stop(void);

/* recovery.c: what the previous agent left, put right at start. */
void recovery_run(struct agent *, int (*)(const char *));

/* outbox.c: journal, then link; the pause of task output; acks. */
void outbox_init(struct link *, void (*)(void *), void *);
void outbox_send(struct msg *, const char *, int);
void outbox_send_first(struct msg *);
void outbox_journal(struct msg *, const char *, int);
size_t outbox_queued(void);
int outbox_congested(void);
void outbox_resume_readers(void);
void outbox_ack(const char *, uint64_t);
void outbox_sent(const struct msg *);

/* wire-head.c: today's upstream protocol (--wire-dialect upstream-head). */
enum head_kind {
	HEAD_NONE,		/* a message of a kind this agent does not know */
	HEAD_PING,
	HEAD_COMMAND,
	HEAD_TERM_CREATE,
	HEAD_TERM_COMMAND,
	HEAD_TERM_CLOSE,
	HEAD_METRICS,
	HEAD_SYSINFO,
};
struct head_request {
	enum head_kind kind;
	int64_t timestamp;	/* a ping's */
	char *id;		/* request_id, or a terminal's session_id */
	char *command_id;	/* a terminal command's */
	char *command;		/* a command, or a terminal command's text */
	size_t command_len;	/* (the latter may hold NUL bytes) */
	char **args;
	size_t n_args;
	char **env;		/* NAME=VALUE */
	size_t n_env;
	char *working_dir;
	char *shell;
	int32_t timeout_seconds;
};
/* hostinfo.c: the host's figures, as upstream's metrics library gives them. */
#define HOST_TOP_PROCS 10
struct host_disk {
	char *device, *mountpoint, *fstype;
	int64_t total, used, free;
	double used_percent;
};
struct host_net {
	char *name;
	int64_t bytes_sent, bytes_recv, packets_sent, packets_recv;
	int64_t errors_in, errors_out, drops_in, drops_out;
};
struct host_proc {
	int32_t pid;
	char *name;
	double cpu_percent;
	int64_t rss, vms;
	const char *status;
	int64_t create_time;	/* Unix milliseconds, whole seconds */
	int32_t threads;
};
struct host_metrics {
	double cpu_percent;
	int64_t mem_total, mem_available, mem_used, mem_free, mem_cached;
	int64_t mem_buffers;
	double mem_used_percent;
	struct host_disk *disks;
	size_t n_disks;
	struct host_net *nets;
	size_t n_nets;
	struct host_proc procs[HOST_TOP_PROCS];
	size_t n_procs;
	int64_t timestamp;
	double load[3];
};
struct host_info {
	char *hostname, *platform, *arch, *os_version, *kernel;
	int32_t cpus;
	int64_t total_memory;
	char **ifaces;
	size_t n_ifaces;
	int64_t uptime;
};
int wire_head_decode(const void *, size_t, struct head_request *, char **);
void wire_head_request_free(struct head_request *);
struct msg *wire_head_pong(int64_t, int64_t);
struct msg *wire_head_command(const char *, int, const char *, size_t,
	    const char *, size_t, const char *, int);
struct msg *wire_head_term_create(const char *, int, const char *,
	    const char *);
struct msg *wire_head_term_output(const char *, const char *, const char *,
	    size_t, const char *, size_t, int, int);
struct msg *wire_head_term_close(const char *, int, const char *);
struct msg *wire_head_metrics(const char *, const struct host_metrics *,
	    const char *);
struct msg *wire_head_sysinfo(const char *, const struct host_info *,
	    const char *);
int host_metrics_read(struct host_metrics *, char **);
void host_metrics_free(struct host_metrics *);
int host_info_read(struct host_info *, char **);
void host_info_free(struct host_info *);
int host_cpu_sample(uint64_t *, uint64_t *);

/* utf8.c */
size_t utf8_repair(const void *, size_t, struct buf *, int);
size_t utf8_valid_char(const unsigned char *, size_t);
size_t utf8_valid_prefix(const void *, size_t);
int utf8_valid(const void *, size_t);

/* framer.c: cuts one output stream into messages. */
struct framer {
	struct buf pending;	/* bytes read but not yet sent */
	struct buf scratch;	/* the repaired text of one chunk */
	size_t max_piece;	/* longest chunk of input, in bytes */
};
typedef void (*framer_emit_fn)(void *, const char *, size_t);
void framer_init(struct framer *, size_t);
void framer_free(struct framer *);
void framer_push(struct framer *, const void *, size_t, framer_emit_fn, void *);
void framer_flush(struct framer *, int, framer_emit_fn, void *);
size_t framer_pending(const struct framer *);

/* mask.c: secret values replaced by *** in a stream of output (pure). */
#define MASK_MIN_LEN 4
struct mask {
	char **values;
	size_t *lens;
	size_t n;
	unsigned char first[256];	/* bytes a secret begins with */
	struct buf held;		/* could be the start of one */
};
void mask_init(struct mask *, char *const *, size_t);
int mask_active(const struct mask *);
void mask_push(struct mask *, const void *, size_t, struct buf *);
void mask_flush(struct mask *, struct buf *);
size_t mask_held(const struct mask *);
void mask_drop(struct mask *);
char *mask_entries_in(char *const *, size_t, const char *);
void mask_free(struct mask *);

/* backoff.c: delays between reconnect attempts, without clock or globals. */
struct backoff {
	uint64_t initial_ms;
	uint64_t max_ms;
	unsigned multiplier_pct;	/* 150 is 1.5x */
	uint64_t ceiling_ms;		/* the current upper bound */
	uint64_t healthy_ms;		/* up this long: start over */
	uint64_t up_since_ms;
	int up;
};
typedef uint32_t (*backoff_random_fn)(void *);
void backoff_init(struct backoff *, uint64_t, uint64_t, unsigned, uint64_t);
void backoff_connected(struct backoff *, uint64_t);
uint64_t backoff_next(struct backoff *, uint64_t, backoff_random_fn, void *);
void backoff_reset(struct backoff *);

/* wire.c: the only file that sees protobuf-c's types. */
enum request_kind {
	REQUEST_NONE,		/* no task set */
	REQUEST_SHELL,
	REQUEST_DOCKER,
	REQUEST_CANCEL,
	REQUEST_ACK,		/* the server stored the task up to seq */
	REQUEST_INPUT,		/* stdin bytes for a running task */
	REQUEST_RESIZE,		/* a PTY task's new size */
	REQUEST_UPLOAD,		/* a chunk of a file to write */
	REQUEST_DOWNLOAD,	/* a file to read */
	REQUEST_LOG,		/* the released upstream's log_message (5) */
};
struct request {
	char *agent_id;
	char *task_id;
	enum request_kind kind;
	const void *wire;	/* the message as received (while dispatched) */
	char *log_message;	/* REQUEST_LOG */
	size_t wire_len;	/* the message's size (admit.c counts it) */
	/* REQUEST_SHELL */
	char *cmd;
	char **env;
	size_t n_env;
	char *working_dir;
	uint32_t timeout_seconds;
	char *traceparent;	/* valid W3C traceparent, or NULL */
	struct limits limits;	/* as requested, 0: none */
	char *user;		/* run as, or "" */
	char *sandbox_image;	/* or "" */
	int sandbox_network;
	char **secret_env;	/* NAME=VALUE, masked in output */
	size_t n_secret_env;
	uint64_t ack_seq;	/* REQUEST_ACK */
	int pty;		/* REQUEST_SHELL: on a terminal */
	unsigned rows, cols;	/* ... and REQUEST_RESIZE */
	int want_stdin;		/* stdin fed by TaskInput */
	unsigned char *input;	/* REQUEST_INPUT, REQUEST_UPLOAD's data */
	size_t input_len;
	int input_eof;
	char *path;		/* REQUEST_UPLOAD, REQUEST_DOWNLOAD */
	uint64_t offset, length;
	int last, overwrite;	/* REQUEST_UPLOAD */
	unsigned mode;
	char *sha256;
	/* REQUEST_CANCEL */
	char *reason;
	int cancel_upstream;	/* answer at upstream's field (wire.c) */
	/* REQUEST_DOCKER */
	struct docker_op *docker;
};
enum docker_kind {
	DOCKER_NONE, DOCKER_RUN, DOCKER_START, DOCKER_STOP, DOCKER_LOGS,
	DOCKER_PULL, DOCKER_REMOVE, DOCKER_LIST, DOCKER_INSPECT,
};
struct docker_op {
	enum docker_kind kind;
	char *img;		/* run, pull */
	char *id;		/* start, stop, logs, remove, inspect */
	char *name;		/* run */
	char **args;		/* run: the container's command */
	size_t n_args;
	char **env;		/* run: KEY=VALUE */
	size_t n_env;
	char **ports;		/* run */
	size_t n_ports;
	char **volumes;		/* run */
	size_t n_volumes;
	int detach, remove;	/* run */
	uint32_t stop_timeout;	/* stop */
	int follow, timestamps;	/* logs */
	char *tail;		/* logs */
	int force;		/* remove */
	int all;		/* list */
	/* A sandboxed shell task's run (task-shell.c; not from the wire). */
	int sandbox;		/* --interactive, --network=none unless: */
	int network;
	const char *workdir;	/* --workdir, or NULL */
	const char *user;	/* --user, or NULL */
	char *const *env_names;	/* --env=NAME: the value from the CLI's */
	size_t n_env_names;	/* environment, never on its command line */
	struct limits limits;	/* --memory, --pids-limit, --ulimit */
};
enum response_status {
	STATUS_UNKNOWN = 0,
	STATUS_COMPLETED = 1,
	STATUS_FAILURE = 2,
	STATUS_IN_PROGRESS = 3,
};
enum output_stream { OUTPUT_STDOUT, OUTPUT_STDERR };
struct response {
	const char *agent_id;
	const char *task_id;
	int docker;		/* DockerOperationResponse, else ShellExecute */
	const char *container_id;
	uint64_t seq;
	enum response_status status;
	int is_final;
	int cancelled;
	int is_cancel_reply;	/* task_cancel response, else shell_execute */
	int cancel_upstream;	/* ... at upstream's field 7, not 8 */
	enum output_stream stream;
	const char *text;	/* output, reason or cancel message */
	size_t text_len;
	int exit_code;
	enum fail_reason reason;
	const struct usage *usage;	/* or NULL */
	int file;		/* 1: FileUploadResponse, 2: Download */
	uint64_t file_size, file_offset;
	unsigned file_mode;
	const char *sha256;	/* or NULL */
	const unsigned char *data;	/* a download's bytes */
	size_t data_len;
};
struct tstream;
struct msg {
	STAILQ_ENTRY(msg) entry;	/* in the spool or its window */
	struct tstream *ts;	/* its task's stream (msg.c), or NULL */
	uint64_t seq;
	uint64_t jseg;		/* the journal segment holding it, or 0 */
	int head;		/* an AgentMessage (upstream-head), not a
				   TaskResponse */
	/* 1, and 1 more while gRPC holds its bytes (link.c): the last of
	 * msg_free() and gRPC's release frees it, on either thread. */
	unsigned refs;
	size_t len;
	unsigned char data[];
};
/* msg.c: the message type, and each task's stream of messages. */
struct msg *msg_new(size_t);
void msg_free(struct msg *);
void msg_unref(struct msg *);
int msg_acked(const struct msg *);
void msg_set_release(void (*)(uint64_t));
struct tstream *tstream_new(const char *, uint64_t);
struct tstream *tstream_find(const char *);
struct tstream *tstream_ref(struct tstream *);
void tstream_unref(struct tstream *);
void tstream_ack(struct tstream *, uint64_t);
void tstream_orphan(struct tstream *);
const char *tstream_id(const struct tstream *);
uint64_t tstream_acked(const struct tstream *);
uint64_t tstream_seq(const struct tstream *);
uint64_t tstream_next(struct tstream *);
void tstream_set_seq(struct tstream *, uint64_t);
STAILQ_HEAD(msg_queue, msg);
enum wire_dialect {
	WIRE_AUTO,		/* StreamTasks, or StreamCommunication where that
				   is UNIMPLEMENTED; each cancel's numbering */
	WIRE_DESIGN,		/* StreamTasks, the design's numbering */
	WIRE_UPSTREAM,		/* StreamTasks, the released upstream's */
	WIRE_HEAD,		/* StreamCommunication (today's upstream) */
};
int wire_parse_dialect(const char *, enum wire_dialect *);
void wire_set_dialect(enum wire_dialect);
enum wire_dialect wire_dialect(void);
int wire_is_upstream(void);
int wire_decode_request(const void *, size_t, struct request *, char **);
void wire_request_free(struct request *);
struct msg *wire_encode_response(const struct response *);

/* spool.c: outbound messages in order, and the window of those sent. */
struct spool {
	struct msg_queue queue;		/* waiting to be sent */
	size_t bytes, count;
	struct msg_queue window;	/* sent, kept for a resend */
	size_t win_bytes, win_count;
	size_t win_max_bytes, win_max_count;
	int acking;		/* the server acks: keep until acked */
};
void spool_init(struct spool *, size_t, size_t);
void spool_set_acking(struct spool *, int);
size_t spool_trim(struct spool *);
void spool_push(struct spool *, struct msg *);
void spool_push_first(struct spool *, struct msg *, int);
void spool_drop_first(struct spool *);
void spool_set_window(struct spool *, size_t);
struct msg *spool_peek(const struct spool *);
void spool_ack(struct spool *);
size_t spool_rewind(struct spool *);
size_t spool_bytes(const struct spool *);
size_t spool_count(const struct spool *);
void spool_each(const struct spool *, void (*)(void *, const struct msg *),
	    void *);
void spool_free(struct spool *);

/* link-cq.c: gRPC completion queue drained by a thread into the loop. */
struct link_op {
	void (*done)(struct link_op *, int);
};
struct link_cq;
struct link_cq *link_cq_start(struct event_base *);
void *link_cq_queue(struct link_cq *);
void link_cq_stop(struct link_cq *);

/* link.c */
struct link;
struct link_handlers {
	void (*request)(void *, const void *, size_t);
	void (*drained)(void *);	/* the spool is below its low mark */
	void (*sent)(void *, const struct msg *);	/* to a server that never
						   acknowledges (or NULL) */
	void *arg;
};
struct link *link_new(struct event_base *, struct options *,
	    const struct link_handlers *);
void link_start(struct link *);
void link_send(struct link *, struct msg *);
void link_send_first(struct link *, struct msg *);
int link_speaks_head(const struct link *);
void link_prefer_head(struct link *);
int link_congested(const struct link *);
int link_busy(struct link *);
int link_holding(const struct link *);
void link_acked(struct link *);
int link_idle(const struct link *);
int link_connected(const struct link *);
const char *link_server(const struct link *);
const char *link_status_name(int);	/* a gRPC status code's name */
size_t link_spooled(const struct link *);
void link_each_message(const struct link *,
	    void (*)(void *, const struct msg *), void *);
void link_close(struct link *);
void link_free(struct link *);

/* dispatch.c: registers tasks and knows their kinds. */
struct agent;
struct task;
void dispatch_request(struct agent *, const void *, size_t);
int dispatch_start(struct task *, const struct request *);

/*
 * What every part of the loop shares, passed as `struct agent *'; each
 * file's own state (the registry, the queue, the running list) is a
 * file-static variable named after the file.
 */
struct agent {
	struct event_base *base;
	struct options *opts;
	struct link *link;
	int shutting_down;
	int draining;		/* SIGQUIT: no new tasks, the rest finish */
};
/* task.c: the registry, the per-state counts, the messages tasks send. */
enum task_state { TASK_NEW, TASK_QUEUED, TASK_RUNNING, TASK_FINISHED };
enum task_kind {
	TASK_KIND_SHELL, TASK_KIND_DOCKER, TASK_KIND_FILE,
	TASK_KIND_COMMAND,	/* today's upstream: a CommandRequest */
	TASK_KIND_TERMINAL,	/* ... a terminal session */
};
#define TASK_ID_MAX 1024	/* longer IDs are refused */
struct task *task_find(const char *);
struct task *task_new(struct agent *, const char *, const char *,
	    enum task_kind);
void task_set_state(struct task *, enum task_state);
enum task_state task_state(const struct task *);
size_t task_count(enum task_state);
const char *task_id(const struct task *);
enum task_kind task_kind(const struct task *);
struct agent *task_agent(const struct task *);
void task_set_cancel(struct task *, int (*)(void *), void *);
void task_set_io(struct task *, void (*)(void *, const struct request *),
	    void (*)(void *, unsigned, unsigned));
void task_input(struct agent *, const struct request *);
void task_set_container_id(struct task *, const char *);
int task_cancel(struct task *);
void task_send_output(struct task *, enum output_stream, const char *, size_t);
struct final {
	enum response_status status;
	int exit_code;
	int cancelled;
	enum fail_reason reason;
	const char *text;		/* the reason, on stderr; or NULL */
	int signal;			/* that ended it, or 0: it exited */
	const struct usage *usage;	/* or NULL */
};
/* Where a task of today's upstream protocol sends (head.c). */
struct task_sink {
	void (*output)(void *, enum output_stream, const char *, size_t);
	void (*final)(void *, const struct final *);	/* its last call */
	int kind;		/* for a re-execution (head.c's) */
	void (*handover)(void *, struct buf *);	/* its state, for one */
};
void task_set_sink(struct task *, const struct task_sink *, void *);
void task_each_sunk(void (*)(void *, const char *, const struct task_sink *,
	    void *), void *);
void task_forget(struct task *);
void task_send_final(struct task *, const struct final *);
void task_send_file(struct task *, const struct response *, int);
void task_resend_final(struct task *);
void task_send_cancel_reply(struct task *, const struct request *,
	    const char *);
void task_cancel_unknown(struct agent *, const struct request *,
	    const char *);
void task_fail(struct task *, enum fail_reason, const char *, ...)
	    printflike(3, 4);
void task_refuse(struct agent *, const struct request *, enum fail_reason,
	    const char *, ...) printflike(4, 5);
void task_free_all(void);
struct task *task_restore(struct agent *, const char *, const char *, int,
	    uint64_t, const struct msg *);
struct tstream *task_stream(struct task *);
void task_each_finished(void (*)(void *, const char *, const char *, int,
	    const struct msg *), void *);
struct srun *task_record_start(struct task *, pid_t, const char *,
	    const char *, const char *, const char *);
void task_restore_interrupted(struct agent *, const char *, const char *,
	    int, uint64_t);
const char *task_reply_id(const struct task *);

/* admit.c: the concurrency limit and the queue behind it. */
typedef int (*admit_start_fn)(struct task *, const struct request *);
void admit_init(struct agent *, admit_start_fn);
void admit_request(struct task *, struct request *);
void admit_task_done(void);
void admit_cancel_all(void);
void admit_each_queued(void (*)(void *, const void *, size_t), void *);
void admit_free(void);

/* kill.c: a task's kill sequence, without I/O. */
enum kill_state { KILL_IDLE, KILL_TERM_SENT, KILL_KILL_SENT };
struct kill_seq {
	enum kill_state state;
	uint64_t grace_ms;
};
void kill_init(struct kill_seq *, uint64_t);
int kill_begin(struct kill_seq *, int *);
int kill_expire(struct kill_seq *);
int kill_hurry(struct kill_seq *);
int kill_current_signal(const struct kill_seq *);
void kill_plan(uint64_t, char *, size_t);

/* task-proc.c: a task that is a process, whatever its kind. */
struct proc_hooks {
	/* A cancel: extra work, such as stopping a container. */
	void (*cancel)(void *, unsigned);
	/* Output as it is sent. */
	void (*output)(void *, enum output_stream, const char *, size_t);
	/* Before the final message: may set its status and reason, returns
	 * its text (kept until the hook argument is freed). */
	const char *(*finish)(void *, struct task *, int,
	    enum response_status *, enum fail_reason *);
	void (*free)(void *);
	/* Its state for the re-executed agent (handover.c), or NULL. */
	void (*handover)(void *, struct buf *);
};
/* A user to run a task as (user.c). */
struct run_as {
	char *name;
	char *home;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
};
int user_resolve(const struct options *, const char *, struct run_as *,
	    char **);
void user_free(struct run_as *);
struct proc_spec {
	const char *path;	/* the program, found */
	char *const *argv;
	char *const *env;	/* NAME=VALUE entries added to the agent's */
	size_t n_env;
	char *const *secret_env;	/* ... and these, whose values are */
	size_t n_secret_env;		/* masked in the output */
	struct limits limits;	/* in force; 0: none */
	const struct run_as *user;	/* or NULL: the agent's */
	int want_stdin;		/* stdin a pipe fed by TaskInput */
	int pty;		/* on a terminal of rows x cols */
	unsigned rows, cols;
	const char *dir;	/* or NULL */
	const char *what;	/* for the log */
	unsigned timeout_s;	/* 0: the agent's default */
	int no_timeout;		/* none at all (a terminal session) */
	int no_grace;		/* SIGKILL at once on a timeout or cancel */
	const char *traceparent;	/* the request's, or NULL */
	const struct proc_hooks *hooks;
	void *hook_arg;
	const char *container;	/* the Docker container it runs, or NULL */
	int script_fd;		/* the child's descriptor 4, or 0/-1 */
};
#define TASK_START_LATER 1	/* no descriptors now: try again later */
/* Every task's processes carry PROC_MARKER=<agent pid>-<serial>. */
#define PROC_MARKER "NODELINK_AGENT_TASK"
int task_proc_start(struct task *, const struct proc_spec *, char **);
char *task_proc_find_program(const char *);
char **task_proc_env(char *const *, size_t, const char *);
void task_proc_resume_all(void);
void task_proc_cancel_all(void);
void task_proc_hurry_all(void);
void task_proc_detach_all(void);
size_t task_proc_handover(void (*)(void *, const struct buf *), void *,
	    struct buf *);
void task_proc_handover_cancelled(void);
unsigned long task_proc_serial(void);
void task_proc_set_serial(unsigned long);
void task_proc_adopted_start(void);
void task_proc_pause_all(void);
int task_proc_adopt(struct agent *, struct dec *, const struct proc_hooks *,
	    void *, const char *, char **);
void task_proc_set_nofile(uint64_t, uint64_t);

/* limits.c: a request's limits against the agent's defaults and
 * ceilings, and how each is enforced. */
void limits_effective(const struct options *, const struct limits *,
	    const char *, struct limits *);
char *limits_describe_value(size_t, uint64_t);
#define LIMITS_MIN_MEMORY (4U << 20)
int limits_check(const struct limits *, char **);
const char *limits_name(size_t);

/* task-shell.c */
int task_shell_start(struct task *, const struct request *, char **,
	    enum fail_reason *);

/* task-file.c: file upload and download; files.c: where they may go. */
int task_file_start(struct task *, const struct request *, char **,
	    enum fail_reason *);
int task_file_chunk(struct task *, const struct request *);
void task_file_resume_all(void);
void task_file_cancel_all(void);
void task_file_detach_all(void);
int files_open_read(const struct options *, const char *, char **,
	    enum fail_reason *);
void files_use_openat2(int);
#define FILES_CHUNK_MAX (1024 * 1024)
enum chunk_verdict {
	CHUNK_WRITE, CHUNK_REPEAT, CHUNK_GAP, CHUNK_TOO_BIG, CHUNK_OVER_MAX,
	CHUNK_OVERFLOW,
};
enum chunk_verdict files_chunk_verdict(uint64_t, uint64_t, size_t, uint64_t);
char *files_temp_name(const char *, unsigned long);
int files_is_temp_name(const char *);
int files_remove_temp(const struct options *, const char *, const char *);
int files_open_parent(const struct options *, const char *, const char **,
	    char **, enum fail_reason *);

/* task-docker.c */
int task_docker_adopt(struct agent *, struct dec *,
	    const struct proc_hooks **, void **, const char **);
int task_docker_start(struct task *, const struct request *, char **,
	    enum fail_reason *);

int task_docker_sandbox(struct task *, const struct request *, const char *,
	    int, const struct limits *, const char *, char **,
	    enum fail_reason *);

/* docker.c: Docker's grammar and the CLI's argument vectors (pure). */
int docker_check_image(const char *);
int docker_check_container(const char *);
int task_docker_remove_now(const struct options *, const char *, unsigned);
int docker_check_name(const char *);
int docker_check_port(const char *);
int docker_check_volume(const char *);
int docker_check_env(const char *);
int docker_check_tail(const char *);
char **docker_argv(const struct docker_op *, const char *, const char *,
	    const char *, const char *, char **);
void docker_argv_free(char **);

/* track.c: where a task's processes are (a cgroup, or its process group
 * and the escapees a sweep of the agent's children finds). */
struct track;
void track_init(struct event_base *, const char *);
void track_shutdown(void);
struct track *track_new(const char *, void (*)(void *), void *, char **);
void track_set_owner(struct track *, void *);
int track_cgroup_open(const struct track *);
int track_has_cgroup(const struct track *);
const char *track_cgroup_path(const struct track *);
void track_main_exited(struct track *);
void track_started(struct track *, pid_t);
void track_signal(struct track *, int);
int track_alive(struct track *);
int track_cpu(const struct track *, uint64_t *, uint64_t *);
void track_forget(pid_t);
void track_free(struct track *);
unsigned long track_prepare_exec(void);
void track_set_serial(unsigned long);
const char *track_marker(const struct track *);
struct track *track_adopt(const char *, const char *, void (*)(void *),
	    void *, char **);
int track_kill_cgroup_at(const char *);
int track_kill_verified(pid_t, uint64_t, const char *);

/* notify.c: READY=1 and STOPPING=1 for systemd (Type=notify). */
void notify_systemd(const char *);
uint64_t notify_watchdog_start(struct event_base *,
	    void (*)(char *, size_t));
void notify_status(void);
void notify_stop(void);

/* reload.c: SIGHUP re-reads the configuration. */
int reload_options(struct options *, int, char **, char *const *);

/* tls.c: the agent's own certificate and key, checked at start. */
int tls_check_pair(const char *, const char *, const char *, const char *,
	    char **);

/* metrics.c: the counters (their text: metrics-text.c). */
#define METRICS_KINDS 5		/* shell, docker, file, command, terminal */
#define METRICS_OUTCOMES 5
#define METRICS_BUCKETS 12
#define METRICS_GRPC_CODES 17	/* OK .. UNAUTHENTICATED */
#define METRICS_REASONS (REASON_SHUTTING_DOWN + 1)
enum metrics_outcome {
	OUTCOME_SUCCEEDED, OUTCOME_EXITED_NONZERO, OUTCOME_FAILED,
	OUTCOME_CANCELLED, OUTCOME_TIMED_OUT,
};
struct metrics {
	double start_time;
	uint64_t connects, disconnects;
	double last_server_message;
	uint64_t started[METRICS_KINDS];
	uint64_t finished[METRICS_KINDS][METRICS_OUTCOMES];
	uint64_t duration_buckets[METRICS_KINDS][METRICS_BUCKETS];
	uint64_t duration_count[METRICS_KINDS];
	double duration_sum[METRICS_KINDS];
	uint64_t output_bytes[2];
	uint64_t messages_sent, messages_resent, malformed;
	uint64_t acks, acks_unknown;
	uint64_t input_dropped, input_refused;
	uint64_t connect_attempts[METRICS_GRPC_CODES];	/* by status */
	uint64_t refused[METRICS_REASONS];	/* never-started tasks */
};
extern struct metrics metrics;
/* What the counters do not hold, gathered when asked. */
struct metrics_state {
	int connected;
	const char *server;
	size_t running, queued, spool_bytes;
	unsigned max_running, max_queued;	/* the capacity */
	int draining, shutting_down;
};
extern const double metrics_buckets[];
double metrics_now(void);
void metrics_init(void);
void metrics_server_message(void);
void metrics_task_started(enum task_kind);
void metrics_task_finished(enum task_kind, enum metrics_outcome, double);
double metrics_server_message_age(void);
/* metrics-text.c */
char *metrics_render(const struct metrics_state *);
char *metrics_health(const struct metrics_state *, const char *);

/* http.c: /healthz, /readyz and /metrics on the loop (evhttp). */
int http_start(struct agent *, const char *, char **);
void http_stop(void);

/* reaper.c: one SIGCHLD handler reaps every child and dispatches by pid. */
struct rusage;
typedef void (*reaper_fn)(void *, pid_t, int, const struct rusage *);
void reaper_start(struct event_base *);
void reaper_watch(pid_t, reaper_fn, void *);
int reaper_exited(pid_t);
void reaper_unwatch(pid_t);
void reaper_reap(pid_t);
void reaper_stop(void);

/* compat/ */
#include "compat/compat.h"
#include "contain/contain.h"

#endif /* NODELINK_AGENT_H */
