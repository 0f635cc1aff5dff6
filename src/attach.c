// SPDX-License-Identifier: BSD-2-Clause
#include "attach.h"
#include "selfcheck.h"
#include "util.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Root, or the three capabilities that loading, sampling and reading the
 * target need. */
bool attach_privileged(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};
	const int need[] = {39 /* CAP_BPF */, 38 /* CAP_PERFMON */, CAP_SYS_PTRACE};

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (size_t i = 0; i < PP_ARRAY_LEN(need); i++)
		if (!(data[need[i] / 32].effective & (1u << (need[i] % 32))))
			return false;
	return true;
}

/*
 * The layout must read this process right before we sample with it. A
 * process that is starting up or shutting down has no interpreter or
 * half of one: look again for a moment before calling it a mismatch.
 */
static int check_layout(const struct pp_target *t, const struct pp_pyruntime *rt)
{
	enum pp_check c = PP_CHECK_MISMATCH;
	char why[256] = "";

	for (int attempt = 0; attempt < 10; attempt++) {
		c = selfcheck(t->pid, rt, why, sizeof(why));
		if (c == PP_CHECK_OK)
			return 0;
		if (!target_alive(t->pid)) {
			pp_err("process %d exited while pybpfprof attached to it", (int)t->pid);
			return -1;
		}
		usleep(100 * 1000);
	}
	if (c == PP_CHECK_NO_FRAMES) {
		/* An embedding application between calls into Python: the thread
		 * layout is verified, the frame layout will be when code runs. */
		pp_err("warning: Python %s in process %d: %s yet; the frame layout could not be verified", rt->version,
		       (int)t->pid, why);
		return 0;
	}
	if (c == PP_CHECK_NOT_READY)
		pp_err("Python %s in process %d has no running interpreter (%s): it is starting up or shutting down; "
		       "try again",
		       rt->version, (int)t->pid, why);
	else
		pp_err("Python %s in process %d does not have the layout this build expects for %s (%s); not "
		       "sampling: please report this build of Python",
		       rt->version, (int)t->pid, rt->layout->name, why);
	return -1;
}

int attach_python(pid_t pid, struct pp_target *t, struct pp_pyruntime *rt)
{
	char why[512];

	if (target_open(t, pid)) {
		if (errno == ESRCH)
			pp_err("no process with PID %d: check the PID (it may have exited)", (int)pid);
		else
			pp_err("cannot read process %d: %s", (int)pid, strerror(errno));
		return -1;
	}
	if (pyruntime_find(t, rt, why, sizeof(why)) != PP_RT_OK) {
		pp_err("%s", why);
		target_close(t);
		return -1;
	}
	if (check_layout(t, rt)) {
		pyruntime_free(rt);
		target_close(t);
		return -1;
	}
	return 0;
}

/* What is needed once the BPF program runs and the perf events are open:
 * reading other processes (ptrace), their files (/proc/PID/root; map_files
 * wants CAP_SYS_ADMIN) and writing output where root may. */
static const int kept_caps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN};

static bool kept(int cap)
{
	for (size_t i = 0; i < PP_ARRAY_LEN(kept_caps); i++)
		if (kept_caps[i] == cap)
			return true;
	return false;
}

void attach_drop_privileges(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};
	char *text = pp_read_file("/proc/sys/kernel/cap_last_cap", 64, NULL);
	int last = text ? atoi(text) : 40;

	free(text);
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * goes with the rest below. */
	for (int cap = 0; cap <= last && cap < 64; cap++)
		if (!kept(cap))
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	if (syscall(SYS_capget, &hdr, data) == 0) {
		uint32_t mask[2] = {0, 0};

		for (size_t i = 0; i < PP_ARRAY_LEN(kept_caps); i++)
			mask[kept_caps[i] / 32] |= 1u << (kept_caps[i] % 32);
		for (int i = 0; i < 2; i++) {
			data[i].effective &= mask[i];
			data[i].permitted &= mask[i];
			data[i].inheritable = 0;
		}
		if (syscall(SYS_capset, &hdr, data))
			pp_debug("could not drop capabilities: %s", strerror(errno));
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
