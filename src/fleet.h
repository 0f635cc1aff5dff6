/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Following many processes over time: processes found by discovery are
 * attached (quietly: most processes of a host are not Python) and handed
 * to the sampler; processes that exit are let go and their caches freed;
 * every interval each process's (or service's) profile is written to the
 * output directory and pushed.
 */
#ifndef PP_FLEET_H
#define PP_FLEET_H

#include "pipeline.h"
#include "profile.h"
#include "sampler.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pp_push_opts;

struct pp_fleet_opts {
	bool discover; /* scan for processes (--all or --subprocesses) */
	pid_t root; /* --subprocesses: the root process; 0 with --all */
	const char *output_dir; /* NULL: no per-interval files */
	double interval_s;
	uint64_t retain_bytes; /* cap of our files in output_dir; 0: no cap */
	bool by_service; /* one profile per service rather than per process */
	const char *host;
	unsigned frequency;
	struct pp_view view;
	const struct pp_push_opts *push; /* NULL: no push */
	/* POSIX extended regexes: a discovered process whose command line
	 * (arguments joined by spaces) matches one is not followed. */
	const char *const *exclude;
	size_t nexclude;
};

struct pp_fleet_stats {
	uint64_t followed, exited, ignored_unsupported, excluded;
	uint64_t intervals, files_written, files_failed, files_removed;
};

struct pp_fleet;

/* NULL with why filled on error (output directory unusable, push set-up). */
struct pp_fleet *fleet_new(const struct pp_fleet_opts *o, struct pp_pipeline *pl, struct pp_sampler *s, char *why,
			   size_t whylen);
/* Counts a process the caller attached itself (the --pid target). */
void fleet_adopt(struct pp_fleet *f, pid_t pid);
/* Scans for new and exited processes; call about once a second. */
void fleet_scan(struct pp_fleet *f);
/* Writes (and pushes) the interval's profiles if the interval is over (or final). */
void fleet_maybe_flush(struct pp_fleet *f, bool final);
/* Processes followed now. */
size_t fleet_nprocs(const struct pp_fleet *f);
const struct pp_fleet_stats *fleet_stats(const struct pp_fleet *f);
/* The pusher's counters (all 0 without --push). */
struct pp_push_stats;
void fleet_push_stats(struct pp_fleet *f, struct pp_push_stats *out);
/* Ends pushing: what is pending gets grace_s to go out, the rest stays
 * spooled for the next run; the counters stay readable. */
void fleet_end_push(struct pp_fleet *f, double grace_s);
void fleet_free(struct pp_fleet *f, double push_grace_s);

/* The service of a command line: the script's or module's name
 * ("python3 -m gunicorn app:x" -> "gunicorn", "python3 /srv/api.py" -> "api"). */
void fleet_service_name(const char *cmdline, const char *comm, char *out, size_t outlen);

#endif
