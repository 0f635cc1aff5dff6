// SPDX-License-Identifier: BSD-2-Clause
/*
 * _Py_DebugOffsets -> struct pp_layout.
 *  - live: a running 3.13.0's _PyRuntime, read from the process, must give
 *    exactly the hand-measured 3.13 row of the static table;
 *  - the same bytes as measured here, from a buffer, without the process;
 *  - a 3.14 image: every member at its 3.14 offset (hand-counted from
 *    pycore_debug_offsets.h of v3.14.0, independently of the parser's
 *    structs) holding a distinct made-up value, so that a member read from
 *    the wrong place shows; the values are not those of a real 3.14;
 *  - refusals: cookie, versions, lengths, free-threaded, nonsense offsets.
 */
#include "check.h"
#include "elfsym.h"
#include "procmem.h"
#include "pydebugoffsets.h"
#include "pylayout.h"
#include "target.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PY313 /* -DPY313=... to point elsewhere */
#define PY313 "/root/.pyenv/versions/3.13.0/bin/python3.13"
#endif

/* Every field of struct pp_layout, by name; a difference says which. */
#define SAME(f)                                                                                                        \
	do {                                                                                                           \
		check_total++;                                                                                         \
		if ((long long)got->f != (long long)want->f) {                                                         \
			check_failed++;                                                                                \
			fprintf(stderr, "%s: %s is %lld, expected %lld\n", what, #f, (long long)got->f,                \
				(long long)want->f);                                                                   \
		}                                                                                                      \
	} while (0)

static void same_str(const char *what, const char *field, const char *got, const char *want)
{
	check_total++;
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
		check_failed++;
		fprintf(stderr, "%s: %s is \"%s\", expected \"%s\"\n", what, field, got ? got : "(null)",
			want ? want : "(null)");
	}
}

static void compare_layout(const char *what, const struct pp_layout *got, const struct pp_layout *want)
{
	int failed_before = check_failed;
	struct pp_layout a, b;

	SAME(version);
	same_str(what, "name", got->name, want->name);
	SAME(anchor);
	same_str(what, "eval_func", got->eval_func, want->eval_func);
	SAME(bpf.runtime_interp_head);
	SAME(bpf.interp_next);
	SAME(bpf.interp_tstate_head);
	SAME(bpf.tstate_next);
	SAME(bpf.tstate_tid);
	SAME(bpf.tstate_frame);
	SAME(bpf.cframe_frame);
	SAME(bpf.cframe_previous);
	SAME(bpf.frame_code);
	SAME(bpf.frame_previous);
	SAME(bpf.frame_instr);
	SAME(bpf.frame_is_entry);
	SAME(bpf.frame_owner);
	SAME(bpf.code_tag);
	SAME(bpf.instr_size);
	SAME(bpf.tid_kind);
	SAME(bpf.walk_kind);
	SAME(bpf.owner_cstack);
	check_total++;
	if (got->bpf.code_mask != want->bpf.code_mask) {
		check_failed++;
		fprintf(stderr, "%s: bpf.code_mask is 0x%llx, expected 0x%llx\n", what,
			(unsigned long long)got->bpf.code_mask, (unsigned long long)want->bpf.code_mask);
	}
	SAME(tstate_interp);
	SAME(co_filename);
	SAME(co_name);
	SAME(co_qualname);
	SAME(co_linetable);
	SAME(co_firstlineno);
	SAME(co_code_adaptive);
	SAME(code_size);
	SAME(instr_kind);
	SAME(linetable);
	SAME(str_kind);
	SAME(str_length);
	SAME(str_state);
	SAME(str_ascii_size);
	SAME(str_compact_size);
	SAME(bytes_size);
	SAME(bytes_data);
	SAME(gil_kind);
	SAME(gil_off);
	SAME(gil_holder);
	SAME(gil_locked);
	/* A field added to struct pp_layout after this list was written: the
	 * bytes must agree too (pointers compared above, by content). */
	memcpy(&a, got, sizeof(a));
	memcpy(&b, want, sizeof(b));
	a.name = b.name = NULL;
	a.eval_func = b.eval_func = NULL;
	check_total++;
	if (check_failed == failed_before && memcmp(&a, &b, sizeof(a)) != 0) {
		check_failed++;
		fprintf(stderr, "%s: a field of struct pp_layout that compare_layout() does not name differs\n", what);
	}
}

static void put_u64(uint8_t *img, size_t off, uint64_t v)
{
	memcpy(img + off, &v, 8);
}

static uint64_t get_u64(const uint8_t *img, size_t off)
{
	uint64_t v;

	memcpy(&v, img + off, 8);
	return v;
}

static void put_head(uint8_t *img, uint64_t version, uint64_t free_threaded)
{
	memcpy(img, "xdebugpy", 8);
	put_u64(img, 8, version);
	put_u64(img, 16, free_threaded);
}

/* A refusal: -1, a message on one line, *out untouched. */
static void refused(const char *what, const uint8_t *img, size_t len, const char *needle)
{
	struct pp_layout out, before;
	char why[256] = "";
	int rc;

	memset(&out, 0x5a, sizeof(out));
	memcpy(&before, &out, sizeof(out));
	rc = pydebugoffsets_layout(img, len, &out, why, sizeof(why));
	check_total++;
	if (rc != -1 || !why[0] || strchr(why, '\n') || (needle && !strstr(why, needle)) ||
	    memcmp(&out, &before, sizeof(out)) != 0) {
		check_failed++;
		fprintf(stderr, "%s: rc %d, why \"%s\" (want -1 and a line with \"%s\", output untouched)\n", what, rc,
			why, needle ? needle : "");
	}
	if (CHECK_VERBOSE)
		printf("  %s: %s\n", what, why);
}

/* ---- 3.13: the bytes of pyenv 3.13.0's _PyRuntime.debug_offsets ---- */

/* The 70 uint64 after the head (offset 24 on), as read from a live
 * 3.13.0 (0x030d00f0) on this machine; the live test reads them again. */
static const uint64_t measured313[70] = {
	283320, 608, 632, 194968, 7272, 7264, 7344, 7400, 7656, 7640, 7648, 16, 7752, 0,   7768, 7760, 304, 0,
	8,	16,  72,  152,	  160,	232,  32,   80,	  8,	0,    56,   72, 70,   208, 112,	 120,  128, 136,
	68,	52,  96,  104,	  200,	16,   8,    416,  24,	88,   168,  32, 24,   16,  40,	 24,   16,  48,
	32,	40,  24,  16,	  32,	16,   24,   40,	  16,	32,   64,   32, 16,   40,  240,	 200,
};

static void image313(uint8_t *img, uint64_t version)
{
	memset(img, 0, 584);
	put_head(img, version, 0);
	for (size_t i = 0; i < 70; i++)
		put_u64(img, 24 + 8 * i, measured313[i]);
}

/*
 * 3.13.0 as measured with gdb on this machine's pyenv build before
 * _Py_DebugOffsets was read (the table row that pylayout.c used to hold):
 * what the parser must reproduce from the live process.
 */
#define PP_STR_FROM_312 .str_length = 16, .str_state = 32, .str_ascii_size = 40, .str_compact_size = 56
#define PP_BYTES	.bytes_size = 16, .bytes_data = 32
static const struct pp_layout measured_313 = {
	.version = 0x030d,
	.name = "3.13",
	.bpf =
		{
			.runtime_interp_head = 632,
			.interp_next = 7264,
			.interp_tstate_head = 7344,
			.tstate_next = 8,
			.tstate_tid = 160, /* native_thread_id */
			.tstate_frame = 72, /* current_frame */
			.cframe_frame = -1,
			.cframe_previous = -1,
			.frame_code = 0, /* f_executable */
			.frame_previous = 8,
			.frame_instr = 56, /* instr_ptr */
			.frame_is_entry = -1,
			.frame_owner = 70,
			.code_tag = 68,
			.instr_size = 8,
			.tid_kind = PP_TID_NATIVE,
			.walk_kind = PP_WALK_OWNER,
			.owner_cstack = 3,
			.code_mask = ~0ULL,
		},
	.tstate_interp = 16,
	.co_filename = 112,
	.co_name = 120,
	.co_qualname = 128,
	.co_linetable = 136,
	.co_firstlineno = 68,
	.co_code_adaptive = 200,
	.code_size = 208,
	.instr_kind = PP_INSTR_PTR_ADAPTIVE,
	.linetable = PP_LT_LOCATIONS,
	PP_STR_FROM_312,
	PP_BYTES,
	/* measured: interp->_gil at 7752, its last_holder at +8 and locked at +16 */
	.gil_kind = PP_GIL_INTERP_EMBEDDED,
	.gil_off = 0,
	.gil_holder = 7760,
	.gil_locked = 7768,
};

static void test_313_bytes(void)
{
	const struct pp_layout *want = &measured_313;
	uint8_t img[584];
	struct pp_layout got;
	char why[256] = "";

	CHECK(want != NULL);
	image313(img, 0x030d00f0);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, why, sizeof(why)), 0);
	if (why[0])
		fprintf(stderr, "3.13 bytes: %s\n", why);
	if (want && !why[0])
		compare_layout("3.13 measured bytes", &got, want);

	/* The same layout in 3.13.1 and 3.13.0rc2; not before rc2. */
	image313(img, 0x030d01f0);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, NULL, 0), 0);
	image313(img, 0x030d00c2);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, NULL, 0), 0);
	image313(img, 0x030d00c1);
	refused("3.13.0rc1", img, sizeof(img), "3.13.0rc1");
	image313(img, 0x030d00b1);
	refused("3.13.0b1", img, sizeof(img), "3.13.0b1");

	image313(img, 0x030d00f0);
	refused("3.13, one byte short", img, sizeof(img) - 1, "583");
	refused("3.13, head only", img, 24, "need 584");
	refused("3.13, 23 bytes", img, 23, "need at least 24");
	refused("NULL buffer", NULL, 584, "no _Py_DebugOffsets");

	put_u64(img, 16, 1);
	refused("3.13t", img, sizeof(img), "free-threaded");
	put_u64(img, 16, 2);
	refused("3.13 free_threaded 2", img, sizeof(img), "free_threaded");

	/* Offsets that cannot be: outside their struct, too big for int16. */
	image313(img, 0x030d00f0);
	put_u64(img, 264, 80); /* interpreter_frame.owner == interpreter_frame.size */
	refused("3.13 owner outside the frame", img, sizeof(img), "interpreter_frame.owner");
	image313(img, 0x030d00f0);
	put_u64(img, 40, 40000); /* runtime_state.interpreters_head */
	refused("3.13 interpreters_head > INT16_MAX", img, sizeof(img), "interpreters_head is 40000, more than");
	image313(img, 0x030d00f0);
	put_u64(img, 360, 24); /* pyobject.ob_type, as in free-threaded builds */
	refused("3.13 ob_type 24", img, sizeof(img), "ob_type");
	image313(img, 0x030d00f0);
	put_u64(img, 560, 48); /* unicode_object.asciiobject_size */
	refused("3.13 PyASCIIObject 48", img, sizeof(img), "PyASCIIObject");
	image313(img, 0x030d00f0);
	put_u64(img, 312, 205); /* code_object.firstlineno: the tag word would end past the object */
	refused("3.13 code tag past the object", img, sizeof(img), "firstlineno");
}

/* ---- 3.14: a made-up image at the v3.14.0 offsets ---- */

struct at {
	uint16_t off;
	uint64_t v;
};

/* Each member of the 3.14 struct with its offset, counted by hand: the
 * values are arbitrary and distinct, except where the parser checks a
 * relation (sizes large enough, ob_type 8, PyUnicodeObject = ASCII + 24). */
static const struct at image314_members[] = {
	/* runtime_state */
	{24, 400000}, /* size */
	{32, 1001}, /* finalizing */
	{40, 1002}, /* interpreters_head */
	/* interpreter_state */
	{48, 30000}, /* size */
	{56, 1003}, /* id */
	{64, 1004}, /* next */
	{72, 1005}, /* threads_head */
	{80, 1006}, /* threads_main */
	{88, 1007}, /* gc */
	{96, 1008}, /* imports_modules */
	{104, 1009}, /* sysdict */
	{112, 1010}, /* builtins */
	{120, 1011}, /* ceval_gil */
	{128, 1012}, /* gil_runtime_state */
	{136, 0}, /* gil_runtime_state_enabled: 0 in GIL builds */
	{144, 1013}, /* gil_runtime_state_locked */
	{152, 1014}, /* gil_runtime_state_holder */
	{160, 1015}, /* code_object_generation */
	{168, 0}, /* tlbc_generation: 0 in GIL builds */
	/* thread_state */
	{176, 2000}, /* size */
	{184, 101}, /* prev */
	{192, 102}, /* next */
	{200, 103}, /* interp */
	{208, 104}, /* current_frame */
	{216, 105}, /* thread_id */
	{224, 106}, /* native_thread_id */
	{232, 107}, /* datastack_chunk */
	{240, 108}, /* status */
	/* interpreter_frame */
	{248, 300}, /* size */
	{256, 201}, /* previous */
	{264, 202}, /* executable */
	{272, 203}, /* instr_ptr */
	{280, 204}, /* localsplus */
	{288, 205}, /* owner */
	{296, 206}, /* stackpointer */
	{304, 0}, /* tlbc_index: 0 in GIL builds */
	/* code_object */
	{312, 400}, /* size */
	{320, 301}, /* filename */
	{328, 302}, /* name */
	{336, 303}, /* qualname */
	{344, 304}, /* linetable */
	{352, 305}, /* firstlineno */
	{360, 306}, /* argcount */
	{368, 307}, /* localsplusnames */
	{376, 308}, /* localspluskinds */
	{384, 309}, /* co_code_adaptive */
	{392, 0}, /* co_tlbc: 0 in GIL builds */
	/* pyobject */
	{400, 16}, /* size */
	{408, 8}, /* ob_type */
	/* type_object: size, tp_name, tp_repr, tp_flags */
	{416, 5001},
	{424, 5002},
	{432, 5003},
	{440, 5004},
	/* tuple_object: size, ob_item, ob_size */
	{448, 5011},
	{456, 5012},
	{464, 5013},
	/* list_object */
	{472, 5021},
	{480, 5022},
	{488, 5023},
	/* set_object: size, used, table, mask */
	{496, 5031},
	{504, 5032},
	{512, 5033},
	{520, 5034},
	/* dict_object: size, ma_keys, ma_values */
	{528, 5041},
	{536, 5042},
	{544, 5043},
	/* float_object: size, ob_fval */
	{552, 5051},
	{560, 5052},
	/* long_object: size, lv_tag, ob_digit */
	{568, 5061},
	{576, 5062},
	{584, 5063},
	/* bytes_object */
	{592, 500}, /* size */
	{600, 401}, /* ob_size */
	{608, 402}, /* ob_sval */
	/* unicode_object */
	{616, 600}, /* size: asciiobject_size + 16 + 8 */
	{624, 501}, /* state */
	{632, 502}, /* length */
	{640, 576}, /* asciiobject_size */
	/* gc: size, collecting */
	{648, 5071},
	{656, 5072},
	/* gen_object: size, gi_name, gi_iframe, gi_frame_state */
	{664, 5081},
	{672, 5082},
	{680, 5083},
	{688, 5084},
	/* llist_node: next, prev */
	{696, 5091},
	{704, 5092},
	/* debugger_support: eval_breaker, remote_debugger_support,
	 * remote_debugging_enabled, debugger_pending_call,
	 * debugger_script_path, debugger_script_path_size */
	{712, 5101},
	{720, 5102},
	{728, 5103},
	{736, 5104},
	{744, 5105},
	{752, 5106},
};

static void image314(uint8_t *img, uint64_t version)
{
	memset(img, 0, 760);
	put_head(img, version, 0);
	for (size_t i = 0; i < sizeof(image314_members) / sizeof(image314_members[0]); i++)
		put_u64(img, image314_members[i].off, image314_members[i].v);
}

static void test_314(void)
{
	static const struct pp_layout want = {
		.version = 0x030e,
		.name = "3.14",
		.anchor = PP_ANCHOR_RUNTIME,
		.eval_func = NULL,
		.bpf =
			{
				.runtime_interp_head = 1002,
				.interp_next = 1004,
				.interp_tstate_head = 1005,
				.tstate_next = 102,
				.tstate_tid = 106,
				.tstate_frame = 104,
				.cframe_frame = -1,
				.cframe_previous = -1,
				.frame_code = 202,
				.frame_previous = 201,
				.frame_instr = 203,
				.frame_is_entry = -1,
				.frame_owner = 205,
				.code_tag = 305,
				.instr_size = 8,
				.tid_kind = PP_TID_NATIVE,
				.walk_kind = PP_WALK_OWNER,
				.owner_cstack = 3,
				.code_mask = ~3ULL,
			},
		.tstate_interp = 103,
		.co_filename = 301,
		.co_name = 302,
		.co_qualname = 303,
		.co_linetable = 304,
		.co_firstlineno = 305,
		.co_code_adaptive = 309,
		.code_size = 400,
		.instr_kind = PP_INSTR_PTR_ADAPTIVE,
		.linetable = PP_LT_LOCATIONS,
		.str_kind = PP_STR_UNICODE,
		.str_length = 502,
		.str_state = 501,
		.str_ascii_size = 576,
		.str_compact_size = 592,
		.bytes_size = 401,
		.bytes_data = 402,
		.gil_kind = PP_GIL_INTERP_EMBEDDED,
		.gil_off = 0,
		.gil_holder = 1014,
		.gil_locked = 1013,
	};
	uint8_t img[760];
	char small[8];
	struct pp_layout got;
	char why[256] = "";

	/* The table's last member ends where the struct does. */
	CHECK_EQ_INT(image314_members[sizeof(image314_members) / sizeof(image314_members[0]) - 1].off + 8, 760);
	image314(img, 0x030e00f0);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, why, sizeof(why)), 0);
	if (why[0])
		fprintf(stderr, "3.14 image: %s\n", why);
	else
		compare_layout("3.14 image", &got, &want);

	image314(img, 0x030e03f0); /* 3.14.3 */
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, NULL, 0), 0);
	image314(img, 0x030e00b2);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, NULL, 0), 0);
	image314(img, 0x030e00b1);
	refused("3.14.0b1", img, sizeof(img), "3.14.0b1");
	image314(img, 0x030e00a7);
	refused("3.14.0a7", img, sizeof(img), "before 3.14.0b2");

	image314(img, 0x030e00f0);
	refused("3.14, 3.13's length", img, 584, "need 760");
	refused("3.14, one byte short", img, 759, "759");
	put_u64(img, 16, 1);
	refused("3.14t", img, sizeof(img), "free-threaded");

	image314(img, 0x030e00f0);
	put_u64(img, 288, 300); /* interpreter_frame.owner at the frame's size */
	refused("3.14 owner outside the frame", img, sizeof(img), "interpreter_frame.owner");

	/* Fields the sampler reads in one window must lie within it. */
	image314(img, 0x030e00f0);
	put_u64(img, 256, 8); /* interpreter_frame.previous, far below instr_ptr (203) */
	refused("3.14 frame fields too far apart", img, sizeof(img),
		"the frame fields the sampler reads span more than");
	image314(img, 0x030e00f0);
	put_u64(img, 352, 16); /* code_object.firstlineno, far below name */
	refused("3.14 code fields too far apart", img, sizeof(img), "name and first-line words");

	/* Not 3.13 or 3.14. */
	image314(img, 0x030f00a1);
	refused("3.15.0a1", img, sizeof(img), "3.15.0a1");
	image313(img, 0x030c01f0);
	refused("3.12.1", img, 584, "3.12.1");
	image313(img, 0x020718f0);
	refused("version 2.7", img, 584, "not a Python 3 version");
	image313(img, 0x1030d00f0ULL);
	refused("version above 32 bits", img, 584, "not a Python 3 version");
	image313(img, 0x030d00f0);
	memcpy(img, "xdebugpz", 8);
	refused("wrong cookie", img, 584, "cookie");
	memset(img, 0, 584);
	refused("zeroes", img, 584, "cookie");

	/* A short why buffer is cut, not overrun (ASan watches). */
	image314(img, 0x030e00b1);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, small, sizeof(small)), -1);
	CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
	CHECK_EQ_INT(pydebugoffsets_layout(img, sizeof(img), &got, NULL, 99), -1);
}

/* ---- live: a running 3.13.0 ---- */

static int find_libpython(struct pp_target *t, char **path)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		const char *p = t->maps[i].path;

		if (p && t->maps[i].offset == 0 && strstr(p, "/libpython3.13.so")) {
			*path = strdup(p);
			return 0;
		}
	}
	return -1;
}

static void test_live_313(void)
{
	const struct pp_layout *want = &measured_313;
	struct timespec pause = {0, 20 * 1000 * 1000};
	uint64_t sym = 0, symsize = 0, vsym = 0, bias = 0, pyversion = 0;
	uint8_t buf[4096];
	struct pp_target t;
	struct pp_layout got;
	struct pp_elf *e;
	char why[256] = "", *lib = NULL, *fp;
	pid_t pid;
	int tries, status;

	if (access(PY313, X_OK) != 0) {
		printf("test_debugoffsets: SKIPPED the live 3.13 check: %s is not installed\n", PY313);
		return;
	}
	pid = fork();
	if (pid == 0) {
		execl(PY313, PY313, "-c", "import time; time.sleep(30)", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	/* Wait for the dynamic loader to map libpython. */
	memset(&t, 0, sizeof(t));
	for (tries = 0; tries < 250; tries++) {
		if (target_open(&t, pid) == 0) {
			if (find_libpython(&t, &lib) == 0)
				break;
			target_close(&t);
		}
		memset(&t, 0, sizeof(t));
		nanosleep(&pause, NULL);
	}
	CHECK(lib != NULL);
	if (!lib) {
		fprintf(stderr, "live 3.13: libpython3.13 never appeared in process %d's maps\n", (int)pid);
		goto out;
	}
	fp = target_file_path(&t, lib);
	e = elf_open(fp);
	free(fp);
	CHECK(e != NULL);
	if (e) {
		CHECK_EQ_INT(elf_symbol(e, "_PyRuntime", &sym, &symsize), 0);
		CHECK_EQ_INT(elf_symbol(e, "Py_Version", &vsym, NULL), 0);
		elf_close(e);
	}
	CHECK_EQ_INT(target_load_bias(&t, lib, &bias), 0);
	CHECK(symsize >= sizeof(buf));
	CHECK(sym != 0);
	if (!sym)
		goto out;
	CHECK_EQ_INT(procmem_read(pid, bias + sym, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(procmem_read_u64(pid, bias + vsym, &pyversion), 0);
	if (CHECK_VERBOSE)
		printf("  live 3.13: pid %d, %s, _PyRuntime at 0x%llx, Py_Version 0x%llx\n", (int)pid, lib,
		       (unsigned long long)(bias + sym), (unsigned long long)pyversion);
	/* The struct's own version is the interpreter's. */
	CHECK_EQ_INT(get_u64(buf, 8), pyversion);
	CHECK_EQ_INT(pyversion, 0x030d00f0);
	/* The bytes the buffer test uses are this interpreter's. */
	for (size_t i = 0; i < 70; i++) {
		check_total++;
		if (get_u64(buf, 24 + 8 * i) != measured313[i]) {
			check_failed++;
			fprintf(stderr, "live 3.13: the uint64 at %zu is %llu, measured313[%zu] says %llu\n",
				24 + 8 * i, (unsigned long long)get_u64(buf, 24 + 8 * i), i,
				(unsigned long long)measured313[i]);
		}
	}
	CHECK_EQ_INT(pydebugoffsets_layout(buf, sizeof(buf), &got, why, sizeof(why)), 0);
	if (why[0])
		fprintf(stderr, "live 3.13: %s\n", why);
	else if (want)
		compare_layout("live 3.13 vs the pylayout.c 3.13 row", &got, want);
	printf("test_debugoffsets: live 3.13.0 (pid %d) checked against the static 3.13 row\n", (int)pid);
out:
	free(lib);
	target_close(&t);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int main(void)
{
	test_313_bytes();
	test_314();
	test_live_313();
	return check_report("test_debugoffsets");
}
