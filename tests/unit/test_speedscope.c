// SPDX-License-Identifier: BSD-2-Clause
/* The speedscope writer: exact output for small profiles (one profile per
 * thread in tid order, frames by first use, samples sorted and merged,
 * weights in nanoseconds), the --no-threads view, counts without a
 * frequency, JSON escaping of hostile names, ill-formed UTF-8 replaced,
 * and write errors reported. */
#include "check.h"
#include "out_speedscope.h"
#include "profile.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HEAD "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
#define FFFD "\xef\xbf\xbd"

static char *write_doc(const struct pp_profile *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK_EQ_INT(speedscope_write(p, f), 0);
	fclose(f);
	if (CHECK_VERBOSE)
		printf("%s", text);
	return text;
}

static uint32_t frame(struct pp_profile *p, enum pp_frame_kind kind, const char *name, const char *file, int line,
		      uint64_t num)
{
	return profile_intern_frame(
		p, &(struct pp_frame){.kind = kind, .name = name, .file = file, .line = line, .num = num});
}

/* Written independently of the writer: decodes each code point and checks
 * it is minimally encoded and a scalar value; JSON allows no raw control
 * character in a string, and the writer puts newlines only between items. */
static bool valid_utf8_json_bytes(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	while (*c) {
		uint32_t cp;
		int n;

		if (*c < 0x80) {
			if (*c < 0x20 && *c != '\n')
				return false;
			c++;
			continue;
		}
		if ((*c & 0xe0) == 0xc0) {
			n = 1;
			cp = *c & 0x1f;
		} else if ((*c & 0xf0) == 0xe0) {
			n = 2;
			cp = *c & 0x0f;
		} else if ((*c & 0xf8) == 0xf0) {
			n = 3;
			cp = *c & 0x07;
		} else {
			return false;
		}
		for (int i = 1; i <= n; i++) {
			if ((c[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (c[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		c += n + 1;
	}
	return true;
}

/* Two threads, inserted out of order; every kind of frame; a symbol at two
 * addresses (one frame of the table); a stack with nothing below the thread. */
static struct pp_profile *two_threads(unsigned frequency)
{
	struct pp_profile *p = profile_new();
	uint32_t proc = frame(p, PP_FRAME_PROCESS, "python3", NULL, 0, 100),
		 worker = frame(p, PP_FRAME_THREAD, "worker", NULL, 0, 101),
		 main = frame(p, PP_FRAME_THREAD, "main", NULL, 0, 100),
		 call = frame(p, PP_FRAME_INTERP, "PyObject_Call", "/usr/bin/python3.11", 0, 0x1000),
		 f = frame(p, PP_FRAME_PYTHON, "f", "app.py", 3, 0),
		 memcpy1 = frame(p, PP_FRAME_NATIVE, "memcpy", "/lib/libc.so.6", 0, 0x2000),
		 memcpy2 = frame(p, PP_FRAME_NATIVE, "memcpy", "/lib/libc.so.6", 0, 0x2040),
		 sys = frame(p, PP_FRAME_KERNEL, "do_syscall_64", NULL, 0, 0),
		 g = frame(p, PP_FRAME_PYTHON, "g", "app.py", 0, 0), trunc = profile_intern(p, "[truncated]");
	uint32_t s1[] = {proc, worker, call, f, memcpy1, sys}, s2[] = {proc, main, f}, s3[] = {proc, main, g, trunc},
		 s4[] = {proc, main, f, memcpy2}, s5[] = {proc, main, f, memcpy1}, s6[] = {proc, main};

	profile_set_info(p, &(struct pp_profile_info){.title = "python3 (100): app.py", .frequency = frequency});
	profile_add(p, s1, 6, 20);
	profile_add(p, s2, 3, 2);
	profile_add(p, s3, 4, 1);
	profile_add(p, s4, 4, 4);
	profile_add(p, s2, 3, 1);
	profile_add(p, s5, 4, 1);
	profile_add(p, s6, 2, 1);
	return p;
}

static void test_threads(void)
{
	struct pp_profile *p = two_threads(100);
	char *text = write_doc(p);

	CHECK_EQ_STR(text, HEAD "\"name\":\"python3 (100): app.py\",\n"
				"\"exporter\":\"pybpfprof " PP_VERSION "\",\n"
				"\"activeProfileIndex\":1,\n"
				"\"shared\":{\"frames\":[\n"
				"{\"name\":\"f\",\"file\":\"app.py\",\"line\":3},\n"
				"{\"name\":\"memcpy\",\"file\":\"/lib/libc.so.6\"},\n"
				"{\"name\":\"g\",\"file\":\"app.py\"},\n"
				"{\"name\":\"[truncated]\"},\n"
				"{\"name\":\"PyObject_Call\",\"file\":\"/usr/bin/python3.11\"},\n"
				"{\"name\":\"do_syscall_64 [kernel]\"}\n"
				"]},\n"
				"\"profiles\":[\n"
				"{\"type\":\"sampled\",\"name\":\"thread main (100)\",\"unit\":\"nanoseconds\","
				"\"startValue\":0,\"endValue\":100000000,\n"
				"\"samples\":[[],[0],[0,1],[2,3]],\n"
				"\"weights\":[10000000,30000000,50000000,10000000]},\n"
				"{\"type\":\"sampled\",\"name\":\"thread worker (101)\",\"unit\":\"nanoseconds\","
				"\"startValue\":0,\"endValue\":200000000,\n"
				"\"samples\":[[4,0,1,5]],\n"
				"\"weights\":[200000000]}\n"
				"]}\n");
	free(text);
	profile_free(p);
}

/* --no-threads: one profile for the process; stacks of both threads that
 * are now equal add up (the view does it) and samples sort by frame text. */
static void test_no_threads(void)
{
	struct pp_profile *p = two_threads(100),
			  *v = profile_view(
				  p,
				  &(struct pp_view){.threads = false, .lines = true, .native = true, .kernel = true});
	char *text = write_doc(v);

	CHECK_EQ_STR(text, HEAD "\"name\":\"python3 (100): app.py\",\n"
				"\"exporter\":\"pybpfprof " PP_VERSION "\",\n"
				"\"activeProfileIndex\":0,\n"
				"\"shared\":{\"frames\":[\n"
				"{\"name\":\"PyObject_Call\",\"file\":\"/usr/bin/python3.11\"},\n"
				"{\"name\":\"f\",\"file\":\"app.py\",\"line\":3},\n"
				"{\"name\":\"memcpy\",\"file\":\"/lib/libc.so.6\"},\n"
				"{\"name\":\"do_syscall_64 [kernel]\"},\n"
				"{\"name\":\"g\",\"file\":\"app.py\"},\n"
				"{\"name\":\"[truncated]\"}\n"
				"]},\n"
				"\"profiles\":[\n"
				"{\"type\":\"sampled\",\"name\":\"python3 (100)\",\"unit\":\"nanoseconds\","
				"\"startValue\":0,\"endValue\":300000000,\n"
				"\"samples\":[[],[0,1,2,3],[1],[1,2],[4,5]],\n"
				"\"weights\":[10000000,200000000,30000000,50000000,10000000]}\n"
				"]}\n");
	free(text);
	profile_free(v);
	profile_free(p);
}

/* Profiles in order: processes by pid, a process's own stacks (no thread
 * frame) before its threads, then stacks without a process frame under the
 * title. */
static void test_order(void)
{
	struct pp_profile *p = profile_new();
	uint32_t p5 = frame(p, PP_FRAME_PROCESS, "p5", NULL, 0, 5), p3 = frame(p, PP_FRAME_PROCESS, "p3", NULL, 0, 3),
		 b = frame(p, PP_FRAME_THREAD, "b", NULL, 0, 6), a = frame(p, PP_FRAME_THREAD, "a", NULL, 0, 4),
		 w = profile_intern(p, "W"), x = profile_intern(p, "X"), y = profile_intern(p, "Y"),
		 z = profile_intern(p, "Z");
	uint32_t s1[] = {z}, s2[] = {p5, b, y}, s3[] = {p5, x}, s4[] = {p3, a, w};
	char *text;

	profile_set_info(p, &(struct pp_profile_info){.title = "mixed"});
	profile_add(p, s1, 1, 4);
	profile_add(p, s2, 3, 3);
	profile_add(p, s3, 2, 2);
	profile_add(p, s4, 3, 1);
	text = write_doc(p);
	CHECK_EQ_STR(
		text, HEAD
		"\"name\":\"mixed\",\n"
		"\"exporter\":\"pybpfprof " PP_VERSION "\",\n"
		"\"activeProfileIndex\":3,\n"
		"\"shared\":{\"frames\":[\n"
		"{\"name\":\"W\"},\n"
		"{\"name\":\"X\"},\n"
		"{\"name\":\"Y\"},\n"
		"{\"name\":\"Z\"}\n"
		"]},\n"
		"\"profiles\":[\n"
		"{\"type\":\"sampled\",\"name\":\"thread a (4)\",\"unit\":\"none\",\"startValue\":0,\"endValue\":1,\n"
		"\"samples\":[[0]],\n"
		"\"weights\":[1]},\n"
		"{\"type\":\"sampled\",\"name\":\"p5 (5)\",\"unit\":\"none\",\"startValue\":0,\"endValue\":2,\n"
		"\"samples\":[[1]],\n"
		"\"weights\":[2]},\n"
		"{\"type\":\"sampled\",\"name\":\"thread b (6)\",\"unit\":\"none\",\"startValue\":0,\"endValue\":3,\n"
		"\"samples\":[[2]],\n"
		"\"weights\":[3]},\n"
		"{\"type\":\"sampled\",\"name\":\"mixed\",\"unit\":\"none\",\"startValue\":0,\"endValue\":4,\n"
		"\"samples\":[[3]],\n"
		"\"weights\":[4]}\n"
		"]}\n");
	free(text);
	profile_free(p);
}

/* Without a frequency there is no time: weights are sample counts. 199 Hz:
 * the period is rounded to a whole nanosecond. */
static void test_units(void)
{
	struct pp_profile *p = two_threads(0);
	char *text = write_doc(p);

	CHECK(strstr(text, "\"name\":\"thread main (100)\",\"unit\":\"none\",\"startValue\":0,\"endValue\":10,\n"
			   "\"samples\":[[],[0],[0,1],[2,3]],\n"
			   "\"weights\":[1,3,5,1]}"));
	free(text);
	profile_free(p);

	p = two_threads(199);
	text = write_doc(p);
	CHECK(strstr(text, "\"endValue\":50251260,\n"
			   "\"samples\":[[],[0],[0,1],[2,3]],\n"
			   "\"weights\":[5025126,15075378,25125630,5025126]}"));
	free(text);
	profile_free(p);
}

/* Names are bytes from the target: quotes, backslashes, control characters,
 * DEL, ill-formed UTF-8 (truncated, surrogate, overlong, above U+10FFFF,
 * stray bytes) and well-formed multibyte characters. */
static void test_hostile(void)
{
	struct pp_profile *p = profile_new();
	uint32_t proc = frame(p, PP_FRAME_PROCESS, "we\"ird\\proc", NULL, 0, 7),
		 thr = frame(p, PP_FRAME_THREAD, "t\x01\x1f\x7f\xff", NULL, 0, 8),
		 py = frame(p, PP_FRAME_PYTHON, "q\"\\x\t", "a\xe2\x82.py", 5, 0),
		 nat = frame(p, PP_FRAME_NATIVE, "sym\xed\xa0\x80", "/lib/l\xc0\xaf.so", 0, 1),
		 k = frame(p, PP_FRAME_KERNEL, "k\n", NULL, 0, 0), m = profile_intern(p, "[m\xf4\x90\x80\x80]"),
		 ok = frame(p, PP_FRAME_PYTHON, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xf0\x9f\x98", 1, 0);
	uint32_t s[] = {proc, thr, py, nat, k, m, ok};
	char *text;

	profile_set_info(p, &(struct pp_profile_info){.title = "t\"\\\x02", .frequency = 1000});
	profile_add(p, s, 7, 1);
	text = write_doc(p);
	CHECK_EQ_STR(text, HEAD "\"name\":\"t\\\"\\\\\\u0002\",\n"
				"\"exporter\":\"pybpfprof " PP_VERSION "\",\n"
				"\"activeProfileIndex\":0,\n"
				"\"shared\":{\"frames\":[\n"
				"{\"name\":\"q\\\"\\\\x\\u0009\",\"file\":\"a" FFFD ".py\",\"line\":5},\n"
				"{\"name\":\"sym" FFFD FFFD FFFD "\",\"file\":\"/lib/l" FFFD FFFD ".so\"},\n"
				"{\"name\":\"k\\u000a [kernel]\"},\n"
				"{\"name\":\"[m" FFFD FFFD FFFD FFFD "]\"},\n"
				"{\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"file\":\"" FFFD "\",\"line\":1}\n"
				"]},\n"
				"\"profiles\":[\n"
				"{\"type\":\"sampled\",\"name\":\"thread t\\u0001\\u001f\x7f" FFFD
				" (8)\",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":1000000,\n"
				"\"samples\":[[0,1,2,3,4]],\n"
				"\"weights\":[1000000]}\n"
				"]}\n");
	CHECK(valid_utf8_json_bytes(text));
	free(text);
	profile_free(p);
}

/* Every byte value in one name: the printable ASCII ones as they are but
 * '"' and '\', control characters as \u00XX, and each of the 128 bytes
 * 0x80-0xff, none of which starts a well-formed sequence here, as U+FFFD. */
static void test_all_bytes(void)
{
	struct pp_profile *p = profile_new();
	char name[256], want[2048], *o = want, *text;
	uint32_t id;

	for (int i = 1; i < 256; i++)
		name[i - 1] = (char)i;
	name[255] = '\0';
	id = profile_intern(p, name);
	profile_add(p, &id, 1, 1);
	o += sprintf(o, "\n{\"name\":\"");
	for (int i = 1; i < 256; i++) {
		if (i < 0x20)
			o += sprintf(o, "\\u%04x", i);
		else if (i == '"' || i == '\\')
			o += sprintf(o, "\\%c", i);
		else if (i < 0x80)
			*o++ = (char)i;
		else
			o += sprintf(o, FFFD);
	}
	sprintf(o, "\"}\n]}");
	text = write_doc(p);
	CHECK(strstr(text, want) != NULL);
	CHECK(valid_utf8_json_bytes(text));
	free(text);
	profile_free(p);
}

/* No samples: still one profile, so that the file opens. */
static void test_empty(void)
{
	struct pp_profile *p = profile_new();
	char *text = write_doc(p);

	CHECK_EQ_STR(text, HEAD
		     "\"exporter\":\"pybpfprof " PP_VERSION "\",\n"
		     "\"activeProfileIndex\":0,\n"
		     "\"shared\":{\"frames\":[\n"
		     "]},\n"
		     "\"profiles\":[\n"
		     "{\"type\":\"sampled\",\"name\":\"samples\",\"unit\":\"none\",\"startValue\":0,\"endValue\":0,\n"
		     "\"samples\":[],\n"
		     "\"weights\":[]}\n"
		     "]}\n");
	free(text);
	profile_free(p);
}

static void test_write_error(void)
{
	struct pp_profile *p = two_threads(100);
	FILE *f = fopen("/dev/full", "w");

	CHECK(f != NULL);
	if (f) {
		CHECK_EQ_INT(speedscope_write(p, f), -1);
		fclose(f);
	}
	profile_free(p);
}

int main(void)
{
	test_threads();
	test_no_threads();
	test_order();
	test_units();
	test_hostile();
	test_all_bytes();
	test_empty();
	test_write_error();
	return check_report("test_speedscope");
}
