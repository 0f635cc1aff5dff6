// SPDX-License-Identifier: BSD-2-Clause
#include "elfsym.h"
#include "util.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pp_elf {
	int fd;
	Elf *elf;
};

struct pp_elf *elf_open(const char *path)
{
	struct pp_elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	e = pp_xcalloc(1, sizeof(*e));
	e->fd = fd;
	e->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF) {
		elf_close(e);
		return NULL;
	}
	return e;
}

void elf_close(struct pp_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	close(e->fd);
	free(e);
}

/* One pass over a symbol table, filling the values of the names asked. */
static void symbols_in(Elf_Scn *scn, GElf_Shdr *sh, Elf *elf, const char *const *names, uint64_t *values,
		       uint64_t *sizes, size_t n, size_t *found)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count, esize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);

	/* As many symbols as the section's data holds: sh_entsize is the
	 * file's word, and a wrong one would only make the loop longer. */
	if (!data || !sh->sh_entsize || !esize)
		return;
	count = data->d_size / esize;
	for (size_t i = 0; i < count && *found < n; i++) {
		GElf_Sym sym;
		const char *s;

		/* A value of 0 is no address (and would read as "not found"). */
		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_name || !sym.st_value)
			continue;
		s = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!s)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (!values[k] && strcmp(s, names[k]) == 0) {
				values[k] = sym.st_value;
				if (sizes)
					sizes[k] = sym.st_size;
				(*found)++;
				break;
			}
		}
	}
}

static size_t lookup_symbols(struct pp_elf *e, const char *const *names, uint64_t *values, uint64_t *sizes, size_t n)
{
	static const Elf64_Word types[] = {SHT_DYNSYM, SHT_SYMTAB};
	size_t found = 0;

	for (size_t t = 0; t < PP_ARRAY_LEN(types) && found < n; t++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(e->elf, scn)) && found < n) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && sh.sh_type == types[t])
				symbols_in(scn, &sh, e->elf, names, values, sizes, n, &found);
		}
	}
	return found;
}

int elf_symbol(struct pp_elf *e, const char *name, uint64_t *value, uint64_t *size)
{
	uint64_t v = 0, sz = 0;

	if (!lookup_symbols(e, &name, &v, &sz, 1))
		return -1;
	*value = v;
	if (size)
		*size = sz;
	return 0;
}

int elf_symbols(struct pp_elf *e, const char *const *names, uint64_t *values, size_t n)
{
	memset(values, 0, n * sizeof(*values));
	return (int)lookup_symbols(e, names, values, NULL, n);
}

int elf_load_delta(struct pp_elf *e, uint64_t off, int64_t *delta)
{
	size_t n;

	if (elf_getphdrnum(e->elf, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		uint64_t start = ph.p_offset & ~(uint64_t)(PP_PAGE - 1);
		if (off >= start && off < ph.p_offset + ph.p_filesz) {
			*delta = (int64_t)(ph.p_vaddr - ph.p_offset);
			return 0;
		}
	}
	return -1;
}

const char *elf_soname(struct pp_elf *e)
{
	size_t esize = gelf_fsize(e->elf, ELF_T_DYN, 1, EV_CURRENT);
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize || !esize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		for (size_t i = 0; i < data->d_size / esize; i++) {
			GElf_Dyn dyn;

			if (gelf_getdyn(data, (int)i, &dyn) && dyn.d_tag == DT_SONAME)
				return elf_strptr(e->elf, sh.sh_link, dyn.d_un.d_val);
		}
	}
	return NULL;
}
