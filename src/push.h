/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pushing profiles to a Pyroscope server (its HTTP ingest API), robustly.
 *
 * push_enqueue() never touches the network: it writes the item to a spool
 * directory (a temporary file, fsync, rename, so a crash never leaves half
 * an item) and wakes a background sender thread. The sender posts pending
 * items oldest first with libcurl; a 2xx removes the item, any other outcome
 * keeps it and backs off exponentially before the queue head is tried again,
 * except a 4xx other than 408/429, which the server will never accept: that
 * item is dropped. Items still pending when the pusher stops stay on disk
 * and are sent by the next pusher on the same spool directory.
 *
 * One pusher per spool directory at a time (push_new takes a lock on it).
 * docs/pyroscope.md tells the whole story.
 */
#ifndef PP_PUSH_H
#define PP_PUSH_H

#include <stddef.h>
#include <stdint.h>

/* Limits on what an item may hold; the same limits bound what is read back
 * from the spool. A longer app name, label key or value is cut to its limit. */
#define PP_PUSH_MAX_NAME   255 /* app name, label key */
#define PP_PUSH_MAX_VALUE  1023 /* label value */
#define PP_PUSH_MAX_LABELS 64 /* labels per item */
#define PP_PUSH_MAX_BODY   (64ULL << 20) /* body bytes per item */
#define PP_PUSH_MAX_HEADER (128 << 10) /* bytes of a spool file before the body */

struct pp_push_opts {
	/* Base URL of the Pyroscope server, e.g. http://127.0.0.1:4040. */
	const char *url;
	/* Where pending pushes wait on disk (created if missing, mode 0700). */
	const char *spool_dir;
	/* Disk cap of the spool; past it the oldest pending pushes are dropped.
	 * 0: no cap. */
	uint64_t spool_max_bytes;
	/* Per HTTP request (connect + transfer), e.g. 10; <= 0: 10. */
	double timeout_s;
	/* Backoff after a failed attempt: the first wait, doubled after each
	 * further failure up to the max. 0: the defaults, 1 s and 60 s. The
	 * tests shorten them. (Additions to the brief's API.) */
	double backoff_first_s;
	double backoff_max_s;
};

struct pp_push_item {
	/* Application name, e.g. "myservice". */
	const char *app;
	/* NULL-terminated "key=value" pairs, e.g. {"host=web1", "pid=4711",
	 * NULL}; NULL: none. */
	const char *const *labels;
	/* The interval the profile covers, unix seconds. */
	uint64_t from_s, until_s;
	/* Hz. */
	unsigned sample_rate;
	/* The profile in folded format ("a;b;c 12\n" lines). */
	const void *body;
	size_t body_len;
};

struct pp_push_stats {
	/* Items push_enqueue spooled, in this pusher's life. */
	uint64_t queued;
	/* Items the server took (2xx). */
	uint64_t sent;
	/* Requests that did not end in a 2xx, the one that drops an item on a
	 * 4xx included (a request cut short by push_free is not counted). */
	uint64_t attempts_failed;
	/* Items lost: refused or not spoolable by push_enqueue, over the disk
	 * cap, refused for good by the server (4xx), corrupt in the spool; and
	 * their size: the spool file's, or the body's for one never spooled. */
	uint64_t dropped, dropped_bytes;
	/* Items on disk waiting to be sent (the one being sent included), and
	 * the size of their spool files. */
	uint64_t pending, pending_bytes;
	/* Items push_new found in the spool, left by an earlier run (an addition
	 * to the brief's API). */
	uint64_t recovered;
};

struct pp_pusher;

/* Creates the spool directory if missing, takes its lock, picks up what an
 * earlier run left there (removing its temporary files) and starts the
 * sender. NULL with why filled on error (bad URL, spool dir unusable or in
 * use by another pusher, no thread). */
struct pp_pusher *push_new(const struct pp_push_opts *o, char *why, size_t whylen);

/* Spools the item and wakes the sender; never waits on the network. The
 * app name and labels are sanitised to Pyroscope's characters (letters,
 * digits, '_', '.', '-'; anything else becomes '_'). 0 on success; -1 if it
 * could not be spooled (disk full, I/O error) or is malformed (no app, a
 * label that is not "key=value" with both non-empty, too many labels, a
 * body over PP_PUSH_MAX_BODY, sample rate 0, from after until): counted
 * dropped, with a message. Then enforces the disk cap. Thread-safe. */
int push_enqueue(struct pp_pusher *p, const struct pp_push_item *it);

/* A consistent snapshot of the counters. Thread-safe. */
void push_stats(struct pp_pusher *p, struct pp_push_stats *out);

/* Stops the sender: tries to send what is pending for at most grace_s
 * seconds (a request under way when they run out is cut off within about a
 * second), then leaves the rest spooled on disk (sent on the next start).
 * NULL is a no-op. */
void push_free(struct pp_pusher *p, double grace_s);
/* The first half of push_free: stops the sender after the grace, and the
 * counters stay readable (push_stats) until push_free. */
void push_stop(struct pp_pusher *p, double grace_s);

#endif
