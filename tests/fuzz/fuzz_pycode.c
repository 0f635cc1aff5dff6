// SPDX-License-Identifier: BSD-2-Clause
/*
 * The code-object and str decoders (src/pycode.c) over a fake address space
 * made of the input, through struct pp_memsrc: everything pycode.c reads
 * from a target, pointers, lengths, kinds, the layout itself for 3.13+, is
 * the fuzzer's.
 *
 * Input: a header of FUZZ_HDR bytes, then regions separated by FUZZ_SEP;
 * region k is mapped at (k + 1) << 32, so a pointer to offset 0x40 of region
 * 2 is 0x0000000300000040. The code object is at the start of region 0.
 *   header[0]     the layout: versions[header[0] % (NVERSIONS + 1)], the
 *                 last choice meaning "_Py_DebugOffsets in the last region"
 *   header[1]     bit 0: check ob_type against FUZZ_CODE_TYPE
 *   header[2..3]  max code points for a str read of region 1 (u16)
 *   header[8..15] the frame's instruction field (u64)
 *   header[16..23] the code object's tag word as the sample gives it (u64)
 * Reads fail where the target's would: outside a region, or across its end.
 */
#include "fuzz.h"
#include "pycode.h"
#include "pydebugoffsets.h"
#include "pylayout.h"

#define FUZZ_HDR       24
#define FUZZ_SEP       "\xf0REG"
#define FUZZ_REGIONS   8
#define FUZZ_CODE_TYPE 0x00000000c0de7e00ULL
#define FUZZ_REGION(k) ((uint64_t)((k) + 1) << 32)
/* More than any read pycode.c should ask for (a line table is at most 1 MiB):
 * a read this big means a size from the target was used without a bound. */
#define FUZZ_MAX_READ (4u << 20)

static const uint32_t versions[] = {0x02070000, 0x03060000, 0x03070000, 0x03080000,
				    0x03090000, 0x030a0000, 0x030b0000, 0x030c0000};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

struct space {
	const uint8_t *base[FUZZ_REGIONS];
	size_t len[FUZZ_REGIONS];
	size_t n;
};

static volatile uint8_t sink;

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct space *s = ctx;
	uint64_t k = (addr >> 32) - 1, off = addr & 0xffffffffu;

	if (len > FUZZ_MAX_READ) {
		fprintf(stderr, "a read of %zu bytes at 0x%llx: a size from the target without a bound\n", len,
			(unsigned long long)addr);
		abort();
	}
	if (k >= s->n || off > s->len[k] || len > s->len[k] - off)
		return -1;
	memcpy(buf, s->base[k] + off, len);
	return 0;
}

static void split(struct space *s, const uint8_t *p, size_t n)
{
	const size_t seplen = sizeof(FUZZ_SEP) - 1;

	s->n = 0;
	while (s->n < FUZZ_REGIONS) {
		const uint8_t *sep = s->n + 1 < FUZZ_REGIONS ? memmem(p, n, FUZZ_SEP, seplen) : NULL;
		size_t len = sep ? (size_t)(sep - p) : n;

		s->base[s->n] = p;
		s->len[s->n] = len;
		s->n++;
		if (!sep)
			break;
		p += len + seplen;
		n -= len + seplen;
	}
}

/* A decoded str: NUL-terminated UTF-8 (shown in hex when it is not). */
static void check_str(const char *str)
{
	if (!str || fuzz_utf8_ok(str))
		return;
	fprintf(stderr, "not UTF-8:");
	for (const char *p = str; *p; p++)
		fprintf(stderr, " %02x", (unsigned char)*p);
	fprintf(stderr, "\n");
	FUZZ_CHECK(fuzz_utf8_ok(str));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_memsrc src = {.read = fake_read};
	const struct pp_layout *l;
	const struct pp_pycode *code;
	struct pp_pycode_cache *cache;
	struct pp_layout own;
	struct space s;
	uint64_t instr, tag;
	unsigned choice, max;
	char *str;
	int line;

	if (size < FUZZ_HDR)
		return 0;
	choice = data[0] % (NVERSIONS + 1);
	max = data[2] | (unsigned)data[3] << 8;
	instr = fuzz_u64(data + 8);
	tag = fuzz_u64(data + 16);
	split(&s, data + FUZZ_HDR, size - FUZZ_HDR);
	src.ctx = &s;
	if (choice < NVERSIONS) {
		l = pylayout_for_version(versions[choice]);
		FUZZ_CHECK(l != NULL);
	} else {
		/* pyruntime.c reads PP_DEBUGOFFSETS_MAX bytes of _PyRuntime. */
		uint8_t img[PP_DEBUGOFFSETS_MAX] = {0};
		size_t last = s.n - 1;

		memcpy(img, s.base[last], s.len[last] < sizeof(img) ? s.len[last] : sizeof(img));
		if (pydebugoffsets_layout(img, sizeof(img), &own, NULL, 0))
			return 0;
		l = &own;
	}

	str = pystr_read_src(&src, l, FUZZ_REGION(1), max);
	check_str(str);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_pycode: region 1 as a str: %s\n", str ? str : "(unreadable)");
	free(str);

	cache = pycode_cache_new_src(&src, l, (data[1] & 1) ? FUZZ_CODE_TYPE : 0);
	code = pycode_get(cache, FUZZ_REGION(0), tag);
	if (code) {
		FUZZ_CHECK(code->addr == FUZZ_REGION(0));
		FUZZ_CHECK(code->name && code->filename);
		check_str(code->name);
		check_str(code->filename);
		for (size_t i = 0; code->linetable && i < code->linetable_len; i++)
			sink += code->linetable[i];
		line = pycode_line(cache, code, instr);
		/* FUZZ_VERBOSE=1 fuzz_pycode FILE...: what a seed decodes to. */
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "fuzz_pycode: %s %s (%s:%d, first line %d, %zu-byte table)\n", l->name,
				code->name, code->filename, line, code->firstlineno, code->linetable_len);
		pycode_line(cache, code, instr ^ (1ULL << 63));
		pycode_line(cache, code, FUZZ_REGION(0) + (uint64_t)l->co_code_adaptive + (instr & 0xffff));
		/* Cached now: the same object back. */
		FUZZ_CHECK(pycode_get(cache, FUZZ_REGION(0), tag) == code);
	}
	/* Another tag at the same address: read again (a new object there). */
	code = pycode_get(cache, FUZZ_REGION(0), tag ^ 1);
	if (code)
		pycode_line(cache, code, instr);
	/* Every region start as a code object, and some pointer-sized words. */
	for (size_t k = 1; k < s.n; k++) {
		code = pycode_get(cache, FUZZ_REGION(k), tag);
		if (code)
			pycode_line(cache, code, instr);
	}
	pycode_cache_free(cache);
	return 0;
}
