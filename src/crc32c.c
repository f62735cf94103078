/*
 * crc32c.c: CRC-32C (Castagnoli), the checksum of the journal's records
 * (pure).  Every byte of task output is journaled, so this is on the
 * streaming path: the CPU's own CRC32 instruction where it has one (x86's
 * SSE 4.2, found at run time), else eight table lookups per 8 bytes
 * ("slicing by 8"), several times faster than a byte at a time.
 *
 * The instruction has a latency of three cycles and a throughput of one,
 * so one chain of it uses a third of what the CPU can do: long buffers are
 * cut into three blocks of CRC32C_BLOCK bytes whose CRCs run side by side
 * and are then joined.  Joining shifts a CRC over CRC32C_BLOCK zero bytes,
 * a linear map of its 32 bits, done by four table lookups (crc32c_shift).
 */

#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent.h"

#define CRC32C_BLOCK 8192

static uint32_t crc32c_table[8][256];
/* A CRC moved over CRC32C_BLOCK zero bytes, a byte of it at a time. */
static uint32_t crc32c_shift_table[4][256];
static int crc32c_ready;	/* 1: tables, 2: tables and the instruction */

static uint32_t crc32c_sw(uint32_t, const unsigned char *, size_t);

/* The shift's table: the image of each of the 32 bits, combined. */
static void
crc32c_shift_init(void)
{
	static const unsigned char zeros[CRC32C_BLOCK];
	uint32_t bit[32];
	int b, k, i;

	for (b = 0; b < 32; b++)
		bit[b] = crc32c_sw((uint32_t)1 << b, zeros, sizeof zeros);
	for (k = 0; k < 4; k++)
		for (i = 0; i < 256; i++) {
			crc32c_shift_table[k][i] = 0;
			for (b = 0; b < 8; b++)
				if (i & 1 << b)
					crc32c_shift_table[k][i] ^= bit[8 * k + b];
		}
}

static void
crc32c_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc32c_table[0][i];
		for (k = 1; k < 8; k++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[k][i] = c;
		}
	}
	crc32c_shift_init();
	crc32c_ready = 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_ready = 2;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static uint32_t
crc32c_shift(uint32_t crc)
{
	return crc32c_shift_table[0][crc & 0xff] ^
	    crc32c_shift_table[1][(crc >> 8) & 0xff] ^
	    crc32c_shift_table[2][(crc >> 16) & 0xff] ^
	    crc32c_shift_table[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc, c1, c2, v, v1, v2;
	size_t i;

	/* Three chains at once; the last two start from 0 and are joined
	 * by linearity: crc(A B) = shift(crc(A)) ^ crc0(B). */
	while (len >= 3 * CRC32C_BLOCK) {
		c1 = c2 = 0;
		for (i = 0; i < CRC32C_BLOCK; i += 8) {
			memcpy(&v, p + i, 8);
			memcpy(&v1, p + CRC32C_BLOCK + i, 8);
			memcpy(&v2, p + 2 * CRC32C_BLOCK + i, 8);
			c = __builtin_ia32_crc32di(c, v);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
		}
		c = crc32c_shift((uint32_t)c) ^ c1;
		c = crc32c_shift((uint32_t)c) ^ c2;
		p += 3 * CRC32C_BLOCK;
		len -= 3 * CRC32C_BLOCK;
	}
	while (len >= 8) {
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static uint32_t
crc32c_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint32_t lo, hi;

	while (len >= 8) {
		lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc32c_table[7][lo & 0xff] ^
		    crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^
		    crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][hi & 0xff] ^
		    crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^
		    crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* Continues CRC (0 to start) over LEN bytes at P. */
uint32_t
crc32c(uint32_t crc, const void *p, size_t len)
{
	if (!crc32c_ready)
		crc32c_init();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (crc32c_ready == 2)
		return ~crc32c_hw(~crc, p, len);
#endif
	return ~crc32c_sw(~crc, p, len);
}

/* The software path, whatever the CPU (the tests compare the two). */
uint32_t
crc32c_portable(uint32_t crc, const void *p, size_t len)
{
	if (!crc32c_ready)
		crc32c_init();
	return ~crc32c_sw(~crc, p, len);
}
