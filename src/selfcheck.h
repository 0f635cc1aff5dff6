/* SPDX-License-Identifier: BSD-2-Clause */
/* Validates a layout against the live process before sampling with it. */
#ifndef PP_SELFCHECK_H
#define PP_SELFCHECK_H

#include "pyruntime.h"

#include <stddef.h>
#include <sys/types.h>

enum pp_check {
	PP_CHECK_OK = 0,
	PP_CHECK_NOT_READY, /* no interpreter or thread yet (starting up or shutting down) */
	PP_CHECK_MISMATCH, /* the layout does not read this process right */
	PP_CHECK_NO_FRAMES, /* threads checked, but none runs Python code to check frames on */
};

/* Whether the layout reads this process right; why gets one line if not. */
enum pp_check selfcheck(pid_t pid, const struct pp_pyruntime *rt, char *why, size_t whylen);

#endif
