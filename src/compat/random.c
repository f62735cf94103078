/*
 * random.c: random bits for backoff jitter.
 *
 * libevent's secure generator already walks the platform's chain
 * (arc4random, getrandom, /dev/urandom) and seeds itself; the agent needs
 * nothing stronger and keeps no generator of its own.
 */

#include "config.h"

#include <event2/util.h>

#include "agent.h"

uint32_t
compat_random32(void *arg)
{
	uint32_t r;

	(void)arg;
	evutil_secure_rng_get_bytes(&r, sizeof r);
	return r;
}
