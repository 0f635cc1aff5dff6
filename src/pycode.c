// SPDX-License-Identifier: BSD-2-Clause
#include "pycode.h"
#include "linetable.h"
#include "procmem.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PP_MAX_NAME	 1024
#define PP_OB_TYPE	 8 /* PyObject.ob_type */
#define PP_OB_SIZE	 16 /* PyVarObject.ob_size */
#define PP_MAX_LINETABLE (1 << 20)

struct pp_pycode_cache {
	pid_t pid; /* the procmem source's context */
	struct pp_memsrc src;
	const struct pp_layout *l;
	uint64_t code_type;
	struct pp_pycode **slots; /* open addressing on addr */
	size_t cap, len;
};

static int procmem_src_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return procmem_read(*(const pid_t *)ctx, addr, buf, len);
}

static int mem_read(const struct pp_memsrc *src, uint64_t addr, void *buf, size_t len)
{
	return src->read(src->ctx, addr, buf, len);
}

static void put_utf8(char **o, uint32_t cp)
{
	unsigned char *p = (unsigned char *)*o;

	if (cp < 0x20 || cp == 0x7f)
		cp = '?';
	else if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd; /* a lone surrogate, or no code point at all */
	if (cp < 0x80) {
		*p++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*p++ = (unsigned char)(0xc0 | (cp >> 6));
		*p++ = (unsigned char)(0x80 | (cp & 63));
	} else if (cp < 0x10000) {
		*p++ = (unsigned char)(0xe0 | (cp >> 12));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 63));
		*p++ = (unsigned char)(0x80 | (cp & 63));
	} else {
		*p++ = (unsigned char)(0xf0 | (cp >> 18));
		*p++ = (unsigned char)(0x80 | ((cp >> 12) & 63));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 63));
		*p++ = (unsigned char)(0x80 | (cp & 63));
	}
	*o = (char *)p;
}

/* Well-formed UTF-8: no overlong form, no surrogate, nothing past U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};

	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0x80	     ? 1
			     : (s[i] & 0xe0) == 0xc0 ? 2
			     : (s[i] & 0xf0) == 0xe0 ? 3
			     : (s[i] & 0xf8) == 0xf0 ? 4
						     : 0;
		uint32_t cp;

		if (!len || i + len > n)
			return 0;
		cp = len == 1 ? s[i] : s[i] & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 63);
		}
		if (cp < least[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

/* 2.x str is bytes: UTF-8 when it is valid UTF-8 (source files usually
 * are), else each byte a Latin-1 character, so the output is always UTF-8. */
static char *pybytes_str_read(const struct pp_memsrc *src, const struct pp_layout *l, uint64_t addr, size_t max)
{
	int64_t len;
	size_t n;
	uint8_t *raw;
	char *out, *o;
	int valid;

	if (!addr || mem_read(src, addr + (uint64_t)l->bytes_size, &len, 8) || len < 0)
		return NULL;
	n = (uint64_t)len > max ? max : (size_t)len;
	raw = pp_xmalloc(n + 1);
	if (n && mem_read(src, addr + (uint64_t)l->bytes_data, raw, n)) {
		free(raw);
		return NULL;
	}
	valid = utf8_valid(raw, n);
	out = o = pp_xmalloc(n * 2 + 4);
	for (size_t i = 0; i < n; i++) {
		if (valid && raw[i] >= 0x80)
			*o++ = (char)raw[i];
		else
			put_utf8(&o, raw[i]);
	}
	if (n < (size_t)len) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	free(raw);
	return out;
}

char *pystr_read(pid_t pid, const struct pp_layout *l, uint64_t addr, size_t max)
{
	struct pp_memsrc src = {.read = procmem_src_read, .ctx = &pid};

	return pystr_read_src(&src, l, addr, max);
}

char *pystr_read_src(const struct pp_memsrc *src, const struct pp_layout *l, uint64_t addr, size_t max)
{
	uint8_t hdr[128];
	uint64_t data, len;
	uint32_t state;
	unsigned kind, compact, ascii;
	size_t n, hlen;
	uint8_t *raw;
	char *out, *o;

	if (l->str_kind == PP_STR_BYTES)
		return pybytes_str_read(src, l, addr, max);
	/* The header read is PyUnicodeObject (compact size + the data pointer):
	 * it, and the fields in it, must fit hdr whatever the layout says (a
	 * 3.13+ layout comes from the target's _Py_DebugOffsets). */
	hlen = (size_t)l->str_compact_size + 8;
	if (!addr || l->str_compact_size < 0 || hlen > sizeof(hdr) || l->str_length < 0 ||
	    (size_t)l->str_length + 8 > hlen || l->str_state < 0 || (size_t)l->str_state + 4 > hlen ||
	    mem_read(src, addr, hdr, hlen))
		return NULL;
	memcpy(&len, hdr + l->str_length, 8);
	memcpy(&state, hdr + l->str_state, 4);
	kind = (state >> 2) & 7;
	compact = (state >> 5) & 1;
	ascii = (state >> 6) & 1;
	if ((kind != 1 && kind != 2 && kind != 4) || (int64_t)len < 0)
		return NULL;
	if (compact && ascii)
		data = addr + (uint64_t)l->str_ascii_size;
	else if (compact)
		data = addr + (uint64_t)l->str_compact_size;
	else
		memcpy(&data, hdr + l->str_compact_size, 8); /* legacy: data.any */
	n = len > max ? max : (size_t)len;
	raw = pp_xmalloc(n * kind + 1);
	if (n && mem_read(src, data, raw, n * kind)) {
		free(raw);
		return NULL;
	}
	out = o = pp_xmalloc(n * 4 + 4);
	for (size_t i = 0; i < n; i++) {
		uint32_t cp;

		if (kind == 1)
			cp = raw[i];
		else if (kind == 2)
			cp = (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8;
		else
			memcpy(&cp, raw + 4 * i, 4);
		put_utf8(&o, cp);
	}
	if (n < len) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	free(raw);
	return out;
}

struct pp_pycode_cache *pycode_cache_new(pid_t pid, const struct pp_layout *layout, uint64_t code_type)
{
	struct pp_memsrc src = {.read = procmem_src_read};
	struct pp_pycode_cache *c = pycode_cache_new_src(&src, layout, code_type);

	c->pid = pid;
	c->src.ctx = &c->pid;
	return c;
}

struct pp_pycode_cache *pycode_cache_new_src(const struct pp_memsrc *src, const struct pp_layout *layout,
					     uint64_t code_type)
{
	struct pp_pycode_cache *c = pp_xcalloc(1, sizeof(*c));

	c->src = *src;
	c->code_type = code_type;
	c->l = layout;
	c->cap = 1024;
	c->slots = pp_xcalloc(c->cap, sizeof(*c->slots));
	return c;
}

static void code_free(struct pp_pycode *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->filename);
	free(e->linetable);
	free(e);
}

void pycode_cache_free(struct pp_pycode_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		code_free(c->slots[i]);
	free(c->slots);
	free(c);
}

static int read_i32(const uint8_t *buf, int16_t off)
{
	int32_t v;

	memcpy(&v, buf + off, 4);
	return v;
}

static uint64_t read_ptr(const uint8_t *buf, int16_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, 8);
	return v;
}

static uint8_t *read_bytes_obj(const struct pp_memsrc *src, const struct pp_layout *l, uint64_t addr, size_t *len)
{
	int64_t size;
	uint8_t *buf;

	if (!addr || mem_read(src, addr + (uint64_t)l->bytes_size, &size, 8) || size < 0 || size > PP_MAX_LINETABLE)
		return NULL;
	buf = pp_xmalloc((size_t)size + 1);
	if (size && mem_read(src, addr + (uint64_t)l->bytes_data, buf, (size_t)size)) {
		free(buf);
		return NULL;
	}
	*len = (size_t)size;
	return buf;
}

/*
 * The code object may have died while its strings were read (they would
 * then be anything). Read again after them: if the object is still the
 * one read before, it held its strings alive all along.
 */
static bool still_the_same(struct pp_pycode_cache *c, uint64_t addr, const uint8_t *before)
{
	uint8_t now[512];
	const struct pp_layout *l = c->l;

	if (mem_read(&c->src, addr, now, l->code_size))
		return false;
	return read_ptr(now, 0) == read_ptr(before, 0) && read_ptr(now, PP_OB_TYPE) == read_ptr(before, PP_OB_TYPE) &&
	       read_ptr(now, l->co_name) == read_ptr(before, l->co_name) &&
	       read_ptr(now, l->co_filename) == read_ptr(before, l->co_filename) &&
	       (l->co_qualname < 0 || read_ptr(now, l->co_qualname) == read_ptr(before, l->co_qualname)) &&
	       read_ptr(now, l->co_linetable) == read_ptr(before, l->co_linetable);
}

static struct pp_pycode *code_read(struct pp_pycode_cache *c, uint64_t addr)
{
	const struct pp_layout *l = c->l;
	uint8_t buf[512];
	struct pp_pycode *e;

	if (l->code_size > sizeof(buf) || mem_read(&c->src, addr, buf, l->code_size))
		return NULL;
	/* Whatever the frame pointed at, it must be a code object, and a live
	 * one: a freed object keeps its type and fields but for the first
	 * word, which the allocator's free list overwrites with a pointer
	 * (its names may already be other strings). A reference count, even
	 * an immortal one, stays below 2^32. */
	if (c->code_type && read_ptr(buf, PP_OB_TYPE) != c->code_type)
		return NULL;
	if (read_ptr(buf, 0) == 0 || read_ptr(buf, 0) >= (1ULL << 32))
		return NULL;
	e = pp_xcalloc(1, sizeof(*e));
	e->addr = addr;
	if (l->bpf.code_tag >= 0) /* as the frame walks compute it (pyruntime_proc) */
		e->tag = read_ptr(buf, l->bpf.code_tag) ^ read_ptr(buf, l->co_name);
	e->firstlineno = read_i32(buf, l->co_firstlineno);
	if (l->instr_kind == PP_INSTR_PTR_ADAPTIVE)
		e->ncodeunits = read_ptr(buf, PP_OB_SIZE); /* a PyVarObject of code units */
	if (l->co_qualname >= 0)
		e->name = pystr_read_src(&c->src, l, read_ptr(buf, l->co_qualname), PP_MAX_NAME);
	if (!e->name)
		e->name = pystr_read_src(&c->src, l, read_ptr(buf, l->co_name), PP_MAX_NAME);
	e->filename = pystr_read_src(&c->src, l, read_ptr(buf, l->co_filename), PP_MAX_NAME);
	e->linetable = read_bytes_obj(&c->src, l, read_ptr(buf, l->co_linetable), &e->linetable_len);
	if (!e->name || !e->filename || !still_the_same(c, addr, buf)) {
		code_free(e);
		return NULL;
	}
	return e;
}

static void cache_grow(struct pp_pycode_cache *c)
{
	struct pp_pycode **old = c->slots;
	size_t oldcap = c->cap;

	c->cap *= 2;
	c->slots = pp_xcalloc(c->cap, sizeof(*c->slots));
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i])
			continue;
		size_t j = pp_hash_u64(old[i]->addr) & (c->cap - 1);
		while (c->slots[j])
			j = (j + 1) & (c->cap - 1);
		c->slots[j] = old[i];
	}
	free(old);
}

const struct pp_pycode *pycode_get(struct pp_pycode_cache *c, uint64_t addr, uint64_t tag)
{
	size_t i = pp_hash_u64(addr) & (c->cap - 1);
	struct pp_pycode *e;

	if (!addr)
		return NULL;
	while (c->slots[i] && c->slots[i]->addr != addr)
		i = (i + 1) & (c->cap - 1);
	if (c->slots[i]) {
		if (c->l->bpf.code_tag < 0 || c->slots[i]->tag == tag)
			return c->slots[i];
		/* The address now holds another code object: read it again. */
		e = code_read(c, addr);
		if (!e)
			return NULL;
		code_free(c->slots[i]);
		c->slots[i] = e;
		return e->tag == tag ? e : NULL;
	}
	e = code_read(c, addr);
	if (!e)
		return NULL;
	if (c->l->bpf.code_tag >= 0 && e->tag != tag) {
		/* Freed and reused between the sample and now: do not guess. */
		code_free(e);
		return NULL;
	}
	c->slots[i] = e;
	if (++c->len * 2 > c->cap)
		cache_grow(c);
	return e;
}

int pycode_line(const struct pp_pycode_cache *c, const struct pp_pycode *code, uint64_t instr)
{
	const struct pp_layout *l = c->l;
	int64_t pos;

	if (!code->linetable)
		return -1;
	switch (l->instr_kind) {
	case PP_INSTR_LASTI_BYTES:
		pos = (int64_t)instr;
		break;
	case PP_INSTR_LASTI_UNITS:
		/* An int f_lasti, sign-extended by the sampler: anything wider is not one. */
		if ((int64_t)instr < INT32_MIN || (int64_t)instr > INT32_MAX)
			return -1;
		pos = (int64_t)instr * 2;
		break;
	case PP_INSTR_PTR_ADAPTIVE:
		/* The distance in unsigned arithmetic: any two pointers, no overflow. */
		pos = (int64_t)(instr - (code->addr + (uint64_t)l->co_code_adaptive)) / 2;
		/* The frame ran other bytecode than this object's: another code
		 * object took the freed one's place. */
		if (pos < -1 || (uint64_t)(pos + 1) > code->ncodeunits)
			return PP_LINE_NOT_THIS_CODE;
		break;
	default:
		return -1;
	}
	switch (l->linetable) {
	case PP_LT_LNOTAB27:
		return linetable_lnotab27(code->linetable, code->linetable_len, code->firstlineno, pos);
	case PP_LT_LNOTAB:
		return linetable_lnotab(code->linetable, code->linetable_len, code->firstlineno, pos);
	case PP_LT_310:
		return linetable_310(code->linetable, code->linetable_len, code->firstlineno, pos);
	case PP_LT_LOCATIONS:
		return linetable_locations(code->linetable, code->linetable_len, code->firstlineno, pos);
	}
	return -1;
}
