/* SPDX-License-Identifier: BSD-2-Clause */
/* FlameGraph folded stacks: "root;...;leaf COUNT", one line per stack. */
#ifndef PP_OUT_FOLDED_H
#define PP_OUT_FOLDED_H

#include "profile.h"

#include <stdio.h>

/* Writes the profile sorted by stack; 0 on success, -1 on a write error. */
int folded_write(const struct pp_profile *p, FILE *f);

#endif
