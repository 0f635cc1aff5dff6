/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Userspace half of the flow, per sample: record -> unwind -> symbolize ->
 * Python frames -> merge -> profile. Holds the per-process state (unwinder,
 * symbol and code-object caches, thread names).
 */
#ifndef PP_PIPELINE_H
#define PP_PIPELINE_H

#include "profile.h"
#include "pyruntime.h"
#include "target.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pp_pipeline_opts {
	bool show_interp; /* keep interpreter call-machinery frames */
};

struct pp_stats {
	uint64_t samples; /* records turned into stacks */
	uint64_t bad_records; /* malformed records (never expected) */
	uint64_t native_truncated; /* native unwind did not reach the root */
	uint64_t py_failed; /* Python walk or code-object read failed */
	uint64_t py_truncated; /* Python frame list hit the walk limit */
	uint64_t no_tstate; /* samples of threads that run no Python */
	uint64_t unknown_pid; /* records of processes not (or no longer) followed */
	uint64_t stack_limited; /* incomplete native stacks whose copy was cut at --stack-size */
	uint64_t stack_faulted; /* stack copies cut at an unreadable page */
	uint64_t stack_bytes; /* user stack bytes received, in all */
	uint64_t stack_max; /* the largest user stack copy */
};

struct pp_pipeline;

struct pp_pipeline *pipeline_new(const struct pp_pipeline_opts *opts);
void pipeline_free(struct pp_pipeline *pl);
/* Follows a process; takes ownership of t and rt. 0 on success. */
int pipeline_add_process(struct pp_pipeline *pl, struct pp_target *t, struct pp_pyruntime *rt);
/* Stops following pid and frees its caches (unwinder, symbols, code objects). */
void pipeline_remove_process(struct pp_pipeline *pl, pid_t pid);
bool pipeline_follows(const struct pp_pipeline *pl, pid_t pid);
/* Re-reads the mappings of the processes whose file mappings changed (a
 * library loaded or unloaded); call about once a second when the sampler
 * does not count unmappings (sampler_tracks_unmaps), which records carry
 * and pipeline_sample follows sample by sample. */
void pipeline_check_maps(struct pp_pipeline *pl);
/* Turns one ring-buffer record into a stack of the profile. */
void pipeline_sample(struct pp_pipeline *pl, const void *data, size_t size);
struct pp_profile *pipeline_profile(struct pp_pipeline *pl);
/* Hands over the profile so far (the caller frees it) and starts an empty one. */
struct pp_profile *pipeline_take_profile(struct pp_pipeline *pl);
/* A followed process's target and runtime; NULL if pid is not followed. */
const struct pp_target *pipeline_target(struct pp_pipeline *pl, pid_t pid);
const struct pp_pyruntime *pipeline_runtime(struct pp_pipeline *pl, pid_t pid);
/* The thread a PyThreadState was last sampled on; 0 if never. */
pid_t pipeline_thread_of(struct pp_pipeline *pl, pid_t pid, uint64_t tstate);
const struct pp_stats *pipeline_stats(const struct pp_pipeline *pl);

#endif
