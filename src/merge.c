// SPDX-License-Identifier: BSD-2-Clause
#include "merge.h"
#include "symbolize.h"
#include "util.h"

#include <stdlib.h>

struct activation {
	size_t first, n; /* Python frames py[first..first+n), innermost first */
	uint64_t addr;
	long native; /* matched native frame, -1 if none */
};

struct emitter {
	uint32_t *buf; /* leaf first */
	size_t n, max;
};

static void put(struct emitter *e, uint32_t id)
{
	if (e->n < e->max)
		e->buf[e->n++] = id;
}

static size_t split_activations(const struct pp_merge_in *in, struct activation *acts)
{
	size_t na = 0, start = 0, nframes = 0;

	for (size_t j = 0; j < in->npy; j++) {
		if (!in->py[j].boundary) {
			if (!nframes)
				start = j;
			nframes++;
			continue;
		}
		acts[na++] = (struct activation){.first = start, .n = nframes, .addr = in->py[j].addr, .native = -1};
		nframes = 0;
	}
	if (nframes)
		acts[na++] = (struct activation){.first = start, .n = nframes, .native = -1};
	return na;
}

/* The native frame whose stack area [sp, caller's sp) holds addr. */
static long frame_holding(const struct pp_merge_in *in, size_t from, uint64_t addr)
{
	for (size_t i = from; i < in->nnative; i++) {
		uint64_t lo = in->native[i].sp, hi;

		if (!lo || addr < lo)
			continue;
		if (i + 1 < in->nnative) {
			hi = in->native[i + 1].sp;
			if (hi && addr < hi)
				return (long)i;
		} else if (in->native[i].flags & PP_SYM_EVAL) {
			return (long)i; /* the outermost frame we have: trust its symbol */
		}
	}
	return -1;
}

static long next_eval(const struct pp_merge_in *in, size_t from)
{
	for (size_t i = from; i < in->nnative; i++)
		if (in->native[i].flags & PP_SYM_EVAL)
			return (long)i;
	return -1;
}

/*
 * Counting (no markers): an eval activation links its frame into the thread
 * state only after its prologue and unlinks it before its epilogue, so a
 * sample there has one eval frame more than the Python list, at the leaf.
 * When both lists are whole, count from the root so that the spare eval
 * frame is the leaf one; otherwise the leaf is the only anchor we have.
 */
static size_t spare_leaf_evals(const struct pp_merge_in *in, const struct activation *acts, size_t na)
{
	size_t nevals = 0;

	if (!in->native_complete || in->py_truncated || in->py_failed)
		return 0;
	for (size_t k = 0; k < na; k++)
		if (acts[k].addr)
			return 0;
	for (size_t i = 0; i < in->nnative; i++)
		nevals += (in->native[i].flags & PP_SYM_EVAL) != 0;
	return nevals > na ? nevals - na : 0;
}

static void match(const struct pp_merge_in *in, struct activation *acts, size_t na)
{
	size_t from = 0;

	for (size_t spare = spare_leaf_evals(in, acts, na); spare; spare--)
		from = (size_t)next_eval(in, from) + 1;

	for (size_t k = 0; k < na; k++) {
		long i = acts[k].addr ? frame_holding(in, from, acts[k].addr) : next_eval(in, from);

		if (i < 0)
			return; /* this and every outer activation lie beyond the native stack */
		acts[k].native = i;
		from = (size_t)i + 1;
	}
}

static void put_activation(struct emitter *e, const struct pp_merge_in *in, const struct activation *a, bool outermost)
{
	for (size_t j = 0; j < a->n; j++)
		put(e, in->py[a->first + j].frame);
	if (outermost && in->py_truncated)
		put(e, in->m_truncated);
	else if (outermost && in->py_failed)
		put(e, in->m_unknown);
}

size_t merge_stack(const struct pp_merge_in *in, uint32_t *out, size_t max)
{
	struct activation *acts = pp_xcalloc(in->npy + 1, sizeof(*acts));
	struct emitter e = {.buf = pp_xcalloc(max + 1, sizeof(uint32_t)), .max = max};
	size_t na = split_activations(in, acts), k = 0;
	bool unmatched;

	match(in, acts, na);
	for (size_t i = 0; i < in->nkernel; i++)
		put(&e, in->kernel[i]);
	for (size_t i = 0; i < in->nnative; i++) {
		const struct pp_merge_native *f = &in->native[i];

		if (k < na && acts[k].native == (long)i) {
			put_activation(&e, in, &acts[k], k + 1 == na);
			k++;
			continue;
		}
		if (f->flags & PP_SYM_EVAL)
			continue; /* an activation with no Python frame (yet) */
		if ((f->flags & PP_SYM_HIDE) && !in->show_interp)
			continue;
		put(&e, f->frame);
	}
	unmatched = k < na;
	for (; k < na; k++)
		put_activation(&e, in, &acts[k], k + 1 == na);
	if (!na && (in->py_truncated || in->py_failed))
		put(&e, in->py_truncated ? in->m_truncated : in->m_unknown);
	if (!in->native_complete || unmatched)
		put(&e, in->m_native_truncated);
	if (!e.n)
		put(&e, in->m_unknown);
	for (size_t i = 0; i < e.n; i++)
		out[i] = e.buf[e.n - 1 - i];
	free(e.buf);
	free(acts);
	return e.n;
}
