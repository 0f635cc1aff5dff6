/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the BPF sampler and userspace share: limits, the per-process
 * configuration (struct pp_proc: where the runtime is and the struct offsets
 * of this CPython), and the sample record that travels through the ring buffer.
 *
 * This header is compiled by clang for the BPF target (with vmlinux.h) and by
 * the C compiler for userspace, so it uses only __u8.. __u64 types.
 */
#ifndef PYBPFPROF_H
#define PYBPFPROF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Kernel IPs kept per sample (perf's own default maximum is 127). */
#define PP_MAX_KSTACK 127
/* Python frame-list entries per sample (frames plus activation boundaries). */
#define PP_MAX_PYENTRIES 1024
/* Hard ceiling of the user stack copy; the run-time limit (--stack-size) is
 * at most this. A power of two: BPF offsets are masked with it. */
#define PP_STACK_MAX (256 * 1024)
#define PP_PAGE_SIZE 4096
/* The sampler reads a frame's fields, and a code object's tag and name words,
 * each in one read of at most this many bytes: layouts must fit. */
#define PP_FIELD_WINDOW 128
/* Threads and interpreters walked to find the sampled thread's state. */
#define PP_MAX_THREADS 4096
#define PP_MAX_INTERPS 16
/* Processes the sampler can follow at once. */
#define PP_MAX_PROCS 4096

/* x86_64 DWARF register numbers, the order of pp_sample.regs. */
enum pp_reg {
	PP_REG_RAX,
	PP_REG_RDX,
	PP_REG_RCX,
	PP_REG_RBX,
	PP_REG_RSI,
	PP_REG_RDI,
	PP_REG_RBP,
	PP_REG_RSP,
	PP_REG_R8,
	PP_REG_R9,
	PP_REG_R10,
	PP_REG_R11,
	PP_REG_R12,
	PP_REG_R13,
	PP_REG_R14,
	PP_REG_R15,
	PP_REG_RIP,
	PP_NREGS
};

/* How the sampled thread's PyThreadState is recognised in the thread list. */
enum pp_tid_kind {
	PP_TID_NATIVE = 1, /* tstate->native_thread_id == tid in the target's pid ns (3.11+) */
	PP_TID_PTHREAD = 2, /* tstate->thread_id == pthread_self() == fs base (any version) */
};

/* Where a native eval-loop activation ends in the Python frame list. */
enum pp_walk_kind {
	PP_WALK_PER_FRAME = 1, /* <= 3.10: every Python frame is its own activation */
	PP_WALK_IS_ENTRY = 2, /* 3.11: the frame with is_entry set ends an activation */
	PP_WALK_OWNER = 3, /* 3.12+: a frame with owner >= owner_cstack is the shim */
};

/*
 * Byte offsets into CPython's structures, filled in by the loader for the
 * target's version. -1 (as __s16) means "not present in this version".
 */
struct pp_offsets {
	__s16 runtime_interp_head; /* _PyRuntime.interpreters.head */
	__s16 interp_next;
	__s16 interp_tstate_head;
	__s16 tstate_next;
	__s16 tstate_tid; /* native_thread_id or thread_id, see tid_kind */
	__s16 tstate_frame; /* tstate->frame | tstate->cframe | tstate->current_frame */
	__s16 cframe_frame; /* cframe->current_frame, -1 when tstate_frame is direct */
	__s16 cframe_previous; /* cframe->previous (3.11: one _PyCFrame per activation) */
	__s16 frame_code;
	__s16 frame_previous;
	__s16 frame_instr; /* f_lasti (int) or prev_instr / instr_ptr (pointer) */
	__s16 frame_is_entry; /* 3.11 */
	__s16 frame_owner; /* 3.12+ */
	__s16 code_tag; /* 8 bytes of the code object that identify it... */
	__s16 code_name; /* ...XORed with its name's address: a freed code object replaced by one of the
			    same shape at the same address is told apart */
	/* Set at attach time (pyruntime_proc) from the offsets above: the walk
	 * reads a frame's fields, and a code object's tag and name words, each
	 * in one read of [win, win + win_len); win_len 0: a read per field. */
	__s16 frame_win;
	__s16 code_win;
	__u16 frame_win_len;
	__u16 code_win_len;
	__u8 instr_size; /* 4 (f_lasti) or 8 (pointer) */
	__u8 tid_kind; /* enum pp_tid_kind */
	__u8 walk_kind; /* enum pp_walk_kind */
	__u8 owner_cstack; /* first owner value that is not a Python frame */
	__u64 code_mask; /* applied to the code field (3.14 tagged pointers) */
};

/* One followed process, the value of the `procs` map keyed by tgid. */
struct pp_proc {
	__u64 runtime; /* address of _PyRuntime */
	__u64 pidns_dev; /* the target's pid namespace, for bpf_get_ns_current_pid_tgid */
	__u64 pidns_ino;
	__u64 map_gen; /* file mappings unmapped so far (BPF counts them; dlclose) */
	struct pp_offsets off;
};

/*
 * A Python frame-list entry. The walk emits the frames innermost first, and
 * after the last frame of each native eval activation a boundary entry
 * (code == PP_PYF_BOUNDARY) whose aux holds an address inside that
 * activation's C stack frame when the version has one (0 otherwise).
 */
struct pp_pyframe {
	__u64 code; /* PyCodeObject * (already masked) */
	__u64 instr; /* instruction pointer or f_lasti, as the version keeps it */
	__u64 aux; /* frames: the code object's tag word; boundaries: C stack address */
};
#define PP_PYF_BOUNDARY (~0ULL)

/* Sample flags. */
#define PP_S_NO_TSTATE	  0x02 /* no PyThreadState for this thread (not a Python thread) */
#define PP_S_PY_TRUNCATED 0x04 /* Python walk stopped at PP_MAX_PYENTRIES */
#define PP_S_PY_READ_FAIL 0x08 /* a read of interpreter memory failed mid-walk */
#define PP_S_STACK_LIMIT  0x10 /* user stack copy stopped at the size limit */
#define PP_S_STACK_FAULT  0x20 /* user stack copy stopped at an unreadable page */
#define PP_S_NO_USER_REGS 0x40 /* no user registers (kernel thread) */

/*
 * The ring-buffer record: this header (with kstack_len kernel IPs in kstack),
 * then py_len struct pp_pyframe, then stack_len bytes of user stack that
 * start at user address stack_base (the sampled thread's SP).
 */
struct pp_sample {
	__u32 pid; /* tgid, in the initial pid namespace */
	__u32 tid;
	__u64 time_ns; /* bpf_ktime_get_ns */
	__u64 tstate;
	__u64 regs[PP_NREGS];
	__u64 stack_base;
	__u32 stack_len;
	__u16 kstack_len;
	__u16 py_len;
	__u32 flags;
	__u32 cpu;
	__u64 map_gen; /* the process's pp_proc.map_gen when sampled */
	__u64 kstack[PP_MAX_KSTACK];
};

static inline __u64 pp_sample_size(const struct pp_sample *s)
{
	return sizeof(*s) + (__u64)s->py_len * sizeof(struct pp_pyframe) + s->stack_len;
}

/* Global BPF counters (a per-CPU array, summed by userspace). */
enum pp_counter {
	PP_C_SAMPLES, /* perf events that hit a followed process */
	PP_C_RINGBUF_FULL,
	PP_C_TSTATE_WALKS, /* full thread-list walks (cache misses) */
	PP_C_STACK_LOOKUPS, /* stack mapping lookups (bpf_find_vma; cache misses) */
	PP_NCOUNTERS
};

#endif
