/*
 * fuzz-options.c: libFuzzer target for the command-line parser.  The input
 * is split at NUL bytes into arguments; before a byte 0x01 they are the
 * command line, after it the environment.  Arguments that name a
 * configuration file are skipped: reading whatever file an input names
 * (a FIFO, /dev/stdin) is not the parser's behaviour under test.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_ARGS 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *p, *end, *argv[FUZZ_MAX_ARGS + 2], *envp[FUZZ_MAX_ARGS + 1];
	char *text = NULL, **into;
	int argc = 1, envc = 0;
	struct options o;
	enum options_result r;

	copy = xmemdup0(data, size);
	argv[0] = (char *)"fuzz";
	into = argv;
	for (p = copy, end = copy + size; p < end; p += strlen(p) + 1) {
		if (*p == '\x01') {
			into = envp;
			continue;
		}
		if (strstr(p, "config") != NULL || strncmp(p, "-c", 2) == 0)
			goto out;
		if (into == argv && argc < FUZZ_MAX_ARGS)
			argv[argc++] = p;
		else if (into == envp && envc < FUZZ_MAX_ARGS)
			envp[envc++] = p;
	}
	argv[argc] = NULL;
	envp[envc] = NULL;
	options_init(&o);
	r = options_parse(&o, argc, argv, envp, &text);
	if (r != OPTIONS_OK && text == NULL)
		abort();
	if (r == OPTIONS_OK && (o.agent_id == NULL || o.agent_token == NULL ||
	    o.server == NULL))
		abort();
	free(text);
	options_free(&o);
out:
	free(copy);
	return 0;
}
