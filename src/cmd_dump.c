// SPDX-License-Identifier: BSD-2-Clause
/*
 * pybpfprof dump: the merged Python + native stack of every thread of a
 * process, now, once. The threads are stopped for the moment it takes to
 * copy them (snapshot.c) and the copies go through the sampler's own
 * unwind, symbolize and merge stages.
 */
#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "pipeline.h"
#include "snapshot.h"
#include "util.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct dump_options {
	pid_t pid;
	bool interp_frames;
	bool native;
};

static void dump_usage(FILE *f)
{
	fprintf(f, "Usage: pybpfprof dump --pid PID [options]\n"
		   "Prints the merged Python and native stack of every thread of a running CPython\n"
		   "process, innermost frame first, with the thread's name, whether it holds the GIL\n"
		   "and whether it is running or waiting. The threads are stopped for the moment\n"
		   "it takes to read them and are always resumed.\n"
		   "\n"
		   "Options:\n"
		   "  -p, --pid PID          process to read (required)\n"
		   "      --native           show native frames (default)\n"
		   "      --no-native        only the Python frames\n"
		   "      --interp-frames    keep the interpreter's call machinery frames (default: hidden)\n"
		   "  -h, --help             this help\n");
}

static int dump_parse(int argc, char **argv, struct dump_options *o)
{
	enum { OPT_NATIVE = 256, OPT_NO_NATIVE, OPT_INTERP };
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"native", no_argument, NULL, OPT_NATIVE},
		{"no-native", no_argument, NULL, OPT_NO_NATIVE},
		{"interp-frames", no_argument, NULL, OPT_INTERP},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	*o = (struct dump_options){.native = true};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_pid(optarg, &o->pid))
				return -1;
			break;
		case OPT_NATIVE:
			o->native = true;
			break;
		case OPT_NO_NATIVE:
			o->native = false;
			break;
		case OPT_INTERP:
			o->interp_frames = true;
			break;
		case 'v':
			pp_verbose++;
			break;
		case 'h':
			dump_usage(stdout);
			exit(0);
		default:
			return cli_unknown(argv, optopt, "pybpfprof dump");
		}
	}
	return cli_finish(argc, argv, o->pid, "pybpfprof dump");
}

/* The merged stack of thread tid in p, or NULL. */
static const uint32_t *thread_stack(const struct pp_profile *p, pid_t tid, size_t *n)
{
	for (size_t i = 0; i < profile_nstacks(p); i++) {
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, n, &count);

		if (*n > 1 && profile_frame(p, fr[1])->kind == PP_FRAME_THREAD &&
		    profile_frame(p, fr[1])->num == (uint64_t)tid)
			return fr;
	}
	return NULL;
}

static void print_frame(const struct pp_frame *f)
{
	switch (f->kind) {
	case PP_FRAME_PYTHON:
		if (f->line > 0)
			printf("    %s (%s:%d)\n", f->name, f->file, f->line);
		else
			printf("    %s (%s)\n", f->name, f->file);
		break;
	case PP_FRAME_NATIVE:
	case PP_FRAME_INTERP:
		if (f->file && f->file[0] == '[')
			printf("    %s %s\n", f->name, f->file);
		else
			printf("    %s [%s]\n", f->name, f->file ? pp_basename(f->file) : "?");
		break;
	default:
		printf("    %s\n", f->name);
	}
}

static const char *state_text(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
		return "waiting";
	case 'D':
		return "waiting (uninterruptible)";
	case 'T':
	case 't':
		return "stopped";
	default:
		return "unknown state";
	}
}

/* The system calls a thread waits in most; others print by number. */
static const char *syscall_name(long nr)
{
	static const struct {
		long nr;
		const char *name;
	} names[] = {
		{0, "read"},
		{1, "write"},
		{7, "poll"},
		{23, "select"},
		{34, "pause"},
		{35, "nanosleep"},
		{42, "connect"},
		{43, "accept"},
		{45, "recvfrom"},
		{47, "recvmsg"},
		{61, "wait4"},
		{128, "rt_sigtimedwait"},
		{130, "rt_sigsuspend"},
		{202, "futex"},
		{230, "clock_nanosleep"},
		{232, "epoll_wait"},
		{247, "waitid"},
		{270, "pselect6"},
		{271, "ppoll"},
		{281, "epoll_pwait"},
		{288, "accept4"},
		{426, "io_uring_enter"},
		{441, "epoll_pwait2"},
	};

	for (size_t i = 0; i < PP_ARRAY_LEN(names); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}

static void print_state(const struct pp_thread_snap *th)
{
	const char *name;

	if (!th->captured) {
		printf(", %s", state_text(th->state));
		if (th->state != 'R' && th->wchan[0])
			printf(" in %s", th->wchan);
		return;
	}
	/* Where the stop found it is exact; /proc's state was read a moment before. */
	if (th->syscall < 0) {
		printf(", running");
		return;
	}
	name = syscall_name(th->syscall);
	if (th->syscall == 219) /* restart_syscall: the stop interrupted a wait that resumes */
		printf(", waiting");
	else if (name)
		printf(", waiting in %s()", name);
	else
		printf(", waiting in system call %ld", th->syscall);
}

static void print_thread(const struct pp_snapshot *snap, const struct pp_thread_snap *th, const struct pp_profile *p,
			 pid_t pid)
{
	const uint32_t *fr;
	size_t n = 0;

	printf("Thread %d \"%s\"%s", (int)th->tid, th->name, th->tid == pid ? " (main)" : "");
	if (snap->gil_known && th->holds_gil)
		printf(", holds the GIL");
	print_state(th);
	if (!th->python)
		printf(", no Python");
	printf("\n");
	if (!th->captured) {
		printf("    [not read: the thread did not stop in time or exited]\n\n");
		return;
	}
	fr = thread_stack(p, th->tid, &n);
	for (size_t i = n; i-- > 2;) /* innermost first, without process and thread */
		print_frame(profile_frame(p, fr[i]));
	printf("\n");
}

int dump_main(int argc, char **argv)
{
	struct dump_options o;
	struct pp_target t;
	struct pp_pyruntime rt;
	struct pp_snapshot snap;
	struct pp_pipeline *pl;
	struct pp_profile *view;
	char why[512];
	pid_t pid;
	int holders = 0;

	if (dump_parse(argc, argv, &o))
		return 1;
	if (!attach_privileged()) {
		pp_err("needs root (or CAP_SYS_PTRACE): run it with sudo");
		return 1;
	}
	if (attach_python(o.pid, &t, &rt))
		return 1;
	pid = t.pid;
	printf("Process %d: %s\nPython %s (%s)\n", (int)pid, t.cmdline, rt.version, rt.path);
	pl = pipeline_new(&(struct pp_pipeline_opts){.show_interp = o.interp_frames});
	if (pipeline_add_process(pl, &t, &rt)) {
		pp_err("cannot read the mappings of process %d: it may have exited", (int)pid);
		target_close(&t);
		pyruntime_free(&rt);
		pipeline_free(pl);
		return 1;
	}
	if (snapshot_take(pipeline_target(pl, pid), pipeline_runtime(pl, pid), &snap, why, sizeof(why))) {
		pp_err("%s", why);
		pipeline_free(pl);
		return 1;
	}
	for (size_t i = 0; i < snap.n; i++) {
		if (snap.threads[i].captured)
			pipeline_sample(pl, snap.threads[i].record, snap.threads[i].record_len);
		holders += snap.threads[i].holds_gil;
	}
	view = profile_view(pipeline_profile(pl),
			    &(struct pp_view){.threads = true, .lines = true, .native = o.native, .kernel = true});
	if (!snap.gil_known)
		printf("GIL: unknown for this version\n");
	else if (!holders)
		printf("GIL: not held\n");
	printf("%zu threads, stopped for %.1f ms\n\n", snap.n, snap.paused_ms);
	for (size_t i = 0; i < snap.n; i++)
		print_thread(&snap, &snap.threads[i], view, pid);
	fflush(stdout);
	profile_free(view);
	snapshot_free(&snap);
	pipeline_free(pl);
	return 0;
}
