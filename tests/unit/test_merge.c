// SPDX-License-Identifier: BSD-2-Clause
/* The merge rule on hand-built samples: every case names the stack a
 * person should read. */
#include "check.h"
#include "merge.h"
#include "profile.h"
#include "symbolize.h"

#include <stdlib.h>

static struct pp_profile *prof;

static uint32_t id(const char *name)
{
	return profile_intern(prof, name);
}

/* Joins a merged stack with ';' for comparison. */
static const char *joined(const uint32_t *ids, size_t n)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? ";" : "", profile_name(prof, ids[i]));
	return buf;
}

static void base_in(struct pp_merge_in *in)
{
	*in = (struct pp_merge_in){0};
	in->m_native_truncated = id("[native stack truncated]");
	in->m_truncated = id("[truncated]");
	in->m_unknown = id("[unknown]");
}

#define N(name, sp, flags)                                                                                             \
	{                                                                                                              \
		(sp), id(name), (flags)                                                                                \
	}
#define PY(name)                                                                                                       \
	{                                                                                                              \
		id(name), false, 0                                                                                     \
	}
#define B(addr)                                                                                                        \
	{                                                                                                              \
		0, true, (addr)                                                                                        \
	}
#define EVAL (PP_SYM_EVAL | PP_SYM_HIDE | PP_SYM_INTERP)
#define GLUE (PP_SYM_HIDE | PP_SYM_INTERP)

static const char *run(struct pp_merge_in *in)
{
	uint32_t out[256];
	size_t n = merge_stack(in, out, 256);

	return joined(out, n);
}

/* Python -> C extension -> Python callback, 3.11 style (one _PyCFrame
 * address per activation). */
static void test_callback_by_address(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("spin", 0x1000, 0),
		N("_PyEval_EvalFrameDefault", 0x1100, EVAL),
		N("_PyObject_Call", 0x1200, GLUE),
		N("ext_invoke", 0x1300, 0),
		N("ext_call_back", 0x1400, 0),
		N("cfunction_call", 0x1500, GLUE),
		N("_PyEval_EvalFrameDefault", 0x1600, EVAL),
		N("Py_BytesMain", 0x1700, PP_SYM_INTERP),
		N("main", 0x1800, 0),
		N("_start", 0x1900, 0),
	};
	struct pp_merge_py py[] = {
		PY("cb (x.py:30)"), B(0x1150), PY("caller (x.py:12)"), PY("<module> (x.py:40)"), B(0x1650),
	};
	uint32_t k[] = {id("do_syscall_64_[k]")};

	base_in(&in);
	in.native = nat;
	in.nnative = 10;
	in.native_complete = true;
	in.py = py;
	in.npy = 5;
	in.kernel = k;
	in.nkernel = 1;
	CHECK_EQ_STR(run(&in), "_start;main;Py_BytesMain;<module> (x.py:40);caller (x.py:12);ext_call_back;ext_invoke;"
			       "cb (x.py:30);spin;do_syscall_64_[k]");
	in.show_interp = true;
	CHECK_EQ_STR(run(&in), "_start;main;Py_BytesMain;<module> (x.py:40);caller (x.py:12);cfunction_call;"
			       "ext_call_back;ext_invoke;_PyObject_Call;cb (x.py:30);spin;do_syscall_64_[k]");
}

/* An eval frame in its prologue has no Python frame yet: it must not take
 * the next activation's frames. The address says which one is which. */
static void test_prologue_eval(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("_PyEval_EvalFrameDefault", 0x1000, EVAL),
		N("ext_fn", 0x1100, 0),
		N("_PyEval_EvalFrameDefault", 0x1200, EVAL),
		N("_start", 0x1300, 0),
	};
	struct pp_merge_py py[] = {PY("f (a.py:1)"), B(0x1250)};

	base_in(&in);
	in.native = nat;
	in.nnative = 4;
	in.native_complete = true;
	in.py = py;
	in.npy = 2;
	CHECK_EQ_STR(run(&in), "_start;f (a.py:1);ext_fn");
}

/* Without addresses (<= 3.10), activations pair with eval frames from the leaf. */
static void test_counting(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("_PyEval_EvalFrameDefault", 0, EVAL),
		N("_PyEval_EvalFrameDefault", 0, EVAL),
		N("main", 0, 0),
	};
	struct pp_merge_py py[] = {PY("g"), B(0), PY("f"), B(0)};

	base_in(&in);
	in.native = nat;
	in.nnative = 3;
	in.native_complete = true;
	in.py = py;
	in.npy = 4;
	CHECK_EQ_STR(run(&in), "main;f;g");
}

/*
 * <= 3.10, a sample in the callback's eval prologue (its frame not linked
 * yet): one eval frame more than Python frames. Counting from the leaf would
 * put callback_caller under pptest_invoke (seen in CI); from the root every
 * frame keeps its place and the spare leaf eval frame is hidden. With the
 * native stack cut short, the leaf is the only anchor left.
 */
static void test_counting_prologue(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("_PyEval_EvalFrameDefault", 0, EVAL),
		N("_PyFunction_Vectorcall", 0, GLUE),
		N("pptest_invoke", 0, 0),
		N("pptest_call_back", 0, 0),
		N("_PyEval_EvalFrameDefault", 0, EVAL),
		N("_PyEval_EvalFrameDefault", 0, EVAL),
		N("main", 0, 0),
	};
	struct pp_merge_py py[] = {PY("callback_caller"), B(0), PY("<module>"), B(0)};

	base_in(&in);
	in.native = nat;
	in.nnative = 7;
	in.native_complete = true;
	in.py = py;
	in.npy = 4;
	CHECK_EQ_STR(run(&in), "main;<module>;callback_caller;pptest_call_back;pptest_invoke");
	in.native_complete = false;
	CHECK_EQ_STR(run(&in), "[native stack truncated];main;<module>;pptest_call_back;pptest_invoke;callback_caller");
}

/* The native copy ended early: the outer Python frames still show, under
 * the marker, at the root side. */
static void test_native_truncated(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("dgemm_", 0x1000, 0),
		N("_PyEval_EvalFrameDefault", 0x1100, EVAL),
		N("ext", 0x1200, 0),
	};
	struct pp_merge_py py[] = {PY("inner"), B(0x1150), PY("outer"), PY("<module>"), B(0x9000)};

	base_in(&in);
	in.native = nat;
	in.nnative = 3;
	in.native_complete = false;
	in.py = py;
	in.npy = 5;
	CHECK_EQ_STR(run(&in), "[native stack truncated];<module>;outer;ext;inner;dgemm_");
}

/* The Python walk hit its limit: never silently cut. */
static void test_py_truncated(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {
		N("_PyEval_EvalFrameDefault", 0x1000, EVAL),
		N("main", 0x1100, 0),
	};
	struct pp_merge_py py[] = {PY("r"), PY("r"), PY("r")};

	base_in(&in);
	in.native = nat;
	in.nnative = 2;
	in.native_complete = true;
	in.py = py;
	in.npy = 3;
	in.py_truncated = true;
	CHECK_EQ_STR(run(&in), "main;[truncated];r;r;r");
	in.py_truncated = false;
	in.py_failed = true;
	CHECK_EQ_STR(run(&in), "main;[unknown];r;r;r");
}

/* A thread with no Python (an OpenBLAS worker) is native only; nothing at
 * all still gives one frame. */
static void test_native_only(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {N("blas_thread_server", 0x1000, 0), N("start_thread", 0x1100, 0)};

	base_in(&in);
	in.native = nat;
	in.nnative = 2;
	in.native_complete = true;
	CHECK_EQ_STR(run(&in), "start_thread;blas_thread_server");
	base_in(&in);
	in.native_complete = true;
	CHECK_EQ_STR(run(&in), "[unknown]");
}

/* The output buffer bound holds. */
static void test_bounded_output(void)
{
	struct pp_merge_in in;
	struct pp_merge_native nat[] = {N("a", 0, 0), N("b", 0, 0), N("c", 0, 0)};
	uint32_t out[2];

	base_in(&in);
	in.native = nat;
	in.nnative = 3;
	in.native_complete = true;
	CHECK_EQ_INT(merge_stack(&in, out, 2), 2);
}

int main(void)
{
	prof = profile_new();
	test_callback_by_address();
	test_prologue_eval();
	test_counting();
	test_counting_prologue();
	test_native_truncated();
	test_py_truncated();
	test_native_only();
	test_bounded_output();
	profile_free(prof);
	return check_report("test_merge");
}
