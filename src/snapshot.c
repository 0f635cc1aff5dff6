// SPDX-License-Identifier: BSD-2-Clause
#include "snapshot.h"
#include "procmem.h"
#include "pywalk.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* A thread that does not stop within this long (stuck in an uninterruptible
 * wait) is left running and shown without its stack. */
#define STOP_TIMEOUT_NS (2000ULL * 1000 * 1000)
#define MAX_THREADS	PP_MAX_THREADS

static int tid_cmp(const void *a, const void *b)
{
	const struct pp_thread_snap *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

static void read_proc_line(pid_t pid, pid_t tid, const char *what, char *out, size_t outlen)
{
	char path[96], *s;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, what);
	out[0] = '\0';
	s = pp_read_file(path, 4096, NULL);
	if (!s)
		return;
	s[strcspn(s, "\n")] = '\0';
	snprintf(out, outlen, "%s", s);
	free(s);
}

static char thread_state(pid_t pid, pid_t tid)
{
	char buf[512], *p;

	read_proc_line(pid, tid, "stat", buf, sizeof(buf));
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* The thread's id in the target's own pid namespace (the last NSpid). */
static uint64_t ns_tid(pid_t pid, pid_t tid)
{
	char path[96], *s, *line;
	uint64_t v = (uint64_t)tid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	s = pp_read_file(path, 1 << 16, NULL);
	if (!s)
		return v;
	line = strstr(s, "\nNSpid:");
	if (line) {
		char *p = line + 7, *end;

		for (;;) {
			unsigned long long x = strtoull(p, &end, 10);

			if (end == p)
				break;
			v = x;
			p = end;
		}
	}
	free(s);
	return v;
}

static int list_threads(pid_t pid, struct pp_snapshot *snap)
{
	char path[64];
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) && snap->n < MAX_THREADS) {
		pid_t tid = (pid_t)atoi(de->d_name);
		struct pp_thread_snap *th;

		if (tid <= 0)
			continue;
		pp_grow((void **)&snap->threads, &cap, snap->n + 1, sizeof(*snap->threads));
		th = &snap->threads[snap->n++];
		memset(th, 0, sizeof(*th));
		th->tid = tid;
	}
	closedir(d);
	if (snap->n)
		qsort(snap->threads, snap->n, sizeof(*snap->threads), tid_cmp);
	return snap->n ? 0 : -1;
}

static void regs_to_dwarf(__u64 *r, const struct user_regs_struct *u)
{
	r[PP_REG_RAX] = u->rax;
	r[PP_REG_RDX] = u->rdx;
	r[PP_REG_RCX] = u->rcx;
	r[PP_REG_RBX] = u->rbx;
	r[PP_REG_RSI] = u->rsi;
	r[PP_REG_RDI] = u->rdi;
	r[PP_REG_RBP] = u->rbp;
	r[PP_REG_RSP] = u->rsp;
	r[PP_REG_R8] = u->r8;
	r[PP_REG_R9] = u->r9;
	r[PP_REG_R10] = u->r10;
	r[PP_REG_R11] = u->r11;
	r[PP_REG_R12] = u->r12;
	r[PP_REG_R13] = u->r13;
	r[PP_REG_R14] = u->r14;
	r[PP_REG_R15] = u->r15;
	r[PP_REG_RIP] = u->rip;
}

/* The end of the mapping that holds sp, bounded by PP_STACK_MAX. */
static uint64_t stack_end(const struct pp_target *t, uint64_t sp, uint32_t *flags)
{
	for (size_t i = 0; i < t->nmaps; i++)
		if (sp >= t->maps[i].start && sp < t->maps[i].end) {
			if (t->maps[i].end - sp > PP_STACK_MAX) {
				*flags |= PP_S_STACK_LIMIT;
				return sp + PP_STACK_MAX;
			}
			return t->maps[i].end;
		}
	return sp + PP_PAGE_SIZE;
}

/* Builds th's record while th is stopped. */
static void capture(const struct pp_target *t, const struct pp_pyruntime *rt, struct pp_thread_snap *th,
		    const uint64_t *holders, int nholders, struct pp_pyframe *py)
{
	const struct pp_proc proc = pyruntime_proc(t, rt);
	const struct pp_offsets *o = &proc.off;
	struct user_regs_struct regs;
	struct pp_sample s = {0};
	uint64_t key, end;
	uint32_t flags = 0, npy = 0;
	size_t want, got;
	uint8_t *rec;

	if (ptrace(PTRACE_GETREGS, th->tid, NULL, &regs))
		return;
	/* Stopped inside a system call, orig_rax holds its number. */
	th->syscall = (long)regs.orig_rax;
	s.pid = (uint32_t)t->pid;
	s.tid = (uint32_t)th->tid;
	s.time_ns = pp_now_ns();
	regs_to_dwarf(s.regs, &regs);
	key = o->tid_kind == PP_TID_PTHREAD ? regs.fs_base : ns_tid(t->pid, th->tid);
	s.tstate = pywalk_tstate(t->pid, rt, key);
	if (s.tstate) {
		th->python = true;
		npy = pywalk_frames(t->pid, o, s.tstate, py, PP_MAX_PYENTRIES, &flags);
		for (int i = 0; i < nholders; i++)
			th->holds_gil |= holders[i] == s.tstate;
	} else {
		flags |= PP_S_NO_TSTATE;
	}
	end = stack_end(t, regs.rsp, &flags);
	want = (size_t)(end - regs.rsp);
	rec = pp_xmalloc(sizeof(s) + npy * sizeof(*py) + want);
	got = procmem_read_partial(t->pid, regs.rsp, rec + sizeof(s) + npy * sizeof(*py), want);
	if (got < want)
		flags |= PP_S_STACK_FAULT;
	s.stack_base = regs.rsp;
	s.stack_len = (uint32_t)got;
	s.py_len = (uint16_t)npy;
	s.flags = flags;
	memcpy(rec, &s, sizeof(s));
	memcpy(rec + sizeof(s), py, npy * sizeof(*py));
	th->record = rec;
	th->record_len = sizeof(s) + npy * sizeof(*py) + got;
	th->captured = true;
}

enum seize { NOT_SEIZED, SEIZED, STOPPED };

/* Waits until a seized thread is in its ptrace stop. */
static int wait_stop(pid_t tid, uint64_t deadline)
{
	int status;

	while (pp_now_ns() < deadline) {
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

		if (r == tid && WIFSTOPPED(status))
			return 0;
		if (r == tid || (r < 0 && errno != EINTR))
			return -1; /* it exited */
		usleep(200);
	}
	errno = ETIMEDOUT;
	return -1;
}

static enum seize stop_thread(pid_t tid, uint64_t deadline)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return NOT_SEIZED;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) || wait_stop(tid, deadline))
		return SEIZED;
	return STOPPED;
}

int snapshot_take(const struct pp_target *t, const struct pp_pyruntime *rt, struct pp_snapshot *snap, char *why,
		  size_t whylen)
{
	struct pp_pyframe *py = pp_xmalloc(PP_MAX_PYENTRIES * sizeof(*py));
	uint64_t holders[PP_MAX_INTERPS], deadline, start;
	struct pp_target maps = {.pid = t->pid};
	sigset_t all, old;
	int nholders, stopped = 0, first_errno = 0;
	enum seize *seized;

	memset(snap, 0, sizeof(*snap));
	if (list_threads(t->pid, snap)) {
		snprintf(why, whylen, "process %d has no threads to read: it has exited", (int)t->pid);
		free(py);
		return -1;
	}
	for (size_t i = 0; i < snap->n; i++) {
		read_proc_line(t->pid, snap->threads[i].tid, "comm", snap->threads[i].name,
			       sizeof(snap->threads[i].name));
		snap->threads[i].syscall = -1;
	}
	seized = pp_xcalloc(snap->n, sizeof(*seized));
	/* No signal may end us while threads are stopped: Ctrl-C waits
	 * until every thread is resumed. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	start = pp_now_ns();
	deadline = start + STOP_TIMEOUT_NS;
	for (size_t i = 0; i < snap->n; i++) {
		struct pp_thread_snap *th = &snap->threads[i];

		/* Read just before its stop, which would show as 't'. */
		read_proc_line(t->pid, th->tid, "wchan", th->wchan, sizeof(th->wchan));
		if (strcmp(th->wchan, "0") == 0)
			th->wchan[0] = '\0';
		th->state = thread_state(t->pid, th->tid);
		errno = 0;
		seized[i] = stop_thread(th->tid, deadline);
		if (seized[i] == STOPPED)
			stopped++;
		else if (!first_errno)
			first_errno = errno ? errno : ETIMEDOUT;
	}
	if (stopped) {
		/* Thread stacks are mappings made after start-up: read them now. */
		target_read_maps(&maps);
		nholders = pywalk_gil_holders(t->pid, rt, holders, PP_ARRAY_LEN(holders));
		snap->gil_known = nholders >= 0;
		for (size_t i = 0; i < snap->n; i++)
			if (seized[i] == STOPPED)
				capture(&maps, rt, &snap->threads[i], holders, nholders > 0 ? nholders : 0, py);
	}
	/* A detach resumes the thread. One seized that has not stopped yet
	 * gets a last moment to stop; failing that, the kernel releases it
	 * when this process exits, moments later. */
	for (size_t i = 0; i < snap->n; i++) {
		pid_t tid = snap->threads[i].tid;

		if (seized[i] == SEIZED && wait_stop(tid, pp_now_ns() + 100ULL * 1000 * 1000) == 0)
			seized[i] = STOPPED;
		if (seized[i] == STOPPED)
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
	}
	snap->paused_ms = (double)(pp_now_ns() - start) / 1e6;
	sigprocmask(SIG_SETMASK, &old, NULL);
	target_close(&maps);
	free(seized);
	free(py);
	if (!stopped) {
		snprintf(why, whylen, "cannot stop the threads of process %d to read them: %s%s", (int)t->pid,
			 strerror(first_errno),
			 first_errno == EPERM ? " (is another debugger or profiler attached?)" : "");
		snapshot_free(snap);
		return -1;
	}
	return 0;
}

void snapshot_free(struct pp_snapshot *snap)
{
	for (size_t i = 0; i < snap->n; i++)
		free(snap->threads[i].record);
	free(snap->threads);
	memset(snap, 0, sizeof(*snap));
}
