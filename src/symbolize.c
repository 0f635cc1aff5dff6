// SPDX-License-Identifier: BSD-2-Clause
#include "symbolize.h"
#include "util.h"

#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sym_entry {
	uint64_t pc; /* 0: empty slot */
	struct pp_symbol sym;
};

/* A module's functions sorted by address, built once: libdw's own lookup
 * scans the whole symbol table on every call. */
struct msym {
	uint64_t addr, size; /* absolute (bias applied) */
	uint32_t name; /* offset into modsyms.names */
	uint32_t rank; /* among aliases: 0 global, 1 weak, 2 local */
};

struct modsyms {
	uint64_t low, high, bias;
	char *path;
	char *build_id; /* hex, NULL if none */
	struct msym *syms;
	size_t n;
	char *names;
};

struct pp_symbolizer {
	char *interp_path;
	char *eval_func;
	struct modsyms *mods;
	size_t nmods, mods_cap;
	struct sym_entry *slots;
	size_t cap, len;
	/* Names handed out; freed together. */
	char **names;
	size_t nnames, names_cap;
};

/*
 * Interpreter functions that only carry a call from one Python frame to
 * the next (or from main to the first one). They are hidden so that a
 * Python function reads directly into the C function it called. Anything
 * not listed (builtins such as time.sleep or sorted, the allocator, the GC)
 * stays visible.
 */
static const char *const glue_prefixes[] = {
	"_PyEval_EvalFrame",
	"_TAIL_CALL_", /* 3.14's tail-calling interpreter: one function per instruction */
	"_PyEval_Vector",
	"_PyEval_EvalCode",
	"PyEval_EvalCode",
	"_PyFunction_Vectorcall",
	"_PyFunction_FastCall",
	"fast_function",
	"function_call",
	"instancemethod_call",
	"ext_do_call",
	"PyEval_EvalFrameEx",
	"PyEval_CallObject",
	"PyCFunction_Call",
	"Py_Main",
	"_Py_UnixMain",
	"_PyObject_Vectorcall",
	"PyObject_Vectorcall",
	"_PyObject_MakeTpCall",
	"_PyObject_Call",
	"PyObject_Call",
	"_PyObject_FastCall",
	"cfunction_",
	"method_vectorcall",
	"_PyCFunction_",
	"vectorcall_",
	"_PyVectorcall_",
	"slot_tp_call",
	"call_function",
	"do_call_core",
	"function_code_fastcall",
	"_PyMethodDef_RawFastCall",
	"run_eval_code_obj",
	"run_mod",
	"pyrun_",
	"_PyRun_",
	"PyRun_",
	"pymain_",
	"Py_RunMain",
	"gen_send_ex",
	"builtin_exec",
	"exec_code_in_module",
	"object_vacall",
	"partial_vectorcall",
	"partial_call",
	"wrapperdescr_call",
	"wrap_",
	"slot_tp_",
};

bool symbol_is_interp_glue(const char *name)
{
	for (size_t i = 0; i < PP_ARRAY_LEN(glue_prefixes); i++)
		if (strncmp(name, glue_prefixes[i], strlen(glue_prefixes[i])) == 0)
			return true;
	return false;
}

/* The eval loop, or a compiler's clone of it ("_PyEval_EvalFrameDefault.cold"). */
static bool is_eval(const struct pp_symbolizer *s, const char *name)
{
	size_t n = strlen(s->eval_func);

	return strncmp(name, s->eval_func, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

struct pp_symbolizer *symbolizer_new(const char *interp_path, const char *eval_func)
{
	struct pp_symbolizer *s = pp_xcalloc(1, sizeof(*s));

	s->interp_path = pp_xstrdup(interp_path ? interp_path : "");
	s->eval_func = pp_xstrdup(eval_func);
	s->cap = 4096;
	s->slots = pp_xcalloc(s->cap, sizeof(*s->slots));
	return s;
}

static void free_names(struct pp_symbolizer *s)
{
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	s->nnames = 0;
}

void symbolizer_free(struct pp_symbolizer *s)
{
	if (!s)
		return;
	free_names(s);
	free(s->names);
	for (size_t i = 0; i < s->nmods; i++) {
		free(s->mods[i].path);
		free(s->mods[i].build_id);
		free(s->mods[i].syms);
		free(s->mods[i].names);
	}
	free(s->mods);
	free(s->slots);
	free(s->interp_path);
	free(s->eval_func);
	free(s);
}

static const char *keep_name(struct pp_symbolizer *s, char *name)
{
	pp_grow((void **)&s->names, &s->names_cap, s->nnames + 1, sizeof(char *));
	s->names[s->nnames++] = name;
	return name;
}

static int msym_cmp(const void *a, const void *b)
{
	const struct msym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Among aliases, the sized one first, then the exported name
	 * (__libc_start_main rather than __libc_start_main_alias_2). */
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static void modsyms_build(struct modsyms *ms, Dwfl_Module *m)
{
	int n = dwfl_module_getsymtab(m);
	size_t cap = 0, names_len = 0, names_cap = 0;

	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(m, i, &sym, &value, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		size_t len;

		if (!name || !*name || !value || sym.st_shndx == SHN_UNDEF ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		len = strlen(name) + 1;
		pp_grow((void **)&ms->syms, &cap, ms->n + 1, sizeof(*ms->syms));
		pp_grow((void **)&ms->names, &names_cap, names_len + len, 1);
		memcpy(ms->names + names_len, name, len);
		ms->syms[ms->n++] = (struct msym){.addr = value,
						  .size = sym.st_size,
						  .name = (uint32_t)names_len,
						  .rank = GELF_ST_BIND(sym.st_info) == STB_GLOBAL ? 0
							  : GELF_ST_BIND(sym.st_info) == STB_WEAK ? 1
												  : 2};
		names_len += len;
	}
	if (ms->n)
		qsort(ms->syms, ms->n, sizeof(*ms->syms), msym_cmp);
}

static char *build_id_hex(Dwfl_Module *m)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(m, &bits, &vaddr);
	char *hex;

	if (n <= 0 || n > 64)
		return NULL;
	hex = pp_xmalloc((size_t)n * 2 + 1);
	for (int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	return hex;
}

static struct modsyms *modsyms_get(struct pp_symbolizer *s, Dwfl_Module *m, const char *path)
{
	Dwarf_Addr low, high, bias = 0;
	struct modsyms *ms;

	dwfl_module_info(m, NULL, &low, &high, NULL, NULL, NULL, NULL);
	for (size_t i = 0; i < s->nmods; i++)
		if (s->mods[i].low == low && s->mods[i].high == high && strcmp(s->mods[i].path, path) == 0)
			return &s->mods[i];
	pp_grow((void **)&s->mods, &s->mods_cap, s->nmods + 1, sizeof(*s->mods));
	ms = &s->mods[s->nmods++];
	*ms = (struct modsyms){.low = low, .high = high, .path = pp_xstrdup(path)};
	modsyms_build(ms, m);
	ms->build_id = build_id_hex(m);
	dwfl_module_getelf(m, &bias);
	ms->bias = bias;
	return ms;
}

/*
 * In an array of n entries of size stride, sorted by a leading uint64_t
 * address, the index of the last entry whose address is <= addr; -1 if
 * there is none.
 */
static long last_at_or_below(const void *base, size_t n, size_t stride, uint64_t addr)
{
	const char *b = base;
	size_t lo = 0, hi = n;
	uint64_t a;

	if (!n)
		return -1;
	memcpy(&a, b, sizeof(a));
	if (addr < a)
		return -1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&a, b + mid * stride, sizeof(a));
		if (a <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return (long)lo;
}

/* The function holding addr, or NULL. */
static const struct msym *modsyms_find(const struct modsyms *ms, uint64_t addr)
{
	long found = last_at_or_below(ms->syms, ms->n, sizeof(*ms->syms), addr);
	size_t lo;

	if (found < 0)
		return NULL;
	lo = (size_t)found;
	/* Among symbols at the same address the preferred one sorts first. */
	while (lo > 0 && ms->syms[lo - 1].addr == ms->syms[lo].addr)
		lo--;
	if (ms->syms[lo].size && addr - ms->syms[lo].addr >= ms->syms[lo].size)
		return NULL; /* past its end: a static function the table does not list */
	return &ms->syms[lo];
}

/*
 * An unnamed function is named by its start, so that all its samples add
 * up in one frame. .eh_frame_hdr holds a table of function starts sorted
 * by address (one per FDE): the last start <= addr is the function's. Only
 * the encoding every x86_64 toolchain emits is read (datarel sdata4);
 * otherwise, and without the section, addr itself.
 */
static uint64_t function_start(Dwfl_Module *m, uint64_t addr)
{
	Dwarf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(m, &bias);
	uint64_t rel = addr - bias;
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return rel;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;
		const uint8_t *b;
		uint32_t count;
		size_t lo, hi;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".eh_frame_hdr") != 0)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || d->d_size < 12)
			return rel;
		b = d->d_buf;
		/* version 1, eh_frame_ptr sdata4 pcrel, count udata4, table datarel sdata4 */
		if (b[0] != 1 || b[1] != 0x1b || b[2] != 0x03 || b[3] != 0x3b)
			return rel;
		memcpy(&count, b + 8, 4);
		if (!count || (d->d_size - 12) / 8 < count)
			return rel;
		lo = 0;
		hi = count;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			int32_t loc;

			memcpy(&loc, b + 12 + 8 * mid, 4);
			if (sh.sh_addr + (uint64_t)(int64_t)loc <= rel)
				lo = mid;
			else
				hi = mid;
		}
		int32_t loc;

		memcpy(&loc, b + 12 + 8 * lo, 4);
		return sh.sh_addr + (uint64_t)(int64_t)loc <= rel ? sh.sh_addr + (uint64_t)(int64_t)loc : rel;
	}
	return rel;
}

static struct pp_symbol lookup(struct pp_symbolizer *s, Dwfl *dwfl, uint64_t addr)
{
	struct pp_symbol r = {0};
	Dwfl_Module *m = dwfl_addrmodule(dwfl, addr);
	const char *mainfile = NULL, *modname, *name;
	const struct modsyms *ms;
	const struct msym *fn;

	if (!m) {
		r.name = "[unknown]";
		return r;
	}
	modname = dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
	if (!mainfile)
		mainfile = modname ? modname : "?";
	if (strcmp(mainfile, s->interp_path) == 0 || (modname && strcmp(modname, s->interp_path) == 0))
		r.flags |= PP_SYM_INTERP;
	/* Named as the process maps it: the file may have been opened
	 * through /proc/PID/root. */
	ms = modsyms_get(s, m, modname && modname[0] == '/' ? modname : mainfile);
	r.module = ms->path;
	r.build_id = ms->build_id;
	fn = modsyms_find(ms, addr);
	name = fn ? ms->names + fn->name : NULL;
	if (name && *name) {
		/* "__libc_start_main@@GLIBC_2.34": the version is noise here. */
		r.name = keep_name(s, pp_xstrndup(name, strcspn(name, "@")));
		r.addr = fn->addr - ms->bias;
		if (r.flags & PP_SYM_INTERP) {
			if (is_eval(s, name))
				r.flags |= PP_SYM_EVAL | PP_SYM_HIDE;
			else if (symbol_is_interp_glue(name))
				r.flags |= PP_SYM_HIDE;
		}
		return r;
	}
	r.addr = function_start(m, addr);
	r.name = keep_name(s, pp_xasprintf("[%s+0x%" PRIx64 "]", pp_basename(mainfile), r.addr));
	/* An unnamed interpreter function is a static one of a stripped
	 * interpreter: call machinery far more often than anything else. */
	if (r.flags & PP_SYM_INTERP)
		r.flags |= PP_SYM_HIDE;
	return r;
}

void symbolizer_forget_addresses(struct pp_symbolizer *s)
{
	memset(s->slots, 0, s->cap * sizeof(*s->slots));
	s->len = 0;
	/* The tables of modules no longer mapped go too: an address range
	 * may now hold another file. */
	for (size_t i = 0; i < s->nmods; i++) {
		free(s->mods[i].path);
		free(s->mods[i].build_id);
		free(s->mods[i].syms);
		free(s->mods[i].names);
	}
	s->nmods = 0;
}

struct pp_symbol symbolize_native(struct pp_symbolizer *s, Dwfl *dwfl, uint64_t pc, bool exact)
{
	uint64_t addr = exact || pc == 0 ? pc : pc - 1;
	size_t i;

	if (!addr)
		return (struct pp_symbol){.name = "[unknown]"};
	i = pp_hash_u64(addr) & (s->cap - 1);
	while (s->slots[i].pc && s->slots[i].pc != addr)
		i = (i + 1) & (s->cap - 1);
	if (s->slots[i].pc)
		return s->slots[i].sym;
	/* A PC in no module is not cached: a dlopen may map it later. */
	if (!dwfl_addrmodule(dwfl, addr))
		return (struct pp_symbol){.name = "[unknown]"};
	if ((s->len + 1) * 2 > s->cap) {
		struct sym_entry *old = s->slots;
		size_t oldcap = s->cap;

		s->cap *= 2;
		s->slots = pp_xcalloc(s->cap, sizeof(*s->slots));
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].pc)
				continue;
			size_t k = pp_hash_u64(old[j].pc) & (s->cap - 1);
			while (s->slots[k].pc)
				k = (k + 1) & (s->cap - 1);
			s->slots[k] = old[j];
		}
		free(old);
		i = pp_hash_u64(addr) & (s->cap - 1);
		while (s->slots[i].pc)
			i = (i + 1) & (s->cap - 1);
	}
	s->slots[i].pc = addr;
	s->slots[i].sym = lookup(s, dwfl, addr);
	s->len++;
	return s->slots[i].sym;
}

/* ---- kernel ---- */

struct ksym {
	uint64_t addr;
	uint32_t name; /* offset of the name in names */
};

struct pp_ksyms {
	struct ksym *syms;
	size_t n;
	char *names;
	size_t names_len, names_cap;
};

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* /proc/kallsyms has ~200k lines: parsed by hand, names in one arena. */
struct pp_ksyms *ksyms_load(void)
{
	struct pp_ksyms *k = pp_xcalloc(1, sizeof(*k));
	size_t len, cap = 0;
	char *text = pp_read_file("/proc/kallsyms", 256 << 20, &len), *p, *end;

	if (!text)
		return k;
	for (p = text, end = text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *q;
		uint64_t addr = strtoull(p, &q, 16);
		size_t nlen;

		if (!nl)
			nl = end;
		/* "ffffffff81000000 T name [module]" */
		if (q + 3 < nl && q[0] == ' ' && strchr("tTwW", q[1]) && q[2] == ' ' && addr) {
			char *name = q + 3;

			nlen = strcspn(name, " \t\n");
			if (name + nlen > nl)
				nlen = (size_t)(nl - name);
			pp_grow((void **)&k->syms, &cap, k->n + 1, sizeof(*k->syms));
			pp_grow((void **)&k->names, &k->names_cap, k->names_len + nlen + 1, 1);
			k->syms[k->n].addr = addr;
			k->syms[k->n].name = (uint32_t)k->names_len;
			memcpy(k->names + k->names_len, name, nlen);
			k->names[k->names_len + nlen] = '\0';
			k->names_len += nlen + 1;
			k->n++;
		}
		p = nl + 1;
	}
	free(text);
	qsort(k->syms, k->n, sizeof(*k->syms), ksym_cmp);
	return k;
}

void ksyms_free(struct pp_ksyms *k)
{
	if (!k)
		return;
	free(k->names);
	free(k->syms);
	free(k);
}

const char *ksym_name(struct pp_ksyms *k, uint64_t ip)
{
	long i = last_at_or_below(k->syms, k->n, sizeof(*k->syms), ip);

	return i < 0 ? "[unknown]" : k->names + k->syms[i].name;
}
