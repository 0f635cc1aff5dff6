// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The sampler: runs on every CPU-clock tick of every CPU, keeps only the
 * followed processes, and sends one record per sample to userspace with
 * the kernel stack, the user registers, a copy of the user stack and the
 * sampled thread's own Python frame list. Everything is bounded; a failed
 * read ends that part of the sample and sets a flag, it never guesses.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pybpfprof.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Bytes of user stack to copy at most; set by the loader, <= PP_STACK_MAX. */
const volatile __u32 stack_limit = 64 * 1024;
/*
 * Wake the reader only once this many bytes wait in the ring buffer; it
 * drains the ring on a timer otherwise. A wakeup per sample would cost the
 * sampled CPU an irq_work and an IPI to the reader's CPU (VM exits on a
 * guest) at every tick. 0: wake on every record.
 */
const volatile __u64 wakeup_bytes = 0;

/* Bytes of a frame or code object read at once (layouts are checked to fit). */
#define PP_WIN PP_FIELD_WINDOW

struct pp_scratch {
	struct pp_sample s;
	struct pp_pyframe py[PP_MAX_PYENTRIES];
	__u8 stack[PP_STACK_MAX];
	/* + 8: room for the verifier's view of a masked offset plus a word */
	__u8 fwin[PP_WIN + 8]; /* the current frame's fields, from off.frame_win on */
	__u8 cwin[PP_WIN + 8]; /* its code object's tag and name words, from off.code_win on */
};

/* One scratch record per CPU. A plain array indexed by CPU, because per-CPU
 * array values are capped at 32 KB. max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PP_MAX_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct pp_proc);
} procs SEC(".maps");

struct tstate_entry {
	__u64 tstate; /* 0: the thread had none when last looked up */
	__u64 time_ns;
};

/* tid -> tstate, so that most samples skip the thread-list walk. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct tstate_entry);
} tstates SEC(".maps");

/* A thread's stack mapping, as bpf_find_vma last saw it. */
struct stack_range {
	__u64 lo, hi; /* [vm_start, vm_end) */
	__u64 start_time; /* task->start_time: a reused tid is another thread */
};

/*
 * tid -> stack mapping. bpf_find_vma in the perf interrupt takes the mmap
 * lock and must defer its release to an irq_work: per sample that was most
 * of the sampler's cost. A stack mapping keeps its end for the thread's
 * life (the main stack grows down: an SP below lo looks it up again).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stack_range);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* resized by the loader */
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* A thread without a tstate is looked up again after this long: a new
 * Python thread gets its native id only once it runs. */
#define PP_NEG_CACHE_NS (50ULL * 1000 * 1000)

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

static __always_inline int read_u64(__u64 *dst, __u64 addr)
{
	return bpf_probe_read_user(dst, sizeof(*dst), (const void *)addr);
}

/* ---- finding the sampled thread's PyThreadState ---- */

struct tlist_ctx {
	__u64 ts;
	__u64 want; /* tid in the target's pid namespace, or fs base */
	__u64 found;
	__s16 next_off;
	__s16 tid_off;
};

static long tlist_step(__u32 i, struct tlist_ctx *c)
{
	__u64 v = 0;

	if (!c->ts)
		return 1;
	if (read_u64(&v, c->ts + c->tid_off))
		return 1;
	if (v == c->want) {
		c->found = c->ts;
		return 1;
	}
	if (read_u64(&c->ts, c->ts + c->next_off))
		return 1;
	return 0;
}

struct interp_ctx {
	__u64 interp;
	__s16 head_off, interp_next_off;
	struct tlist_ctx t;
};

static long interp_step(__u32 i, struct interp_ctx *c)
{
	if (!c->interp || read_u64(&c->t.ts, c->interp + c->head_off))
		return 1;
	bpf_loop(PP_MAX_THREADS, tlist_step, &c->t, 0);
	if (c->t.found)
		return 1;
	if (read_u64(&c->interp, c->interp + c->interp_next_off))
		return 1;
	return 0;
}

static __always_inline __u64 tstate_find(const struct pp_proc *p, __u64 want)
{
	const struct pp_offsets *o = &p->off;
	struct interp_ctx c = {
		.head_off = o->interp_tstate_head,
		.interp_next_off = o->interp_next,
		.t = {.want = want, .next_off = o->tstate_next, .tid_off = o->tstate_tid},
	};

	if (read_u64(&c.interp, p->runtime + o->runtime_interp_head))
		return 0;
	bpf_loop(PP_MAX_INTERPS, interp_step, &c, 0);
	return c.t.found;
}

/* The id this version keeps in tstate for the current thread. */
static __always_inline int thread_key(const struct pp_proc *p, struct task_struct *task, __u64 *key)
{
	if (p->off.tid_kind == PP_TID_PTHREAD) {
		*key = BPF_CORE_READ(task, thread.fsbase);
		return 0;
	}
	struct bpf_pidns_info ns = {};

	if (bpf_get_ns_current_pid_tgid(p->pidns_dev, p->pidns_ino, &ns, sizeof(ns)))
		return -1;
	*key = ns.pid;
	return 0;
}

static __always_inline __u64 tstate_lookup(const struct pp_proc *p, struct task_struct *task, __u32 tid, __u64 now)
{
	struct tstate_entry *e, ne = {};
	__u64 key, v = 0;

	if (thread_key(p, task, &key))
		return 0;
	e = bpf_map_lookup_elem(&tstates, &tid);
	if (e) {
		if (e->tstate && !read_u64(&v, e->tstate + p->off.tstate_tid) && v == key)
			return e->tstate;
		if (!e->tstate && now - e->time_ns < PP_NEG_CACHE_NS)
			return 0;
	}
	count(PP_C_TSTATE_WALKS);
	ne.tstate = tstate_find(p, key);
	ne.time_ns = now;
	bpf_map_update_elem(&tstates, &tid, &ne, BPF_ANY);
	return ne.tstate;
}

/* ---- walking the Python frame list ---- */

struct walk_ctx {
	struct pp_offsets o;
	__u64 frame;
	__u64 cframe;
	__u32 cpu;
	__u32 n;
	__u32 act_start; /* n when the current activation began */
	__u32 flags;
};

static __always_inline int emit(struct walk_ctx *c, __u64 code, __u64 instr, __u64 aux)
{
	__u32 cpu = c->cpu;
	struct pp_scratch *b = bpf_map_lookup_elem(&scratch, &cpu);
	__u32 n = c->n;

	if (!b)
		return -1;
	if (n >= PP_MAX_PYENTRIES) {
		c->flags |= PP_S_PY_TRUNCATED;
		return -1;
	}
	b->py[n].code = code;
	b->py[n].instr = instr;
	b->py[n].aux = aux;
	c->n = n + 1;
	return 0;
}

/*
 * A frame's fields (and its code object's two words) are a few bytes apart:
 * one read of their whole span costs a fraction of one read per field, and
 * the walk makes these reads for every frame of every sample. A span that
 * crosses into an unreadable page (a struct at the end of a mapping) fails
 * whole: then each field is read alone, as if there were no window.
 */
static __always_inline int win_field(__u8 *win, __u64 addr, __s32 off, __u32 size, __s32 base)
{
	__s32 rel = off - base;

	if (off < 0)
		return 0; /* not in this version */
	if (rel < 0 || size < 1 || size > 8 || rel + size > PP_WIN)
		return -1;
	/* The masks restate the bounds checked above in a form the verifier
	 * keeps (clang may test a copy of the register it then uses). */
	return bpf_probe_read_user(win + (rel & (PP_WIN - 1)), ((size - 1) & 7) + 1, (const void *)(addr + off));
}

static __always_inline __u64 win_u64(const __u8 *win, __s32 rel)
{
	__u64 v = 0;

	if (rel >= 0 && rel <= PP_WIN - 8)
		__builtin_memcpy(&v, win + (rel & (PP_WIN - 1)), sizeof(v));
	return v;
}

static __always_inline __s32 win_s32(const __u8 *win, __s32 rel)
{
	__s32 v = 0;

	if (rel >= 0 && rel <= PP_WIN - 4)
		__builtin_memcpy(&v, win + (rel & (PP_WIN - 1)), sizeof(v));
	return v;
}

static __always_inline __u8 win_u8(const __u8 *win, __s32 rel)
{
	return rel >= 0 && rel < PP_WIN ? win[rel & (PP_WIN - 1)] : 0;
}

/* The whole window [addr + base, + len) in one read. */
static __always_inline int win_read(__u8 *win, __u64 addr, __s16 base, __u32 len)
{
	if (!len || len > PP_WIN)
		return -1;
	return bpf_probe_read_user(win, ((len - 1) & (PP_WIN - 1)) + 1, (const void *)(addr + base));
}

static __always_inline int frame_fetch(struct walk_ctx *c, struct pp_scratch *b, __u64 frame)
{
	const struct pp_offsets *o = &c->o;

	if (!win_read(b->fwin, frame, o->frame_win, o->frame_win_len))
		return 0;
	if (win_field(b->fwin, frame, o->frame_code, 8, o->frame_win) ||
	    win_field(b->fwin, frame, o->frame_previous, 8, o->frame_win) ||
	    win_field(b->fwin, frame, o->frame_instr, o->instr_size == 4 ? 4 : 8, o->frame_win) ||
	    win_field(b->fwin, frame, o->frame_is_entry, 1, o->frame_win) ||
	    win_field(b->fwin, frame, o->frame_owner, 1, o->frame_win))
		return -1;
	return 0;
}

static __always_inline int code_fetch(struct walk_ctx *c, struct pp_scratch *b, __u64 code)
{
	const struct pp_offsets *o = &c->o;

	if (!win_read(b->cwin, code, o->code_win, o->code_win_len))
		return 0;
	if (win_field(b->cwin, code, o->code_tag, 8, o->code_win) ||
	    win_field(b->cwin, code, o->code_name, 8, o->code_win))
		return -1;
	return 0;
}

/* Emits the frame whose fields frame_fetch put in b->fwin. */
static __always_inline int emit_frame(struct walk_ctx *c, struct pp_scratch *b)
{
	const struct pp_offsets *o = &c->o;
	__u64 code, instr, tag = 0;

	code = win_u64(b->fwin, o->frame_code - o->frame_win) & o->code_mask;
	if (o->instr_size == 4)
		instr = (__u64)(__s64)win_s32(b->fwin, o->frame_instr - o->frame_win);
	else
		instr = win_u64(b->fwin, o->frame_instr - o->frame_win);
	if (code && o->code_tag >= 0) {
		if (code_fetch(c, b, code))
			return -1;
		tag = win_u64(b->cwin, o->code_tag - o->code_win) ^ win_u64(b->cwin, o->code_name - o->code_win);
	}
	return emit(c, code, instr, tag);
}

/*
 * 3.11: an activation's frames are trusted only if its entry frame links to
 * the current frame of the next _PyCFrame. In the eval loop's prologue,
 * tstate->cframe already points at a _PyCFrame whose current_frame is not
 * yet written: those frames are dropped (the activation has none yet) and
 * the walk goes on from the next _PyCFrame, which is consistent.
 */
static __always_inline int next_activation(struct walk_ctx *c, __u64 entry_previous, bool check)
{
	__u64 next_cf = 0, expect = 0;

	if (read_u64(&next_cf, c->cframe + c->o.cframe_previous) || !next_cf) {
		c->frame = 0;
		return 0; /* the root _PyCFrame: the walk ends */
	}
	if (read_u64(&expect, next_cf + c->o.cframe_frame))
		return -1;
	if (check && entry_previous != expect)
		c->n = c->act_start; /* not this activation's frames */
	if (emit(c, PP_PYF_BOUNDARY, 0, c->cframe))
		return -1;
	c->act_start = c->n;
	c->cframe = next_cf;
	c->frame = expect;
	return 0;
}

static long walk_step(__u32 i, struct walk_ctx *c)
{
	const struct pp_offsets *o = &c->o;
	__u64 frame = c->frame, previous;
	__u32 cpu = c->cpu;
	struct pp_scratch *b;
	__u8 mark;

	if (!frame) {
		/* 3.11: a chain that ends before the _PyCFrame chain does was
		 * not this activation's: drop it and go on with the next. */
		if (o->walk_kind == PP_WALK_IS_ENTRY && c->cframe)
			goto drop_activation;
		return 1;
	}
	b = bpf_map_lookup_elem(&scratch, &cpu);
	if (!b)
		return 1;
	if (frame_fetch(c, b, frame)) {
		if (o->walk_kind == PP_WALK_IS_ENTRY && c->cframe)
			goto drop_activation; /* unreadable */
		goto fail;
	}
	previous = win_u64(b->fwin, o->frame_previous - o->frame_win);
	if (o->walk_kind == PP_WALK_OWNER) {
		mark = win_u8(b->fwin, o->frame_owner - o->frame_win);
		if (mark >= o->owner_cstack) {
			/* The shim lives in its activation's C stack frame. */
			if (emit(c, PP_PYF_BOUNDARY, 0, frame))
				return 1;
			goto next;
		}
	}
	if (o->walk_kind == PP_WALK_IS_ENTRY) {
		mark = win_u8(b->fwin, o->frame_is_entry - o->frame_win);
		if (emit_frame(c, b)) {
			if (!c->cframe)
				goto fail;
			goto drop_activation; /* unreadable */
		}
		if (!mark) {
			c->frame = previous;
			return 0;
		}
		if (next_activation(c, previous, true))
			goto fail;
		return c->frame ? 0 : 1;
	}
	if (emit_frame(c, b))
		goto fail;
	if (o->walk_kind == PP_WALK_PER_FRAME && emit(c, PP_PYF_BOUNDARY, 0, 0))
		return 1;
next:
	c->frame = previous;
	return 0;
drop_activation:
	c->n = c->act_start;
	if (next_activation(c, 0, false))
		goto fail;
	return c->frame ? 0 : 1;
fail:
	if (!(c->flags & PP_S_PY_TRUNCATED))
		c->flags |= PP_S_PY_READ_FAIL;
	return 1;
}

static __always_inline __u32 python_walk(const struct pp_proc *p, __u64 tstate, __u32 cpu, __u32 *flags)
{
	struct walk_ctx c = {.o = p->off, .cpu = cpu};
	__u64 f = 0;

	if (read_u64(&f, tstate + p->off.tstate_frame))
		goto fail;
	if (p->off.cframe_frame >= 0) {
		c.cframe = f;
		if (f && read_u64(&f, f + p->off.cframe_frame))
			goto fail;
	}
	c.frame = f;
	bpf_loop(PP_MAX_PYENTRIES, walk_step, &c, 0);
	if (c.frame && !(c.flags & (PP_S_PY_READ_FAIL | PP_S_PY_TRUNCATED)))
		c.flags |= PP_S_PY_TRUNCATED;
	*flags |= c.flags;
	return c.n;
fail:
	*flags |= PP_S_PY_READ_FAIL;
	return 0;
}

/* ---- copying the user stack ---- */

struct vma_ctx {
	__u64 start, end;
};

static long vma_range_cb(struct task_struct *task, struct vm_area_struct *vma, struct vma_ctx *c)
{
	c->start = vma->vm_start;
	c->end = vma->vm_end;
	return 0;
}

/* The end of the mapping that holds sp, 0 if unknown. */
static __always_inline __u64 stack_end(struct task_struct *task, __u32 tid, __u64 sp)
{
	__u64 born = BPF_CORE_READ(task, start_time);
	struct stack_range *e = bpf_map_lookup_elem(&stacks, &tid), ne;
	struct vma_ctx vc = {};

	if (e && e->start_time == born && e->lo <= sp && sp < e->hi)
		return e->hi;
	count(PP_C_STACK_LOOKUPS);
	if (bpf_find_vma(task, sp, vma_range_cb, &vc, 0) || vc.end <= sp || vc.start > sp)
		return 0;
	ne.lo = vc.start;
	ne.hi = vc.end;
	ne.start_time = born;
	bpf_map_update_elem(&stacks, &tid, &ne, BPF_ANY);
	return vc.end;
}

struct copy_ctx {
	__u64 addr, end;
	__u32 cpu, py_len, pos, flags;
};

static long copy_step(__u32 i, struct copy_ctx *c)
{
	__u32 cpu = c->cpu, py_len = c->py_len, pos = c->pos;
	struct pp_scratch *b = bpf_map_lookup_elem(&scratch, &cpu);
	__u64 chunk;

	if (!b || c->addr >= c->end)
		return 1;
	chunk = PP_PAGE_SIZE - (c->addr & (PP_PAGE_SIZE - 1));
	if (chunk > c->end - c->addr)
		chunk = c->end - c->addr;
	if (chunk > PP_PAGE_SIZE || pos > PP_STACK_MAX - PP_PAGE_SIZE || py_len > PP_MAX_PYENTRIES)
		return 1;
	if (bpf_probe_read_user((__u8 *)&b->py[0] + py_len * sizeof(struct pp_pyframe) + pos, chunk,
				(const void *)c->addr)) {
		c->flags |= PP_S_STACK_FAULT;
		return 1;
	}
	c->pos = pos + chunk;
	c->addr += chunk;
	return 0;
}

/*
 * Copy from SP up to the end of the stack's mapping (or the limit). Page by
 * page, because a read that crosses into an unmapped page fails whole.
 */
static __always_inline __u32 stack_copy(__u32 cpu, __u32 tid, __u32 py_len, struct task_struct *task, __u64 sp,
					__u32 *flags)
{
	struct copy_ctx c = {.addr = sp, .cpu = cpu, .py_len = py_len};
	__u64 limit = stack_limit;

	if (limit > PP_STACK_MAX)
		limit = PP_STACK_MAX;
	c.end = stack_end(task, tid, sp);
	if (!c.end)
		c.end = sp + limit; /* unknown: stop at the first unreadable page */
	if (c.end - sp > limit) {
		c.end = sp + limit;
		*flags |= PP_S_STACK_LIMIT;
	}
	bpf_loop(PP_STACK_MAX / PP_PAGE_SIZE + 1, copy_step, &c, 0);
	*flags |= c.flags;
	return c.pos;
}

/* ---- the perf event handler ---- */

static __always_inline void regs_to_dwarf(__u64 *r, const struct pt_regs *u)
{
	r[PP_REG_RAX] = u->ax;
	r[PP_REG_RDX] = u->dx;
	r[PP_REG_RCX] = u->cx;
	r[PP_REG_RBX] = u->bx;
	r[PP_REG_RSI] = u->si;
	r[PP_REG_RDI] = u->di;
	r[PP_REG_RBP] = u->bp;
	r[PP_REG_RSP] = u->sp;
	r[PP_REG_R8] = u->r8;
	r[PP_REG_R9] = u->r9;
	r[PP_REG_R10] = u->r10;
	r[PP_REG_R11] = u->r11;
	r[PP_REG_R12] = u->r12;
	r[PP_REG_R13] = u->r13;
	r[PP_REG_R14] = u->r14;
	r[PP_REG_R15] = u->r15;
	r[PP_REG_RIP] = u->ip;
}

SEC("perf_event")
int pp_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id, cpu, flags = 0, py_len = 0, stack_len = 0;
	struct task_struct *task;
	struct pp_scratch *b;
	struct pp_proc *p;
	struct pt_regs uregs;
	__u64 size, now;
	bool wake;
	long kn;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	count(PP_C_SAMPLES);
	cpu = bpf_get_smp_processor_id();
	b = bpf_map_lookup_elem(&scratch, &cpu);
	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	task = bpf_get_current_task_btf();

	b->s.pid = tgid;
	b->s.tid = tid;
	b->s.cpu = cpu;
	b->s.time_ns = now;

	kn = bpf_get_stack(ctx, b->s.kstack, sizeof(b->s.kstack), 0);
	b->s.kstack_len = kn > 0 ? (__u64)kn / 8 : 0;

	if (bpf_probe_read_kernel(&uregs, sizeof(uregs), (void *)bpf_task_pt_regs(task)) || !BPF_CORE_READ(task, mm)) {
		flags |= PP_S_NO_USER_REGS;
		__builtin_memset(b->s.regs, 0, sizeof(b->s.regs));
	} else {
		regs_to_dwarf(b->s.regs, &uregs);
	}

	b->s.tstate = tstate_lookup(p, task, tid, now);
	if (b->s.tstate)
		py_len = python_walk(p, b->s.tstate, cpu, &flags);
	else
		flags |= PP_S_NO_TSTATE;

	if (py_len > PP_MAX_PYENTRIES)
		py_len = PP_MAX_PYENTRIES;
	if (!(flags & PP_S_NO_USER_REGS))
		stack_len = stack_copy(cpu, tid, py_len, task, b->s.regs[PP_REG_RSP], &flags);
	if (stack_len > PP_STACK_MAX)
		stack_len = PP_STACK_MAX;

	b->s.map_gen = p->map_gen;
	b->s.stack_base = b->s.regs[PP_REG_RSP];
	b->s.stack_len = stack_len;
	b->s.py_len = py_len;
	b->s.flags = flags;

	size = sizeof(b->s) + (__u64)py_len * sizeof(struct pp_pyframe) + stack_len;
	if (size > sizeof(*b))
		return 0;
	wake = bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) + size >= wakeup_bytes;
	if (bpf_ringbuf_output(&records, b, size, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP))
		count(PP_C_RINGBUF_FULL);
	return 0;
}

/* ---- unmapped files ---- */

static long file_backed_cb(struct task_struct *task, struct vm_area_struct *vma, bool *file)
{
	*file = vma->vm_file != NULL;
	return 0;
}

/*
 * A followed process unmapping a file (dlclose) may soon map another at
 * the same addresses: the count tells userspace, sample by sample, that
 * the symbols it cached for those addresses may be stale.
 */
SEC("tracepoint/syscalls/sys_enter_munmap")
int pp_munmap(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pp_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	bool file = false;

	if (!p)
		return 0;
	if (bpf_find_vma(bpf_get_current_task_btf(), ctx->args[0], file_backed_cb, &file, 0) == 0 && file)
		__sync_fetch_and_add(&p->map_gen, 1);
	return 0;
}
