// SPDX-License-Identifier: BSD-2-Clause
#include "pyruntime.h"
#include "elfsym.h"
#include "procmem.h"
#include "pydebugoffsets.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "libpython3.11.so.1.0" or "python3.11" -> 0x030b0000; 0 if the name says nothing. */
static uint32_t version_from_name(const char *name)
{
	const char *p = strstr(name, "python");
	unsigned maj, min;

	if (!p || sscanf(p, "python%u.%u", &maj, &min) != 2 || maj < 2 || maj > 3 || min > 99)
		return 0;
	return (maj << 24) | (min << 16);
}

/* Files worth opening: the executable and anything called libpython*. */
static int is_candidate(const struct pp_target *t, const char *path)
{
	return strcmp(path, t->exe) == 0 || strncmp(pp_basename(path), "libpython", 9) == 0;
}

static void fmt_version(struct pp_pyruntime *rt)
{
	uint32_t v = rt->hexversion;

	if (v & 0xffff) /* from Py_Version: the micro version is known, even 0 */
		snprintf(rt->version, sizeof(rt->version), "%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
	else
		snprintf(rt->version, sizeof(rt->version), "%u.%u", v >> 24, (v >> 16) & 0xff);
}

/*
 * <= 3.6 keep the interpreter list in pystate.c's static interp_head: its
 * local symbol when the file has a .symtab, else the address that
 * PyInterpreterState_Head() loads, "mov rax, [rip+disp32]; ret" on x86_64.
 */
static int interp_head_from_code(pid_t pid, uint64_t func, uint64_t *addr)
{
	uint8_t code[8];
	int32_t disp;

	if (procmem_read(pid, func, code, sizeof(code)) || code[0] != 0x48 || code[1] != 0x8b || code[2] != 0x05 ||
	    code[7] != 0xc3)
		return -1;
	memcpy(&disp, code + 3, 4);
	*addr = func + 7 + (uint64_t)(int64_t)disp;
	return 0;
}

/*
 * 3.13+ start _PyRuntime with _Py_DebugOffsets, the offsets its own
 * compiler computed: read instead of a table, so that a version we never
 * measured still reads right (and a free-threaded build is recognised).
 */
static enum pp_runtime_error layout_from_debug_offsets(pid_t pid, struct pp_pyruntime *rt, char *why, size_t whylen)
{
	uint8_t buf[PP_DEBUGOFFSETS_MAX];
	char sub[200] = "";

	if (procmem_read(pid, rt->runtime, buf, sizeof(buf))) {
		snprintf(why, whylen, "cannot read _PyRuntime of process %d", (int)pid);
		return PP_RT_UNREADABLE;
	}
	if (pydebugoffsets_layout(buf, sizeof(buf), &rt->own_layout, sub, sizeof(sub))) {
		snprintf(why, whylen, "process %d: %s (supported: %s)", (int)pid, sub, pylayout_supported());
		return PP_RT_UNSUPPORTED;
	}
	rt->layout = &rt->own_layout;
	return PP_RT_OK;
}

enum pp_symbol_slot {
	SYM_RUNTIME,
	SYM_VERSION,
	SYM_CODE_TYPE,
	SYM_INTERP_HEAD,
	SYM_HEAD_FUNC,
	SYM_UNICODE_TYPE,
	SYM_STRING_TYPE,
	SYM_TSTATE_CURRENT,
	SYM_COUNT
};

static enum pp_runtime_error find(const struct pp_target *t, struct pp_pyruntime *rt, char *why, size_t whylen)
{
	static const char *const names[SYM_COUNT] = {
		"_PyRuntime",	  "Py_Version",	   "PyCode_Type",	    "interp_head", "PyInterpreterState_Head",
		"PyUnicode_Type", "PyString_Type", "_PyThreadState_Current"};

	memset(rt, 0, sizeof(*rt));
	for (size_t i = 0; i < t->nmaps; i++) {
		const char *path = t->maps[i].path;
		uint64_t vals[SYM_COUNT], bias;
		struct pp_elf *e;
		char *fp;
		bool found;

		if (!path || path[0] != '/' || t->maps[i].offset != 0 || !is_candidate(t, path))
			continue;
		if (rt->path && strcmp(rt->path, path) == 0)
			continue;
		fp = target_file_path(t, path);
		e = elf_open(fp);
		free(fp);
		if (!e)
			continue;
		elf_symbols(e, names, vals, SYM_COUNT);
		/* Before _PyRuntime, PyCode_Type tells CPython from a program that
		 * merely has a function of that name. */
		found = vals[SYM_RUNTIME] || (vals[SYM_CODE_TYPE] && (vals[SYM_INTERP_HEAD] || vals[SYM_HEAD_FUNC]));
		if (!found) {
			const char *so = elf_soname(e);

			/* A libpython without the symbols is not one we can read. */
			if (version_from_name(so ? so : path) && strncmp(pp_basename(path), "libpython", 9) == 0)
				rt->hexversion = version_from_name(so ? so : path);
		}
		elf_close(e);
		if (!found)
			continue;
		if (target_load_bias(t, path, &bias)) {
			snprintf(why, whylen, "cannot find where %s is loaded in process %d", path, (int)t->pid);
			return PP_RT_UNREADABLE;
		}
		rt->path = pp_xstrdup(path);
		rt->bias = bias;
		rt->code_type = vals[SYM_CODE_TYPE] ? bias + vals[SYM_CODE_TYPE] : 0;
		/* 2.x names are PyString (bytes); 3.x has no PyString_Type. */
		if (vals[SYM_STRING_TYPE])
			rt->str_type = bias + vals[SYM_STRING_TYPE];
		else if (vals[SYM_UNICODE_TYPE])
			rt->str_type = bias + vals[SYM_UNICODE_TYPE];
		if (vals[SYM_RUNTIME]) {
			rt->runtime = bias + vals[SYM_RUNTIME];
			rt->anchor = PP_ANCHOR_RUNTIME;
		} else {
			rt->anchor = PP_ANCHOR_INTERP_HEAD;
			if (vals[SYM_INTERP_HEAD])
				rt->runtime = bias + vals[SYM_INTERP_HEAD];
			else if (interp_head_from_code(t->pid, bias + vals[SYM_HEAD_FUNC], &rt->runtime)) {
				snprintf(why, whylen,
					 "cannot locate the interpreter list of process %d: %s has no interp_head "
					 "symbol and PyInterpreterState_Head is not the expected code",
					 (int)t->pid, path);
				return PP_RT_UNREADABLE;
			}
		}
		if (vals[SYM_TSTATE_CURRENT])
			rt->tstate_current = bias + vals[SYM_TSTATE_CURRENT];
		rt->hexversion = 0;
		if (vals[SYM_VERSION]) {
			uint64_t v;

			if (procmem_read_u64(t->pid, bias + vals[SYM_VERSION], &v) == 0)
				rt->hexversion = (uint32_t)v;
		}
		if (!rt->hexversion)
			rt->hexversion = version_from_name(path);
		if (!rt->hexversion)
			rt->hexversion = version_from_name(t->exe);
		break;
	}
	if (!rt->path) {
		if (rt->hexversion) {
			fmt_version(rt);
			snprintf(why, whylen,
				 "process %d runs Python %s, which this build does not support (supported: %s)",
				 (int)t->pid, rt->version, pylayout_supported());
			return PP_RT_UNSUPPORTED;
		}
		snprintf(why, whylen,
			 "process %d (%s) is not a CPython interpreter: no Python runtime in %s or a libpython",
			 (int)t->pid, t->comm, t->exe);
		return PP_RT_NOT_PYTHON;
	}
	fmt_version(rt);
	if (rt->hexversion >= 0x030d0000 && rt->anchor == PP_ANCHOR_RUNTIME)
		return layout_from_debug_offsets(t->pid, rt, why, whylen);
	rt->layout = pylayout_for_version(rt->hexversion);
	if (rt->layout && rt->layout->anchor != rt->anchor) {
		snprintf(why, whylen, "process %d runs Python %s, but %s has %s: not a build this tool understands",
			 (int)t->pid, rt->version, rt->path,
			 rt->anchor == PP_ANCHOR_RUNTIME ? "a _PyRuntime symbol" : "no _PyRuntime symbol");
		return PP_RT_UNSUPPORTED;
	}
	if (!rt->layout) {
		snprintf(why, whylen, "process %d runs Python %s, which this build does not support (supported: %s)",
			 (int)t->pid, rt->version, pylayout_supported());
		return PP_RT_UNSUPPORTED;
	}
	if (rt->layout->gil_kind == PP_GIL_CURRENT && rt->layout->gil_off >= 0)
		rt->tstate_current = rt->runtime + (uint64_t)rt->layout->gil_off;
	return PP_RT_OK;
}

enum pp_runtime_error pyruntime_find(const struct pp_target *t, struct pp_pyruntime *rt, char *why, size_t whylen)
{
	enum pp_runtime_error err = find(t, rt, why, whylen);

	if (err != PP_RT_OK)
		pyruntime_free(rt); /* nothing to keep from a runtime we refuse */
	return err;
}

void pyruntime_free(struct pp_pyruntime *rt)
{
	free(rt->path);
	rt->path = NULL;
}

void pyruntime_move(struct pp_pyruntime *dst, struct pp_pyruntime *src)
{
	*dst = *src;
	if (src->layout == &src->own_layout)
		dst->layout = &dst->own_layout;
	memset(src, 0, sizeof(*src));
}

struct pp_proc pyruntime_proc(const struct pp_target *t, const struct pp_pyruntime *rt)
{
	struct pp_proc p;

	/* Byte for byte, padding included: it is copied into a BPF map. */
	memset(&p, 0, sizeof(p));
	p.runtime = rt->runtime;
	p.pidns_dev = t->pidns_dev;
	p.pidns_ino = t->pidns_ino;
	memcpy(&p.off, &rt->layout->bpf, sizeof(p.off));
	p.off.code_name = rt->layout->co_name;
	pylayout_field_windows(&p.off, NULL); /* layouts are checked to fit when made */
	return p;
}
