/*
 * link-cq.c: the bridge from gRPC's completion queue to the libevent loop.
 *
 * gRPC core reports finished operations on a completion queue that must be
 * polled.  One thread blocks in grpc_completion_queue_next() and hands each
 * completion {tag, ok} to the loop through a locked list and an fd-less
 * event made active; the loop runs the tag's handler.  So every
 * grpc_call_start_batch() and all agent state stay on the loop's thread and
 * need no locks of their own.
 */

#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <grpc/grpc.h>

#include "agent.h"

struct link_cq_item {
	STAILQ_ENTRY(link_cq_item) entry;
	struct link_op *op;
	int ok;
};
STAILQ_HEAD(link_cq_items, link_cq_item);

struct link_cq {
	grpc_completion_queue *cq;
	pthread_t thread;
	pthread_mutex_t lock;
	struct link_cq_items items;	/* under lock */
	struct event *wake;
};

static void *
link_cq_thread(void *arg)
{
	struct link_cq *q = arg;
	struct link_cq_item *item;
	grpc_event ev;

	for (;;) {
		ev = grpc_completion_queue_next(q->cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		item = xmalloc(sizeof *item);
		item->op = ev.tag;
		item->ok = ev.success;
		pthread_mutex_lock(&q->lock);
		STAILQ_INSERT_TAIL(&q->items, item, entry);
		pthread_mutex_unlock(&q->lock);
		event_active(q->wake, EV_READ, 0);
	}
	return NULL;
}

/* On the loop: run every completion handed over, in order. */
static void
link_cq_wake(evutil_socket_t fd, short events, void *arg)
{
	struct link_cq *q = arg;
	struct link_cq_items items = STAILQ_HEAD_INITIALIZER(items);
	struct link_cq_item *item;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&q->lock);
	STAILQ_CONCAT(&items, &q->items);
	pthread_mutex_unlock(&q->lock);
	while ((item = STAILQ_FIRST(&items)) != NULL) {
		STAILQ_REMOVE_HEAD(&items, entry);
		item->op->done(item->op, item->ok);
		free(item);
	}
}

struct link_cq *
link_cq_start(struct event_base *base)
{
	struct link_cq *q;
	int error;

	q = xcalloc(1, sizeof *q);
	q->cq = grpc_completion_queue_create_for_next(NULL);
	STAILQ_INIT(&q->items);
	pthread_mutex_init(&q->lock, NULL);
	q->wake = event_new(base, -1, 0, link_cq_wake, q);
	if (q->wake == NULL)
		fatalx("cannot create the completion-queue event");
	if ((error = pthread_create(&q->thread, NULL, link_cq_thread, q)) != 0)
		fatalx("cannot start the completion-queue thread: error %d",
		    error);
	return q;
}

void *
link_cq_queue(struct link_cq *q)
{
	return q->cq;
}

/*
 * Shuts the queue down once nothing is pending on it (the caller has
 * destroyed its calls and channel), joins the thread and runs whatever
 * completions were still handed over.
 */
void
link_cq_stop(struct link_cq *q)
{
	grpc_completion_queue_shutdown(q->cq);
	pthread_join(q->thread, NULL);
	link_cq_wake(-1, 0, q);
	grpc_completion_queue_destroy(q->cq);
	event_free(q->wake);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
