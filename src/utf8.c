/*
 * utf8.c: UTF-8 repair.
 *
 * Proto3 strings must be valid UTF-8 or strict servers reject the whole
 * message, so task output is repaired before it is sent: each maximal
 * invalid subsequence (in the sense of Unicode's "U+FFFD substitution of
 * maximal subparts") becomes one U+FFFD, and everything valid, NUL bytes
 * included, passes unchanged.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent.h"

static const char utf8_replacement[] = "\xef\xbf\xbd";

/*
 * Length of the sequence a lead byte starts, with the allowed range of its
 * second byte (which rules out overlong forms, surrogates and code points
 * above U+10FFFF); 0 for a byte that cannot start a sequence.
 */
static int
utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			*lo = 0xa0;
		else if (c == 0xed)
			*hi = 0x9f;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			*lo = 0x90;
		else if (c == 0xf4)
			*hi = 0x8f;
		return 4;
	}
	return 0;
}

/* How many bytes from P on are ASCII, eight at a time where it can. */
static size_t
utf8_ascii_run(const unsigned char *p, size_t len)
{
	uint64_t w;
	size_t i = 0;

	while (i + 8 <= len) {
		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			break;
		i += 8;
	}
	while (i < len && p[i] < 0x80)
		i++;
	return i;
}

/*
 * Appends the repaired form of IN to OUT and returns how many input bytes it
 * used.  Unless FINAL is set, a sequence that is valid so far but cut off by
 * the end of IN is left unused, so that the caller can prepend it to the
 * next piece and never split a character.
 */
size_t
utf8_repair(const void *in, size_t len, struct buf *out, int final)
{
	const unsigned char *p = in;
	unsigned char lo, hi;
	size_t i = 0, run = 0, j;
	int n;

	buf_reserve(out, len);
	while (i < len) {
		/* Valid input is copied in runs, not byte by byte. */
		if (p[i] < 0x80) {
			i += utf8_ascii_run(p + i, len - i);
			continue;
		}
		n = utf8_lead(p[i], &lo, &hi);
		for (j = 1; n != 0 && (int)j < n; j++) {
			if (i + j == len) {
				if (!final) {
					buf_append(out, p + run, i - run);
					return i;
				}
				break;
			}
			if (p[i + j] < lo || p[i + j] > hi)
				break;
			lo = 0x80;
			hi = 0xbf;
		}
		if (n != 0 && (int)j == n) {
			i += j;
			continue;
		}
		/* Invalid: the lead byte and the continuation bytes it took. */
		buf_append(out, p + run, i - run);
		buf_append(out, utf8_replacement, 3);
		i += j == 0 ? 1 : j;
		run = i;
	}
	buf_append(out, p + run, i - run);
	return i;
}

/*
 * Length of the valid UTF-8 character at the start of P (N bytes
 * available): 1 to 4, or 0 if the bytes there are not one.
 */
size_t
utf8_valid_char(const unsigned char *p, size_t n)
{
	unsigned char lo, hi;
	int len, j;

	if (n == 0 || (len = utf8_lead(p[0], &lo, &hi)) == 0 ||
	    (size_t)len > n)
		return 0;
	for (j = 1; j < len; j++) {
		if (p[j] < lo || p[j] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return (size_t)len;
}

/* How many of the LEN bytes at S are valid UTF-8 before the first that
 * is not (or a character cut off by the end). */
size_t
utf8_valid_prefix(const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i += utf8_ascii_run(p + i, len - i);
			continue;
		}
		if ((n = utf8_valid_char(p + i, len - i)) == 0)
			break;
		i += n;
	}
	return i;
}

/* True if all LEN bytes of S are valid UTF-8. */
int
utf8_valid(const void *s, size_t len)
{
	return utf8_valid_prefix(s, len) == len;
}
