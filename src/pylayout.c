// SPDX-License-Identifier: BSD-2-Clause
/*
 * Offsets come from ../shared/cpython/INTERNALS.md (measured with gdb on
 * the release builds of this machine; 2.7, 3.6 and 3.7 with offsetof()
 * against each pyenv build's own headers) and are checked against the live
 * process at attach time (selfcheck.c) before any sampling.
 */
#include "pylayout.h"
#include "util.h"

#include <stdio.h>

/* str and bytes objects: one layout up to 3.11 (PyASCIIObject has wstr), one after. */
#define PP_STR_UNTIL_311 .str_length = 16, .str_state = 32, .str_ascii_size = 48, .str_compact_size = 72
#define PP_STR_FROM_312	 .str_length = 16, .str_state = 32, .str_ascii_size = 40, .str_compact_size = 56
#define PP_BYTES	 .bytes_size = 16, .bytes_data = 32

/* <= 3.10: PyFrameObject chain from tstate->frame, one eval activation per
 * frame, threads matched by pthread_self (thread_id), code in co_code. */
#define PP_FRAMEOBJ(interp_head, ts_next, ts_tid, ts_frame, lasti, tag)                                                \
	.runtime_interp_head = (interp_head), .interp_next = 0, .interp_tstate_head = 8, .tstate_next = (ts_next),     \
	.tstate_tid = (ts_tid), .tstate_frame = (ts_frame), .cframe_frame = -1, .cframe_previous = -1,                 \
	.frame_code = 32, .frame_previous = 24, .frame_instr = (lasti), .frame_is_entry = -1, .frame_owner = -1,       \
	.code_tag = (tag), .instr_size = 4, .tid_kind = PP_TID_PTHREAD, .walk_kind = PP_WALK_PER_FRAME,                \
	.owner_cstack = 0xff, .code_mask = ~0ULL
#define PP_FRAMEOBJ_COMMON(lasti) PP_FRAMEOBJ(32, 8, 176, 24, lasti, 40)

#define PP_CODE_UNTIL_310                                                                                              \
	.tstate_interp = 16, .co_filename = 104, .co_name = 112, .co_qualname = -1, .co_linetable = 120,               \
	.co_firstlineno = 40, .co_code_adaptive = -1, .code_size = 176
/* 3.6 and 3.7: no co_posonlyargcount yet; the tag is co_flags + co_firstlineno. */
#define PP_CODE_36_37                                                                                                  \
	.tstate_interp = 16, .co_filename = 96, .co_name = 104, .co_qualname = -1, .co_linetable = 112,                \
	.co_firstlineno = 36, .co_code_adaptive = -1, .code_size = 144

static const struct pp_layout layouts[] = {
	{
		/* No _PyRuntime: the list starts at interp_head; tstate->next comes first. */
		.version = 0x0207,
		.name = "2.7",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = -1,
		.anchor = PP_ANCHOR_INTERP_HEAD,
		.eval_func = "PyEval_EvalFrameEx",
		.bpf = {PP_FRAMEOBJ(0, 0, 144, 16, 120, 96)},
		.tstate_interp = 8,
		.co_filename = 80,
		.co_name = 88,
		.co_qualname = -1,
		.co_linetable = 104,
		.co_firstlineno = 96,
		.co_code_adaptive = -1,
		.code_size = 128,
		.instr_kind = PP_INSTR_LASTI_BYTES,
		.linetable = PP_LT_LNOTAB27,
		.str_kind = PP_STR_BYTES,
		.str_length = -1,
		.str_state = -1,
		.str_ascii_size = -1,
		.str_compact_size = -1,
		.bytes_size = 16,
		.bytes_data = 36, /* after ob_shash and ob_sstate */
	},
	{
		.version = 0x0306,
		.name = "3.6",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = -1,
		.anchor = PP_ANCHOR_INTERP_HEAD,
		.bpf = {PP_FRAMEOBJ(0, 8, 152, 24, 120, 32)},
		PP_CODE_36_37,
		.instr_kind = PP_INSTR_LASTI_BYTES,
		.linetable = PP_LT_LNOTAB,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x0307,
		.name = "3.7",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = 1480,
		.bpf = {PP_FRAMEOBJ(24, 8, 176, 24, 104, 32)},
		PP_CODE_36_37,
		.instr_kind = PP_INSTR_LASTI_BYTES,
		.linetable = PP_LT_LNOTAB,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x0308,
		.name = "3.8",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = 1368,
		.bpf = {PP_FRAMEOBJ_COMMON(104)},
		PP_CODE_UNTIL_310,
		.instr_kind = PP_INSTR_LASTI_BYTES,
		.linetable = PP_LT_LNOTAB,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x0309,
		.name = "3.9",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = 568,
		.bpf = {PP_FRAMEOBJ_COMMON(104)},
		PP_CODE_UNTIL_310,
		.instr_kind = PP_INSTR_LASTI_BYTES,
		.linetable = PP_LT_LNOTAB,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x030a,
		.name = "3.10",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = 568,
		.bpf = {PP_FRAMEOBJ_COMMON(96)},
		PP_CODE_UNTIL_310,
		.instr_kind = PP_INSTR_LASTI_UNITS,
		.linetable = PP_LT_310,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x030b,
		.name = "3.11",
		.gil_kind = PP_GIL_CURRENT,
		.gil_off = 576,
		.bpf =
			{
				.runtime_interp_head = 40,
				.interp_next = 0,
				.interp_tstate_head = 16,
				.tstate_next = 8,
				.tstate_tid = 160, /* native_thread_id */
				.tstate_frame = 56, /* cframe */
				.cframe_frame = 8,
				.cframe_previous = 16,
				.frame_code = 32,
				.frame_previous = 48,
				.frame_instr = 56, /* prev_instr */
				.frame_is_entry = 68,
				.frame_owner = 69,
				.code_tag = 72, /* co_firstlineno + co_nlocalsplus */
				.instr_size = 8,
				.tid_kind = PP_TID_NATIVE,
				.walk_kind = PP_WALK_IS_ENTRY,
				.owner_cstack = 0xff,
				.code_mask = ~0ULL,
			},
		.tstate_interp = 16,
		.co_filename = 112,
		.co_name = 120,
		.co_qualname = 128,
		.co_linetable = 136,
		.co_firstlineno = 72,
		.co_code_adaptive = 184,
		.code_size = 192,
		.instr_kind = PP_INSTR_PTR_ADAPTIVE,
		.linetable = PP_LT_LOCATIONS,
		PP_STR_UNTIL_311,
		PP_BYTES,
	},
	{
		.version = 0x030c,
		.name = "3.12",
		.gil_kind = PP_GIL_INTERP_PTR,
		.gil_off = 384,
		.gil_holder = 8,
		.gil_locked = 16,
		.bpf =
			{
				.runtime_interp_head = 40,
				.interp_next = 0,
				.interp_tstate_head = 72,
				.tstate_next = 8,
				.tstate_tid = 144, /* native_thread_id */
				.tstate_frame = 56, /* cframe */
				.cframe_frame = 0,
				.cframe_previous = 8,
				.frame_code = 0,
				.frame_previous = 8,
				.frame_instr = 56, /* prev_instr */
				.frame_is_entry = -1,
				.frame_owner = 70,
				.code_tag = 68, /* co_firstlineno + co_nlocalsplus */
				.instr_size = 8,
				.tid_kind = PP_TID_NATIVE,
				.walk_kind = PP_WALK_OWNER,
				.owner_cstack = 3, /* FRAME_OWNED_BY_CSTACK: the eval loop's shim */
				.code_mask = ~0ULL,
			},
		.tstate_interp = 16,
		.co_filename = 112,
		.co_name = 120,
		.co_qualname = 128,
		.co_linetable = 136,
		.co_firstlineno = 68,
		.co_code_adaptive = 192,
		.code_size = 200,
		.instr_kind = PP_INSTR_PTR_ADAPTIVE,
		.linetable = PP_LT_LOCATIONS,
		PP_STR_FROM_312,
		PP_BYTES,
	},
};

const struct pp_layout *pylayout_for_version(uint32_t hexversion)
{
	uint16_t v = (uint16_t)(hexversion >> 16);

	for (size_t i = 0; i < PP_ARRAY_LEN(layouts); i++)
		if (layouts[i].version == v)
			return &layouts[i];
	return NULL;
}

const char *pylayout_supported(void)
{
	static char list[128];

	if (!list[0]) {
		size_t o = 0;

		for (size_t i = 0; i < PP_ARRAY_LEN(layouts); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s, ", layouts[i].name);
		snprintf(list + o, sizeof(list) - o, "3.13 and 3.14 (from their _Py_DebugOffsets)");
	}
	return list;
}

/* [*win, *win + *len): the span of the fields at off[] (-1: unused); -1 if
 * it is wider than the sampler reads at once (then len is 0). */
static int field_window(const int16_t *off, const uint8_t *size, size_t n, int16_t *win, uint16_t *len)
{
	int lo = INT16_MAX, hi = 0;

	for (size_t i = 0; i < n; i++) {
		if (off[i] < 0)
			continue;
		lo = off[i] < lo ? off[i] : lo;
		hi = off[i] + size[i] > hi ? off[i] + size[i] : hi;
	}
	*win = (int16_t)(hi > lo ? lo : 0);
	*len = (uint16_t)(hi > lo && hi - lo <= PP_FIELD_WINDOW ? hi - lo : 0);
	return hi > lo && !*len ? -1 : 0;
}

int pylayout_field_windows(struct pp_offsets *o, const char **wide)
{
	const int16_t fo[] = {o->frame_code, o->frame_previous, o->frame_instr, o->frame_is_entry, o->frame_owner};
	const uint8_t fs[] = {8, 8, o->instr_size == 4 ? 4 : 8, 1, 1};
	const int16_t co[] = {o->code_tag, o->code_tag >= 0 ? o->code_name : -1};
	const uint8_t cs[] = {8, 8};
	const char *w = NULL;

	if (field_window(fo, fs, 5, &o->frame_win, &o->frame_win_len))
		w = "the frame fields";
	if (field_window(co, cs, 2, &o->code_win, &o->code_win_len))
		w = w ? w : "the code object's name and first-line words";
	if (wide)
		*wide = w;
	return w ? -1 : 0;
}
