// SPDX-License-Identifier: BSD-2-Clause
/*
 * The unwind and symbolize stages alone: this test captures its own
 * registers and a copy of its own stack, as the BPF program does for a
 * target thread, builds a sample record from them, and checks that DWARF
 * unwinding of the copy and symbolization name the call chain in order,
 * up to the process root. A copy cut short must end early, never invent
 * frames.
 */
#include "check.h"
#include "pybpfprof.h"
#include "symbolize.h"
#include "unwind.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static struct pp_sample *sample;
static uint8_t *stack_copy;

/* The end of the stack mapping holding addr, from /proc/self/maps. */
static uint64_t stack_end(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t lo, hi, end = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi)
			end = hi;
	if (f)
		fclose(f);
	return end;
}

/* A copy of live stack memory that AddressSanitizer must not judge: other
 * frames' redzones are part of what the BPF program copies too. */
__attribute__((no_sanitize("address"))) static void raw_copy(uint8_t *dst, uint64_t src, size_t n)
{
	const volatile uint8_t *s = (const volatile uint8_t *)(uintptr_t)src;

	for (size_t i = 0; i < n; i++)
		dst[i] = s[i];
}

/* What the BPF program records: user registers in DWARF order and the
 * stack from SP to the end of its mapping. */
static NOINLINE void capture(void)
{
	ucontext_t uc;
	const greg_t *g;
	uint64_t sp, end;

	getcontext(&uc);
	g = uc.uc_mcontext.gregs;
	sample = calloc(1, sizeof(*sample));
	sample->pid = (uint32_t)getpid();
	sample->tid = (uint32_t)syscall(SYS_gettid);
	sample->regs[PP_REG_RAX] = (uint64_t)g[REG_RAX];
	sample->regs[PP_REG_RDX] = (uint64_t)g[REG_RDX];
	sample->regs[PP_REG_RCX] = (uint64_t)g[REG_RCX];
	sample->regs[PP_REG_RBX] = (uint64_t)g[REG_RBX];
	sample->regs[PP_REG_RSI] = (uint64_t)g[REG_RSI];
	sample->regs[PP_REG_RDI] = (uint64_t)g[REG_RDI];
	sample->regs[PP_REG_RBP] = (uint64_t)g[REG_RBP];
	sample->regs[PP_REG_RSP] = (uint64_t)g[REG_RSP];
	sample->regs[PP_REG_R8] = (uint64_t)g[REG_R8];
	sample->regs[PP_REG_R9] = (uint64_t)g[REG_R9];
	sample->regs[PP_REG_R10] = (uint64_t)g[REG_R10];
	sample->regs[PP_REG_R11] = (uint64_t)g[REG_R11];
	sample->regs[PP_REG_R12] = (uint64_t)g[REG_R12];
	sample->regs[PP_REG_R13] = (uint64_t)g[REG_R13];
	sample->regs[PP_REG_R14] = (uint64_t)g[REG_R14];
	sample->regs[PP_REG_R15] = (uint64_t)g[REG_R15];
	sample->regs[PP_REG_RIP] = (uint64_t)g[REG_RIP];
	sp = sample->regs[PP_REG_RSP];
	end = stack_end(sp);
	sample->stack_base = sp;
	sample->stack_len = (uint32_t)(end - sp);
	stack_copy = malloc(sample->stack_len);
	raw_copy(stack_copy, sp, sample->stack_len);
	__asm__ volatile("" ::: "memory");
}

static NOINLINE int unwind_level3(int x)
{
	capture();
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

static NOINLINE int unwind_level2(int x)
{
	int r = unwind_level3(x * 2);

	__asm__ volatile("" ::: "memory");
	return r + 3;
}

static NOINLINE int unwind_level1(int x)
{
	int r = unwind_level2(x + 5);

	__asm__ volatile("" ::: "memory");
	return r * 7;
}

/* Index of function name in names[0..n) from start (GCC clones such as
 * "name.constprop.0" count as name); -1 if absent. */
static int find(const char **names, size_t n, size_t start, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = start; i < n; i++)
		if (strncmp(names[i], name, len) == 0 && (names[i][len] == '\0' || names[i][len] == '.'))
			return (int)i;
	return -1;
}

static void check_chain(struct pp_unwinder *u, struct pp_symbolizer *s, uint32_t limit, bool expect_complete)
{
	static struct pp_native_frame frames[PP_MAX_NATIVE];
	const char *names[PP_MAX_NATIVE];
	struct pp_sample copy = *sample;
	size_t n = 0;
	enum pp_unwind_end end;
	int l1, l2, l3, m;

	if (limit < copy.stack_len)
		copy.stack_len = limit;
	end = unwind_sample(u, &copy, stack_copy, frames, PP_MAX_NATIVE, &n);
	for (size_t i = 0; i < n; i++)
		names[i] = symbolize_native(s, unwinder_dwfl(u), frames[i].pc, frames[i].activation).name;
	l3 = find(names, n, 0, "unwind_level3");
	l2 = find(names, n, 0, "unwind_level2");
	l1 = find(names, n, 0, "unwind_level1");
	m = find(names, n, 0, "main");
	if (expect_complete) {
		CHECK_EQ_INT(end, PP_UNWIND_COMPLETE);
		CHECK(l3 >= 0 && l2 > l3 && l1 > l2 && m > l1);
		/* stack pointers grow towards the root */
		for (size_t i = 1; i < n; i++)
			CHECK(frames[i].sp >= frames[i - 1].sp);
	} else {
		CHECK_EQ_INT(end, PP_UNWIND_TRUNCATED);
		CHECK(m < 0); /* never past what was copied */
	}
	if (CHECK_VERBOSE)
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  #%zu %s\n", i, names[i]);
}

int main(void)
{
	struct pp_unwinder *u;
	struct pp_symbolizer *s;

	CHECK_EQ_INT(unwind_level1(1), ((1 + 5) * 2 + 1 + 3) * 7);
	u = unwinder_new(getpid());
	CHECK(u != NULL);
	s = symbolizer_new("/nonexistent", "_PyEval_EvalFrameDefault");
	if (u) {
		check_chain(u, s, UINT32_MAX, true);
		check_chain(u, s, 64, false);
	}
	/* interpreter glue is recognised by name, other code is not */
	CHECK(symbol_is_interp_glue("_PyEval_EvalFrameDefault"));
	CHECK(symbol_is_interp_glue("_PyObject_MakeTpCall"));
	CHECK(symbol_is_interp_glue("cfunction_vectorcall_O"));
	CHECK(!symbol_is_interp_glue("time_sleep"));
	CHECK(!symbol_is_interp_glue("builtin_sorted"));
	CHECK(!symbol_is_interp_glue("take_gil"));
	symbolizer_free(s);
	unwinder_free(u);
	free(stack_copy);
	free(sample);
	return check_report("test_unwind");
}
