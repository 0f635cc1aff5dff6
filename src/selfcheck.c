// SPDX-License-Identifier: BSD-2-Clause
/*
 * A wrong table would print confident garbage, so before sampling we check
 * that the layout leads where it should in this very process: the thread
 * list leads back to its interpreter, frames hold objects whose type is
 * the code type, and their names decode.
 */
#include "selfcheck.h"
#include "procmem.h"
#include "pycode.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PP_CHECK_THREADS 64
#define PP_CHECK_FRAMES	 16
#define PP_OB_TYPE	 8 /* PyObject.ob_type */
#define PP_TP_NAME	 24 /* PyTypeObject.tp_name */

/* Whether the object at addr is of a type named tname. */
static int has_type(pid_t pid, uint64_t addr, const char *tname)
{
	uint64_t type, name;
	char buf[16] = {0};

	if (procmem_read_u64(pid, addr + PP_OB_TYPE, &type) || procmem_read_u64(pid, type + PP_TP_NAME, &name) ||
	    procmem_read(pid, name, buf, strlen(tname) + 1))
		return 0;
	return strcmp(buf, tname) == 0;
}

/* A code object's name: an identifier or "<module>", "<lambda>", ... */
static int plausible_name(const char *name)
{
	if (!name || !name[0])
		return 0;
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (!(ch >= 0x80 || ch == '_' || ch == '<' || ch == '>' || ch == '.' || (ch >= '0' && ch <= '9') ||
		      ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')))
			return 0;
	}
	return 1;
}

/* The frame's code field must hold a code object (PyCode_Type itself when
 * the runtime exports it) whose name decodes to a plausible name. */
static int check_code(pid_t pid, const struct pp_pyruntime *rt, uint64_t code, char *why, size_t whylen)
{
	const struct pp_layout *l = rt->layout;
	uint64_t type, name_obj;
	char *name;
	int ok;

	if (rt->code_type ? procmem_read_u64(pid, code + PP_OB_TYPE, &type) || type != rt->code_type
			  : !has_type(pid, code, "code")) {
		snprintf(why, whylen, "a frame's code field does not hold a code object");
		return -1;
	}
	if (procmem_read_u64(pid, code + (uint64_t)l->co_name, &name_obj)) {
		snprintf(why, whylen, "cannot read a code object's name");
		return -1;
	}
	if (rt->str_type && (procmem_read_u64(pid, name_obj + PP_OB_TYPE, &type) || type != rt->str_type)) {
		snprintf(why, whylen, "a code object's name is not a str");
		return -1;
	}
	name = pystr_read(pid, l, name_obj, 256);
	ok = plausible_name(name);
	if (!ok)
		snprintf(why, whylen, "a code object's name does not decode (%s)", name ? name : "unreadable");
	free(name);
	return ok ? 0 : -1;
}

/* Walks up to PP_CHECK_FRAMES frames of tstate; counts code objects seen. */
static int check_frames(pid_t pid, const struct pp_pyruntime *rt, uint64_t tstate, int *codes, char *why, size_t whylen)
{
	const struct pp_offsets *o = &rt->layout->bpf;
	uint64_t f;

	if (procmem_read_u64(pid, tstate + (uint64_t)o->tstate_frame, &f))
		return -1;
	if (f && o->cframe_frame >= 0 && procmem_read_u64(pid, f + (uint64_t)o->cframe_frame, &f))
		return -1;
	for (int i = 0; i < PP_CHECK_FRAMES && f; i++) {
		uint64_t code;
		uint8_t owner = 0;

		if (o->walk_kind == PP_WALK_OWNER && procmem_read(pid, f + (uint64_t)o->frame_owner, &owner, 1))
			return -1;
		if (o->walk_kind != PP_WALK_OWNER || owner < o->owner_cstack) {
			if (procmem_read_u64(pid, f + (uint64_t)o->frame_code, &code))
				return -1;
			if (check_code(pid, rt, code & o->code_mask, why, whylen))
				return -1;
			(*codes)++;
		}
		if (procmem_read_u64(pid, f + (uint64_t)o->frame_previous, &f))
			return -1;
	}
	return 0;
}

enum pp_check selfcheck(pid_t pid, const struct pp_pyruntime *rt, char *why, size_t whylen)
{
	const struct pp_layout *l = rt->layout;
	const struct pp_offsets *o = &l->bpf;
	uint64_t interp, ts;
	int nthreads = 0, codes = 0;
	char sub[160] = "";

	if (procmem_read_u64(pid, rt->runtime + (uint64_t)o->runtime_interp_head, &interp) || !interp) {
		snprintf(why, whylen, "the runtime has no interpreter");
		return PP_CHECK_NOT_READY;
	}
	if (procmem_read_u64(pid, interp + (uint64_t)o->interp_tstate_head, &ts)) {
		snprintf(why, whylen, "cannot read the interpreter's thread list");
		return PP_CHECK_MISMATCH;
	}
	for (; ts && nthreads < PP_CHECK_THREADS; nthreads++) {
		uint64_t back;

		if (procmem_read_u64(pid, ts + (uint64_t)l->tstate_interp, &back) || back != interp) {
			snprintf(why, whylen, "a thread state does not point back to its interpreter");
			return PP_CHECK_MISMATCH;
		}
		if (check_frames(pid, rt, ts, &codes, sub, sizeof(sub))) {
			snprintf(why, whylen, "%s", sub[0] ? sub : "cannot read a thread's frames");
			return PP_CHECK_MISMATCH;
		}
		if (procmem_read_u64(pid, ts + (uint64_t)o->tstate_next, &ts)) {
			snprintf(why, whylen, "cannot read the thread list");
			return PP_CHECK_MISMATCH;
		}
	}
	if (!nthreads) {
		snprintf(why, whylen, "the interpreter has no thread");
		return PP_CHECK_NOT_READY;
	}
	if (!codes) {
		/* Nothing to check the frame layout on (yet). */
		snprintf(why, whylen, "no thread is running Python code");
		return PP_CHECK_NO_FRAMES;
	}
	pp_debug("selfcheck: %d threads, %d code objects checked", nthreads, codes);
	return PP_CHECK_OK;
}
