/* SPDX-License-Identifier: BSD-2-Clause */
/* The BPF side from userspace: load the skeleton, open a CPU-clock event on
 * every CPU, attach, follow processes, poll the ring buffer, read counters. */
#ifndef PP_SAMPLER_H
#define PP_SAMPLER_H

#include "pybpfprof.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Handles one record; nonzero ends the current poll round early (the
 * record counts as consumed), so that a flood cannot hold the caller. */
typedef int (*pp_record_fn)(void *ctx, const void *data, size_t size);

struct pp_sampler_opts {
	unsigned frequency; /* Hz per CPU */
	uint32_t stack_limit; /* bytes of user stack per sample */
	uint32_t ringbuf_size;
	/* Count file unmappings with the munmap syscall tracepoint: exact,
	 * but while it is attached every syscall of the host takes the slow
	 * path. Without it, callers poll the maps (pipeline_check_maps). */
	bool unmap_tracepoint;
	pp_record_fn on_record;
	void *ctx;
};

struct pp_sampler;

/* Loads and attaches; NULL with a message in why on failure. */
struct pp_sampler *sampler_open(const struct pp_sampler_opts *o, char *why, size_t whylen);
int sampler_follow(struct pp_sampler *s, pid_t pid, const struct pp_proc *proc);
int sampler_unfollow(struct pp_sampler *s, pid_t pid);
/* Polls for records up to timeout_ms; returns records handled, -EAGAIN if
 * the callback ended the round, or another -errno. */
int sampler_poll(struct pp_sampler *s, int timeout_ms);
/* Stops sampling (detaches the events) and hands over what is still buffered. */
void sampler_stop(struct pp_sampler *s);
void sampler_counters(struct pp_sampler *s, uint64_t out[PP_NCOUNTERS]);
void sampler_close(struct pp_sampler *s);
/* Whether records count the file unmappings of their process (map_gen). */
bool sampler_tracks_unmaps(const struct pp_sampler *s);

#endif
