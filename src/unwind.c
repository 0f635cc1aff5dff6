// SPDX-License-Identifier: BSD-2-Clause
#include "unwind.h"
#include "target.h"
#include "util.h"

#include <dwarf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct pp_unwinder {
	Dwfl *dwfl;
	pid_t pid;
	bool attached;
	uint64_t last_refresh_ns;
	/* The sample being unwound, for the callbacks. */
	const struct pp_sample *s;
	const uint8_t *stack;
	struct pp_native_frame *out;
	size_t max, n;
	bool read_outside; /* the unwinder wanted memory past the end of the copy */
};

static char *debuginfo_path;

/*
 * A module's file is opened as target_resolve_path() says: in a container
 * (a mount namespace of its own) the path in the maps names a file of the
 * container's file system, read through /proc/PID/root. Each module's userdata is set to
 * its unwinder by report_modules(). The vdso, and a process gone, fall
 * back to libdw's own lookup.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base, char **file_name,
		    Elf **elfp)
{
	const struct pp_unwinder *u = *userdata;

	if (u && modname && modname[0] == '/') {
		char *path = target_resolve_path(u->pid, modname);
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			*file_name = path;
			return fd;
		}
		free(path);
	}
	return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct pp_unwinder *u = arg;

	(void)dwfl;
	if (*thread_argp)
		return 0;
	*thread_argp = u;
	return (pid_t)u->s->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	(void)dwfl;
	(void)tid;
	*thread_argp = arg;
	return true;
}

/* Only the copied stack is readable: the target has moved on since. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct pp_unwinder *u = arg;
	uint64_t base = u->s->stack_base;

	(void)dwfl;
	if (addr < base)
		return false;
	if (addr - base > u->s->stack_len || u->s->stack_len - (addr - base) < 8) {
		/* Past the end of the copy: it was too short for this stack. */
		u->read_outside = true;
		return false;
	}
	memcpy(result, u->stack + (addr - base), 8);
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct pp_unwinder *u = arg;
	Dwarf_Word regs[PP_NREGS];

	for (int i = 0; i < PP_NREGS; i++)
		regs[i] = u->s->regs[i];
	if (!dwfl_thread_state_registers(thread, 0, PP_NREGS, regs))
		return false;
	dwfl_thread_state_register_pc(thread, u->s->regs[PP_REG_RIP]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

static int set_userdata(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start, void *arg)
{
	(void)mod;
	(void)name;
	(void)start;
	*userdata = arg;
	return DWARF_CB_OK;
}

static int report_modules(struct pp_unwinder *u)
{
	int rc;

	dwfl_report_begin(u->dwfl);
	rc = dwfl_linux_proc_report(u->dwfl, u->pid);
	dwfl_report_end(u->dwfl, NULL, NULL);
	dwfl_getmodules(u->dwfl, set_userdata, u, 0);
	u->last_refresh_ns = pp_now_ns();
	return rc;
}

struct pp_unwinder *unwinder_new(pid_t pid)
{
	struct pp_unwinder *u = pp_xcalloc(1, sizeof(*u));

	u->pid = pid;
	u->dwfl = dwfl_begin(&proc_callbacks);
	if (!u->dwfl || report_modules(u) != 0) {
		unwinder_free(u);
		return NULL;
	}
	u->attached = dwfl_attach_state(u->dwfl, NULL, pid, &thread_callbacks, u);
	if (!u->attached) {
		pp_debug("dwfl_attach_state: %s", dwfl_errmsg(-1));
		unwinder_free(u);
		return NULL;
	}
	return u;
}

void unwinder_free(struct pp_unwinder *u)
{
	if (!u)
		return;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	free(u);
}

bool unwinder_refresh(struct pp_unwinder *u, bool force)
{
	if (!force && pp_now_ns() - u->last_refresh_ns < 1000000000ULL)
		return false;
	report_modules(u);
	return true;
}

Dwfl *unwinder_dwfl(struct pp_unwinder *u)
{
	return u->dwfl;
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct pp_unwinder *u = arg;
	struct pp_native_frame *f;
	Dwarf_Addr pc;
	Dwarf_Word sp = 0;
	bool act = false;

	if (u->n >= u->max || !dwfl_frame_pc(state, &pc, &act))
		return DWARF_CB_ABORT;
	if (dwfl_frame_reg(state, PP_REG_RSP, &sp) != 0)
		sp = 0;
	f = &u->out[u->n++];
	f->pc = pc;
	f->sp = sp;
	f->activation = act;
	return DWARF_CB_OK;
}

enum pp_unwind_end unwind_sample(struct pp_unwinder *u, const struct pp_sample *s, const uint8_t *stack,
				 struct pp_native_frame *out, size_t max, size_t *n)
{
	int rc;

	u->s = s;
	u->stack = stack;
	u->out = out;
	u->max = max;
	u->n = 0;
	u->read_outside = false;
	rc = dwfl_getthread_frames(u->dwfl, (pid_t)s->tid, frame_cb, u);
	*n = u->n;
	u->s = NULL;
	u->stack = NULL;
	/* libdw also ends "normally" when a return address cannot be read:
	 * an unwind that needed memory past the copy did not reach the root. */
	return rc == 0 && !u->read_outside ? PP_UNWIND_COMPLETE : PP_UNWIND_TRUNCATED;
}
