/* SPDX-License-Identifier: BSD-2-Clause */
/* Small helpers every stage uses: errors for people, allocation, hashing. */
#ifndef PP_UTIL_H
#define PP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PP_PAGE		4096
#define PP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One line to stderr, prefixed "pybpfprof: ". */
void pp_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Verbose diagnostics, shown with --verbose. */
extern int pp_verbose;
void pp_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that cannot fail: out of memory ends the program with a message. */
void *pp_xmalloc(size_t n);
void *pp_xcalloc(size_t n, size_t size);
void *pp_xrealloc(void *p, size_t n);
char *pp_xstrdup(const char *s);
char *pp_xstrndup(const char *s, size_t n);
char *pp_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *buf (of *cap elements of size elem) to hold at least need elements. */
void pp_grow(void **buf, size_t *cap, size_t need, size_t elem);

/* FNV-1a over bytes, and a 64-bit integer mixer for hash tables. */
uint64_t pp_hash_bytes(const void *p, size_t n, uint64_t seed);
static inline uint64_t pp_hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Reads a whole small file (/proc entries) into a NUL-terminated buffer.
 * Returns NULL on error; *len gets the length without the NUL. */
char *pp_read_file(const char *path, size_t max, size_t *len);
/* /proc/PID/cmdline with its arguments joined by spaces (at most max
 * bytes); NULL if it cannot be read. */
char *pp_read_cmdline(pid_t pid, size_t max);

/* Monotonic clock in nanoseconds. */
uint64_t pp_now_ns(void);

/* The last path component. */
const char *pp_basename(const char *path);

#endif
