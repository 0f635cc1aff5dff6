/* SPDX-License-Identifier: BSD-2-Clause */
/* Which file of the target holds the CPython runtime, where, and which version. */
#ifndef PP_PYRUNTIME_H
#define PP_PYRUNTIME_H

#include "pylayout.h"
#include "target.h"

#include <stddef.h>
#include <stdint.h>

struct pp_pyruntime {
	char *path; /* the ELF holding _PyRuntime, as named in the maps */
	uint64_t bias; /* its load bias */
	uint64_t runtime; /* address of _PyRuntime, or of interp_head (see anchor) */
	uint8_t anchor; /* enum pp_anchor_kind */
	uint64_t code_type; /* address of PyCode_Type, 0 if unknown */
	uint64_t str_type; /* the type of code object names (str), 0 if unknown */
	uint64_t tstate_current; /* PP_GIL_CURRENT: the word holding the GIL holder's tstate; 0 if unknown */
	uint32_t hexversion;
	char version[24]; /* "3.11.7" */
	const struct pp_layout *layout; /* the table's, or own_layout */
	struct pp_layout own_layout; /* 3.13+: read from the process's _Py_DebugOffsets */
};

enum pp_runtime_error {
	PP_RT_OK = 0,
	PP_RT_NOT_PYTHON, /* no CPython runtime found in the process */
	PP_RT_UNSUPPORTED, /* CPython, but a version this build does not support */
	PP_RT_UNREADABLE, /* found, but its memory or file could not be read */
};

/* Finds the runtime of target t. On error, why holds one line for people. */
enum pp_runtime_error pyruntime_find(const struct pp_target *t, struct pp_pyruntime *rt, char *why, size_t whylen);
void pyruntime_free(struct pp_pyruntime *rt);
/* What the BPF sampler (and the userspace walk) needs of this process:
 * where the runtime is, the pid namespace, the walk's offsets. */
struct pp_proc pyruntime_proc(const struct pp_target *t, const struct pp_pyruntime *rt);
/* Moves *src to *dst (layout included, when it is src's own); src is left empty. */
void pyruntime_move(struct pp_pyruntime *dst, struct pp_pyruntime *src);

#endif
