/* SPDX-License-Identifier: BSD-2-Clause */
/* What every command does first: the privileges, the target, its Python
 * runtime and a layout checked against the live process. Errors are
 * printed here, one line each. */
#ifndef PP_ATTACH_H
#define PP_ATTACH_H

#include "pyruntime.h"
#include "target.h"

#include <stdbool.h>
#include <sys/types.h>

/* Root, or CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE. */
bool attach_privileged(void);
/* Opens pid, finds its runtime and checks the layout on it; on failure
 * prints why and returns -1 with nothing left open. */
int attach_python(pid_t pid, struct pp_target *t, struct pp_pyruntime *rt);

/* Once the sampler is loaded and attached: keeps only the capabilities
 * reading targets and writing output need, and no new privileges. */
void attach_drop_privileges(void);

#endif
