/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The layout of CPython's structures per version: one table, data only.
 * struct pp_offsets (include/pybpfprof.h) is the part the BPF walk needs;
 * the rest is what userspace needs to decode code objects and strings.
 */
#ifndef PP_PYLAYOUT_H
#define PP_PYLAYOUT_H

#include "pybpfprof.h"
#include <stdint.h>

/* How a frame's instruction field becomes a line-table index. */
enum pp_instr_kind {
	PP_INSTR_LASTI_BYTES = 1, /* f_lasti, a byte offset (<= 3.9) */
	PP_INSTR_LASTI_UNITS, /* f_lasti, in code units (3.10) */
	PP_INSTR_PTR_ADAPTIVE, /* pointer into co_code_adaptive (3.11+) */
};

enum pp_linetable_kind {
	PP_LT_LNOTAB = 1, /* co_lnotab, <= 3.9 */
	PP_LT_310, /* co_linetable, PEP 626 */
	PP_LT_LOCATIONS, /* co_linetable location table, 3.11+ */
};

struct pp_layout {
	uint16_t version; /* 0x030b for 3.11 */
	const char *name;
	struct pp_offsets bpf;
	int16_t tstate_interp;
	/* code objects */
	int16_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code_adaptive;
	uint16_t code_size;
	uint8_t instr_kind; /* enum pp_instr_kind */
	uint8_t linetable; /* enum pp_linetable_kind */
	/* str (PyUnicode) and bytes */
	int16_t str_length, str_state, str_ascii_size, str_compact_size;
	int16_t bytes_size, bytes_data;
};

/* The layout for a PY_VERSION_HEX, or NULL if this build does not support it. */
const struct pp_layout *pylayout_for_version(uint32_t hexversion);
/* The versions supported, for messages: "3.11". */
const char *pylayout_supported(void);

#endif
