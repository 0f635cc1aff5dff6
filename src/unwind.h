/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Native unwinding of a sample's user stack copy with DWARF CFI (libdw),
 * as `perf --call-graph dwarf` does: no frame pointers needed. One Dwfl per
 * process, kept across samples so that CFI and symbol tables load once.
 */
#ifndef PP_UNWIND_H
#define PP_UNWIND_H

#include "pybpfprof.h"

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PP_MAX_NATIVE 2048

struct pp_native_frame {
	uint64_t pc; /* the frame's PC; for callers, the return address */
	uint64_t sp; /* the stack pointer in that frame (its callee's CFA) */
	bool activation; /* pc is exact (innermost frame, or a signal frame) */
};

enum pp_unwind_end {
	PP_UNWIND_COMPLETE, /* reached the outermost frame (_start, clone) */
	PP_UNWIND_TRUNCATED, /* stopped early: stack copy too short, or no CFI */
};

struct pp_unwinder;

/* NULL if the process's modules cannot be read. The path prefix is the
 * /proc/PID/root the files are read through. */
struct pp_unwinder *unwinder_new(pid_t pid);
void unwinder_free(struct pp_unwinder *u);
/* Re-reads the process's mappings (after a dlopen or dlclose), at most
 * once a second unless forced; modules no longer mapped are dropped. True
 * if it did. */
bool unwinder_refresh(struct pp_unwinder *u, bool force);
/* Unwinds one sample; stack points to s->stack_len bytes copied at s->stack_base. */
enum pp_unwind_end unwind_sample(struct pp_unwinder *u, const struct pp_sample *s, const uint8_t *stack,
				 struct pp_native_frame *out, size_t max, size_t *n);
Dwfl *unwinder_dwfl(struct pp_unwinder *u);

#endif
