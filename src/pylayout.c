// SPDX-License-Identifier: BSD-2-Clause
/*
 * Offsets come from ../shared/cpython/INTERNALS.md (measured with gdb on
 * the release builds of this machine) and are checked against the live
 * process at attach time (selfcheck.c) before any sampling.
 */
#include "pylayout.h"
#include "util.h"

static const struct pp_layout layouts[] = {
	{
		.version = 0x030b,
		.name = "3.11",
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
		.str_length = 16,
		.str_state = 32,
		.str_ascii_size = 48,
		.str_compact_size = 72,
		.bytes_size = 16,
		.bytes_data = 32,
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
	return "3.11";
}
