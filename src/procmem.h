/* SPDX-License-Identifier: BSD-2-Clause */
/* Reading the target's memory. Every read can fail: the target changes under us. */
#ifndef PP_PROCMEM_H
#define PP_PROCMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads exactly len bytes at addr; 0 on success, -1 if any byte is unreadable. */
int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Reads up to len bytes; returns the count read (0 if none). */
size_t procmem_read_partial(pid_t pid, uint64_t addr, void *buf, size_t len);
int procmem_read_u64(pid_t pid, uint64_t addr, uint64_t *v);

#endif
