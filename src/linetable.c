// SPDX-License-Identifier: BSD-2-Clause
#include "linetable.h"

#include <limits.h>

/* Lines are summed in 64 bits: co_firstlineno and every delta come from the
 * target, and a sum that leaves int says the table (or the object) is corrupt. */
static int line_ok(int64_t line)
{
	return line >= INT_MIN && line <= INT_MAX;
}

static int lnotab(const uint8_t *t, size_t n, int firstlineno, int64_t addr, int signed_lines)
{
	int64_t a = 0, line = firstlineno;

	if (addr < 0)
		return firstlineno;
	for (size_t i = 0; i + 1 < n; i += 2) {
		a += t[i];
		if (a > addr)
			break;
		line += signed_lines ? (int8_t)t[i + 1] : t[i + 1];
		if (!line_ok(line))
			return -1;
	}
	return (int)line;
}

int linetable_lnotab(const uint8_t *t, size_t n, int firstlineno, int64_t addr)
{
	return lnotab(t, n, firstlineno, addr, 1);
}

int linetable_lnotab27(const uint8_t *t, size_t n, int firstlineno, int64_t addr)
{
	return lnotab(t, n, firstlineno, addr, 0);
}

int linetable_310(const uint8_t *t, size_t n, int firstlineno, int64_t addr)
{
	int64_t end = 0, line = firstlineno;

	if (addr < 0)
		return firstlineno;
	for (size_t i = 0; i + 1 < n; i += 2) {
		int64_t start = end;
		int8_t ldelta = (int8_t)t[i + 1];
		int cur;

		end += t[i];
		if (ldelta == -128) {
			cur = -1;
		} else {
			line += ldelta;
			if (!line_ok(line))
				return -1;
			cur = (int)line;
		}
		if (start <= addr && addr < end)
			return cur;
	}
	return -1;
}

/* A varint of 6-bit chunks, least significant first; bit 6 says "more". */
static int read_varint(const uint8_t *t, size_t n, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	unsigned shift = 0;

	for (;;) {
		if (*i >= n || shift > 30)
			return -1;
		uint8_t b = t[(*i)++];
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	*out = v;
	return 0;
}

static int read_svarint(const uint8_t *t, size_t n, size_t *i, int32_t *out)
{
	uint32_t u;

	if (read_varint(t, n, i, &u))
		return -1;
	*out = (u & 1) ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
	return 0;
}

int linetable_locations(const uint8_t *t, size_t n, int firstlineno, int64_t idx)
{
	int64_t a = 0, line = firstlineno;
	size_t i = 0;

	if (idx < 0)
		return firstlineno;
	while (i < n) {
		uint8_t b = t[i];
		int code = (b >> 3) & 15, len = (b & 7) + 1;
		int32_t delta = 0;
		size_t p = i + 1;

		if (!(b & 0x80))
			return -1; /* not at an entry start: the table is corrupt */
		if (code == 13 || code == 14) {
			if (read_svarint(t, n, &p, &delta))
				return -1;
		} else if (code >= 10 && code <= 12) {
			delta = code - 10;
		}
		line += delta;
		if (!line_ok(line))
			return -1;
		if (a <= idx && idx < a + len)
			return code == 15 ? -1 : (int)line;
		a += len;
		i++;
		while (i < n && !(t[i] & 0x80))
			i++;
	}
	return -1;
}
