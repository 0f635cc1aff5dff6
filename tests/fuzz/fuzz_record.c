// SPDX-License-Identifier: BSD-2-Clause
/*
 * The ring-buffer record parser (src/record.c): whatever the bytes, a record
 * it accepts has every part inside the buffer. The parts are read in full
 * here, as pipeline_sample() does, so that ASan sees any that is not.
 */
#include "fuzz.h"
#include "record.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_record r;
	uint64_t sum = 0;
	uint8_t *copy;

	/* The ring buffer hands out 8-aligned records; libFuzzer's buffer is
	 * malloc'd, so aligned too, and ends where the input does. */
	if (record_parse(data, size, &r) == 0) {
		FUZZ_CHECK(r.s == (const void *)data);
		FUZZ_CHECK(pp_sample_size(r.s) <= size);
		FUZZ_CHECK(r.s->kstack_len <= PP_MAX_KSTACK && r.s->py_len <= PP_MAX_PYENTRIES &&
			   r.s->stack_len <= PP_STACK_MAX);
		sum += r.s->pid + r.s->tid + r.s->time_ns + r.s->tstate + r.s->stack_base + r.s->flags + r.s->cpu;
		for (size_t i = 0; i < PP_NREGS; i++)
			sum += r.s->regs[i];
		for (size_t i = 0; i < r.s->kstack_len; i++)
			sum += r.s->kstack[i];
		for (size_t i = 0; i < r.s->py_len; i++)
			sum += r.py[i].code ^ r.py[i].instr ^ r.py[i].aux;
		for (size_t i = 0; i < r.s->stack_len; i++)
			sum += r.stack[i];
		sink = sum;
	}
	/* Misaligned, shorter by one: never accepted past the end. */
	if (size > 1) {
		copy = malloc(size);
		memcpy(copy, data, size);
		FUZZ_CHECK(record_parse(copy + 1, size - 1, &r) == -1);
		if (record_parse(copy, size - 1, &r) == 0)
			FUZZ_CHECK(pp_sample_size(r.s) <= size - 1);
		free(copy);
	}
	FUZZ_CHECK(record_parse(NULL, size, &r) == -1);
	return 0;
}
