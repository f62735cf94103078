/*
 * fuzz-head.c: any bytes as a ServerMessage of today's upstream protocol
 * (wire-head.c): decoded, or refused with a reason; never a crash, a leak
 * or a read out of bounds.  What is decoded is not acted on (that would
 * run commands).
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head_request r;
	char *cause = NULL;

	if (wire_head_decode(data, size, &r, &cause) != 0 && cause == NULL)
		abort();	/* a refusal always says why */
	free(cause);
	wire_head_request_free(&r);
	return 0;
}
