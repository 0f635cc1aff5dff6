/* SPDX-License-Identifier: BSD-2-Clause */
/* Validates a layout against the live process before sampling with it. */
#ifndef PP_SELFCHECK_H
#define PP_SELFCHECK_H

#include "pyruntime.h"

#include <stddef.h>
#include <sys/types.h>

/* 0 if the layout reads this process right; else -1 and why (one line). */
int selfcheck(pid_t pid, const struct pp_pyruntime *rt, char *why, size_t whylen);

#endif
