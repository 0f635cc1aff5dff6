/* SPDX-License-Identifier: BSD-2-Clause */
/* Code objects of the target: names, file, line table; read once, cached. */
#ifndef PP_PYCODE_H
#define PP_PYCODE_H

#include "pylayout.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pp_pycode {
	uint64_t addr;
	uint64_t tag; /* the word at code_tag when read: a changed word means a new object */
	char *name; /* co_qualname where the version has it, else co_name */
	char *filename;
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	uint64_t ncodeunits; /* 3.11+: bytecode length, to check frames' instruction pointers */
};

struct pp_pycode_cache;

/*
 * Where the target's memory is read from: process_vm_readv for a live
 * process (the functions taking a pid), a fake address space in the fuzzer.
 * read gives 0 when all len bytes at addr were read, -1 otherwise.
 */
struct pp_memsrc {
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	void *ctx;
};

/* code_type: the target's PyCode_Type, checked on every object read (0: no check). */
struct pp_pycode_cache *pycode_cache_new(pid_t pid, const struct pp_layout *layout, uint64_t code_type);
/* The same over any memory source (*src is copied). */
struct pp_pycode_cache *pycode_cache_new_src(const struct pp_memsrc *src, const struct pp_layout *layout,
					     uint64_t code_type);
void pycode_cache_free(struct pp_pycode_cache *c);
/* The code object at addr whose tag word is tag; NULL if it cannot be read. */
const struct pp_pycode *pycode_get(struct pp_pycode_cache *c, uint64_t addr, uint64_t tag);
/* The line being executed for the frame's instruction field; -1 if
 * unknown, PP_LINE_NOT_THIS_CODE if the instruction lies outside the
 * object's bytecode (the frame's code object was replaced). */
#define PP_LINE_NOT_THIS_CODE (-2)
int pycode_line(const struct pp_pycode_cache *c, const struct pp_pycode *code, uint64_t instr);

/* Reads a str object into a NUL-terminated UTF-8 string (at most max code
 * points, control characters replaced). NULL if unreadable. */
char *pystr_read(pid_t pid, const struct pp_layout *l, uint64_t addr, size_t max);
char *pystr_read_src(const struct pp_memsrc *src, const struct pp_layout *l, uint64_t addr, size_t max);

#endif
