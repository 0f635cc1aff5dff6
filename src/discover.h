/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Which processes to follow, found by scanning /proc: every process that
 * may be CPython (--all), or a process and its descendants
 * (--subprocesses). A scan costs a readdir of /proc and, per process, one
 * readlink of its exe; a process is looked at more closely only when it is
 * new or has exec'd another program.
 */
#ifndef PP_DISCOVER_H
#define PP_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pp_discover;

/* root: follow root and its descendants only; 0: every process. */
struct pp_discover *discover_new(pid_t root);
void discover_free(struct pp_discover *d);

/* What a scan found: processes to look at (new, or exec'd since) and
 * processes gone (exited, or exec'd away from what was followed). */
struct pp_scan {
	pid_t *candidates;
	size_t ncandidates;
	pid_t *gone;
	size_t ngone;
};
/* Scans /proc; the arrays stay valid until the next scan. */
const struct pp_scan *discover_scan(struct pp_discover *d);

/* The verdict on a candidate: followed from now on, not Python (looked
 * at again only if it execs), or not ready (looked at again next scan,
 * for a while). */
enum pp_verdict { PP_FOLLOWED, PP_IGNORED, PP_RETRY };
void discover_verdict(struct pp_discover *d, pid_t pid, enum pp_verdict v);

/* Whether an executable or mapped file name suggests CPython. */
bool discover_python_name(const char *path);

#endif
