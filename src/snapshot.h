/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every thread of a process at one moment, for `dump`: the threads are
 * stopped (ptrace) for as long as it takes to copy their registers, their
 * user stacks and their Python frame lists, then resumed, always. Each
 * thread becomes a record in the BPF sampler's format, so the rest of the
 * flow (unwind, symbolize, merge) is the sampler's.
 */
#ifndef PP_SNAPSHOT_H
#define PP_SNAPSHOT_H

#include "pyruntime.h"
#include "target.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pp_thread_snap {
	pid_t tid;
	char name[64];
	char state; /* /proc state just before the stop: 'R' running, 'S'/'D' waiting, ... */
	char wchan[64]; /* where it waited in the kernel then, "" if nowhere */
	long syscall; /* the system call it was in when stopped, -1 if it was running user code */
	bool captured; /* stopped and read: record is set */
	bool python; /* has a PyThreadState */
	bool holds_gil;
	void *record; /* struct pp_sample + frames + stack */
	size_t record_len;
};

struct pp_snapshot {
	struct pp_thread_snap *threads;
	size_t n;
	bool gil_known; /* holds_gil is meaningful */
	double paused_ms; /* how long the threads were stopped */
};

/* Takes the snapshot; -1 with why filled if the process could not be
 * stopped (the threads stopped so far are resumed). */
int snapshot_take(const struct pp_target *t, const struct pp_pyruntime *rt, struct pp_snapshot *snap, char *why,
		  size_t whylen);
void snapshot_free(struct pp_snapshot *snap);

#endif
