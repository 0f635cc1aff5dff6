// SPDX-License-Identifier: BSD-2-Clause
/* The SVG flame graph read back: names escaped (XML specials, bad UTF-8,
 * control characters), one frame element per merged node that is wide
 * enough, widths proportional to samples, children inside their parent and
 * ordered by name, kinds and colours as documented, title and legend.
 * With SVG_SAMPLE_DIR set it also leaves svg_sample.svg and svg_sample.folded of
 * the same profile there (tests/formats/svg_check.py's self-test uses them). */
#include "check.h"
#include "out_folded.h"
#include "out_svg.h"
#include "profile.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 64

struct parsed {
	char kind[16];
	char name[256];
	char fill[16];
	unsigned long long count;
	double x, y, w;
};

static char *render(const struct pp_profile *p, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*rc = svg_write(p, f);
	fclose(f);
	return text;
}

/* The attribute value of name="..." after s, before the end of its tag. */
static int attr(const char *s, const char *name, char *out, size_t cap)
{
	char key[64];
	const char *end = strchr(s, '>'), *a, *q;

	snprintf(key, sizeof(key), " %s=\"", name);
	a = strstr(s, key);
	if (!a || (end && a > end))
		return -1;
	a += strlen(key);
	q = strchr(a, '"');
	if (!q || (size_t)(q - a) >= cap)
		return -1;
	memcpy(out, a, q - a);
	out[q - a] = '\0';
	return 0;
}

static double attr_num(const char *s, const char *name)
{
	char v[64];

	return attr(s, name, v, sizeof(v)) ? -1 : atof(v);
}

static void unescape(const char *s, size_t n, char *out, size_t cap)
{
	static const struct {
		const char *ent, *ch;
	} ents[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&#9;", "\t"}};
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap;) {
		size_t k;

		for (k = 0; k < PP_ARRAY_LEN(ents); k++)
			if (strncmp(s + i, ents[k].ent, strlen(ents[k].ent)) == 0)
				break;
		if (k < PP_ARRAY_LEN(ents)) {
			out[o++] = ents[k].ch[0];
			i += strlen(ents[k].ent);
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
}

/* Every frame element, in document order. */
static int parse_frames(const char *svg, struct parsed *out, int cap)
{
	int n = 0;

	for (const char *g = strstr(svg, "<g class=\"f\""); g; g = strstr(g + 1, "<g class=\"f\"")) {
		struct parsed *pf = &out[n];
		const char *t = strstr(g, "<title>"), *te = t ? strstr(t, "</title>") : NULL, *r = strstr(g, "<rect ");
		const char *paren;

		if (n == cap || !te || !r)
			return -1;
		memset(pf, 0, sizeof(*pf));
		attr(g, "data-kind", pf->kind, sizeof(pf->kind));
		/* "NAME (N samples, P%)": the count is after the last " (" */
		for (paren = te; paren > t && strncmp(paren, " (", 2) != 0; paren--)
			;
		unescape(t + 7, paren - (t + 7), pf->name, sizeof(pf->name));
		pf->count = strtoull(paren + 2, NULL, 10);
		CHECK(strncmp(paren + 2 + strspn(paren + 2, "0123456789"), " samples, ", 10) == 0);
		pf->x = attr_num(r, "x");
		pf->y = attr_num(r, "y");
		pf->w = attr_num(r, "width");
		attr(r, "fill", pf->fill, sizeof(pf->fill));
		n++;
	}
	return n;
}

static const struct parsed *find(const struct parsed *fs, int n, const char *name, unsigned long long count)
{
	for (int i = 0; i < n; i++)
		if (strcmp(fs[i].name, name) == 0 && fs[i].count == count)
			return &fs[i];
	return NULL;
}

/* Well-formed UTF-8 with no control character but newline. */
static int clean_utf8(const unsigned char *s)
{
	while (*s) {
		int need = *s < 0x80		 ? 0
			   : (*s & 0xe0) == 0xc0 ? 1
			   : (*s & 0xf0) == 0xe0 ? 2
			   : (*s & 0xf8) == 0xf0 ? 3
						 : -1;

		if (need < 0 || (*s < 0x20 && *s != '\n'))
			return 0;
		s++;
		for (int i = 0; i < need; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* Every '<' opens markup the writer itself emits: a name's '<' must have
 * become "&lt;". */
static int only_known_tags(const char *svg)
{
	static const char *const tags[] = {"?xml ",    "svg ",	 "/svg>",   "style>",  "/style>", "script ",
					   "/script>", "rect ",	 "text ",   "/text>",  "g ",	  "g>",
					   "/g>",      "title>", "/title>", "![CDATA["};

	for (const char *c = strchr(svg, '<'); c; c = strchr(c + 1, '<')) {
		size_t k;

		for (k = 0; k < PP_ARRAY_LEN(tags); k++)
			if (strncmp(c + 1, tags[k], strlen(tags[k])) == 0)
				break;
		if (k == PP_ARRAY_LEN(tags)) {
			fprintf(stderr, "unexpected markup: %.40s\n", c);
			return 0;
		}
		/* inside CDATA anything goes until "]]>" */
		if (k == PP_ARRAY_LEN(tags) - 1 && !(c = strstr(c, "]]>")))
			return 0;
	}
	return 1;
}

/* 20000 distinct stacks of long names: the file must stay a few MB. In
 * "chains" each stack is its own deep chain of 0.1%, the worst case for a
 * fixed cut; else a tree with a fan-out of 4 and uneven counts. */
static void check_big(bool chains)
{
	struct pp_profile *p = profile_new();
	uint32_t st[64], root = profile_intern(p, "python3 (1)");
	unsigned long long min = 0;
	int rc, n = 0, under = 0;
	char *svg, name[128], long_title[301], heading[220];
	size_t len;

	for (uint32_t i = 0; i < 20000; i++) {
		size_t depth = chains ? 60 : 20 + i % 30;

		st[0] = root;
		for (size_t d = 1; d < depth; d++) {
			uint32_t branch = chains ? i / 20 : (i >> (2 * (d % 8))) % 4 + (uint32_t)d * 4;

			snprintf(name, sizeof(name),
				 "module_%u.some_long_function_name_%zu (/srv/app/pkg/mod_%u.py:%u)", branch, d, branch,
				 (unsigned)d * 7);
			st[d] = profile_intern(p, name);
		}
		snprintf(name, sizeof(name), "leaf_%u", i);
		st[depth] = profile_intern(p, name);
		profile_add(p, st, depth + 1, chains ? 1 + i / 20 % 9 : 1 + i % 7);
	}
	CHECK_EQ_INT(profile_nstacks(p), 20000);
	/* a long title is cut to the width between characters; the tab gets it whole */
	for (int i = 0; i < 150; i++)
		memcpy(long_title + 2 * i, "\xc3\xa9", 2);
	long_title[300] = '\0';
	memcpy(heading, long_title, 200);
	strcpy(heading + 200, "..</text>");
	profile_set_info(p, &(struct pp_profile_info){.title = long_title});
	svg = render(p, &rc);
	CHECK(clean_utf8((const unsigned char *)svg));
	CHECK(strstr(svg, heading) != NULL);
	CHECK(strstr(svg, long_title) != NULL);
	CHECK_EQ_INT(rc, 0);
	len = strlen(svg);
	if (CHECK_VERBOSE)
		printf("big %s: %zu bytes\n", chains ? "chains" : "tree", len);
	CHECK(len < 4 * 1024 * 1024);
	{
		const char *r = strstr(svg, "<svg ");
		char v[32];

		CHECK(r && attr(r, "data-min-samples", v, sizeof(v)) == 0);
		min = strtoull(v, NULL, 10);
	}
	/* nothing under the cut is drawn, and what is drawn is not a trickle */
	for (const char *g = strstr(svg, "<g class=\"f\""); g; g = strstr(g + 1, "<g class=\"f\"")) {
		const char *e = strstr(g, "</title>"), *paren = e;

		while (paren > g && strncmp(paren, " (", 2) != 0)
			paren--;
		n++;
		under += strtoull(paren + 2, NULL, 10) < min;
	}
	CHECK(min >= profile_total(p) / 1000);
	CHECK_EQ_INT(under, 0);
	/* the frame budget is used, not wasted by a coarse cut */
	CHECK(n > (chains ? 1000 : 20));
	CHECK(n <= 8000);
	free(svg);
	profile_free(p);
}

static void save_sample(const struct pp_profile *p, const char *dir)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/svg_sample.svg", dir);
	f = fopen(path, "w");
	CHECK(f && svg_write(p, f) == 0);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/svg_sample.folded", dir);
	f = fopen(path, "w");
	CHECK(f && folded_write(p, f) == 0);
	if (f)
		fclose(f);
}

int main(void)
{
	struct pp_profile *p = profile_new();
	uint32_t proc =
		profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_PROCESS, .name = "py<thon>", .num = 42});
	uint32_t thr =
		profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_THREAD, .name = "main&co", .num = 43});
	/* a comm cut at 15 bytes can end inside a character */
	uint32_t thr2 = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_THREAD, .name = "w\xc3\xa9rker\xe2\x82", .num = 44});
	uint32_t pf = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "f<'\"x\">", .file = "a&b.py", .line = 3});
	uint32_t pg = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "g", .file = "m.py", .line = 7});
	uint32_t nat = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_NATIVE,
								  .name = "deflate<T>",
								  .file = "/usr/lib/x86_64-linux-gnu/libz.so.1",
								  .num = 0x1000});
	/* one label, two libraries: two frames, two elements */
	uint32_t cpy1 = profile_intern_frame(
		p,
		&(struct pp_frame){.kind = PP_FRAME_NATIVE, .name = "memcpy", .file = "/lib/libc.so.6", .num = 0x20});
	uint32_t cpy2 = profile_intern_frame(
		p,
		&(struct pp_frame){.kind = PP_FRAME_NATIVE, .name = "memcpy", .file = "/lib/libz.so.1", .num = 0x30});
	uint32_t ip = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_INTERP,
								 .name = "_PyEval_EvalFrameDefault",
								 .file = "/usr/bin/python3.11",
								 .num = 0x500});
	uint32_t kern = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_KERNEL, .name = "do_syscall_64"});
	uint32_t mark = profile_intern(p, "[truncated]");
	uint32_t bad = profile_intern_frame(
		p,
		&(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "bad\xff\x01na\nme;x", .file = "b.py", .line = 1});
	uint32_t tiny = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_KERNEL, .name = "tiny"});
	struct {
		uint32_t fr[6];
		size_t n;
		uint64_t count;
	} stacks[] = {
		{{proc, thr, pf, ip, nat}, 5, 5000},
		{{proc, thr, pf, pg}, 4, 3000},
		{{proc, thr, pf}, 3, 1000},
		{{proc, thr, pg, kern}, 4, 800},
		{{proc, mark}, 2, 50},
		{{proc, thr2}, 2, 50},
		{{proc, thr, pf, ip, cpy1}, 5, 40},
		{{proc, thr, pf, ip, cpy2}, 5, 30},
		{{proc, thr, bad}, 3, 25},
		/* 5 of 10000: under 0.1%, not drawn, but in its parents' widths */
		{{proc, thr, pg, tiny}, 4, 5},
	};
	/* Each merged node: its name, samples, kind, depth. */
	struct {
		const char *name;
		unsigned long long count;
		const char *kind;
		int depth;
	} want[] = {
		{"py<thon> (42)", 10000, "process", 1},
		{"thread main&co (43)", 9900, "thread", 2},
		{"[truncated]", 50, "marker", 2},
		{"thread w\xc3\xa9rker\xef\xbf\xbd (44)", 50, "thread", 2},
		{"f<'\"x\"> (a&b.py:3)", 9070, "python", 3},
		{"g (m.py:7)", 805, "python", 3},
		{"bad\xef\xbf\xbd\xef\xbf\xbdna me;x (b.py:1)", 25, "python", 3},
		{"_PyEval_EvalFrameDefault", 5070, "interp", 4},
		{"g (m.py:7)", 3000, "python", 4},
		{"do_syscall_64_[k]", 800, "kernel", 4},
		{"deflate<T>", 5000, "native", 5},
		{"memcpy", 40, "native", 5},
		{"memcpy", 30, "native", 5},
	};
	struct parsed fs[MAXF];
	char *svg, *again, v[64];
	const char *dir = getenv("SVG_SAMPLE_DIR");
	double width, x0, maxy = 0;
	int n, rc;

	for (size_t i = 0; i < PP_ARRAY_LEN(stacks); i++)
		profile_add(p, stacks[i].fr, stacks[i].n, stacks[i].count);
	profile_set_info(p, &(struct pp_profile_info){.title = "python3.11 (42): <app>.py & co",
						      .frequency = 199,
						      .start_unix_ns = 1700000000ULL * 1000000000ULL,
						      .duration_ns = 5200000000ULL});
	CHECK_EQ_INT(profile_total(p), 10000);

	svg = render(p, &rc);
	CHECK_EQ_INT(rc, 0);
	if (CHECK_VERBOSE)
		fputs(svg, stdout);

	/* escaping: only the writer's own markup, valid UTF-8, no control characters */
	CHECK(only_known_tags(svg));
	CHECK(clean_utf8((const unsigned char *)svg));
	CHECK(strstr(svg, "py<thon") == NULL);
	CHECK(strstr(svg, "py&lt;thon&gt; (42)") != NULL);
	CHECK(strstr(svg, "f&lt;&#39;&quot;x&quot;&gt; (a&amp;b.py:3)") != NULL);
	CHECK(strstr(svg, "deflate&lt;T&gt;") != NULL);

	/* the root's attributes, title, subtitle, legend, script */
	CHECK(attr(strstr(svg, "<svg "), "data-total-samples", v, sizeof(v)) == 0 && strcmp(v, "10000") == 0);
	width = attr_num(strstr(svg, "<svg "), "data-width");
	x0 = attr_num(strstr(svg, "<svg "), "data-x0");
	CHECK(width > 500);
	CHECK(x0 >= 0);
	CHECK(strstr(svg, ">python3.11 (42): &lt;app&gt;.py &amp; co</text>") != NULL);
	CHECK(strstr(svg, "<title>python3.11 (42): &lt;app&gt;.py &amp; co - pybpfprof flame graph</title>") != NULL);
	CHECK(strstr(svg, "5.2 s at 199 Hz") != NULL);
	CHECK(strstr(svg, "10000 samples") != NULL);
	CHECK(strstr(svg, "2023-11-14 22:13:20 UTC") != NULL);
	{
		static const char *const legend[] = {"python", "native", "interp", "kernel", "process", "marker"};

		for (size_t i = 0; i < PP_ARRAY_LEN(legend); i++) {
			char key[64];

			snprintf(key, sizeof(key), "class=\"swatch\" data-kind=\"%s\"", legend[i]);
			CHECK(strstr(svg, key) != NULL);
		}
	}
	CHECK(strstr(svg, ">Python</text>") && strstr(svg, ">kernel</text>") && strstr(svg, ">native: interpreter<"));
	CHECK(strstr(svg, "<script") && strstr(svg, "<![CDATA[") && strstr(svg, "Reset zoom"));
	CHECK(strstr(svg, "href") == NULL && strstr(svg, " src=") == NULL);
	CHECK(attr(strstr(svg, "<svg "), "data-min-samples", v, sizeof(v)) == 0 && strcmp(v, "10") == 0);

	/* one element per merged node; the 5-sample frame is left out */
	n = parse_frames(svg, fs, MAXF);
	CHECK_EQ_INT(n, PP_ARRAY_LEN(want));
	CHECK(strstr(svg, "tiny") == NULL);
	for (int i = 0; i < n; i++)
		if (fs[i].y > maxy)
			maxy = fs[i].y;
	for (size_t i = 0; n > 0 && i < PP_ARRAY_LEN(want); i++) {
		const struct parsed *e = find(fs, n, want[i].name, want[i].count);
		double depth;

		if (!e) {
			fprintf(stderr, "no frame \"%s\" with %llu samples\n", want[i].name, want[i].count);
			CHECK(e != NULL);
			continue;
		}
		CHECK_EQ_STR(e->kind, want[i].kind);
		/* the root at the bottom, one row per depth */
		depth = (maxy - e->y) / 16 + 1;
		CHECK(depth > want[i].depth - 0.01 && depth < want[i].depth + 0.01);
		/* width proportional to the samples, to the written precision */
		CHECK(e->w > 0);
		CHECK(e->w - want[i].count * width / 10000 < 0.002 && want[i].count * width / 10000 - e->w < 0.002);
		CHECK(e->x >= x0 - 0.001 && e->x + e->w <= x0 + width + 0.002);
	}
	if (n == (int)PP_ARRAY_LEN(want)) {
		const struct parsed *root = find(fs, n, "py<thon> (42)", 10000),
				    *thread = find(fs, n, "thread main&co (43)", 9900);
		const struct parsed *f = find(fs, n, "f<'\"x\"> (a&b.py:3)", 9070), *g = find(fs, n, "g (m.py:7)", 805);
		const struct parsed *g2 = find(fs, n, "g (m.py:7)", 3000), *mk = find(fs, n, "[truncated]", 50);
		const struct parsed *bd = find(fs, n, "bad\xef\xbf\xbd\xef\xbf\xbdna me;x (b.py:1)", 25),
				    *ipf = find(fs, n, "_PyEval_EvalFrameDefault", 5070);
		const struct parsed *dfl = find(fs, n, "deflate<T>", 5000);
		const struct parsed *wk = find(fs, n, "thread w\xc3\xa9rker\xef\xbf\xbd (44)", 50);

		if (root && thread && f && g && g2 && mk && bd && ipf && dfl) {
			/* siblings by name: "[truncated]" before "thread ...", "bad" < "f<" < "g" */
			CHECK(mk->x < thread->x);
			CHECK(wk && thread->x < wk->x);
			CHECK(bd->x < f->x && f->x < g->x);
			/* children start at their parent's left edge and stay inside it */
			CHECK(root->x - x0 < 0.001);
			CHECK(mk->x - root->x < 0.001);
			CHECK(g->x + g->w <= thread->x + thread->w + 0.002);
			/* g (805) has 800 drawn in its kernel child and 5 elided: its width still counts them */
			CHECK(g->w > 800 * width / 10000 + 0.05);
			CHECK(ipf->x >= f->x && ipf->x + ipf->w <= f->x + f->w + 0.002);
			CHECK(dfl->x - ipf->x < 0.001);
			/* one function name, one shade; kinds in different families */
			CHECK_EQ_STR(g->fill, g2->fill);
			CHECK(strcmp(f->fill, g->fill) != 0);
			CHECK(strcmp(dfl->fill, ipf->fill) != 0);
		} else {
			CHECK(!"frames missing");
		}
	}

	/* the same profile writes the same bytes */
	again = render(p, &rc);
	CHECK_EQ_STR(again, svg);
	free(again);
	free(svg);

	if (dir)
		save_sample(p, dir);

	/* a write error is reported */
	{
		FILE *full = fopen("/dev/full", "w");

		if (full) {
			CHECK_EQ_INT(svg_write(p, full), -1);
			fclose(full);
		}
	}
	profile_free(p);

	check_big(false);
	check_big(true);

	/* an empty profile is still a well-formed graph */
	p = profile_new();
	svg = render(p, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(strstr(svg, "data-total-samples=\"0\"") != NULL);
	CHECK(strstr(svg, "No samples") != NULL);
	CHECK(strstr(svg, "<g class=\"f\"") == NULL);
	CHECK(strstr(svg, "</svg>\n") != NULL);
	CHECK(only_known_tags(svg));
	free(svg);
	profile_free(p);
	return check_report("test_svg");
}
