/* SPDX-License-Identifier: BSD-2-Clause */
/* speedscope's JSON file format: one "sampled" profile per thread over a
 * frame table they share. Weights are CPU time in nanoseconds (each sample
 * weighs one sampling period), or sample counts ("none") when the profile
 * does not know its frequency. */
#ifndef PP_OUT_SPEEDSCOPE_H
#define PP_OUT_SPEEDSCOPE_H

#include "profile.h"

#include <stdio.h>

/* Writes the profile; 0 on success, -1 on a write error. */
int speedscope_write(const struct pp_profile *p, FILE *f);

#endif
