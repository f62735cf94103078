/*
 * fuzz-config.c: libFuzzer target for the YAML configuration file parser:
 * any bytes give either items or an error with a line, never a crash, and
 * an error leaves nothing behind.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char *cause = NULL;
	size_t i;

	if (config_parse((const char *)data, size, "fuzz.yaml", &c,
	    &cause) != 0) {
		if (cause == NULL || c.n != 0)
			abort();
		free(cause);
		return 0;
	}
	for (i = 0; i < c.n; i++) {
		if (c.items[i].key == NULL || c.items[i].value == NULL ||
		    c.items[i].line == 0)
			abort();
	}
	config_free(&c);
	return 0;
}
