// SPDX-License-Identifier: BSD-2-Clause
#include "profile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct stack {
	size_t off, n; /* into frames */
	uint64_t hash, count;
};

struct frame_entry {
	struct pp_frame f; /* strings owned */
	char *label; /* profile_name() */
	uint64_t hash;
};

struct pp_profile {
	/* frames: id -> entry, and an open-addressed index hash -> id+1 */
	struct frame_entry *fr;
	size_t nfr, fr_cap;
	uint32_t *fr_index;
	size_t fr_index_cap;
	/* stacks */
	uint32_t *frames;
	size_t nframes, frames_cap;
	struct stack *stacks;
	size_t nstacks, stacks_cap;
	uint32_t *stack_index; /* stack i+1, 0 empty */
	size_t stack_index_cap;
	uint64_t total;
	struct pp_profile_info info;
};

struct pp_profile *profile_new(void)
{
	struct pp_profile *p = pp_xcalloc(1, sizeof(*p));

	p->fr_index_cap = 1024;
	p->fr_index = pp_xcalloc(p->fr_index_cap, sizeof(uint32_t));
	p->stack_index_cap = 1024;
	p->stack_index = pp_xcalloc(p->stack_index_cap, sizeof(uint32_t));
	return p;
}

void profile_free(struct pp_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nfr; i++) {
		free((char *)p->fr[i].f.name);
		free((char *)p->fr[i].f.file);
		free((char *)p->fr[i].f.build_id);
		free(p->fr[i].label);
	}
	free(p->fr);
	free(p->fr_index);
	free(p->frames);
	free(p->stacks);
	free(p->stack_index);
	free((char *)p->info.title);
	free(p);
}

static uint64_t str_hash(const char *s, uint64_t seed)
{
	return s ? pp_hash_bytes(s, strlen(s), seed) : pp_hash_u64(seed ^ 0x5bd1e995);
}

static uint64_t frame_hash(const struct pp_frame *f)
{
	uint64_t h = pp_hash_u64(f->kind ^ ((uint64_t)(uint32_t)f->line << 8));

	h = str_hash(f->name, h);
	h = str_hash(f->file, h);
	h = str_hash(f->build_id, h);
	return pp_hash_u64(h ^ f->num);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool frame_eq(const struct pp_frame *a, const struct pp_frame *b)
{
	return a->kind == b->kind && a->line == b->line && a->num == b->num && str_eq(a->name, b->name) &&
	       str_eq(a->file, b->file) && str_eq(a->build_id, b->build_id);
}

static char *frame_label(const struct pp_frame *f)
{
	switch (f->kind) {
	case PP_FRAME_PROCESS:
		return pp_xasprintf("%s (%llu)", f->name, (unsigned long long)f->num);
	case PP_FRAME_THREAD:
		return pp_xasprintf("thread %s (%llu)", f->name, (unsigned long long)f->num);
	case PP_FRAME_PYTHON:
		if (f->line > 0)
			return pp_xasprintf("%s (%s:%d)", f->name, f->file ? f->file : "?", f->line);
		return pp_xasprintf("%s (%s)", f->name, f->file ? f->file : "?");
	case PP_FRAME_KERNEL:
		return pp_xasprintf("%s_[k]", f->name);
	default:
		return pp_xstrdup(f->name);
	}
}

static void fr_index_insert(struct pp_profile *p, uint32_t id)
{
	size_t i = p->fr[id].hash & (p->fr_index_cap - 1);

	while (p->fr_index[i])
		i = (i + 1) & (p->fr_index_cap - 1);
	p->fr_index[i] = id + 1;
}

uint32_t profile_intern_frame(struct pp_profile *p, const struct pp_frame *f)
{
	uint64_t h = frame_hash(f);
	size_t i = h & (p->fr_index_cap - 1);
	struct frame_entry *e;
	uint32_t id;

	while (p->fr_index[i]) {
		e = &p->fr[p->fr_index[i] - 1];
		if (e->hash == h && frame_eq(&e->f, f))
			return p->fr_index[i] - 1;
		i = (i + 1) & (p->fr_index_cap - 1);
	}
	pp_grow((void **)&p->fr, &p->fr_cap, p->nfr + 1, sizeof(*p->fr));
	id = (uint32_t)p->nfr++;
	e = &p->fr[id];
	e->f = *f;
	e->f.name = pp_xstrdup(f->name ? f->name : "[unknown]");
	e->f.file = f->file ? pp_xstrdup(f->file) : NULL;
	e->f.build_id = f->build_id ? pp_xstrdup(f->build_id) : NULL;
	e->label = frame_label(&e->f);
	e->hash = h;
	if (p->nfr * 2 > p->fr_index_cap) {
		free(p->fr_index);
		p->fr_index_cap *= 2;
		p->fr_index = pp_xcalloc(p->fr_index_cap, sizeof(uint32_t));
		for (uint32_t j = 0; j < p->nfr; j++)
			fr_index_insert(p, j);
	} else {
		p->fr_index[i] = id + 1;
	}
	return id;
}

uint32_t profile_intern(struct pp_profile *p, const char *name)
{
	return profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_MARKER, .name = name});
}

const struct pp_frame *profile_frame(const struct pp_profile *p, uint32_t id)
{
	static const struct pp_frame invalid = {.kind = PP_FRAME_MARKER, .name = "[invalid]"};

	return id < p->nfr ? &p->fr[id].f : &invalid;
}

const char *profile_name(const struct pp_profile *p, uint32_t id)
{
	return id < p->nfr ? p->fr[id].label : "[invalid]";
}

size_t profile_nframes(const struct pp_profile *p)
{
	return p->nfr;
}

static void stack_index_insert(struct pp_profile *p, uint32_t si)
{
	size_t i = p->stacks[si].hash & (p->stack_index_cap - 1);

	while (p->stack_index[i])
		i = (i + 1) & (p->stack_index_cap - 1);
	p->stack_index[i] = si + 1;
}

void profile_add(struct pp_profile *p, const uint32_t *frames, size_t n, uint64_t count)
{
	uint64_t h = pp_hash_bytes(frames, n * sizeof(*frames), n);
	size_t i = h & (p->stack_index_cap - 1);
	struct stack *st;

	p->total += count;
	while (p->stack_index[i]) {
		st = &p->stacks[p->stack_index[i] - 1];
		if (st->hash == h && st->n == n && memcmp(p->frames + st->off, frames, n * sizeof(*frames)) == 0) {
			st->count += count;
			return;
		}
		i = (i + 1) & (p->stack_index_cap - 1);
	}
	pp_grow((void **)&p->frames, &p->frames_cap, p->nframes + n, sizeof(uint32_t));
	memcpy(p->frames + p->nframes, frames, n * sizeof(*frames));
	pp_grow((void **)&p->stacks, &p->stacks_cap, p->nstacks + 1, sizeof(struct stack));
	st = &p->stacks[p->nstacks];
	st->off = p->nframes;
	st->n = n;
	st->hash = h;
	st->count = count;
	p->nframes += n;
	p->nstacks++;
	if (p->nstacks * 2 > p->stack_index_cap) {
		free(p->stack_index);
		p->stack_index_cap *= 2;
		p->stack_index = pp_xcalloc(p->stack_index_cap, sizeof(uint32_t));
		for (uint32_t j = 0; j < p->nstacks; j++)
			stack_index_insert(p, j);
	} else {
		p->stack_index[i] = (uint32_t)p->nstacks;
	}
}

size_t profile_nstacks(const struct pp_profile *p)
{
	return p->nstacks;
}

const uint32_t *profile_stack(const struct pp_profile *p, size_t i, size_t *n, uint64_t *count)
{
	*n = p->stacks[i].n;
	*count = p->stacks[i].count;
	return p->frames + p->stacks[i].off;
}

uint64_t profile_total(const struct pp_profile *p)
{
	return p->total;
}

void profile_set_info(struct pp_profile *p, const struct pp_profile_info *info)
{
	free((char *)p->info.title);
	p->info = *info;
	p->info.title = info->title ? pp_xstrdup(info->title) : NULL;
}

const struct pp_profile_info *profile_info(const struct pp_profile *p)
{
	return &p->info;
}

static bool view_keeps(const struct pp_view *v, uint8_t kind)
{
	switch (kind) {
	case PP_FRAME_THREAD:
		return v->threads;
	case PP_FRAME_NATIVE:
	case PP_FRAME_INTERP:
		return v->native;
	case PP_FRAME_KERNEL:
		return v->kernel;
	default:
		return true;
	}
}

struct pp_profile *profile_view(const struct pp_profile *p, const struct pp_view *v)
{
	struct pp_profile *q = profile_new();
	uint32_t *map = pp_xmalloc((p->nfr ? p->nfr : 1) * sizeof(uint32_t)), *buf = NULL;
	size_t buf_cap = 0;

	profile_set_info(q, &p->info);
	/* Old frame id -> new id, UINT32_MAX for frames left out. */
	for (size_t i = 0; i < p->nfr; i++) {
		struct pp_frame f = p->fr[i].f;

		if (!view_keeps(v, f.kind)) {
			map[i] = UINT32_MAX;
			continue;
		}
		if (!v->lines && f.kind == PP_FRAME_PYTHON)
			f.line = 0;
		map[i] = profile_intern_frame(q, &f);
	}
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct stack *st = &p->stacks[i];
		size_t n = 0;

		pp_grow((void **)&buf, &buf_cap, st->n ? st->n : 1, sizeof(uint32_t));
		for (size_t j = 0; j < st->n; j++) {
			uint32_t id = map[p->frames[st->off + j]];

			if (id != UINT32_MAX)
				buf[n++] = id;
		}
		if (n)
			profile_add(q, buf, n, st->count);
	}
	free(buf);
	free(map);
	return q;
}
