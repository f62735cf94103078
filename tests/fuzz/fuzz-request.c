/*
 * fuzz-request.c: libFuzzer target for decoding and dispatching one
 * TaskRequest, as if the server had sent it.
 *
 * The agent is real (registry, admission, cancel, answers into a link that
 * never connects), except that its shell and its Docker CLI do not exist:
 * no input can run a command on the fuzzing machine, and every task that
 * would start takes the "cannot start" path instead.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>
#include <grpc/grpc.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct agent agent;
static struct options opts;

static void
fuzz_no_request(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void
fuzz_no_drain(void *arg)
{
	(void)arg;
}

static const struct link_handlers fuzz_handlers = {
	fuzz_no_request, fuzz_no_drain, NULL, NULL
};

static void
fuzz_setup(void)
{
	char *argv[] = { (char *)"fuzz", (char *)"--agent-id=fuzz",
	    (char *)"--agent-token=t", (char *)"--shell=/nonexistent/shell",
	    (char *)"--docker-binary=/nonexistent/docker",
	    (char *)"--max-concurrent-tasks=2", (char *)"--max-queued-tasks=4",
	    NULL };
	char *env[] = { NULL }, *text;

	log_set_level(LOG_ERROR);
	options_init(&opts);
	if (options_parse(&opts, 7, argv, env, &text) != OPTIONS_OK)
		abort();
	grpc_init();
	agent.base = event_base_new();
	agent.opts = &opts;
	agent.link = link_new(agent.base, &opts, &fuzz_handlers);
	outbox_init(agent.link, fuzz_no_drain, NULL);
	admit_init(&agent, dispatch_start);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned runs;

	if (agent.base == NULL)
		fuzz_setup();
	/* In the default dialect, and in the released upstream server's,
	 * whose field 5 is a log message. */
	wire_set_dialect(WIRE_AUTO);
	dispatch_request(&agent, data, size);
	wire_set_dialect(WIRE_UPSTREAM);
	dispatch_request(&agent, data, size);
	wire_set_dialect(WIRE_AUTO);
	/* The link never sends: start a new one now and then, emptying it. */
	if (++runs % 2000 == 0) {
		link_free(agent.link);
		agent.link = link_new(agent.base, &opts, &fuzz_handlers);
		outbox_init(agent.link, fuzz_no_drain, NULL);
	}
	return 0;
}
