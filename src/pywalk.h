/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Python frame walk of bpf/sampler.bpf.c, done from userspace on a
 * process that is stopped (dump) or read as it runs (top): the same
 * entries (frames innermost first, a boundary after each eval activation)
 * and the same flags, so that one merge serves both. Every read can fail
 * and every loop has the BPF walk's bound.
 */
#ifndef PP_PYWALK_H
#define PP_PYWALK_H

#include "pybpfprof.h"
#include "pyruntime.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The PyThreadState whose thread key (tstate_tid) is key: the thread id in
 * the target's pid namespace (PP_TID_NATIVE) or its fs base
 * (PP_TID_PTHREAD); 0 if there is none. */
uint64_t pywalk_tstate(pid_t pid, const struct pp_pyruntime *rt, uint64_t key);

/* Walks tstate's frame list into out (at most max entries); returns the
 * count and ORs PP_S_PY_* flags into *flags. */
uint32_t pywalk_frames(pid_t pid, const struct pp_offsets *o, uint64_t tstate, struct pp_pyframe *out, uint32_t max,
		       uint32_t *flags);

/* The thread states that hold a GIL now (one per interpreter at most),
 * into out; returns the count, or -1 if this version's GIL cannot be read. */
int pywalk_gil_holders(pid_t pid, const struct pp_pyruntime *rt, uint64_t *out, size_t max);

#endif
