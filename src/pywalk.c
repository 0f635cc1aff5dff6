// SPDX-License-Identifier: BSD-2-Clause
#include "pywalk.h"
#include "procmem.h"

#include <stdbool.h>
#include <string.h>

static int read_u64(pid_t pid, uint64_t addr, uint64_t *v)
{
	return procmem_read_u64(pid, addr, v);
}

/* Calls fn on every thread state of every interpreter until it returns
 * nonzero; the bounds are the BPF walk's. */
static uint64_t each_interp_tstate(pid_t pid, const struct pp_pyruntime *rt,
				   bool (*fn)(pid_t pid, uint64_t interp, uint64_t ts, void *ctx), void *ctx)
{
	const struct pp_offsets *o = &rt->layout->bpf;
	uint64_t interp;

	if (read_u64(pid, rt->runtime + (uint64_t)o->runtime_interp_head, &interp))
		return 0;
	for (int i = 0; i < PP_MAX_INTERPS && interp; i++) {
		uint64_t ts;

		if (read_u64(pid, interp + (uint64_t)o->interp_tstate_head, &ts))
			return 0;
		for (int j = 0; j < PP_MAX_THREADS && ts; j++) {
			if (fn(pid, interp, ts, ctx))
				return ts;
			if (read_u64(pid, ts + (uint64_t)o->tstate_next, &ts))
				break;
		}
		if (read_u64(pid, interp + (uint64_t)o->interp_next, &interp))
			return 0;
	}
	return 0;
}

struct key_match {
	const struct pp_offsets *o;
	uint64_t key;
};

static bool has_key(pid_t pid, uint64_t interp, uint64_t ts, void *ctx)
{
	const struct key_match *m = ctx;
	uint64_t v;

	(void)interp;
	return read_u64(pid, ts + (uint64_t)m->o->tstate_tid, &v) == 0 && v == m->key;
}

uint64_t pywalk_tstate(pid_t pid, const struct pp_pyruntime *rt, uint64_t key)
{
	struct key_match m = {.o = &rt->layout->bpf, .key = key};

	return each_interp_tstate(pid, rt, has_key, &m);
}

struct walk {
	pid_t pid;
	const struct pp_offsets *o;
	struct pp_pyframe *out;
	uint32_t max, n, act_start, flags;
	uint64_t frame, cframe;
};

static int emit(struct walk *w, uint64_t code, uint64_t instr, uint64_t aux)
{
	if (w->n >= w->max) {
		w->flags |= PP_S_PY_TRUNCATED;
		return -1;
	}
	w->out[w->n++] = (struct pp_pyframe){.code = code, .instr = instr, .aux = aux};
	return 0;
}

static int emit_frame(struct walk *w)
{
	const struct pp_offsets *o = w->o;
	uint64_t code, instr = 0, tag = 0;

	if (read_u64(w->pid, w->frame + (uint64_t)o->frame_code, &code))
		return -1;
	code &= o->code_mask;
	if (o->instr_size == 4) {
		int32_t lasti;

		if (procmem_read(w->pid, w->frame + (uint64_t)o->frame_instr, &lasti, sizeof(lasti)))
			return -1;
		instr = (uint64_t)(int64_t)lasti;
	} else if (read_u64(w->pid, w->frame + (uint64_t)o->frame_instr, &instr)) {
		return -1;
	}
	if (code && o->code_tag >= 0) {
		uint64_t name;

		if (read_u64(w->pid, code + (uint64_t)o->code_tag, &tag) ||
		    read_u64(w->pid, code + (uint64_t)o->code_name, &name))
			return -1;
		tag ^= name;
	}
	return emit(w, code, instr, tag);
}

/* 3.11: see next_activation() in the BPF walk. */
static int next_activation(struct walk *w, uint64_t entry_previous, bool check)
{
	uint64_t next_cf, expect;

	if (read_u64(w->pid, w->cframe + (uint64_t)w->o->cframe_previous, &next_cf) || !next_cf) {
		w->frame = 0;
		return 0;
	}
	if (read_u64(w->pid, next_cf + (uint64_t)w->o->cframe_frame, &expect))
		return -1;
	if (check && entry_previous != expect)
		w->n = w->act_start;
	if (emit(w, PP_PYF_BOUNDARY, 0, w->cframe))
		return -1;
	w->act_start = w->n;
	w->cframe = next_cf;
	w->frame = expect;
	return 0;
}

/* One frame; 0 to go on, 1 when the walk ends. */
static int walk_step(struct walk *w)
{
	const struct pp_offsets *o = w->o;
	uint64_t frame = w->frame, previous = 0;
	uint8_t mark = 0;

	if (!frame) {
		if (o->walk_kind == PP_WALK_IS_ENTRY && w->cframe)
			goto drop_activation;
		return 1;
	}
	if (o->walk_kind == PP_WALK_OWNER) {
		if (procmem_read(w->pid, frame + (uint64_t)o->frame_owner, &mark, 1))
			goto fail;
		if (mark >= o->owner_cstack) {
			if (emit(w, PP_PYF_BOUNDARY, 0, frame))
				return 1;
			goto next;
		}
	}
	if (o->walk_kind == PP_WALK_IS_ENTRY) {
		if (procmem_read(w->pid, frame + (uint64_t)o->frame_is_entry, &mark, 1) ||
		    read_u64(w->pid, frame + (uint64_t)o->frame_previous, &previous) || emit_frame(w)) {
			if (!w->cframe)
				goto fail;
			goto drop_activation;
		}
		if (!mark) {
			w->frame = previous;
			return 0;
		}
		if (next_activation(w, previous, true))
			goto fail;
		return w->frame ? 0 : 1;
	}
	if (emit_frame(w))
		goto fail;
	if (o->walk_kind == PP_WALK_PER_FRAME && emit(w, PP_PYF_BOUNDARY, 0, 0))
		return 1;
next:
	if (read_u64(w->pid, frame + (uint64_t)o->frame_previous, &w->frame))
		goto fail;
	return 0;
drop_activation:
	w->n = w->act_start;
	if (next_activation(w, 0, false))
		goto fail;
	return w->frame ? 0 : 1;
fail:
	if (!(w->flags & PP_S_PY_TRUNCATED))
		w->flags |= PP_S_PY_READ_FAIL;
	return 1;
}

uint32_t pywalk_frames(pid_t pid, const struct pp_offsets *o, uint64_t tstate, struct pp_pyframe *out, uint32_t max,
		       uint32_t *flags)
{
	struct walk w = {.pid = pid, .o = o, .out = out, .max = max};
	uint64_t f;

	if (read_u64(pid, tstate + (uint64_t)o->tstate_frame, &f)) {
		*flags |= PP_S_PY_READ_FAIL;
		return 0;
	}
	if (o->cframe_frame >= 0) {
		w.cframe = f;
		if (f && read_u64(pid, f + (uint64_t)o->cframe_frame, &f)) {
			*flags |= PP_S_PY_READ_FAIL;
			return 0;
		}
	}
	w.frame = f;
	for (uint32_t i = 0; i < PP_MAX_PYENTRIES; i++)
		if (walk_step(&w))
			break;
	if (w.frame && !(w.flags & (PP_S_PY_READ_FAIL | PP_S_PY_TRUNCATED)))
		w.flags |= PP_S_PY_TRUNCATED;
	*flags |= w.flags;
	return w.n;
}

/* The holder of the GIL whose struct is at gil, if it is locked. */
static int gil_struct_holder(pid_t pid, const struct pp_layout *l, uint64_t gil, uint64_t *holder)
{
	int32_t locked;

	if (procmem_read(pid, gil + (uint64_t)l->gil_locked, &locked, sizeof(locked)) ||
	    read_u64(pid, gil + (uint64_t)l->gil_holder, holder))
		return -1;
	if (!locked)
		*holder = 0;
	return 0;
}

int pywalk_gil_holders(pid_t pid, const struct pp_pyruntime *rt, uint64_t *out, size_t max)
{
	const struct pp_layout *l = rt->layout;
	const struct pp_offsets *o = &l->bpf;
	uint64_t interp, holder;
	size_t n = 0;

	switch (l->gil_kind) {
	case PP_GIL_CURRENT:
		if (!rt->tstate_current || read_u64(pid, rt->tstate_current, &holder))
			return -1;
		if (holder && max)
			out[n++] = holder;
		return (int)n;
	case PP_GIL_INTERP_PTR:
	case PP_GIL_INTERP_EMBEDDED:
		if (read_u64(pid, rt->runtime + (uint64_t)o->runtime_interp_head, &interp))
			return -1;
		for (int i = 0; i < PP_MAX_INTERPS && interp && n < max; i++) {
			uint64_t gil = interp + (uint64_t)l->gil_off;

			if (l->gil_kind == PP_GIL_INTERP_PTR && read_u64(pid, gil, &gil))
				return -1;
			if (gil_struct_holder(pid, l, gil, &holder))
				return -1;
			if (holder) {
				bool seen = false;

				/* Interpreters that share one GIL report its holder once. */
				for (size_t j = 0; j < n; j++)
					seen |= out[j] == holder;
				if (!seen)
					out[n++] = holder;
			}
			if (read_u64(pid, interp + (uint64_t)o->interp_next, &interp))
				return -1;
		}
		return (int)n;
	default:
		return -1;
	}
}
