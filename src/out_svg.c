// SPDX-License-Identifier: BSD-2-Clause
#include "out_svg.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SVG_WIDTH 1200
#define SVG_PAD	  10
#define FRAME_W	  (SVG_WIDTH - 2 * SVG_PAD)
#define ROW_H	  16
#define TITLE_MAX 100 /* characters of the heading that fit the width at 17 px */
#define HEAD_H	  92
#define FOOT_H	  34
/* Monospace at 11 px is 0.6 em a character: labels are cut to fit by count
 * here, and the script re-measures the real font when it runs. */
#define CHAR_W 6.6
/* A frame under 1/ELIDE of the samples would be about a pixel wide: it is
 * left out (its samples stay in its parent's width) to keep files small. */
#define ELIDE 1000
/* Many deep stacks can still each hold 1/ELIDE: past this many frames the
 * cut rises, so the file stays a few MB whatever the profile. */
#define MAX_FRAMES 8000

struct node {
	uint32_t frame;
	uint32_t parent;
	uint32_t first; /* its children are kids[first..first+nkids) */
	uint32_t nkids;
	uint32_t depth; /* 1 for a root frame */
	uint64_t count;
	uint64_t start; /* samples left of it on its row */
};

struct tree {
	const struct pp_profile *p;
	struct node *n;
	size_t len, cap;
	uint32_t *index; /* (parent, frame) -> node + 1, open addressing */
	size_t index_cap;
	uint32_t *kids;
};

static size_t edge_slot(const struct tree *t, uint32_t parent, uint32_t frame)
{
	return pp_hash_u64(((uint64_t)parent << 32) | frame) & (t->index_cap - 1);
}

static void index_grow(struct tree *t)
{
	t->index_cap = t->index_cap ? t->index_cap * 2 : 1024;
	free(t->index);
	t->index = pp_xcalloc(t->index_cap, sizeof(*t->index));
	for (size_t k = 1; k < t->len; k++) {
		size_t i = edge_slot(t, t->n[k].parent, t->n[k].frame);

		while (t->index[i])
			i = (i + 1) & (t->index_cap - 1);
		t->index[i] = (uint32_t)k + 1;
	}
}

static uint32_t tree_child(struct tree *t, uint32_t parent, uint32_t frame)
{
	size_t i;

	if ((t->len + 1) * 2 > t->index_cap)
		index_grow(t);
	for (i = edge_slot(t, parent, frame); t->index[i]; i = (i + 1) & (t->index_cap - 1)) {
		const struct node *c = &t->n[t->index[i] - 1];

		if (c->parent == parent && c->frame == frame)
			return t->index[i] - 1;
	}
	pp_grow((void **)&t->n, &t->cap, t->len + 1, sizeof(*t->n));
	t->n[t->len] = (struct node){.frame = frame, .parent = parent, .depth = t->n[parent].depth + 1};
	t->index[i] = (uint32_t)t->len + 1;
	return (uint32_t)t->len++;
}

static int frame_order(const struct pp_profile *p, uint32_t a, uint32_t b)
{
	const struct pp_frame *fa = profile_frame(p, a), *fb = profile_frame(p, b);
	int c = strcmp(profile_name(p, a), profile_name(p, b));

	/* Equal labels (one function name in two libraries) still need a fixed order. */
	if (c == 0)
		c = (int)fa->kind - (int)fb->kind;
	if (c == 0)
		c = strcmp(fa->file ? fa->file : "", fb->file ? fb->file : "");
	if (c == 0)
		c = (fa->num > fb->num) - (fa->num < fb->num);
	if (c == 0)
		c = (a > b) - (a < b);
	return c;
}

static int kid_cmp(const void *a, const void *b, void *arg)
{
	const struct tree *t = arg;

	return frame_order(t->p, t->n[*(const uint32_t *)a].frame, t->n[*(const uint32_t *)b].frame);
}

/* Node 0 stands above the roots; the others are frames, siblings with the
 * same frame id merged, each parent before its children in n[]. */
static void tree_build(struct tree *t, const struct pp_profile *p)
{
	uint32_t *fill;

	memset(t, 0, sizeof(*t));
	t->p = p;
	pp_grow((void **)&t->n, &t->cap, 1, sizeof(*t->n));
	t->n[0] = (struct node){.frame = UINT32_MAX, .parent = UINT32_MAX};
	t->len = 1;
	for (size_t i = 0; i < profile_nstacks(p); i++) {
		size_t nf;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &nf, &count);
		uint32_t at = 0;

		t->n[0].count += count;
		for (size_t j = 0; j < nf; j++) {
			at = tree_child(t, at, fr[j]);
			t->n[at].count += count;
		}
	}

	for (size_t k = 1; k < t->len; k++)
		t->n[t->n[k].parent].nkids++;
	for (size_t k = 0, off = 0; k < t->len; k++) {
		t->n[k].first = (uint32_t)off;
		off += t->n[k].nkids;
	}
	t->kids = pp_xmalloc(t->len * sizeof(*t->kids));
	fill = pp_xcalloc(t->len, sizeof(*fill));
	for (size_t k = 1; k < t->len; k++) {
		uint32_t par = t->n[k].parent;

		t->kids[t->n[par].first + fill[par]++] = (uint32_t)k;
	}
	free(fill);

	for (size_t k = 0; k < t->len; k++) {
		struct node *n = &t->n[k];
		uint64_t off = n->start;

		qsort_r(t->kids + n->first, n->nkids, sizeof(*t->kids), kid_cmp, t);
		for (uint32_t c = 0; c < n->nkids; c++) {
			struct node *kid = &t->n[t->kids[n->first + c]];

			kid->start = off;
			off += kid->count;
		}
	}
}

static void tree_free(struct tree *t)
{
	free(t->n);
	free(t->index);
	free(t->kids);
}

static bool drawn(const struct node *n, uint64_t min)
{
	return n->count > 0 && n->count >= min;
}

static int count_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y) - (x > y);
}

/* The fewest samples a drawn frame has: 1/ELIDE of all, or more when that
 * would draw over MAX_FRAMES, then the widest MAX_FRAMES at most. A parent
 * has at least its child's samples, so no drawn frame loses its parent. */
static uint64_t draw_cut(const struct tree *t, uint64_t total)
{
	uint64_t min = (total + ELIDE - 1) / ELIDE, *counts;
	size_t n = 0;

	counts = pp_xmalloc(t->len * sizeof(*counts));
	for (size_t k = 1; k < t->len; k++)
		if (drawn(&t->n[k], min))
			counts[n++] = t->n[k].count;
	if (n > MAX_FRAMES) {
		qsort(counts, n, sizeof(*counts), count_desc);
		min = counts[MAX_FRAMES] + 1;
	}
	free(counts);
	return min;
}

/* One code point; an ill-formed sequence becomes one U+FFFD per maximal
 * subpart, the way Python's errors="replace" reads it, so that a name
 * read back from the SVG compares equal with the same name read from the
 * folded output. Never steps over the terminating NUL. */
static uint32_t next_cp(const unsigned char **ps)
{
	const unsigned char *s = *ps;
	unsigned lead = *s++, lo = 0x80, hi = 0xbf;
	uint32_t cp;
	int need;

	if (lead < 0x80) {
		*ps = s;
		return lead;
	}
	if (lead >= 0xc2 && lead <= 0xdf) {
		need = 1;
		cp = lead & 0x1f;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		need = 2;
		cp = lead & 0x0f;
		lo = lead == 0xe0 ? 0xa0 : 0x80;
		hi = lead == 0xed ? 0x9f : 0xbf;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		need = 3;
		cp = lead & 0x07;
		lo = lead == 0xf0 ? 0x90 : 0x80;
		hi = lead == 0xf4 ? 0x8f : 0xbf;
	} else {
		*ps = s;
		return 0xfffd;
	}
	for (int i = 0; i < need; i++, lo = 0x80, hi = 0xbf) {
		if (*s < lo || *s > hi) {
			*ps = s;
			return 0xfffd;
		}
		cp = (cp << 6) | (*s++ & 0x3f);
	}
	*ps = s;
	return cp;
}

static size_t cp_count(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;

	while (*u) {
		next_cp(&u);
		n++;
	}
	return n;
}

/* XML text or attribute value. Line breaks become spaces as in the folded
 * output; other control characters are not allowed in XML 1.0 at all. */
static void put_cp(FILE *f, uint32_t cp)
{
	switch (cp) {
	case '<':
		fputs("&lt;", f);
		return;
	case '>':
		fputs("&gt;", f);
		return;
	case '&':
		fputs("&amp;", f);
		return;
	case '"':
		fputs("&quot;", f);
		return;
	case '\'':
		fputs("&#39;", f);
		return;
	case '\t':
		fputs("&#9;", f);
		return;
	case '\n':
	case '\r':
		fputc(' ', f);
		return;
	}
	if (cp < 0x20 || cp == 0xfffe || cp == 0xffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		fputc((int)cp, f);
	} else if (cp < 0x800) {
		fputc(0xc0 | (cp >> 6), f);
		fputc(0x80 | (cp & 0x3f), f);
	} else if (cp < 0x10000) {
		fputc(0xe0 | (cp >> 12), f);
		fputc(0x80 | ((cp >> 6) & 0x3f), f);
		fputc(0x80 | (cp & 0x3f), f);
	} else {
		fputc(0xf0 | (cp >> 18), f);
		fputc(0x80 | ((cp >> 12) & 0x3f), f);
		fputc(0x80 | ((cp >> 6) & 0x3f), f);
		fputc(0x80 | (cp & 0x3f), f);
	}
}

/* At most max code points of s. */
static void put_xml(FILE *f, const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t n = 0; *u && n < max; n++)
		put_cp(f, next_cp(&u));
}

/* The label that fits w units: the whole name, or its start and "..". */
static void put_label(FILE *f, const char *name, double w)
{
	double fit = (w - 6) / CHAR_W;
	size_t len;

	if (fit < 3)
		return;
	len = cp_count(name);
	if ((double)len <= fit) {
		put_xml(f, name, len);
		return;
	}
	put_xml(f, name, (size_t)fit - 2);
	fputs("..", f);
}

/* Each kind a family of hues; the name picks the shade within it, so a
 * function keeps its colour from one graph to the next. */
static const struct family {
	const char *kind; /* data-kind */
	const char *legend;
	int h0, h1; /* hue range, degrees */
	int s; /* saturation, % */
	int l0, l1; /* lightness range, %: light enough for black text */
} families[PP_FRAME_NKINDS] = {
	[PP_FRAME_MARKER] = {"marker", "marker", 0, 0, 0, 68, 74},
	[PP_FRAME_PROCESS] = {"process", "process / thread", 35, 45, 14, 78, 82},
	[PP_FRAME_THREAD] = {"thread", NULL, 35, 45, 14, 84, 88},
	[PP_FRAME_PYTHON] = {"python", "Python", 95, 170, 52, 55, 70},
	[PP_FRAME_NATIVE] = {"native", "native: library / C extension", 22, 50, 88, 56, 68},
	[PP_FRAME_INTERP] = {"interp", "native: interpreter", 258, 292, 58, 70, 80},
	[PP_FRAME_KERNEL] = {"kernel", "kernel", 196, 226, 72, 64, 78},
};

/* Threads share the process's swatch: both only say where a stack runs. */
static const int legend_order[] = {PP_FRAME_PYTHON, PP_FRAME_NATIVE,  PP_FRAME_INTERP,
				   PP_FRAME_KERNEL, PP_FRAME_PROCESS, PP_FRAME_MARKER};

static const struct family *family_of(uint8_t kind)
{
	return &families[kind < PP_FRAME_NKINDS ? kind : PP_FRAME_MARKER];
}

static unsigned hsl_rgb(double h, double s, double l)
{
	double c = (1 - (l > 0.5 ? 2 * l - 1 : 1 - 2 * l)) * s, hp = h / 60;
	double hm = hp - 2 * (int)(hp / 2) - 1, x = c * (1 - (hm < 0 ? -hm : hm)), m = l - c / 2;
	double rgb[6][3] = {{c, x, 0}, {x, c, 0}, {0, c, x}, {0, x, c}, {x, 0, c}, {c, 0, x}};
	const double *v = rgb[(int)hp % 6];

	return (unsigned)((v[0] + m) * 255 + 0.5) << 16 | (unsigned)((v[1] + m) * 255 + 0.5) << 8 |
	       (unsigned)((v[2] + m) * 255 + 0.5);
}

static unsigned family_shade(const struct family *fam, double u, double v)
{
	return hsl_rgb(fam->h0 + u * (fam->h1 - fam->h0), fam->s / 100.0, (fam->l0 + v * (fam->l1 - fam->l0)) / 100.0);
}

static unsigned frame_colour(const struct pp_frame *fr)
{
	uint64_t h = pp_hash_u64(pp_hash_bytes(fr->name, strlen(fr->name), 0));

	return family_shade(family_of(fr->kind), (double)(h & 0xffff) / 0xffff, (double)((h >> 16) & 0xffff) / 0xffff);
}

static const char style[] =
	"<style><![CDATA[\n"
	"text{font-family:Verdana,'DejaVu Sans',sans-serif;font-size:12px;fill:#1d1d1d}\n"
	"#title{font-size:17px;font-weight:bold}\n"
	"#frames text,.mono,#tip text{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px}\n"
	"#frames text{pointer-events:none}\n"
	".f{cursor:pointer}\n"
	".f rect{stroke:#fff;stroke-width:.5}\n"
	".f:hover rect{stroke:#000;stroke-width:1}\n"
	".f.anc{opacity:.55}\n"
	".f.hit rect{fill:#e0179e}\n"
	".f.hit text{fill:#fff}\n"
	".ctl{fill:#0b57a4;cursor:pointer;text-decoration:underline}\n"
	".hide{display:none}\n"
	"#tip rect{fill:#fffff4;stroke:#555;stroke-width:1}\n"
	"]]></style>\n";

/* One script for the whole graph: it reads the frames back from their
 * elements (name and samples from the title, place from the rect), so
 * nothing is emitted per frame. Zoom scales a frame to the full width
 * with its descendants, keeps its ancestors (dimmed) and hides the rest;
 * frames nest by x range, so geometry alone tells who is inside whom. */
static const char script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"(function () {\n"
	"\"use strict\";\n"
	"var svg = document.documentElement, NS = \"http://www.w3.org/2000/svg\";\n"
	"var X0 = +svg.getAttribute(\"data-x0\"), W = +svg.getAttribute(\"data-width\");\n"
	"var total = +svg.getAttribute(\"data-total-samples\"), E = 0.01;\n"
	"var kinds = {python: \"Python\", native: \"native\", interp: \"native, interpreter\",\n"
	"  kernel: \"kernel\", marker: \"marker\", process: \"process\", thread: \"thread\"};\n"
	"var frames = [], zoomed = null, term = \"\", cw = 6.6;\n"
	"function $(id) { return document.getElementById(id); }\n"
	"var gs = document.querySelectorAll(\"g.f\");\n"
	"for (var i = 0; i < gs.length; i++) {\n"
	"  var g = gs[i], t = g.querySelector(\"title\"), r = g.querySelector(\"rect\");\n"
	"  var m = /^([\\s\\S]*) \\((\\d+) samples, [^()]*\\)$/.exec(t.textContent);\n"
	"  var f = {g: g, r: r, t: g.querySelector(\"text\"), name: m ? m[1] : t.textContent,\n"
	"    n: m ? +m[2] : 0, x: +r.getAttribute(\"x\"), w: +r.getAttribute(\"width\"),\n"
	"    y: +r.getAttribute(\"y\"), kind: g.getAttribute(\"data-kind\"), mod: g.getAttribute(\"data-m\")};\n"
	"  /* the tooltip below replaces the browser's, which would cover it */\n"
	"  g.setAttribute(\"aria-label\", t.textContent);\n"
	"  g.removeChild(t);\n"
	"  g.pf = f;\n"
	"  frames.push(f);\n"
	"}\n"
	"(function () {\n"
	"  var p = document.createElementNS(NS, \"text\");\n"
	"  p.textContent = \"0123456789abcdefghijklmnopqrstuvwxyz\";\n"
	"  $(\"frames\").appendChild(p);\n"
	"  var len = p.getComputedTextLength();\n"
	"  if (len > 0) cw = len / p.textContent.length;\n"
	"  p.parentNode.removeChild(p);\n"
	"})();\n"
	"function fit(name, w) {\n"
	"  var k = Math.floor((w - 6) / cw);\n"
	"  if (k < 3) return \"\";\n"
	"  return name.length <= k ? name : name.slice(0, k - 2) + \"..\";\n"
	"}\n"
	"function place(f, x, w) {\n"
	"  f.r.setAttribute(\"x\", x.toFixed(3));\n"
	"  f.r.setAttribute(\"width\", w.toFixed(3));\n"
	"  f.t.setAttribute(\"x\", (x + 3).toFixed(3));\n"
	"  f.t.textContent = fit(f.name, w);\n"
	"}\n"
	"function zoom(z) {\n"
	"  if (z && z.w >= W - E) z = null;\n"
	"  zoomed = z;\n"
	"  frames.forEach(function (f) {\n"
	"    var show = true, anc = false, x = f.x, w = f.w;\n"
	"    if (z && f.y >= z.y) {\n"
	"      show = f.x <= z.x + E && f.x + f.w >= z.x + z.w - E;\n"
	"      anc = f.y > z.y;\n"
	"      x = X0;\n"
	"      w = W;\n"
	"    } else if (z) {\n"
	"      show = f.x >= z.x - E && f.x + f.w <= z.x + z.w + E;\n"
	"      x = X0 + (f.x - z.x) * W / z.w;\n"
	"      w = f.w * W / z.w;\n"
	"    }\n"
	"    f.g.style.display = show ? \"\" : \"none\";\n"
	"    f.g.classList.toggle(\"anc\", show && anc);\n"
	"    if (show) place(f, x, w);\n"
	"  });\n"
	"  $(\"reset\").classList.toggle(\"hide\", !z);\n"
	"}\n"
	"function search(q) {\n"
	"  var re = null, hits = [], n = 0, end = -Infinity;\n"
	"  term = q || \"\";\n"
	"  var m = /^\\/(.+)\\/([a-z]*)$/.exec(term);\n"
	"  if (m) {\n"
	"    try { re = new RegExp(m[1], m[2].replace(/g/g, \"\")); }\n"
	"    catch (err) { $(\"matched\").textContent = \"Bad regex: \" + err.message; return -1; }\n"
	"  }\n"
	"  frames.forEach(function (f) {\n"
	"    var hit = term !== \"\" && (re ? re.test(f.name) : f.name.indexOf(term) >= 0);\n"
	"    f.g.classList.toggle(\"hit\", hit);\n"
	"    if (hit) hits.push(f);\n"
	"  });\n"
	"  /* a match inside a matched frame is already counted: left to right,\n"
	"     ancestors first, skip what starts inside the last counted range */\n"
	"  hits.sort(function (a, b) { return a.x - b.x || b.y - a.y; });\n"
	"  hits.forEach(function (f) {\n"
	"    if (f.x < end - E) return;\n"
	"    n += f.n;\n"
	"    end = f.x + f.w;\n"
	"  });\n"
	"  $(\"matched\").textContent = term ? \"Matched \" + JSON.stringify(term) + \": \" + n + \" of \" + total +\n"
	"    \" samples (\" + (total ? 100 * n / total : 0).toFixed(2) + \"%)\" : \"\";\n"
	"  $(\"clear\").classList.toggle(\"hide\", !term);\n"
	"  return n;\n"
	"}\n"
	"function ask() {\n"
	"  var q = window.prompt(\"Search frames: a substring, or /regex/ with optional flags\", term);\n"
	"  if (q !== null) search(q);\n"
	"}\n"
	"function frameOf(e) {\n"
	"  var g = e.target.closest ? e.target.closest(\"g.f\") : null;\n"
	"  return g ? g.pf : null;\n"
	"}\n"
	"function tipLine(tt, s, bold) {\n"
	"  var l = document.createElementNS(NS, \"tspan\");\n"
	"  l.setAttribute(\"x\", 8);\n"
	"  l.setAttribute(\"dy\", tt.childNodes.length ? 15 : 16);\n"
	"  if (bold) l.setAttribute(\"font-weight\", \"bold\");\n"
	"  l.textContent = s;\n"
	"  tt.appendChild(l);\n"
	"}\n"
	"function showTip(f, e) {\n"
	"  var tip = $(\"tip\"), tt = $(\"tiptext\"), per = 110;\n"
	"  while (tt.firstChild) tt.removeChild(tt.firstChild);\n"
	"  for (var i = 0; i < f.name.length; i += per) tipLine(tt, f.name.slice(i, i + per), true);\n"
	"  var s = f.n + (f.n === 1 ? \" sample, \" : \" samples, \") + (100 * f.n / total).toFixed(2) + \"% of "
	"all\";\n"
	"  if (zoomed && f.y <= zoomed.y) s += \", \" + (100 * f.n / zoomed.n).toFixed(2) + \"% of the zoomed "
	"frame\";\n"
	"  tipLine(tt, s);\n"
	"  tipLine(tt, (kinds[f.kind] || f.kind) + (f.mod ? \" (\" + f.mod + \")\" : \"\"));\n"
	"  tip.setAttribute(\"visibility\", \"visible\");\n"
	"  var b = tt.getBBox();\n"
	"  $(\"tiprect\").setAttribute(\"width\", b.width + 16);\n"
	"  $(\"tiprect\").setAttribute(\"height\", b.height + 10);\n"
	"  moveTip(e);\n"
	"}\n"
	"function moveTip(e) {\n"
	"  var tip = $(\"tip\"), pt = svg.createSVGPoint(), ctm = svg.getScreenCTM();\n"
	"  pt.x = e.clientX;\n"
	"  pt.y = e.clientY;\n"
	"  if (ctm) pt = pt.matrixTransform(ctm.inverse());\n"
	"  var w = +$(\"tiprect\").getAttribute(\"width\"), h = +$(\"tiprect\").getAttribute(\"height\");\n"
	"  var vw = +svg.getAttribute(\"width\"), vh = +svg.getAttribute(\"height\");\n"
	"  var x = pt.x + 14, y = pt.y + 18;\n"
	"  if (x + w > vw) x = Math.max(0, pt.x - w - 8);\n"
	"  if (y + h > vh) y = Math.max(0, pt.y - h - 8);\n"
	"  tip.setAttribute(\"transform\", \"translate(\" + x + \",\" + y + \")\");\n"
	"}\n"
	"var fg = $(\"frames\");\n"
	"fg.addEventListener(\"click\", function (e) { var f = frameOf(e); if (f) zoom(f); });\n"
	"fg.addEventListener(\"mouseover\", function (e) { var f = frameOf(e); if (f) showTip(f, e); });\n"
	"fg.addEventListener(\"mousemove\", function (e) { if (frameOf(e)) moveTip(e); });\n"
	"fg.addEventListener(\"mouseout\", function () { $(\"tip\").setAttribute(\"visibility\", \"hidden\"); });\n"
	"$(\"reset\").addEventListener(\"click\", function () { zoom(null); });\n"
	"$(\"search\").addEventListener(\"click\", ask);\n"
	"$(\"clear\").addEventListener(\"click\", function () { search(\"\"); });\n"
	"document.addEventListener(\"keydown\", function (e) {\n"
	"  if ((e.key === \"f\" && (e.ctrlKey || e.metaKey)) || e.key === \"/\") {\n"
	"    e.preventDefault();\n"
	"    ask();\n"
	"  } else if (e.key === \"Escape\") {\n"
	"    search(\"\");\n"
	"    zoom(null);\n"
	"  }\n"
	"});\n"
	"/* for the console and for tests: zoom(i) by frame index, search(text) */\n"
	"window.flamegraph = {frames: frames, search: search,\n"
	"  zoom: function (i) { zoom(i === null || i === undefined ? null : frames[i]); }};\n"
	"zoom(null);\n"
	"})();\n"
	"]]></script>\n";

static void put_header(FILE *f, const struct pp_profile *p, int height, uint64_t min)
{
	const struct pp_profile_info *info = profile_info(p);
	const char *title = info->title ? info->title : "pybpfprof profile";
	uint64_t total = profile_total(p);
	double x = SVG_PAD;
	char sep[8] = "";

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" data-total-samples=\"%" PRIu64 "\" data-width=\"%d\" data-x0=\"%d\" "
		"data-row-height=\"%d\" data-root=\"bottom\" data-min-samples=\"%" PRIu64 "\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height, total, FRAME_W, SVG_PAD, ROW_H, min);
	fputs(style, f);
	fputs("<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);

	/* The whole title names the browser tab; the heading is cut to the width. */
	fputs("<title>", f);
	put_xml(f, title, SIZE_MAX);
	fputs(" - pybpfprof flame graph</title>\n", f);
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", SVG_WIDTH / 2);
	put_xml(f, title, TITLE_MAX);
	if (cp_count(title) > TITLE_MAX)
		fputs("..", f);
	fputs("</text>\n", f);

	fprintf(f, "<text id=\"subtitle\" x=\"%d\" y=\"43\" text-anchor=\"middle\">", SVG_WIDTH / 2);
	if (info->duration_ns) {
		fprintf(f, "%.1f s", info->duration_ns / 1e9);
		strcpy(sep, " \xc2\xb7 ");
	}
	if (info->frequency) {
		fprintf(f, "%sat %u Hz", info->duration_ns ? " " : "", info->frequency);
		strcpy(sep, " \xc2\xb7 ");
	}
	fprintf(f, "%s%" PRIu64 " sample%s", sep, total, total == 1 ? "" : "s");
	if (info->start_unix_ns) {
		time_t t = (time_t)(info->start_unix_ns / 1000000000ULL);
		struct tm tm;
		char when[32];

		if (gmtime_r(&t, &tm) && strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
			fprintf(f, " \xc2\xb7 started %s", when);
	}
	fputs("</text>\n", f);

	/* The legend, one swatch per family at its middle shade. */
	fputs("<g id=\"legend\">\n", f);
	for (size_t k = 0; k < PP_ARRAY_LEN(legend_order); k++) {
		const struct family *fam = &families[legend_order[k]];

		fprintf(f,
			"<rect class=\"swatch\" data-kind=\"%s\" x=\"%.1f\" y=\"55\" width=\"14\" height=\"12\" "
			"fill=\"#%06x\" stroke=\"#777\" stroke-width=\".5\"/>"
			"<text x=\"%.1f\" y=\"65.5\">%s</text>\n",
			fam->kind, x, family_shade(fam, 0.5, 0.5), x + 19, fam->legend);
		x += 19 + 6.4 * strlen(fam->legend) + 24;
	}
	fputs("</g>\n", f);

	fputs("<text id=\"reset\" class=\"ctl hide\" x=\"10\" y=\"84\">Reset zoom</text>\n", f);
	fprintf(f, "<text id=\"search\" class=\"ctl\" x=\"%d\" y=\"84\" text-anchor=\"end\">Search</text>\n",
		SVG_WIDTH - SVG_PAD);
	fprintf(f, "<text id=\"clear\" class=\"ctl hide\" x=\"%d\" y=\"84\" text-anchor=\"end\">Clear search</text>\n",
		SVG_WIDTH - SVG_PAD - 60);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"84\" text-anchor=\"end\"></text>\n", SVG_WIDTH - SVG_PAD - 160);
}

static void put_footer(FILE *f, int height, uint64_t min, uint64_t total)
{
	fprintf(f,
		"<text id=\"help\" x=\"%d\" y=\"%d\" fill=\"#666\">Root at the bottom, width = samples. Click a "
		"frame to zoom, Esc or Reset zoom to go back; Search (Ctrl-F or /) takes a substring or a /regex/.",
		SVG_PAD, height - 14);
	if (min > 1)
		fprintf(f, " Frames under %" PRIu64 " samples (%.2f%%) are not drawn.", min, 100.0 * min / total);
	fputs("</text>\n", f);
	fputs("<g id=\"tip\" visibility=\"hidden\" pointer-events=\"none\">"
	      "<rect id=\"tiprect\" x=\"0\" y=\"0\" width=\"10\" height=\"10\" rx=\"3\"/>"
	      "<text id=\"tiptext\" x=\"8\" y=\"0\"></text></g>\n",
	      f);
	fputs(script, f);
	fputs("</svg>\n", f);
}

static void put_frame(FILE *f, const struct tree *t, const struct node *n, uint64_t total, int top, uint32_t maxdepth)
{
	const struct pp_frame *fr = profile_frame(t->p, n->frame);
	const char *name = profile_name(t->p, n->frame);
	double x = SVG_PAD + (double)n->start * FRAME_W / total, w = (double)n->count * FRAME_W / total;
	int y = top + (int)(maxdepth - n->depth) * ROW_H;

	fprintf(f, "<g class=\"f\" data-kind=\"%s\"", family_of(fr->kind)->kind);
	if ((fr->kind == PP_FRAME_NATIVE || fr->kind == PP_FRAME_INTERP) && fr->file) {
		fputs(" data-m=\"", f);
		put_xml(f, pp_basename(fr->file), SIZE_MAX);
		fputc('"', f);
	}
	fputs("><title>", f);
	put_xml(f, name, SIZE_MAX);
	fprintf(f, " (%" PRIu64 " samples, %.2f%%)</title>", n->count, 100.0 * n->count / total);
	fprintf(f, "<rect x=\"%.3f\" y=\"%d\" width=\"%.3f\" height=\"%d\" fill=\"#%06x\"/>", x, y, w, ROW_H - 1,
		frame_colour(fr));
	fprintf(f, "<text x=\"%.3f\" y=\"%d\">", x + 3, y + 11);
	put_label(f, name, w);
	fputs("</text></g>\n", f);
}

int svg_write(const struct pp_profile *p, FILE *f)
{
	struct tree t;
	uint64_t total = profile_total(p);
	uint64_t min;
	uint32_t maxdepth = 0, *todo;
	size_t ntodo = 0;
	int height;

	tree_build(&t, p);
	min = draw_cut(&t, total);
	for (size_t k = 1; k < t.len; k++)
		if (drawn(&t.n[k], min) && t.n[k].depth > maxdepth)
			maxdepth = t.n[k].depth;
	height = HEAD_H + (int)(maxdepth ? maxdepth : 1) * ROW_H + FOOT_H;
	put_header(f, p, height, min);

	fputs("<g id=\"frames\">\n", f);
	if (total == 0)
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">No samples</text>\n", SVG_WIDTH / 2,
			HEAD_H + 12);
	/* Depth first in sibling order, so that the file reads like the graph. */
	todo = pp_xmalloc(t.len * sizeof(*todo));
	todo[ntodo++] = 0;
	while (ntodo) {
		const struct node *n = &t.n[todo[--ntodo]];

		if (n != t.n)
			put_frame(f, &t, n, total, HEAD_H, maxdepth);
		for (uint32_t c = n->nkids; c-- > 0;)
			if (drawn(&t.n[t.kids[n->first + c]], min))
				todo[ntodo++] = t.kids[n->first + c];
	}
	free(todo);
	fputs("</g>\n", f);

	put_footer(f, height, min, total);
	tree_free(&t);
	if (ferror(f) || fflush(f) != 0)
		return -1;
	return 0;
}
