/* SPDX-License-Identifier: BSD-2-Clause */
/* Native PCs and kernel IPs to names, cached. */
#ifndef PP_SYMBOLIZE_H
#define PP_SYMBOLIZE_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a native frame is, for the merge. */
#define PP_SYM_EVAL   0x1 /* an eval-loop activation (_PyEval_EvalFrameDefault) */
#define PP_SYM_INTERP 0x2 /* code of the interpreter's own binary or libpython */
#define PP_SYM_HIDE   0x4 /* interpreter call machinery: hidden in the merged stack */

struct pp_symbol {
	const char *name; /* "symbol" or "[libfoo.so+0x1a2b]"; owned by the symbolizer */
	const char *module; /* the ELF file's path as mapped; NULL if the PC is in no module */
	const char *build_id; /* its GNU build id in hex, NULL if it has none */
	uint64_t addr; /* the function's start as an address of the ELF file (0 unknown) */
	unsigned flags; /* PP_SYM_* */
};

struct pp_symbolizer;

/* interp_path: the ELF that holds the CPython runtime (its frames get
 * PP_SYM_INTERP); eval_func: the name of its eval loop (PP_SYM_EVAL). */
struct pp_symbolizer *symbolizer_new(const char *interp_path, const char *eval_func);
void symbolizer_free(struct pp_symbolizer *s);
/* Forgets what addresses meant: the mappings changed (dlclose, dlopen). */
void symbolizer_forget_addresses(struct pp_symbolizer *s);
/* Symbolizes a native PC; exact is false for return addresses (looked up at pc-1). */
struct pp_symbol symbolize_native(struct pp_symbolizer *s, Dwfl *dwfl, uint64_t pc, bool exact);

/* Kernel symbols from /proc/kallsyms. */
struct pp_ksyms;
struct pp_ksyms *ksyms_load(void);
void ksyms_free(struct pp_ksyms *k);
/* The symbol holding ip, or "[unknown]"; owned by k. */
const char *ksym_name(struct pp_ksyms *k, uint64_t ip);

/* Whether a symbol of the interpreter is call machinery (exported for tests). */
bool symbol_is_interp_glue(const char *name);

#endif
