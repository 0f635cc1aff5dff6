/* SPDX-License-Identifier: BSD-2-Clause */
/* ELF files on disk: symbols by name, load segments, SONAME (libelf). */
#ifndef PP_ELFSYM_H
#define PP_ELFSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pp_elf;

/* Opens an ELF file; NULL if it is not one or cannot be read. */
struct pp_elf *elf_open(const char *path);
void elf_close(struct pp_elf *e);

/* Looks a symbol up in .dynsym, then .symtab. 0 if found. */
int elf_symbol(struct pp_elf *e, const char *name, uint64_t *value, uint64_t *size);
/* Looks n symbols up in one pass; values[i] stays 0 for those not found.
 * Returns how many were found. */
int elf_symbols(struct pp_elf *e, const char *const *names, uint64_t *values, size_t n);
/* The (vaddr - offset) of the PT_LOAD segment that holds file offset off:
 * a mapping of the file at offset off loaded at start has bias
 * start - off - result. Returns -1 if no segment holds off. */
int elf_load_delta(struct pp_elf *e, uint64_t off, int64_t *delta);
/* DT_SONAME, or NULL. Valid until elf_close. */
const char *elf_soname(struct pp_elf *e);

#endif
