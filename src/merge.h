/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The merge rule: one stack per sample out of the native frames, the
 * Python frame list and the kernel frames. Each native eval-loop activation
 * is replaced by the Python frames it was running, matched by the address
 * of the activation's C-stack marker when the version has one (exact), else
 * by counting eval frames. Pure: ids in, ids out.
 */
#ifndef PP_MERGE_H
#define PP_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pp_merge_native {
	uint64_t sp; /* the frame's stack pointer; 0 if unknown */
	uint32_t frame; /* name id */
	unsigned flags; /* PP_SYM_* from symbolize.h */
};

struct pp_merge_py {
	uint32_t frame; /* name id (frames only) */
	bool boundary; /* ends a native activation */
	uint64_t addr; /* boundaries: an address in that activation's C frame, 0 if none */
};

struct pp_merge_in {
	const uint32_t *kernel; /* innermost first */
	size_t nkernel;
	const struct pp_merge_native *native; /* innermost first */
	size_t nnative;
	bool native_complete;
	const struct pp_merge_py *py; /* innermost first */
	size_t npy;
	bool py_truncated; /* the walk hit its limit: outer frames missing */
	bool py_failed; /* a read failed mid-walk: outer frames unknown */
	bool show_interp; /* keep interpreter call machinery */
	/* marker ids */
	uint32_t m_native_truncated, m_truncated, m_unknown;
};

/* Writes the merged stack, root first, to out (capacity max); returns its
 * length. max >= nkernel + nnative + npy + 3 never truncates. */
size_t merge_stack(const struct pp_merge_in *in, uint32_t *out, size_t max);

#endif
