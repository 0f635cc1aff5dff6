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
	PP_LT_LNOTAB27 = 1, /* co_lnotab, 2.x: unsigned line increments */
	PP_LT_LNOTAB, /* co_lnotab, 3.6 - 3.9: signed line increments */
	PP_LT_310, /* co_linetable, PEP 626 */
	PP_LT_LOCATIONS, /* co_linetable location table, 3.11+ */
};

/* What the names of code objects are. */
enum pp_str_kind {
	PP_STR_UNICODE = 0, /* str (PyUnicode), 3.x */
	PP_STR_BYTES, /* str (PyStringObject, bytes), 2.x */
};

/* Where the interpreter list starts. */
enum pp_anchor_kind {
	PP_ANCHOR_RUNTIME = 0, /* the _PyRuntime symbol (3.7+) */
	PP_ANCHOR_INTERP_HEAD, /* pystate.c's static interp_head (<= 3.6) */
};

/* Where the GIL's holder is kept. */
enum pp_gil_kind {
	PP_GIL_UNKNOWN = 0,
	PP_GIL_CURRENT, /* a tstate pointer, NULL while released: _PyThreadState_Current (2.7, 3.6) or
			   _PyRuntime.gilstate.tstate_current (3.7 - 3.11) */
	PP_GIL_INTERP_PTR, /* 3.12: interp->ceval.gil points to the GIL struct */
	PP_GIL_INTERP_EMBEDDED, /* 3.13+: the GIL struct is inside the interpreter (interp->_gil) */
};

struct pp_layout {
	uint16_t version; /* 0x030b for 3.11 */
	const char *name;
	uint8_t anchor; /* enum pp_anchor_kind */
	const char *eval_func; /* the eval loop's symbol; NULL: _PyEval_EvalFrameDefault */
	struct pp_offsets bpf;
	int16_t tstate_interp;
	/* code objects */
	int16_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code_adaptive;
	uint16_t code_size;
	uint8_t instr_kind; /* enum pp_instr_kind */
	uint8_t linetable; /* enum pp_linetable_kind */
	/* str (PyUnicode, or bytes in 2.x) and bytes */
	uint8_t str_kind; /* enum pp_str_kind */
	int16_t str_length, str_state, str_ascii_size, str_compact_size;
	int16_t bytes_size, bytes_data;
	/* the GIL: gil_off is the offset of tstate_current in _PyRuntime
	 * (PP_GIL_CURRENT; -1: the _PyThreadState_Current symbol), else of
	 * the pointer or struct in the interpreter; holder (last_holder) and
	 * locked (int) are offsets in the GIL struct. */
	uint8_t gil_kind; /* enum pp_gil_kind */
	int16_t gil_off, gil_holder, gil_locked;
};

/* The layout for a PY_VERSION_HEX, or NULL if this build does not support it. */
const struct pp_layout *pylayout_for_version(uint32_t hexversion);
/* The versions supported, for messages: "3.11". */
const char *pylayout_supported(void);
/*
 * Sets o's field windows (frame_win, code_win and their lengths) from its
 * offsets and code_name. -1, with *wide (if given) naming them, when fields
 * the sampler reads in one go span more than PP_FIELD_WINDOW bytes.
 */
int pylayout_field_windows(struct pp_offsets *o, const char **wide);

#endif
