/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the libFuzzer targets (tests/fuzz/fuzz_*.c) share: a property that
 * must hold, checked so that a failure is a crash the fuzzer keeps, and
 * small readers of the input.
 */
#ifndef PP_FUZZ_H
#define PP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test that does not hold: a crash. */
#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond);             \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

static inline uint64_t fuzz_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t fuzz_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Well-formed UTF-8 without surrogates or code points past U+10FFFF. */
static inline int fuzz_utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		uint32_t cp;
		size_t len;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0)
			len = 2, cp = *s & 0x1f;
		else if ((*s & 0xf0) == 0xe0)
			len = 3, cp = *s & 0x0f;
		else if ((*s & 0xf8) == 0xf0)
			len = 4, cp = *s & 0x07;
		else
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		s += len;
	}
	return 1;
}

#endif
