// SPDX-License-Identifier: BSD-2-Clause
/*
 * The attach-time self-check on live interpreters: the right layout passes,
 * and a layout that is wrong in any field the check covers is refused
 * rather than sampled with, on every interpreter of this machine.
 */
#include "check.h"
#include "pyruntime.h"
#include "selfcheck.h"
#include "target.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const interpreters[] = {
	"/root/.pyenv/versions/2.7.18/bin/python2.7",
	"/root/.pyenv/versions/3.6.15/bin/python3.6",
	"/root/.pyenv/versions/3.7.16/bin/python3.7",
	"/root/.pyenv/versions/3.8.18/bin/python3.8",
	"/root/.pyenv/versions/3.9.18/bin/python3.9",
	"/root/.pyenv/versions/3.10.13/bin/python3.10",
	"/usr/bin/python3.11",
	"/usr/bin/python3.11-dbg",
	"/root/.pyenv/versions/3.11.7/bin/python3.11",
	"/root/.pyenv/versions/3.12.1/bin/python3.12",
	"/root/.pyenv/versions/3.13.0/bin/python3.13",
};

/* A script whose main thread sits a few Python frames deep. */
static const char script[] = "import time\n"
			     "def deeper(n):\n"
			     "    if n: return deeper(n - 1)\n"
			     "    while True: time.sleep(0.05)\n"
			     "deeper(3)\n";

static pid_t spawn(const char *py)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(py, py, "-c", script, (char *)NULL);
		_exit(127);
	}
	usleep(400 * 1000); /* let it reach deeper() */
	return pid;
}

/* The table row of the version before (after, for the first). */
static const struct pp_layout *neighbour(const struct pp_layout *l)
{
	static const uint16_t versions[] = {0x0207, 0x0306, 0x0307, 0x0308, 0x0309, 0x030a, 0x030b, 0x030c, 0x030d};

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (versions[i] == l->version)
			return pylayout_for_version((uint32_t)versions[i ? i - 1 : 1] << 16);
	return NULL;
}

/* Whether two layouts differ in a field the self-check reads. */
static int covered_differ(const struct pp_layout *a, const struct pp_layout *b)
{
	return a->bpf.runtime_interp_head != b->bpf.runtime_interp_head ||
	       a->bpf.interp_tstate_head != b->bpf.interp_tstate_head || a->bpf.tstate_next != b->bpf.tstate_next ||
	       a->bpf.tstate_frame != b->bpf.tstate_frame || a->bpf.cframe_frame != b->bpf.cframe_frame ||
	       a->bpf.frame_code != b->bpf.frame_code || a->bpf.frame_previous != b->bpf.frame_previous ||
	       a->tstate_interp != b->tstate_interp || a->co_name != b->co_name || a->str_kind != b->str_kind ||
	       a->str_ascii_size != b->str_ascii_size;
}

static enum pp_check check_with(pid_t pid, const struct pp_pyruntime *rt, const struct pp_layout *l)
{
	struct pp_pyruntime copy = *rt;
	char why[256] = "";
	enum pp_check c;

	copy.layout = l;
	c = selfcheck(pid, &copy, why, sizeof(why));
	if (CHECK_VERBOSE)
		printf("  check -> %d (%s)\n", c, why);
	return c;
}

static void check_interpreter(const char *py)
{
	struct pp_target t;
	struct pp_pyruntime rt;
	struct pp_layout bad;
	const struct pp_layout *other;
	char why[256] = "";
	pid_t pid;

	if (access(py, X_OK) != 0) {
		printf("test_selfcheck: SKIPPED %s (not installed)\n", py);
		return;
	}
	pid = spawn(py);
	CHECK(pid > 0);
	CHECK_EQ_INT(target_open(&t, pid), 0);
	CHECK_EQ_INT(pyruntime_find(&t, &rt, why, sizeof(why)), PP_RT_OK);
	if (!rt.layout) {
		fprintf(stderr, "%s: %s\n", py, why);
		goto out;
	}
	CHECK_EQ_INT(check_with(pid, &rt, rt.layout), PP_CHECK_OK);

	/* Each field the walk depends on, skewed by one word. */
	bad = *rt.layout;
	bad.tstate_interp += 8;
	CHECK_EQ_INT(check_with(pid, &rt, &bad), PP_CHECK_MISMATCH);
	bad = *rt.layout;
	bad.bpf.frame_code += 8;
	CHECK_EQ_INT(check_with(pid, &rt, &bad), PP_CHECK_MISMATCH);
	bad = *rt.layout;
	bad.bpf.tstate_frame += 8;
	CHECK(check_with(pid, &rt, &bad) != PP_CHECK_OK);
	bad = *rt.layout;
	bad.co_name += 16;
	CHECK_EQ_INT(check_with(pid, &rt, &bad), PP_CHECK_MISMATCH);
	/* The neighbouring version's table, as if the version were misread,
	 * where it differs in what the check covers. */
	other = neighbour(rt.layout);
	if (other && covered_differ(other, rt.layout))
		CHECK(check_with(pid, &rt, other) != PP_CHECK_OK);
	printf("test_selfcheck: %s (Python %s): right layout accepted, skewed layouts refused\n", py, rt.version);
out:
	pyruntime_free(&rt);
	target_close(&t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++)
		check_interpreter(interpreters[i]);
	return check_report("test_selfcheck");
}
