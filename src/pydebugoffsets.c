// SPDX-License-Identifier: BSD-2-Clause
/*
 * _Py_DebugOffsets (the first member of _PyRuntime, 3.13+) -> struct pp_layout.
 *
 * Sources (x86_64, default GIL builds):
 *  - 3.13 layout: Include/internal/pycore_runtime.h of v3.13.0, as installed
 *    with the pyenv 3.13.0 build here (include/python3.13/internal/); 584
 *    bytes. The layout holds from 3.13.0rc2 on: earlier 3.13 pre-releases
 *    lacked free_threaded, the size fields and the list/dict/... groups.
 *  - 3.14 layout: Include/internal/pycore_debug_offsets.h (3.14), 760 bytes.
 *    The member list is that of tag v3.14.0 as bindgen saw it (py-spy's
 *    src/python_bindings/v3_14_0.rs) and of pystack's Python3_14 struct; the
 *    CPython 3.14-dev snapshot 7a57f7c2 of the header has the same members
 *    less the 3.14.0b2 additions. It holds from 3.14.0b2 on: b2 added
 *    interpreter_state's code_object_generation/tlbc_generation and
 *    llist_node, which moved every later group.
 *  - Not in the struct, from the headers of each version:
 *    frame owners: 3.13 pycore_frame.h enum _frameowner: THREAD 0, GENERATOR 1,
 *      FRAME_OBJECT 2, CSTACK 3 (the eval loop's entry frame). 3.14
 *      pycore_interpframe_structs.h (8884630c): THREAD 0, GENERATOR 1,
 *      FRAME_OBJECT 2, INTERPRETER 3 (the entry frame); pystack's 3.14 enum
 *      also has CSTACK 4, 3.15-dev THREAD_STATE 4. So owner >= 3 is not a
 *      Python frame in all of them.
 *    f_executable: 3.13 a PyObject *; 3.14 a _PyStackRef {uintptr_t bits}.
 *      GIL builds tag it with Py_TAG_REFCNT (1) for immortal objects (None, the
 *      entry frame's executable); pycore_stackref.h's GIL Py_TAG_BITS is 1
 *      (e74f84c9) or 3 (other 3.14-dev snapshots), Py_INT_TAG 3 (tagged ints,
 *      never an executable). Objects are at least 8-aligned, so clearing the
 *      two low bits is right for all of them (pystack does the same).
 *    instr_ptr: "Instruction currently executing (or about to begin)", a
 *      _Py_CODEUNIT * into the code object's co_code_adaptive, in 3.13 and in
 *      3.14 GIL builds (pycode.c's PP_INSTR_PTR_ADAPTIVE); location table
 *      (Objects/locations.md) unchanged.
 *    str: PyCompactUnicodeObject = PyASCIIObject + utf8_length + utf8 (16
 *      bytes), PyUnicodeObject = that + the data pointer (8), so
 *      unicode_object.size - 8 == asciiobject_size + 16, which is checked. The
 *      state bits (interned 0-1, kind 2-4, compact 5, ascii 6) are those of
 *      3.12-3.14 GIL builds.
 *    code_tag: 8 bytes at co_firstlineno (co_firstlineno, co_nlocalsplus),
 *      as the static table does for 3.12/3.13.
 *    threads: interpreter_state.threads_head, then thread_state.next; the
 *      thread is matched by thread_state.native_thread_id (3.11+).
 *
 * Free-threaded builds (3.13t, 3.14t; free_threaded == 1) are refused. They
 * would need: a 32-byte PyObject header (ob_type at 24, pyobject.ob_type; the
 * struct says so but pycode.c assumes 8), so every object offset moves +16;
 * in 3.14t the str state is a byte `interned` then kind/compact/ascii in the
 * next byte (pystr_read decodes a u32 bitfield); in 3.14t the instruction base
 * is per thread: code->co_tlbc (code_object.co_tlbc, a _PyCodeArray {size;
 * entries[]}) ->entries[frame->tlbc_index] (interpreter_frame.tlbc_index, an
 * int32), so the BPF walk would have to send tlbc_index with each frame and
 * pycode_line use that base instead of co_code_adaptive; f_executable tagged
 * with Py_TAG_DEFERRED (1, cleared by the same mask); the GIL fields mean
 * nothing unless _gil.enabled (gil_runtime_state_enabled is relative to _gil).
 */
#include "pydebugoffsets.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PP_DEBUG_COOKIE "xdebugpy"

/* The 3.13 struct (v3.13.0 pycore_runtime.h): every member a uint64_t. */
struct dbg313 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins, ceval_gil,
			gil_runtime_state, gil_runtime_state_enabled, gil_runtime_state_locked,
			gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id, datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus, owner;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames,
			localspluskinds, co_code_adaptive;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object, list_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		uint64_t size, collecting;
	} gc;
};

/* The 3.14 struct (v3.14.0 pycore_debug_offsets.h). */
struct dbg314 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, threads_main, gc, imports_modules, sysdict, builtins, ceval_gil,
			gil_runtime_state, gil_runtime_state_enabled, gil_runtime_state_locked,
			gil_runtime_state_holder, code_object_generation, tlbc_generation;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id, datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus, owner, stackpointer, tlbc_index;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames,
			localspluskinds, co_code_adaptive, co_tlbc;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object, list_object;
	struct {
		uint64_t size, used, table, mask;
	} set_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		uint64_t size, collecting;
	} gc;
	struct {
		uint64_t size, gi_name, gi_iframe, gi_frame_state;
	} gen_object;
	struct {
		uint64_t next, prev;
	} llist_node;
	struct {
		uint64_t eval_breaker, remote_debugger_support, remote_debugging_enabled, debugger_pending_call,
			debugger_script_path, debugger_script_path_size;
	} debugger_support;
};

_Static_assert(sizeof(struct dbg313) == 584, "3.13 _Py_DebugOffsets is 584 bytes");
_Static_assert(sizeof(struct dbg314) == 760, "3.14 _Py_DebugOffsets is 760 bytes");
_Static_assert(PP_DEBUGOFFSETS_MAX >= sizeof(struct dbg314), "PP_DEBUGOFFSETS_MAX covers every layout");
_Static_assert(offsetof(struct dbg313, unicode_object) == 536 && offsetof(struct dbg314, unicode_object) == 616,
	       "unicode_object group where the headers put it");

/* What the layout needs, whichever struct it came from. */
struct dbg_used {
	uint64_t rt_size, rt_interp_head;
	uint64_t is_size, is_next, is_threads_head, is_gil, is_gil_holder, is_gil_locked;
	uint64_t ts_size, ts_next, ts_interp, ts_current_frame, ts_native_thread_id;
	uint64_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
	uint64_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code_adaptive;
	uint64_t ob_type;
	uint64_t by_size, by_ob_size, by_ob_sval;
	uint64_t un_size, un_state, un_length, un_ascii_size;
};

/* The members both structs name alike. */
#define PP_DBG_USED(d)                                                                                                 \
	{                                                                                                              \
		.rt_size = (d).runtime_state.size, .rt_interp_head = (d).runtime_state.interpreters_head,              \
		.is_size = (d).interpreter_state.size, .is_next = (d).interpreter_state.next,                          \
		.is_threads_head = (d).interpreter_state.threads_head, .ts_size = (d).thread_state.size,               \
		.ts_next = (d).thread_state.next, .ts_interp = (d).thread_state.interp,                                \
		.ts_current_frame = (d).thread_state.current_frame,                                                    \
		.ts_native_thread_id = (d).thread_state.native_thread_id, .fr_size = (d).interpreter_frame.size,       \
		.fr_previous = (d).interpreter_frame.previous, .fr_executable = (d).interpreter_frame.executable,      \
		.fr_instr_ptr = (d).interpreter_frame.instr_ptr, .fr_owner = (d).interpreter_frame.owner,              \
		.co_size = (d).code_object.size, .co_filename = (d).code_object.filename,                              \
		.co_name = (d).code_object.name, .co_qualname = (d).code_object.qualname,                              \
		.co_linetable = (d).code_object.linetable, .co_firstlineno = (d).code_object.firstlineno,              \
		.co_code_adaptive = (d).code_object.co_code_adaptive, .ob_type = (d).pyobject.ob_type,                 \
		.by_size = (d).bytes_object.size, .by_ob_size = (d).bytes_object.ob_size,                              \
		.by_ob_sval = (d).bytes_object.ob_sval, .un_size = (d).unicode_object.size,                            \
		.un_state = (d).unicode_object.state, .un_length = (d).unicode_object.length,                          \
		.un_ascii_size = (d).unicode_object.asciiobject_size,                                                  \
		.is_gil = (d).interpreter_state.gil_runtime_state,                                                     \
		.is_gil_holder = (d).interpreter_state.gil_runtime_state_holder,                                       \
		.is_gil_locked = (d).interpreter_state.gil_runtime_state_locked,                                       \
	}

/* PyCompactUnicodeObject's utf8_length and utf8, after PyASCIIObject. */
#define PP_COMPACT_EXTRA 16
/* PyUnicodeObject's data pointer, after PyCompactUnicodeObject. */
#define PP_UNICODE_DATA 8
/* pycode.c reads ob_type at this offset. */
#define PP_OB_TYPE_OFF 8
/* 3.14 f_executable: clear the _PyStackRef tag bits (see above). */
#define PP_314_CODE_MASK (~(uint64_t)3)

static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* PY_VERSION_HEX for people: "3.14.0", "3.13.0rc1". */
static void fmt_hexversion(uint64_t v, char *out, size_t outlen)
{
	static const char *const levels[16] = {[0xa] = "a", [0xb] = "b", [0xc] = "rc"};
	unsigned level = (unsigned)(v >> 4) & 0xf, serial = (unsigned)v & 0xf;

	if (level == 0xf || !levels[level])
		snprintf(out, outlen, "%u.%u.%u", (unsigned)(v >> 24) & 0xff, (unsigned)(v >> 16) & 0xff,
			 (unsigned)(v >> 8) & 0xff);
	else
		snprintf(out, outlen, "%u.%u.%u%s%u", (unsigned)(v >> 24) & 0xff, (unsigned)(v >> 16) & 0xff,
			 (unsigned)(v >> 8) & 0xff, levels[level], serial);
}

/* An offset the layout stores as int16_t: it must fit, and the field of
 * width bytes must lie inside its struct of size bytes. */
struct field_check {
	const char *name;
	uint64_t off;
	unsigned width;
	uint64_t size;
};

static int check_fields(const struct dbg_used *u, const char *ver, char *why, size_t whylen)
{
	const struct field_check f[] = {
		{"runtime_state.interpreters_head", u->rt_interp_head, 8, u->rt_size},
		{"interpreter_state.next", u->is_next, 8, u->is_size},
		{"interpreter_state.threads_head", u->is_threads_head, 8, u->is_size},
		{"interpreter_state.gil_runtime_state_holder", u->is_gil_holder, 8, u->is_size},
		{"interpreter_state.gil_runtime_state_locked", u->is_gil_locked, 4, u->is_size},
		{"thread_state.next", u->ts_next, 8, u->ts_size},
		{"thread_state.interp", u->ts_interp, 8, u->ts_size},
		{"thread_state.current_frame", u->ts_current_frame, 8, u->ts_size},
		{"thread_state.native_thread_id", u->ts_native_thread_id, 8, u->ts_size},
		{"interpreter_frame.previous", u->fr_previous, 8, u->fr_size},
		{"interpreter_frame.executable", u->fr_executable, 8, u->fr_size},
		{"interpreter_frame.instr_ptr", u->fr_instr_ptr, 8, u->fr_size},
		{"interpreter_frame.owner", u->fr_owner, 1, u->fr_size},
		{"code_object.filename", u->co_filename, 8, u->co_size},
		{"code_object.name", u->co_name, 8, u->co_size},
		{"code_object.qualname", u->co_qualname, 8, u->co_size},
		{"code_object.linetable", u->co_linetable, 8, u->co_size},
		/* 8: the code tag word starts here */
		{"code_object.firstlineno", u->co_firstlineno, 8, u->co_size},
		{"code_object.co_code_adaptive", u->co_code_adaptive, 1, u->co_size},
		{"bytes_object.ob_size", u->by_ob_size, 8, u->by_size},
		{"bytes_object.ob_sval", u->by_ob_sval, 1, u->by_size},
		{"unicode_object.state", u->un_state, 4, u->un_size},
		{"unicode_object.length", u->un_length, 8, u->un_size},
		{"unicode_object.asciiobject_size", u->un_ascii_size, 0, u->un_size},
		/* sizes kept as int16_t / uint16_t */
		{"code_object.size", u->co_size, 0, INT16_MAX},
		{"unicode_object.size", u->un_size, 0, INT16_MAX},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].off > INT16_MAX)
			return fail(why, whylen,
				    "Python %s _Py_DebugOffsets: %s is %llu, more than the %d this build's "
				    "offsets can hold",
				    ver, f[i].name, (unsigned long long)f[i].off, INT16_MAX);
		if (f[i].off + f[i].width > f[i].size)
			return fail(why, whylen,
				    "Python %s _Py_DebugOffsets: %s is %llu, outside its struct of %llu bytes: "
				    "not a layout this build understands",
				    ver, f[i].name, (unsigned long long)f[i].off, (unsigned long long)f[i].size);
	}
	if (u->ob_type != PP_OB_TYPE_OFF)
		return fail(why, whylen, "Python %s _Py_DebugOffsets: PyObject.ob_type is at %llu, expected %d", ver,
			    (unsigned long long)u->ob_type, PP_OB_TYPE_OFF);
	if (u->un_ascii_size + PP_COMPACT_EXTRA + PP_UNICODE_DATA != u->un_size)
		return fail(why, whylen,
			    "Python %s _Py_DebugOffsets: PyUnicodeObject is %llu bytes and PyASCIIObject %llu, "
			    "expected a difference of %d",
			    ver, (unsigned long long)u->un_size, (unsigned long long)u->un_ascii_size,
			    PP_COMPACT_EXTRA + PP_UNICODE_DATA);
	return 0;
}

int pydebugoffsets_layout(const void *buf, size_t len, struct pp_layout *out, char *why, size_t whylen)
{
	struct {
		char cookie[8];
		uint64_t version, free_threaded;
	} head;
	struct dbg_used u;
	struct pp_layout l;
	unsigned minor;
	size_t need;
	char ver[32];

	if (!buf)
		return fail(why, whylen, "no _Py_DebugOffsets bytes to read");
	if (len < sizeof(head))
		return fail(why, whylen, "only %zu bytes of _Py_DebugOffsets, need at least %zu", len, sizeof(head));
	memcpy(&head, buf, sizeof(head));
	if (memcmp(head.cookie, PP_DEBUG_COOKIE, sizeof(head.cookie)) != 0)
		return fail(why, whylen, "no _Py_DebugOffsets at the start of _PyRuntime (no \"%s\" cookie)",
			    PP_DEBUG_COOKIE);
	fmt_hexversion(head.version, ver, sizeof(ver));
	minor = (unsigned)(head.version >> 16) & 0xff;
	if (head.version >> 32 || head.version >> 24 != 3)
		return fail(why, whylen, "_Py_DebugOffsets has version 0x%llx, not a Python 3 version",
			    (unsigned long long)head.version);
	if (minor < 13)
		return fail(why, whylen, "_Py_DebugOffsets says Python %s, but the struct exists only from 3.13 on",
			    ver);
	if (minor > 14)
		return fail(why, whylen,
			    "Python %s: this build knows the _Py_DebugOffsets layouts of 3.13 and 3.14 only", ver);
	if (head.free_threaded == 1)
		return fail(why, whylen,
			    "Python %s is a free-threaded (no-GIL) build, which this build does not support", ver);
	if (head.free_threaded != 0)
		return fail(why, whylen, "Python %s _Py_DebugOffsets: free_threaded is %llu, expected 0 or 1", ver,
			    (unsigned long long)head.free_threaded);
	/* Pre-releases before the final member list. */
	if (minor == 13 && head.version < 0x030d00c2)
		return fail(why, whylen,
			    "Python %s: pre-releases before 3.13.0rc2 have an older _Py_DebugOffsets layout, "
			    "not supported",
			    ver);
	if (minor == 14 && head.version < 0x030e00b2)
		return fail(why, whylen,
			    "Python %s: pre-releases before 3.14.0b2 have an older _Py_DebugOffsets layout, "
			    "not supported",
			    ver);
	need = minor == 13 ? sizeof(struct dbg313) : sizeof(struct dbg314);
	if (len < need)
		return fail(why, whylen, "only %zu bytes of Python %s's _Py_DebugOffsets, need %zu", len, ver, need);
	if (minor == 13) {
		struct dbg313 d;

		memcpy(&d, buf, sizeof(d));
		u = (struct dbg_used)PP_DBG_USED(d);
	} else {
		struct dbg314 d;

		memcpy(&d, buf, sizeof(d));
		u = (struct dbg_used)PP_DBG_USED(d);
	}
	if (check_fields(&u, ver, why, whylen))
		return -1;

	memset(&l, 0, sizeof(l));
	l.version = (uint16_t)(head.version >> 16);
	l.name = minor == 13 ? "3.13" : "3.14";
	l.anchor = PP_ANCHOR_RUNTIME;
	l.eval_func = NULL; /* _PyEval_EvalFrameDefault */
	l.bpf.runtime_interp_head = (int16_t)u.rt_interp_head;
	l.bpf.interp_next = (int16_t)u.is_next;
	l.bpf.interp_tstate_head = (int16_t)u.is_threads_head;
	l.bpf.tstate_next = (int16_t)u.ts_next;
	l.bpf.tstate_tid = (int16_t)u.ts_native_thread_id;
	l.bpf.tstate_frame = (int16_t)u.ts_current_frame;
	l.bpf.cframe_frame = -1;
	l.bpf.cframe_previous = -1;
	l.bpf.frame_code = (int16_t)u.fr_executable;
	l.bpf.frame_previous = (int16_t)u.fr_previous;
	l.bpf.frame_instr = (int16_t)u.fr_instr_ptr;
	l.bpf.frame_is_entry = -1;
	l.bpf.frame_owner = (int16_t)u.fr_owner;
	l.bpf.code_tag = (int16_t)u.co_firstlineno;
	l.bpf.instr_size = 8;
	l.bpf.tid_kind = PP_TID_NATIVE;
	l.bpf.walk_kind = PP_WALK_OWNER;
	l.bpf.owner_cstack = 3; /* 3.13 FRAME_OWNED_BY_CSTACK, 3.14 FRAME_OWNED_BY_INTERPRETER */
	l.bpf.code_mask = minor == 13 ? ~(uint64_t)0 : PP_314_CODE_MASK;
	l.tstate_interp = (int16_t)u.ts_interp;
	l.co_filename = (int16_t)u.co_filename;
	l.co_name = (int16_t)u.co_name;
	l.co_qualname = (int16_t)u.co_qualname;
	l.co_linetable = (int16_t)u.co_linetable;
	l.co_firstlineno = (int16_t)u.co_firstlineno;
	l.co_code_adaptive = (int16_t)u.co_code_adaptive;
	l.code_size = (uint16_t)u.co_size;
	l.instr_kind = PP_INSTR_PTR_ADAPTIVE;
	l.linetable = PP_LT_LOCATIONS;
	l.str_kind = PP_STR_UNICODE;
	l.str_length = (int16_t)u.un_length;
	l.str_state = (int16_t)u.un_state;
	l.str_ascii_size = (int16_t)u.un_ascii_size;
	l.str_compact_size = (int16_t)(u.un_ascii_size + PP_COMPACT_EXTRA);
	l.bytes_size = (int16_t)u.by_ob_size;
	l.bytes_data = (int16_t)u.by_ob_sval;
	/* holder and locked are given inside the interpreter, where the main
	 * interpreter's GIL struct is embedded. */
	l.gil_kind = PP_GIL_INTERP_EMBEDDED;
	l.gil_off = 0;
	l.gil_holder = (int16_t)u.is_gil_holder;
	l.gil_locked = (int16_t)u.is_gil_locked;
	{
		struct pp_offsets o = l.bpf;
		const char *wide = NULL;

		o.code_name = l.co_name;
		if (pylayout_field_windows(&o, &wide))
			return fail(why, whylen,
				    "Python %s _Py_DebugOffsets: %s the sampler reads span more than the %d bytes "
				    "it reads at once",
				    ver, wide, PP_FIELD_WINDOW);
	}
	memcpy(out, &l, sizeof(l));
	return 0;
}
