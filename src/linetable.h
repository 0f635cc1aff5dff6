/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Line numbers from CPython line tables, one decoder per format. Pure
 * functions over bytes read from the target: every loop is bounded by the
 * table length, and a malformed table gives -1, never a read past its end.
 */
#ifndef PP_LINETABLE_H
#define PP_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* 3.6 - 3.9 co_lnotab; addr is a byte offset into co_code. */
int linetable_lnotab(const uint8_t *t, size_t n, int firstlineno, int64_t addr);
/* 2.x co_lnotab: the same pairs, but line increments are unsigned. */
int linetable_lnotab27(const uint8_t *t, size_t n, int firstlineno, int64_t addr);
/* 3.10 co_linetable (PEP 626); addr is a byte offset. -1 for "no line". */
int linetable_310(const uint8_t *t, size_t n, int firstlineno, int64_t addr);
/* 3.11+ location table; idx is in code units. -1 for "no location". */
int linetable_locations(const uint8_t *t, size_t n, int firstlineno, int64_t idx);

#endif
