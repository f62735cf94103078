/*
 * recovery.c: at start, before connecting, the journal is read back and
 * what the previous agent left is put right.  A task that was running
 * when it died is killed (its cgroup, or its verified pid and process
 * group, and any process carrying its marker; its container and partial
 * upload removed) and gets, after the messages journaled for it, a
 * FAILURE final with reason AGENT_RESTARTED; every message the server had
 * not acknowledged is sent again, with its original bytes and seq.
 *
 * A record is input like any other, whoever wrote it: what it names is
 * acted on only where the agent's own checks allow (track.c, files.c).
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "compat/tree.h"
#include "record.h"

/* How long the start waits for `docker rm' of a container left behind. */
#define RECOVERY_DOCKER_WAIT_S 30

struct rmsg {
	TAILQ_ENTRY(rmsg) entry;
	struct rtask *rt;
	uint64_t seq, seg;
	struct msg *m;
};
TAILQ_HEAD(rmsg_list, rmsg);

struct rtask {
	RB_ENTRY(rtask) entry;
	char *id;
	uint64_t max_seq, acked;
	int final;		/* its final message is journaled */
	int started;		/* a START record */
	int left;		/* running when the previous agent died */
	int killed;		/* ... and something of it was still there */
	struct srun run;	/* ... its fields */
	struct msg *final_msg;
	struct msg *stored;	/* its final, found only in finished/ */
};
RB_HEAD(rtask_tree, rtask);

static int
rtask_cmp(struct rtask *a, struct rtask *b)
{
	return strcmp(a->id, b->id);
}

RB_PROTOTYPE(rtask_tree, rtask, entry, rtask_cmp)
RB_GENERATE(rtask_tree, rtask, entry, rtask_cmp)

struct replay {
	struct rtask_tree tasks;
	struct rmsg_list msgs;
	size_t n_msgs, n_bad;
};

static struct rtask *
replay_task(struct replay *rp, char *id)
{
	struct rtask key, *rt;

	key.id = id;
	if ((rt = RB_FIND(rtask_tree, &rp->tasks, &key)) != NULL) {
		free(id);
		return rt;
	}
	rt = xcalloc(1, sizeof *rt);
	rt->id = id;
	RB_INSERT(rtask_tree, &rp->tasks, rt);
	return rt;
}

static void
recovery_read(void *arg, const struct jrec *r)
{
	struct replay *rp = arg;
	struct rtask *rt;
	struct rmsg *rm;
	struct dec d;
	uint64_t seq, reserved;
	int final;

	rec_dec_init(&d, r->data, r->len);
	switch (r->type) {
	case REC_MSG:
		rt = replay_task(rp, rec_dec_str(&d));
		seq = rec_dec_u64(&d);
		if (d.bad || d.left < 1) {
			rp->n_bad++;
			return;
		}
		final = d.p[0];
		d.p++;
		d.left--;
		rm = xcalloc(1, sizeof *rm);
		rm->rt = rt;
		rm->seq = seq;
		rm->seg = r->seg;
		rm->m = msg_new(d.left);
		memcpy(rm->m->data, d.p, d.left);
		rm->m->seq = seq;
		TAILQ_INSERT_TAIL(&rp->msgs, rm, entry);
		rp->n_msgs++;
		if (seq > rt->max_seq)
			rt->max_seq = seq;
		if (final) {
			rt->final = 1;
			msg_free(rt->final_msg);
			rt->final_msg = msg_new(d.left);
			memcpy(rt->final_msg->data, d.p, d.left);
		}
		break;
	case REC_ACK:
		rt = replay_task(rp, rec_dec_str(&d));
		seq = rec_dec_u64(&d);
		if (!d.bad && seq > rt->acked)
			rt->acked = seq;
		break;
	case REC_START:
		rt = replay_task(rp, rec_dec_str(&d));
		reserved = rt->run.reserved;	/* the largest wins */
		if (rec_start_decode(&d, &rt->run) == 0) {
			rt->started = 1;
			if (rt->run.seq > rt->max_seq)
				rt->max_seq = rt->run.seq;
		}
		if (d.bad || reserved > rt->run.reserved)
			rt->run.reserved = reserved;
		break;
	case REC_END:
		rt = replay_task(rp, rec_dec_str(&d));
		rt->final = 1;	/* nothing to send, nothing left */
		break;
	default:
		rp->n_bad++;
		break;
	}
}

/*
 * Ends what is left of task RT of the previous run: true if any was.  A
 * cgroup is killed only beneath the agent's cgroup root, a process only
 * if its pid, its start time and its task's marker all match.
 */
static int
recovery_kill_leftover(const struct agent *a, const struct rtask *rt)
{
	int killed = 0, in_cgroup = 0;

	if (*rt->run.cgroup != '\0') {
		if (!cgroup_ours(rt->run.cgroup))
			log_warnx("task %s: its recorded cgroup %s is not "
			    "beneath the agent's cgroup root: left alone",
			    rt->id, rt->run.cgroup);
		else if (track_kill_cgroup_at(rt->run.cgroup) == 0)
			killed = in_cgroup = 1;
	}
	/* Its container outlives the CLI: stopped and removed before the
	 * task is reported. */
	if (*rt->run.container != '\0' &&
	    task_docker_remove_now(a->opts, rt->run.container,
	    RECOVERY_DOCKER_WAIT_S) == 0) {
		log_info("task %s: its container %s is removed", rt->id,
		    rt->run.container);
		killed = 1;
	}
	if (*rt->run.tmpfile != '\0' &&
	    files_remove_temp(a->opts, rt->run.tmpfile, rt->id))
		killed = 1;
	if (!in_cgroup && track_kill_verified((pid_t)rt->run.pid,
	    rt->run.start_time, rt->run.marker))
		killed = 1;
	return killed;
}

/*
 * The tasks running when the previous agent died (a START record whose
 * final went with an older segment is no such task) are killed, with,
 * where no cgroup of ours held them, whatever carries their markers (the
 * escapees of a process group; a container's removal ends no process of
 * the host).  Returns how many there were.
 */
static size_t
recovery_kill_left(struct agent *a, struct replay *rp,
    int (*running)(const char *))
{
	struct rtask *rt, **owners = NULL;
	char **markers = NULL;
	size_t n_left = 0, n_markers = 0, i;
	int *hits;

	RB_FOREACH(rt, rtask_tree, &rp->tasks) {
		if (rt->started && !rt->final &&
		    (rt->stored = finished_final(rt->id)) != NULL) {
			/* It finished, but its final's journal record was
			 * still queued for the writer when the agent died
			 * (never sent, then): it goes now, from finished/. */
			rt->final = 1;
		}
		if (!rt->started || rt->final)
			continue;
		if (running != NULL && running(rt->id)) {
			rt->started = 0;	/* it runs on: no final here */
			continue;
		}
		n_left++;
		rt->left = 1;
		rt->killed = recovery_kill_leftover(a, rt);
		if (*rt->run.marker != '\0' && (*rt->run.cgroup == '\0' ||
		    !cgroup_ours(rt->run.cgroup))) {
			markers = xreallocarray(markers, n_markers + 1,
			    sizeof *markers);
			owners = xreallocarray(owners, n_markers + 1,
			    sizeof *owners);
			owners[n_markers] = rt;
			markers[n_markers++] = rt->run.marker;
		}
	}
	if (n_markers != 0) {
		hits = xcalloc(n_markers, sizeof *hits);
		proctree_kill_marked(PROC_MARKER, markers, n_markers, hits);
		for (i = 0; i < n_markers; i++)
			owners[i]->killed |= hits[i];
		free(hits);
	}
	free(markers);
	free(owners);
	RB_FOREACH(rt, rtask_tree, &rp->tasks)
		if (rt->left)
			log_warnx("task %s was running (%s %lld) when the "
			    "previous agent stopped: %s; reported as "
			    "AGENT_RESTARTED", rt->id, rt->run.pid > 0 ? "pid" :
			    "a transfer, no process", (long long)rt->run.pid,
			    rt->killed ? "its processes are killed" : "none of "
			    "its processes is left");
	return n_left;
}

/* What the server has not acknowledged goes again, as it was. */
static size_t
recovery_resend(struct agent *a, struct replay *rp)
{
	struct rtask *rt;
	struct rmsg *rm;
	struct task *t;
	struct msg *m;
	size_t n_sent = 0;

	while ((rm = TAILQ_FIRST(&rp->msgs)) != NULL) {
		TAILQ_REMOVE(&rp->msgs, rm, entry);
		rt = rm->rt;
		if (rm->seq <= rt->acked) {
			msg_free(rm->m);
			free(rm);
			continue;
		}
		t = task_restore(a, rt->id, rt->run.reply_id,
		    rt->run.kind, rt->max_seq, rt->final_msg);
		m = rm->m;
		m->ts = tstream_ref(task_stream(t));
		m->jseg = rm->seg;
		journal_retain(state_journal(), rm->seg);
		outbox_send(m, NULL, 0);
		n_sent++;
		free(rm);
	}
	return n_sent;
}

/* The finals of the tasks left, after their output. */
static size_t
recovery_finals(struct agent *a, struct replay *rp)
{
	struct rtask *rt;
	struct task *t;
	struct msg *m;
	size_t n_sent = 0;

	RB_FOREACH(rt, rtask_tree, &rp->tasks) {
		if (rt->stored != NULL) {
			log_info("task %s: its final message is not in the "
			    "journal (the agent stopped before writing it): "
			    "sent from the finished tasks", rt->id);
			m = rt->stored;
			rt->stored = NULL;
			m->seq = rt->max_seq + 1;	/* (at least) */
			t = task_restore(a, rt->id, rt->run.reply_id,
			    rt->run.kind, m->seq, m);
			m->ts = tstream_ref(task_stream(t));
			outbox_journal(m, rt->id, 1);
			outbox_send(m, NULL, 0);
			n_sent++;
			continue;
		}
		if (!rt->started || rt->final)
			continue;
		if (rt->run.kind == TASK_KIND_COMMAND ||
		    rt->run.kind == TASK_KIND_TERMINAL) {
			/* Today's upstream: answered once, in its terms. */
			head_restarted(rt->id, rt->run.kind);
			link_prefer_head(a->link);
			continue;
		}
		/* Past every seq the previous agent may have used, whether
		 * or not its records survived. */
		if (rt->run.reserved > rt->max_seq)
			rt->max_seq = rt->run.reserved;
		task_restore_interrupted(a, rt->id, rt->run.reply_id,
		    rt->run.kind, rt->max_seq);
	}
	return n_sent;
}

static void
recovery_free(struct replay *rp)
{
	struct rtask *rt, *next;

	RB_FOREACH_SAFE(rt, rtask_tree, &rp->tasks, next) {
		RB_REMOVE(rtask_tree, &rp->tasks, rt);
		free(rt->id);
		rec_srun_clear(&rt->run);
		msg_free(rt->final_msg);
		msg_free(rt->stored);
		free(rt);
	}
}

/*
 * Reads the journal back and puts right what the previous agent left:
 * its tasks' processes killed, their AGENT_RESTARTED finals and every
 * message not acknowledged queued for the server.  Runs
 * before the agent connects.  RUNNING, if not NULL, says which tasks
 * still run (handed over by the agent before a re-execution): they are
 * left be.
 */
void
recovery_run(struct agent *a, int (*running)(const char *))
{
	struct replay rp;
	size_t n_left, n_sent;
	char *cause;

	if (state_journal() == NULL)
		return;
	RB_INIT(&rp.tasks);
	TAILQ_INIT(&rp.msgs);
	rp.n_msgs = rp.n_bad = 0;
	if (journal_replay(state_journal(), recovery_read, &rp,
	    &cause) != 0) {
		log_error("journal: %s: going on without it", cause);
		free(cause);
		state_drop_journal();
		return;
	}
	if (rp.n_bad != 0)
		log_warnx("journal: %zu records not understood, skipped",
		    rp.n_bad);
	n_left = recovery_kill_left(a, &rp, running);
	n_sent = recovery_resend(a, &rp);
	/* Only now may the old segments whose records are all done go. */
	journal_replay_done(state_journal());
	n_sent += recovery_finals(a, &rp);
	recovery_free(&rp);
	if (rp.n_msgs != 0 || n_left != 0)
		log_info("journal: %zu messages not acknowledged will be sent "
		    "again; %zu tasks were interrupted", n_sent, n_left);
}
