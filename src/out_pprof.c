// SPDX-License-Identifier: BSD-2-Clause
#include "out_pprof.h"
#include "pprof.pb-c.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The labels a sample can carry: pid, process, tid, thread. */
#define MAX_LABELS 4
/* Kernel functions' file: perf's name for the kernel image. They get no
 * mapping, which leaves no kernel file for a reader to look for. */
#define KERNEL_FILE "[kernel.kallsyms]"

/* Strings point into the profile (it outlives the write) and are never
 * copied; the index maps content to position. */
struct strtab {
	const char **s;
	size_t n, cap;
	uint32_t *index; /* position + 1; 0: empty slot */
	size_t index_cap;
};

/* A 64-bit key (two string indices) to an id; ids start at 1. */
struct idmap {
	struct idmap_entry {
		uint64_t key;
		uint32_t id; /* 0: empty slot */
	} * e;
	size_t n, cap;
};

struct writer {
	const struct pp_profile *p;
	struct strtab str;
	struct idmap fn_ids, map_ids;
	/* Each frame makes at most one of each, so all are sized by the frame
	 * count up front and pointers into them stay valid. */
	Pprof__Function *fn;
	Pprof__Mapping *map;
	Pprof__Location *loc;
	Pprof__Line *line;
	Pprof__Line **line_ptr;
	size_t nfn, nmap, nloc;
	uint32_t *loc_of; /* frame id -> location id; 0: none yet */
};

static void strtab_insert(struct strtab *t, uint32_t pos)
{
	size_t i = pp_hash_bytes(t->s[pos], strlen(t->s[pos]), 0) & (t->index_cap - 1);

	while (t->index[i])
		i = (i + 1) & (t->index_cap - 1);
	t->index[i] = pos + 1;
}

/* The string's index in the table, added if new; NULL is "" (index 0). */
static int64_t str_id(struct strtab *t, const char *s)
{
	size_t i;

	if (!s)
		s = "";
	i = pp_hash_bytes(s, strlen(s), 0) & (t->index_cap - 1);
	while (t->index[i]) {
		if (strcmp(t->s[t->index[i] - 1], s) == 0)
			return t->index[i] - 1;
		i = (i + 1) & (t->index_cap - 1);
	}
	pp_grow((void **)&t->s, &t->cap, t->n + 1, sizeof(*t->s));
	t->s[t->n] = s;
	if ((t->n + 1) * 2 > t->index_cap) {
		free(t->index);
		t->index_cap *= 2;
		t->index = pp_xcalloc(t->index_cap, sizeof(*t->index));
		for (uint32_t j = 0; j <= t->n; j++)
			strtab_insert(t, j);
	} else {
		t->index[i] = (uint32_t)t->n + 1;
	}
	return (int64_t)t->n++;
}

/* The id of key; if it has none yet, it gets fresh (which the caller
 * passes, and recognises in the result to fill the new entry). */
static uint32_t idmap_get(struct idmap *m, uint64_t key, uint32_t fresh)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct idmap_entry *old = m->e;
		size_t old_cap = m->cap;

		m->cap = m->cap ? m->cap * 2 : 64;
		m->e = pp_xcalloc(m->cap, sizeof(*m->e));
		for (size_t j = 0; j < old_cap; j++) {
			if (!old[j].id)
				continue;
			i = pp_hash_u64(old[j].key) & (m->cap - 1);
			while (m->e[i].id)
				i = (i + 1) & (m->cap - 1);
			m->e[i] = old[j];
		}
		free(old);
	}
	i = pp_hash_u64(key) & (m->cap - 1);
	while (m->e[i].id) {
		if (m->e[i].key == key)
			return m->e[i].id;
		i = (i + 1) & (m->cap - 1);
	}
	m->e[i] = (struct idmap_entry){.key = key, .id = fresh};
	m->n++;
	return fresh;
}

static uint64_t pair_key(int64_t a, int64_t b)
{
	return (uint64_t)a << 32 | (uint32_t)b;
}

/* Functions are one per (name, file): Python frames of one function at
 * different lines share it, and so do the locations of a native symbol. */
static uint64_t function_id(struct writer *w, const struct pp_frame *f)
{
	int64_t name = str_id(&w->str, f->name), file = 0;
	uint32_t id;

	if (f->kind == PP_FRAME_PYTHON || f->kind == PP_FRAME_NATIVE || f->kind == PP_FRAME_INTERP)
		file = str_id(&w->str, f->file);
	else if (f->kind == PP_FRAME_KERNEL)
		file = str_id(&w->str, KERNEL_FILE);
	id = idmap_get(&w->fn_ids, pair_key(name, file), (uint32_t)w->nfn + 1);
	if (id == w->nfn + 1) {
		Pprof__Function *fn = &w->fn[w->nfn++];

		pprof__function__init(fn);
		fn->id = id;
		/* We know one name: the qualname or the linker's symbol. */
		fn->name = fn->system_name = name;
		fn->filename = file;
	}
	return id;
}

/* One mapping per ELF file (path and build id). Addresses are file
 * addresses, so the mapping starts at 0 and ends past the highest. */
static uint64_t mapping_id(struct writer *w, const char *file, const char *build_id, uint64_t addr)
{
	int64_t name = str_id(&w->str, file), bid = str_id(&w->str, build_id);
	uint32_t id = idmap_get(&w->map_ids, pair_key(name, bid), (uint32_t)w->nmap + 1);
	Pprof__Mapping *m = &w->map[id - 1];

	if (id == w->nmap + 1) {
		w->nmap++;
		pprof__mapping__init(m);
		m->id = id;
		m->filename = name;
		m->build_id = bid;
		/* Already symbolized: pprof must not open (or fetch) the binary. */
		m->has_functions = true;
		/* Native frames name the function only, at its start address:
		 * has_filenames and has_line_numbers stay false. */
	}
	if (addr >= m->memory_limit)
		m->memory_limit = addr + 1;
	return id;
}

static uint64_t location_id(struct writer *w, uint32_t frame)
{
	const struct pp_frame *f = profile_frame(w->p, frame);
	Pprof__Location *l;
	Pprof__Line *ln;

	if (w->loc_of[frame])
		return w->loc_of[frame];
	l = &w->loc[w->nloc];
	ln = &w->line[w->nloc];
	pprof__location__init(l);
	pprof__line__init(ln);
	w->line_ptr[w->nloc] = ln;
	l->line = &w->line_ptr[w->nloc];
	l->n_line = 1;
	l->id = w->loc_of[frame] = (uint32_t)++w->nloc;
	ln->function_id = function_id(w, f);
	switch (f->kind) {
	case PP_FRAME_PYTHON:
		ln->line = f->line;
		break;
	case PP_FRAME_NATIVE:
	case PP_FRAME_INTERP:
		l->mapping_id = mapping_id(w, f->file, f->build_id, f->num);
		l->address = f->num;
		break;
	default:
		break;
	}
	return l->id;
}

/* The gzip stream of buf to f; -1 on a write (or zlib) error. */
static int gzip_write(const uint8_t *buf, size_t len, FILE *f)
{
	z_stream z = {0};
	unsigned char out[16384];
	int zrc, rc = 0;

	/* 16 + window bits: a gzip header and trailer, not a raw zlib one. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		errno = ENOMEM;
		return -1;
	}
	z.next_in = (unsigned char *)buf;
	do {
		/* avail_in is 32-bit: feed a large buffer in pieces. */
		if (z.avail_in == 0 && len) {
			z.avail_in = len > (1u << 30) ? (1u << 30) : (uInt)len;
			len -= z.avail_in;
		}
		z.next_out = out;
		z.avail_out = sizeof(out);
		zrc = deflate(&z, len ? Z_NO_FLUSH : Z_FINISH);
		if (zrc == Z_STREAM_ERROR) {
			rc = -1;
			break;
		}
		if (fwrite(out, 1, sizeof(out) - z.avail_out, f) != sizeof(out) - z.avail_out) {
			rc = -1;
			break;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&z);
	return rc;
}

static Pprof__Label *label(Pprof__Label *lb, int64_t key, int64_t str, int64_t num)
{
	pprof__label__init(lb);
	lb->key = key;
	lb->str = str;
	lb->num = num;
	return lb;
}

int pprof_write(const struct pp_profile *p, FILE *f)
{
	const struct pp_profile_info *info = profile_info(p);
	size_t nframes = profile_nframes(p), nstacks = profile_nstacks(p), total_len = 0, off = 0;
	struct writer w = {.p = p};
	Pprof__Profile prof = PPROF__PROFILE__INIT;
	Pprof__ValueType types[2], period_type;
	Pprof__ValueType *type_ptr[2] = {&types[0], &types[1]};
	Pprof__Sample *samples, **sample_ptr;
	Pprof__Label *labels, **label_ptr;
	Pprof__Function **fn_ptr;
	Pprof__Mapping **map_ptr;
	Pprof__Location **loc_ptr;
	uint64_t *loc_ids, period;
	int64_t *values, comment, k_pid, k_process, k_tid, k_thread;
	char *comment_text;
	uint8_t *buf;
	size_t len;
	int rc;

	w.str.index_cap = 256;
	w.str.index = pp_xcalloc(w.str.index_cap, sizeof(*w.str.index));
	str_id(&w.str, ""); /* the format's rule: index 0 is "" */
	w.fn = pp_xcalloc(nframes + 1, sizeof(*w.fn));
	w.map = pp_xcalloc(nframes + 1, sizeof(*w.map));
	w.loc = pp_xcalloc(nframes + 1, sizeof(*w.loc));
	w.line = pp_xcalloc(nframes + 1, sizeof(*w.line));
	w.line_ptr = pp_xcalloc(nframes + 1, sizeof(*w.line_ptr));
	w.loc_of = pp_xcalloc(nframes + 1, sizeof(*w.loc_of));

	for (size_t i = 0; i < nstacks; i++) {
		size_t n;
		uint64_t count;

		profile_stack(p, i, &n, &count);
		total_len += n;
	}
	/* One block each for every sample's location ids, values and labels. */
	samples = pp_xcalloc(nstacks + 1, sizeof(*samples));
	sample_ptr = pp_xcalloc(nstacks + 1, sizeof(*sample_ptr));
	loc_ids = pp_xcalloc(total_len + 1, sizeof(*loc_ids));
	values = pp_xcalloc(nstacks * 2 + 1, sizeof(*values));
	labels = pp_xcalloc(nstacks * MAX_LABELS + 1, sizeof(*labels));
	label_ptr = pp_xcalloc(nstacks * MAX_LABELS + 1, sizeof(*label_ptr));

	pprof__value_type__init(&types[0]);
	types[0].type = str_id(&w.str, "samples");
	types[0].unit = str_id(&w.str, "count");
	pprof__value_type__init(&types[1]);
	types[1].type = str_id(&w.str, "cpu");
	types[1].unit = str_id(&w.str, "nanoseconds");
	period_type = types[1];
	period = info->frequency ? 1000000000ULL / info->frequency : 0;
	k_pid = str_id(&w.str, "pid");
	k_process = str_id(&w.str, "process");
	k_tid = str_id(&w.str, "tid");
	k_thread = str_id(&w.str, "thread");

	/* Readers name a profile after its first mapping ("File:"): make it
	 * the interpreter's, from its root-most frame (main, in the binary). */
	for (size_t i = 0; i < nstacks && !w.nmap; i++) {
		size_t n;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &n, &count);

		for (size_t j = 0; j < n && !w.nmap; j++) {
			const struct pp_frame *pf = profile_frame(p, fr[j]);

			if (pf->kind == PP_FRAME_INTERP)
				mapping_id(&w, pf->file, pf->build_id, pf->num);
		}
	}

	for (size_t i = 0; i < nstacks; i++) {
		Pprof__Sample *s = &samples[i];
		Pprof__Label **lp = &label_ptr[i * MAX_LABELS];
		Pprof__Label *lb = &labels[i * MAX_LABELS];
		size_t n, nl = 0;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &n, &count);

		pprof__sample__init(s);
		s->location_id = &loc_ids[off];
		off += n;
		s->value = &values[i * 2];
		s->n_value = 2;
		s->value[0] = (int64_t)count;
		s->value[1] = (int64_t)(count * period);
		s->label = lp;
		/* pprof wants the leaf first; who ran it is a label, not a frame,
		 * so that samples can be filtered or grouped by thread. */
		for (size_t j = n; j-- > 0;) {
			const struct pp_frame *pf = profile_frame(p, fr[j]);

			if (pf->kind == PP_FRAME_PROCESS && nl + 2 <= MAX_LABELS) {
				lp[nl] = label(&lb[nl], k_pid, 0, (int64_t)pf->num);
				nl++;
				lp[nl] = label(&lb[nl], k_process, str_id(&w.str, pf->name), 0);
				nl++;
			} else if (pf->kind == PP_FRAME_THREAD && nl + 2 <= MAX_LABELS) {
				lp[nl] = label(&lb[nl], k_tid, 0, (int64_t)pf->num);
				nl++;
				lp[nl] = label(&lb[nl], k_thread, str_id(&w.str, pf->name), 0);
				nl++;
			} else if (pf->kind != PP_FRAME_PROCESS && pf->kind != PP_FRAME_THREAD) {
				s->location_id[s->n_location_id++] = location_id(&w, fr[j]);
			}
		}
		s->n_label = nl;
		sample_ptr[i] = s;
	}

	comment_text = info->title ? pp_xasprintf("pybpfprof %s", info->title) : pp_xstrdup("pybpfprof");
	comment = str_id(&w.str, comment_text);

	fn_ptr = pp_xcalloc(w.nfn + 1, sizeof(*fn_ptr));
	for (size_t i = 0; i < w.nfn; i++)
		fn_ptr[i] = &w.fn[i];
	map_ptr = pp_xcalloc(w.nmap + 1, sizeof(*map_ptr));
	for (size_t i = 0; i < w.nmap; i++)
		map_ptr[i] = &w.map[i];
	loc_ptr = pp_xcalloc(w.nloc + 1, sizeof(*loc_ptr));
	for (size_t i = 0; i < w.nloc; i++)
		loc_ptr[i] = &w.loc[i];

	prof.sample_type = type_ptr;
	prof.n_sample_type = 2;
	prof.sample = sample_ptr;
	prof.n_sample = nstacks;
	prof.mapping = map_ptr;
	prof.n_mapping = w.nmap;
	prof.location = loc_ptr;
	prof.n_location = w.nloc;
	prof.function = fn_ptr;
	prof.n_function = w.nfn;
	/* The table is only read by pack; protobuf-c's type is not const. */
	prof.string_table = (char **)w.str.s;
	prof.n_string_table = w.str.n;
	prof.time_nanos = (int64_t)info->start_unix_ns;
	prof.duration_nanos = (int64_t)info->duration_ns;
	prof.period_type = &period_type;
	prof.period = (int64_t)period;
	prof.comment = &comment;
	prof.n_comment = 1;

	len = pprof__profile__get_packed_size(&prof);
	buf = pp_xmalloc(len + 1);
	pprof__profile__pack(&prof, buf);
	rc = gzip_write(buf, len, f);
	if (fflush(f) != 0)
		rc = -1;

	free(buf);
	free(comment_text);
	free(fn_ptr);
	free(map_ptr);
	free(loc_ptr);
	free(samples);
	free(sample_ptr);
	free(loc_ids);
	free(values);
	free(labels);
	free(label_ptr);
	free(w.fn);
	free(w.map);
	free(w.loc);
	free(w.line);
	free(w.line_ptr);
	free(w.loc_of);
	free(w.fn_ids.e);
	free(w.map_ids.e);
	free(w.str.s);
	free(w.str.index);
	return rc;
}
