/* SPDX-License-Identifier: BSD-2-Clause */
/* pprof: a gzipped protocol buffer (proto/pprof.proto) that go tool pprof
 * and profile stores read. Samples carry the leaf first; process and
 * thread frames become labels; native code is described by mappings. */
#ifndef PP_OUT_PPROF_H
#define PP_OUT_PPROF_H

#include "profile.h"

#include <stdio.h>

/* Writes the profile; 0 on success, -1 on a write error. */
int pprof_write(const struct pp_profile *p, FILE *f);

#endif
