/*
 * vis.c: untrusted text made safe to show, in bounded space.
 *
 * Task IDs, commands, Docker values and status texts come from the server
 * or from tasks.  Written as they are, a newline in one starts a forged log
 * line, an ESC sequence drives the operator's terminal, and an invalid
 * UTF-8 byte makes a strict log collector or server drop the record.  So
 * every such byte is written as an escape: in text, \n \r \t \\ and \xHH
 * (C0 and C1 controls, DEL, and bytes that are not valid UTF-8); in JSON,
 * the string escapes JSON defines, with invalid bytes as the six visible
 * characters \\xHH.  Valid UTF-8 passes unchanged.
 *
 * vis_escape() writes into the caller's buffer and never allocates, so the
 * logger can use it on any thread and even when memory has run out.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Longest escape of one input character, plus "..." and a NUL. */
#define VIS_RESERVE (16 + 4)

static const char vis_hex[] = "0123456789abcdef";

/* Appends the escape for one control or invalid byte C. */
static size_t
vis_byte(char *o, unsigned char c, int json, int invalid)
{
	if (c == '\n' || c == '\r' || c == '\t') {
		o[0] = '\\';
		o[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		return 2;
	}
	if (json && !invalid) {
		memcpy(o, "\\u00", 4);
		o[4] = vis_hex[c >> 4];
		o[5] = vis_hex[c & 15];
		return 6;
	}
	if (json) {	/* a JSON string cannot hold the byte: show it */
		memcpy(o, "\\\\x", 3);
		o[3] = vis_hex[c >> 4];
		o[4] = vis_hex[c & 15];
		return 5;
	}
	o[0] = '\\';
	o[1] = 'x';
	o[2] = vis_hex[c >> 4];
	o[3] = vis_hex[c & 15];
	return 4;
}

/*
 * Writes the escaped form of LEN bytes of IN into OUT (SIZE bytes, at least
 * VIS_RESERVE), NUL-terminated.  What does not fit is cut at a character
 * and marked "...".  FLAGS: VIS_JSON for the inside of a JSON string.
 * Returns the length written.
 */
size_t
vis_escape(char *out, size_t size, const char *in, size_t len, int flags)
{
	const unsigned char *p = (const unsigned char *)in;
	int json = (flags & VIS_JSON) != 0;
	size_t i = 0, o = 0, n, k;
	unsigned char c;

	if (size < VIS_RESERVE) {
		if (size > 0)
			out[0] = '\0';
		return 0;
	}
	while (i < len) {
		if (o + VIS_RESERVE > size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		c = p[i];
		if (c >= 0x20 && c < 0x7f) {
			if (c == '\\' || (json && c == '"'))
				out[o++] = '\\';
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {		/* C0 control or DEL */
			o += vis_byte(out + o, c, json, 0);
			i++;
			continue;
		}
		n = utf8_valid_char(p + i, len - i);
		if (n == 0) {
			o += vis_byte(out + o, c, json, 1);
			i++;
			continue;
		}
		if (n == 2 && c == 0xc2 && p[i + 1] < 0xa0) {
			/* U+0080..U+009F: C1 controls (CSI is U+009B) */
			if (json) {
				memcpy(out + o, "\\u00", 4);
				out[o + 4] = vis_hex[p[i + 1] >> 4];
				out[o + 5] = vis_hex[p[i + 1] & 15];
				o += 6;
			} else {
				o += vis_byte(out + o, c, 0, 1);
				o += vis_byte(out + o, p[i + 1], 0, 1);
			}
			i += 2;
			continue;
		}
		for (k = 0; k < n; k++)
			out[o++] = (char)p[i + k];
		i += n;
	}
	out[o] = '\0';
	return o;
}

/*
 * An allocated, escaped copy of at most MAX bytes of S (LEN bytes long),
 * "..." marking a cut: for messages that quote a value back.
 */
char *
vis_strdup(const char *s, size_t len, size_t max)
{
	size_t size, n = len < max ? len : max;
	char *out;

	size = n * 6 + VIS_RESERVE;
	out = xmalloc(size);
	vis_escape(out, size, s, n, 0);
	if (n < len)
		strcat(out, "...");
	return out;
}
