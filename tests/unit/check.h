/* SPDX-License-Identifier: BSD-2-Clause */
/* A minimal assertion layer for the unit tests: each CHECK counts, each
 * failure prints where and what; main returns nonzero if any failed. */
#ifndef PP_CHECK_H
#define PP_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed, check_total;

/* CHECK_VERBOSE=1 in the environment: tests print what they saw. */
#define CHECK_VERBOSE (getenv("CHECK_VERBOSE") != NULL)

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		check_total++;                                                                                         \
		if (!(cond)) {                                                                                         \
			check_failed++;                                                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
		}                                                                                                      \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                                             \
	do {                                                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                                                    \
		check_total++;                                                                                         \
		if (_a != _b) {                                                                                        \
			check_failed++;                                                                                \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b);         \
		}                                                                                                      \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                                             \
	do {                                                                                                           \
		const char *_a = (a), *_b = (b);                                                                       \
		check_total++;                                                                                         \
		if (!_a || strcmp(_a, _b) != 0) {                                                                      \
			check_failed++;                                                                                \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,              \
				_a ? _a : "(null)", _b);                                                               \
		}                                                                                                      \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_total, check_failed);
	return check_failed ? 1 : 0;
}

#endif
