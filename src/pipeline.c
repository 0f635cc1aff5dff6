// SPDX-License-Identifier: BSD-2-Clause
#include "pipeline.h"
#include "merge.h"
#include "pycode.h"
#include "record.h"
#include "symbolize.h"
#include "unwind.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pyname_entry {
	uint64_t code, instr, tag;
	uint32_t id;
	bool used;
};

struct thread_entry {
	uint32_t tid;
	uint32_t id;
};

/* Which thread a PyThreadState was last sampled on (the GIL holder is
 * known by its tstate). */
struct tstate_thread {
	uint64_t tstate;
	uint32_t tid;
};

struct pp_procstate {
	struct pp_target t;
	struct pp_pyruntime rt;
	struct pp_unwinder *unw;
	struct pp_symbolizer *sym;
	struct pp_pycode_cache *codes;
	uint32_t proc_frame;
	/* (code, instr) -> frame name id */
	struct pyname_entry *pynames;
	size_t pynames_cap, pynames_len;
	struct thread_entry *threads;
	size_t nthreads, threads_cap;
	struct tstate_thread *tstates;
	size_t ntstates, tstates_cap;
	uint64_t maps_hash; /* of its file mappings when last read */
	uint64_t samples, samples_at_check; /* taken; taken at the last maps check */
	uint64_t map_gen; /* the records' map_gen when last seen */
};

struct pp_pipeline {
	struct pp_pipeline_opts opts;
	struct pp_profile *profile;
	struct pp_ksyms *ksyms;
	struct pp_procstate **procs;
	size_t nprocs, procs_cap;
	struct pp_stats stats;
	uint32_t m_native_truncated, m_truncated, m_unknown;
	/* per-sample scratch */
	struct pp_native_frame natives[PP_MAX_NATIVE];
	struct pp_merge_native mnative[PP_MAX_NATIVE];
	struct pp_merge_py mpy[PP_MAX_PYENTRIES];
	uint32_t kernel[PP_MAX_KSTACK];
	uint32_t out[PP_MAX_KSTACK + PP_MAX_NATIVE + PP_MAX_PYENTRIES + 8];
};

static uint64_t maps_hash(pid_t pid);

static void intern_markers(struct pp_pipeline *pl)
{
	pl->m_native_truncated = profile_intern(pl->profile, "[native stack truncated]");
	pl->m_truncated = profile_intern(pl->profile, "[truncated]");
	pl->m_unknown = profile_intern(pl->profile, "[unknown]");
}

struct pp_pipeline *pipeline_new(const struct pp_pipeline_opts *opts)
{
	struct pp_pipeline *pl = pp_xcalloc(1, sizeof(*pl));

	pl->opts = *opts;
	pl->profile = profile_new();
	pl->ksyms = ksyms_load();
	intern_markers(pl);
	return pl;
}

static void procstate_free(struct pp_procstate *ps)
{
	unwinder_free(ps->unw);
	symbolizer_free(ps->sym);
	pycode_cache_free(ps->codes);
	target_close(&ps->t);
	pyruntime_free(&ps->rt);
	free(ps->pynames);
	free(ps->threads);
	free(ps->tstates);
	free(ps);
}

void pipeline_free(struct pp_pipeline *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->nprocs; i++)
		procstate_free(pl->procs[i]);
	free(pl->procs);
	profile_free(pl->profile);
	ksyms_free(pl->ksyms);
	free(pl);
}

static uint32_t process_frame(struct pp_pipeline *pl, struct pp_procstate *ps)
{
	return profile_intern_frame(
		pl->profile,
		&(struct pp_frame){.kind = PP_FRAME_PROCESS, .name = ps->t.comm, .num = (uint64_t)ps->t.pid});
}

int pipeline_add_process(struct pp_pipeline *pl, struct pp_target *t, struct pp_pyruntime *rt)
{
	struct pp_procstate *ps = pp_xcalloc(1, sizeof(*ps));

	ps->t = *t;
	pyruntime_move(&ps->rt, rt);
	memset(t, 0, sizeof(*t));
	ps->unw = unwinder_new(ps->t.pid);
	if (!ps->unw) {
		procstate_free(ps);
		return -1;
	}
	ps->sym = symbolizer_new(ps->rt.path,
				 ps->rt.layout->eval_func ? ps->rt.layout->eval_func : "_PyEval_EvalFrameDefault");
	ps->codes = pycode_cache_new(ps->t.pid, ps->rt.layout, ps->rt.code_type);
	ps->maps_hash = maps_hash(ps->t.pid); /* what the unwinder just loaded */
	ps->pynames_cap = 1024;
	ps->pynames = pp_xcalloc(ps->pynames_cap, sizeof(*ps->pynames));
	ps->proc_frame = profile_intern_frame(
		pl->profile,
		&(struct pp_frame){.kind = PP_FRAME_PROCESS, .name = ps->t.comm, .num = (uint64_t)ps->t.pid});
	pp_grow((void **)&pl->procs, &pl->procs_cap, pl->nprocs + 1, sizeof(*pl->procs));
	pl->procs[pl->nprocs++] = ps;
	return 0;
}

static struct pp_procstate *find_proc(struct pp_pipeline *pl, uint32_t pid)
{
	for (size_t i = 0; i < pl->nprocs; i++)
		if ((uint32_t)pl->procs[i]->t.pid == pid)
			return pl->procs[i];
	return NULL;
}

static uint32_t thread_frame(struct pp_pipeline *pl, struct pp_procstate *ps, uint32_t tid)
{
	char comm[64];
	uint32_t id;

	for (size_t i = 0; i < ps->nthreads; i++)
		if (ps->threads[i].tid == tid)
			return ps->threads[i].id;
	target_thread_name(ps->t.pid, (pid_t)tid, comm, sizeof(comm));
	id = profile_intern_frame(pl->profile, &(struct pp_frame){.kind = PP_FRAME_THREAD, .name = comm, .num = tid});
	pp_grow((void **)&ps->threads, &ps->threads_cap, ps->nthreads + 1, sizeof(*ps->threads));
	ps->threads[ps->nthreads++] = (struct thread_entry){.tid = tid, .id = id};
	return id;
}

/* The frame name of a Python frame, cached on (code, instr, tag). */
static uint32_t py_frame(struct pp_pipeline *pl, struct pp_procstate *ps, const struct pp_pyframe *f, bool *bad)
{
	uint64_t h = pp_hash_u64(f->code ^ pp_hash_u64(f->instr ^ f->aux));
	size_t i = h & (ps->pynames_cap - 1);
	const struct pp_pycode *code;
	uint32_t id;
	int line;

	while (ps->pynames[i].used) {
		struct pyname_entry *e = &ps->pynames[i];

		if (e->code == f->code && e->instr == f->instr && e->tag == f->aux)
			return e->id;
		i = (i + 1) & (ps->pynames_cap - 1);
	}
	code = pycode_get(ps->codes, f->code, f->aux);
	if (!code) {
		*bad = true;
		return pl->m_unknown; /* not cached: the object may be readable later */
	}
	line = pycode_line(ps->codes, code, f->instr);
	if (line == PP_LINE_NOT_THIS_CODE) {
		*bad = true;
		return pl->m_unknown; /* never another function's name */
	}
	id = profile_intern_frame(pl->profile, &(struct pp_frame){.kind = PP_FRAME_PYTHON,
								  .name = code->name,
								  .file = code->filename,
								  .line = line > 0 ? line : 0});
	if ((ps->pynames_len + 1) * 2 > ps->pynames_cap) {
		struct pyname_entry *old = ps->pynames;
		size_t oldcap = ps->pynames_cap;

		ps->pynames_cap *= 2;
		ps->pynames = pp_xcalloc(ps->pynames_cap, sizeof(*ps->pynames));
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].used)
				continue;
			uint64_t hj = pp_hash_u64(old[j].code ^ pp_hash_u64(old[j].instr ^ old[j].tag));
			size_t k = hj & (ps->pynames_cap - 1);
			while (ps->pynames[k].used)
				k = (k + 1) & (ps->pynames_cap - 1);
			ps->pynames[k] = old[j];
		}
		free(old);
		i = h & (ps->pynames_cap - 1);
		while (ps->pynames[i].used)
			i = (i + 1) & (ps->pynames_cap - 1);
	}
	ps->pynames[i] =
		(struct pyname_entry){.code = f->code, .instr = f->instr, .tag = f->aux, .id = id, .used = true};
	ps->pynames_len++;
	return id;
}

static void note_tstate(struct pp_procstate *ps, uint64_t tstate, uint32_t tid)
{
	for (size_t i = 0; i < ps->ntstates; i++)
		if (ps->tstates[i].tstate == tstate) {
			ps->tstates[i].tid = tid;
			return;
		}
	if (ps->ntstates >= PP_MAX_THREADS)
		return;
	pp_grow((void **)&ps->tstates, &ps->tstates_cap, ps->ntstates + 1, sizeof(*ps->tstates));
	ps->tstates[ps->ntstates++] = (struct tstate_thread){.tstate = tstate, .tid = tid};
}

static void reload_mappings(struct pp_procstate *ps)
{
	unwinder_refresh(ps->unw, true);
	symbolizer_forget_addresses(ps->sym);
	pp_debug("process %d: its file mappings changed; symbols reloaded", (int)ps->t.pid);
}

static uint32_t native_frame(struct pp_pipeline *pl, const struct pp_symbol *sym)
{
	if (!sym->module)
		return pl->m_unknown;
	return profile_intern_frame(
		pl->profile,
		&(struct pp_frame){.kind = (sym->flags & PP_SYM_INTERP) ? PP_FRAME_INTERP : PP_FRAME_NATIVE,
				   .name = sym->name,
				   .file = sym->module,
				   .num = sym->addr,
				   .build_id = sym->build_id});
}

void pipeline_sample(struct pp_pipeline *pl, const void *data, size_t size)
{
	struct pp_merge_in in = {0};
	struct pp_procstate *ps;
	struct pp_record r;
	size_t nnative = 0, n, base = 0;
	enum pp_unwind_end end = PP_UNWIND_TRUNCATED;
	bool bad_code = false;
	Dwfl *dwfl;

	if (record_parse(data, size, &r)) {
		pl->stats.bad_records++;
		return;
	}
	ps = find_proc(pl, r.s->pid);
	if (!ps) {
		pl->stats.unknown_pid++;
		return;
	}
	pl->stats.samples++;
	ps->samples++;
	if (r.s->map_gen != ps->map_gen) {
		/* A file was unmapped since (dlclose): what its addresses meant
		 * may have changed before this sample. */
		ps->map_gen = r.s->map_gen;
		reload_mappings(ps);
	}
	if (r.s->tstate)
		note_tstate(ps, r.s->tstate, r.s->tid);
	pl->stats.stack_bytes += r.s->stack_len;
	if (r.s->stack_len > pl->stats.stack_max)
		pl->stats.stack_max = r.s->stack_len;
	dwfl = unwinder_dwfl(ps->unw);

	if (!(r.s->flags & PP_S_NO_USER_REGS)) {
		end = unwind_sample(ps->unw, r.s, r.stack, pl->natives, PP_MAX_NATIVE, &nnative);
		/* A PC in no module means new mappings (dlopen): look again. */
		if (end == PP_UNWIND_TRUNCATED && nnative && !dwfl_addrmodule(dwfl, pl->natives[nnative - 1].pc) &&
		    unwinder_refresh(ps->unw, false))
			end = unwind_sample(ps->unw, r.s, r.stack, pl->natives, PP_MAX_NATIVE, &nnative);
	}
	for (size_t i = 0; i < nnative; i++) {
		struct pp_symbol sym = symbolize_native(ps->sym, dwfl, pl->natives[i].pc, pl->natives[i].activation);

		pl->mnative[i] = (struct pp_merge_native){
			.sp = pl->natives[i].sp, .frame = native_frame(pl, &sym), .flags = sym.flags};
	}
	for (size_t i = 0; i < r.s->kstack_len; i++)
		pl->kernel[i] = profile_intern_frame(
			pl->profile,
			&(struct pp_frame){.kind = PP_FRAME_KERNEL, .name = ksym_name(pl->ksyms, r.s->kstack[i])});
	for (size_t i = 0; i < r.s->py_len; i++) {
		const struct pp_pyframe *f = &r.py[i];

		if (f->code == PP_PYF_BOUNDARY)
			pl->mpy[i] = (struct pp_merge_py){.boundary = true, .addr = f->aux};
		else
			pl->mpy[i] = (struct pp_merge_py){.frame = py_frame(pl, ps, f, &bad_code)};
	}

	in.kernel = pl->kernel;
	in.nkernel = r.s->kstack_len;
	in.native = pl->mnative;
	in.nnative = nnative;
	in.native_complete = end == PP_UNWIND_COMPLETE;
	in.py = pl->mpy;
	in.npy = r.s->py_len;
	in.py_truncated = r.s->flags & PP_S_PY_TRUNCATED;
	in.py_failed = r.s->flags & PP_S_PY_READ_FAIL;
	in.show_interp = pl->opts.show_interp;
	in.m_native_truncated = pl->m_native_truncated;
	in.m_truncated = pl->m_truncated;
	in.m_unknown = pl->m_unknown;

	pl->out[base++] = ps->proc_frame;
	pl->out[base++] = thread_frame(pl, ps, r.s->tid);
	n = merge_stack(&in, pl->out + base, PP_ARRAY_LEN(pl->out) - base);
	profile_add(pl->profile, pl->out, base + n, 1);

	if (!in.native_complete)
		pl->stats.native_truncated++;
	if (in.py_failed || bad_code)
		pl->stats.py_failed++;
	if (in.py_truncated)
		pl->stats.py_truncated++;
	if (r.s->flags & PP_S_NO_TSTATE)
		pl->stats.no_tstate++;
	if ((r.s->flags & PP_S_STACK_LIMIT) && !in.native_complete)
		pl->stats.stack_limited++;
	if (r.s->flags & PP_S_STACK_FAULT)
		pl->stats.stack_faulted++;
}

struct pp_profile *pipeline_profile(struct pp_pipeline *pl)
{
	return pl->profile;
}

const struct pp_stats *pipeline_stats(const struct pp_pipeline *pl)
{
	return &pl->stats;
}

const struct pp_target *pipeline_target(struct pp_pipeline *pl, pid_t pid)
{
	struct pp_procstate *ps = find_proc(pl, (uint32_t)pid);

	return ps ? &ps->t : NULL;
}

const struct pp_pyruntime *pipeline_runtime(struct pp_pipeline *pl, pid_t pid)
{
	struct pp_procstate *ps = find_proc(pl, (uint32_t)pid);

	return ps ? &ps->rt : NULL;
}

pid_t pipeline_thread_of(struct pp_pipeline *pl, pid_t pid, uint64_t tstate)
{
	struct pp_procstate *ps = find_proc(pl, (uint32_t)pid);

	if (ps)
		for (size_t i = 0; i < ps->ntstates; i++)
			if (ps->tstates[i].tstate == tstate)
				return (pid_t)ps->tstates[i].tid;
	return 0;
}

void pipeline_remove_process(struct pp_pipeline *pl, pid_t pid)
{
	for (size_t i = 0; i < pl->nprocs; i++)
		if (pl->procs[i]->t.pid == pid) {
			procstate_free(pl->procs[i]);
			pl->procs[i] = pl->procs[--pl->nprocs];
			return;
		}
}

bool pipeline_follows(const struct pp_pipeline *pl, pid_t pid)
{
	for (size_t i = 0; i < pl->nprocs; i++)
		if (pl->procs[i]->t.pid == pid)
			return true;
	return false;
}

struct pp_profile *pipeline_take_profile(struct pp_pipeline *pl)
{
	struct pp_profile *p = pl->profile;

	pl->profile = profile_new();
	intern_markers(pl);
	/* Every cached frame id belonged to the old profile. */
	for (size_t i = 0; i < pl->nprocs; i++) {
		struct pp_procstate *ps = pl->procs[i];

		ps->proc_frame = process_frame(pl, ps);
		memset(ps->pynames, 0, ps->pynames_cap * sizeof(*ps->pynames));
		ps->pynames_len = 0;
		ps->nthreads = 0;
	}
	return p;
}

/* A hash of the process's file mappings (anonymous ones come and go with
 * every large allocation), 0 if they cannot be read. */
static uint64_t maps_hash(pid_t pid)
{
	char path[64], *text, *line, *save = NULL;
	uint64_t h = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	text = pp_read_file(path, 64 << 20, NULL);
	if (!text)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strchr(line, '/'))
			h = pp_hash_bytes(line, strlen(line), h);
	free(text);
	return h ? h : 1;
}

void pipeline_check_maps(struct pp_pipeline *pl)
{
	for (size_t i = 0; i < pl->nprocs; i++) {
		struct pp_procstate *ps = pl->procs[i];
		uint64_t h;

		/* Stale symbols matter only to samples: a process that was not
		 * on a CPU since the last look is looked at once it is. */
		if (ps->samples == ps->samples_at_check)
			continue;
		ps->samples_at_check = ps->samples;
		h = maps_hash(ps->t.pid);
		if (!h || h == ps->maps_hash)
			continue;
		if (ps->maps_hash)
			reload_mappings(ps); /* cached symbols may name what was unmapped */
		ps->maps_hash = h;
	}
}
