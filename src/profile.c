// SPDX-License-Identifier: BSD-2-Clause
#include "profile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct stack {
	size_t off, n; /* into frames */
	uint64_t hash, count;
};

struct pp_profile {
	/* names: id -> string, and an open-addressed index string -> id+1 */
	char **names;
	size_t nnames, names_cap;
	uint32_t *name_index;
	size_t name_index_cap;
	/* stacks */
	uint32_t *frames;
	size_t nframes, frames_cap;
	struct stack *stacks;
	size_t nstacks, stacks_cap;
	uint32_t *stack_index; /* stack i+1, 0 empty */
	size_t stack_index_cap;
	uint64_t total;
};

struct pp_profile *profile_new(void)
{
	struct pp_profile *p = pp_xcalloc(1, sizeof(*p));

	p->name_index_cap = 1024;
	p->name_index = pp_xcalloc(p->name_index_cap, sizeof(uint32_t));
	p->stack_index_cap = 1024;
	p->stack_index = pp_xcalloc(p->stack_index_cap, sizeof(uint32_t));
	return p;
}

void profile_free(struct pp_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nnames; i++)
		free(p->names[i]);
	free(p->names);
	free(p->name_index);
	free(p->frames);
	free(p->stacks);
	free(p->stack_index);
	free(p);
}

static uint64_t str_hash(const char *s)
{
	return pp_hash_bytes(s, strlen(s), 0);
}

static void name_index_insert(struct pp_profile *p, uint32_t id)
{
	size_t i = str_hash(p->names[id]) & (p->name_index_cap - 1);

	while (p->name_index[i])
		i = (i + 1) & (p->name_index_cap - 1);
	p->name_index[i] = id + 1;
}

uint32_t profile_intern(struct pp_profile *p, const char *name)
{
	size_t i = str_hash(name) & (p->name_index_cap - 1);
	uint32_t id;

	while (p->name_index[i]) {
		if (strcmp(p->names[p->name_index[i] - 1], name) == 0)
			return p->name_index[i] - 1;
		i = (i + 1) & (p->name_index_cap - 1);
	}
	pp_grow((void **)&p->names, &p->names_cap, p->nnames + 1, sizeof(char *));
	id = (uint32_t)p->nnames++;
	p->names[id] = pp_xstrdup(name);
	if (p->nnames * 2 > p->name_index_cap) {
		free(p->name_index);
		p->name_index_cap *= 2;
		p->name_index = pp_xcalloc(p->name_index_cap, sizeof(uint32_t));
		for (uint32_t j = 0; j < p->nnames; j++)
			name_index_insert(p, j);
	} else {
		p->name_index[i] = id + 1;
	}
	return id;
}

const char *profile_name(const struct pp_profile *p, uint32_t id)
{
	return id < p->nnames ? p->names[id] : "[invalid]";
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
