/*
 * random.c: random bits for backoff jitter.
 *
 * The platform's own generator where there is one (arc4random on the BSDs
 * and macOS, getrandom on Linux), else libevent's, which seeds itself from
 * whatever the system offers.  Jitter needs no more than that, and the
 * chain keeps a working fallback on every system.
 */

#include "config.h"

#if defined(HAVE_GETRANDOM)
#include <sys/random.h>
#endif

#include <stdlib.h>

#include <event2/util.h>

#include "agent.h"

uint32_t
compat_random32(void *arg)
{
	uint32_t r;

	(void)arg;
#if defined(HAVE_ARC4RANDOM)
	r = arc4random();
#elif defined(HAVE_GETRANDOM)
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		evutil_secure_rng_get_bytes(&r, sizeof r);
#else
	evutil_secure_rng_get_bytes(&r, sizeof r);
#endif
	return r;
}
