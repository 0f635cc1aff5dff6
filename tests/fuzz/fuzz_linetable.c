// SPDX-License-Identifier: BSD-2-Clause
/*
 * Every line-table decoder (src/linetable.c) over the same bytes.
 * Input: co_firstlineno (int32), the position asked (int64), then the table,
 * all little-endian, the way code objects of the target give them to
 * pycode_line(): both numbers come from target memory too.
 */
#include "fuzz.h"
#include "linetable.h"

#include <limits.h>

typedef int (*decoder)(const uint8_t *t, size_t n, int firstlineno, int64_t pos);

static const decoder decoders[] = {linetable_lnotab27, linetable_lnotab, linetable_310, linetable_locations};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *t;
	int first;
	int64_t pos;
	size_t n;

	if (size < 12)
		return 0;
	first = (int)fuzz_u32(data);
	pos = (int64_t)fuzz_u64(data + 4);
	/* libFuzzer's buffer ends where the input does: a read past the
	 * table is a read past the allocation. */
	t = data + 12;
	n = size - 12;
	for (size_t d = 0; d < sizeof(decoders) / sizeof(decoders[0]); d++) {
		int line = decoders[d](t, n, first, pos);

		/* Pure: the same answer twice. */
		FUZZ_CHECK(decoders[d](t, n, first, pos) == line);
		/* Before the first instruction: the function's first line. */
		FUZZ_CHECK(decoders[d](t, n, first, -1) == first);
		FUZZ_CHECK(decoders[d](t, n, first, INT64_MIN) == first);
		/* Positions past any table: no crash, no hang. */
		decoders[d](t, n, first, INT64_MAX);
		decoders[d](t, n, first, pos / 2);
		decoders[d](t, n, first, (int64_t)n);
	}
	/* An empty table: lnotab keeps the first line, the others know nothing. */
	FUZZ_CHECK(linetable_lnotab(t, 0, first, pos) == first);
	FUZZ_CHECK(linetable_lnotab27(t, 0, first, pos) == first);
	if (pos >= 0) {
		FUZZ_CHECK(linetable_310(t, 0, first, pos) == -1);
		FUZZ_CHECK(linetable_locations(t, 0, first, pos) == -1);
	}
	return 0;
}
