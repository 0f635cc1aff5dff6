/* SPDX-License-Identifier: BSD-2-Clause */
/* The aggregate: interned frame names and distinct stacks with counts. */
#ifndef PP_PROFILE_H
#define PP_PROFILE_H

#include <stddef.h>
#include <stdint.h>

struct pp_profile;

struct pp_profile *profile_new(void);
void profile_free(struct pp_profile *p);

/* Interns a frame name; the id is stable for the profile's life. */
uint32_t profile_intern(struct pp_profile *p, const char *name);
const char *profile_name(const struct pp_profile *p, uint32_t id);

/* Adds count to the stack frames[0..n) (root first). */
void profile_add(struct pp_profile *p, const uint32_t *frames, size_t n, uint64_t count);

size_t profile_nstacks(const struct pp_profile *p);
/* The i-th distinct stack, in insertion order. */
const uint32_t *profile_stack(const struct pp_profile *p, size_t i, size_t *n, uint64_t *count);
uint64_t profile_total(const struct pp_profile *p);

#endif
