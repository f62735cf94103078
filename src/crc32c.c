/*
 * crc32c.c: CRC-32C (Castagnoli), the checksum of the journal's records
 * (pure).  A table-driven byte at a time: the journal's records are small
 * and the disk is slower than this.
 */

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

static uint32_t crc32c_table[256];
static int crc32c_ready;

static void
crc32c_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
		crc32c_table[i] = c;
	}
	crc32c_ready = 1;
}

/* Continues CRC (0 to start) over LEN bytes at P. */
uint32_t
crc32c(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *b = p;

	if (!crc32c_ready)
		crc32c_init();
	crc = ~crc;
	while (len-- > 0)
		crc = crc32c_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
