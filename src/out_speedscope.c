// SPDX-License-Identifier: BSD-2-Clause
/*
 * speedscope's file format. Every stack of the profile goes to the profile
 * of its thread (its process when the view has no thread frames), without
 * the process and thread frames: speedscope shows one profile at a time and
 * lists them by name, so they would only repeat the profile's name. The
 * output depends on the frames' text only, never on the order in which they
 * were interned, so that equal profiles give equal files.
 */
#include "out_speedscope.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_URL "https://www.speedscope.app/file-format-schema.json"
#define NONE	   UINT32_MAX

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_putn(struct buf *b, const char *s, size_t n)
{
	pp_grow((void **)&b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

/* The length of the well-formed UTF-8 sequence at s; 0 if it is ill-formed,
 * with *skip the length of its maximal ill-formed prefix (at least 1). */
static size_t utf8_len(const unsigned char *s, size_t *skip)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		/* no overlong forms, no UTF-16 surrogates */
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		/* no overlong forms, nothing above U+10FFFF */
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		*skip = 1;
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		/* the NUL terminator is no continuation byte: never read past it */
		if (s[i] < lo || s[i] > hi) {
			*skip = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* s as a JSON string. Names come from the target's memory and may be any
 * bytes: each maximal ill-formed subpart becomes one U+FFFD (Unicode's
 * recommended practice, which Python's decoder follows too), so the file is
 * always valid UTF-8 and JSON. */
static void json_str(struct buf *b, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	buf_putn(b, "\"", 1);
	while (*c) {
		size_t skip, n = utf8_len(c, &skip);
		char esc[8];

		if (!n) {
			buf_puts(b, "\xef\xbf\xbd");
			c += skip;
		} else if (*c == '"' || *c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*c++;
			buf_putn(b, esc, 2);
		} else if (*c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *c++);
			buf_putn(b, esc, 6);
		} else {
			buf_putn(b, (const char *)c, n);
			c += n;
		}
	}
	buf_putn(b, "\"", 1);
}

/* A frame as the JSON object of speedscope's frame table. */
static char *frame_json(const struct pp_profile *p, uint32_t id)
{
	const struct pp_frame *f = profile_frame(p, id);
	struct buf b = {0};
	char *kname, num[32];

	buf_puts(&b, "{\"name\":");
	switch (f->kind) {
	case PP_FRAME_PYTHON:
	case PP_FRAME_NATIVE:
	case PP_FRAME_INTERP:
	case PP_FRAME_MARKER:
		json_str(&b, f->name);
		break;
	case PP_FRAME_KERNEL:
		/* a kernel function has no file: the suffix tells it from a user one */
		kname = pp_xasprintf("%s [kernel]", f->name);
		json_str(&b, kname);
		free(kname);
		break;
	default:
		/* a process or thread frame below the root: only a hand-made
		 * profile has one; its folded label says what it is */
		json_str(&b, profile_name(p, id));
		break;
	}
	if (f->file && (f->kind == PP_FRAME_PYTHON || f->kind == PP_FRAME_NATIVE || f->kind == PP_FRAME_INTERP)) {
		buf_puts(&b, ",\"file\":");
		json_str(&b, f->file);
	}
	if (f->kind == PP_FRAME_PYTHON && f->line > 0) {
		snprintf(num, sizeof(num), ",\"line\":%d", f->line);
		buf_puts(&b, num);
	}
	buf_puts(&b, "}");
	return b.s;
}

/* A stack of the profile: the process and thread it belongs to, and the
 * frames shown in its profile. */
struct entry {
	uint32_t proc, thread; /* frame ids, NONE if the stack has none */
	const uint32_t *body;
	size_t n;
	uint64_t count;
};

struct ctx {
	const struct pp_profile *p;
	char **json; /* frame id -> frame_json(), for the frames that are shown */
};

/* Process and thread frames by number (pid, tid), then by name. none_first:
 * where a missing frame sorts. */
static int root_cmp(const struct pp_profile *p, uint32_t a, uint32_t b, bool none_first)
{
	const struct pp_frame *fa, *fb;
	int r;

	if (a == b)
		return 0;
	if (a == NONE || b == NONE)
		return (a == NONE) == none_first ? -1 : 1;
	fa = profile_frame(p, a);
	fb = profile_frame(p, b);
	if (fa->num != fb->num)
		return fa->num < fb->num ? -1 : 1;
	r = strcmp(profile_name(p, a), profile_name(p, b));
	if (r)
		return r;
	/* two frames with one label (not from the pipeline): keep them apart */
	return a < b ? -1 : 1;
}

static int group_cmp(const struct ctx *c, const struct entry *a, const struct entry *b)
{
	/* stacks without a process last; a process's own profile before its threads' */
	int r = root_cmp(c->p, a->proc, b->proc, false);

	return r ? r : root_cmp(c->p, a->thread, b->thread, true);
}

static int body_cmp(const struct ctx *c, const struct entry *a, const struct entry *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int r = strcmp(c->json[a->body[i]], c->json[b->body[i]]);

		if (r)
			return r;
	}
	return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

/* By profile, then by frame text: equal stacks become neighbours and are
 * one sample, and a stack's callers sort before it, as in a flame graph. */
static int entry_cmp(const void *x, const void *y, void *arg)
{
	int r = group_cmp(arg, x, y);

	return r ? r : body_cmp(arg, x, y);
}

static int id_cmp(const void *x, const void *y, void *arg)
{
	const struct ctx *c = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int r = strcmp(c->json[a], c->json[b]);

	return r ? r : a < b ? -1 : a > b;
}

/* speedscope takes any non-negative weights: time reads better than counts.
 * A sample stands for one sampling period of CPU time, rounded to a whole
 * nanosecond so that every weight and sum is an exact integer. */
static uint64_t period_ns(unsigned frequency)
{
	return frequency ? (1000000000ULL + frequency / 2) / frequency : 1;
}

struct prof {
	size_t first, end; /* entries [first, end) */
	uint64_t weight;
};

static void put_json_str(FILE *f, struct buf *scratch, const char *s)
{
	scratch->len = 0;
	json_str(scratch, s);
	fwrite(scratch->s, 1, scratch->len, f);
}

static const char *prof_name(const struct pp_profile *p, const struct entry *e)
{
	const struct pp_profile_info *info = profile_info(p);

	if (e && e->thread != NONE)
		return profile_name(p, e->thread);
	if (e && e->proc != NONE)
		return profile_name(p, e->proc);
	return info->title ? info->title : "samples";
}

int speedscope_write(const struct pp_profile *p, FILE *f)
{
	const struct pp_profile_info *info = profile_info(p);
	size_t nstacks = profile_nstacks(p), nfr = profile_nframes(p), nprof = 0, nused = 0, nout = 0;
	struct entry *e = pp_xcalloc(nstacks ? nstacks : 1, sizeof(*e));
	struct prof *prof = pp_xcalloc(nstacks ? nstacks : 1, sizeof(*prof));
	uint32_t *used = pp_xmalloc((nfr ? nfr : 1) * sizeof(uint32_t));
	uint32_t *canon = pp_xmalloc((nfr ? nfr : 1) * sizeof(uint32_t));
	uint32_t *index = pp_xmalloc((nfr ? nfr : 1) * sizeof(uint32_t));
	uint32_t *order = pp_xmalloc((nfr ? nfr : 1) * sizeof(uint32_t));
	struct ctx c = {.p = p, .json = pp_xcalloc(nfr ? nfr : 1, sizeof(char *))};
	uint64_t period = period_ns(info->frequency);
	struct buf scratch = {0};
	size_t active = 0;
	int rc = 0;

	for (size_t i = 0; i < nstacks; i++) {
		size_t n, k = 0;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &n, &count);

		e[i] = (struct entry){.proc = NONE, .thread = NONE, .count = count};
		if (k < n && profile_frame(p, fr[k])->kind == PP_FRAME_PROCESS)
			e[i].proc = fr[k++];
		if (k < n && profile_frame(p, fr[k])->kind == PP_FRAME_THREAD)
			e[i].thread = fr[k++];
		e[i].body = fr + k;
		e[i].n = n - k;
		for (size_t j = 0; j < e[i].n; j++)
			if (!c.json[e[i].body[j]]) {
				c.json[e[i].body[j]] = frame_json(p, e[i].body[j]);
				used[nused++] = e[i].body[j];
			}
	}
	/* Frames that read the same (a symbol at two addresses of a library)
	 * are one frame of the table: canon[] maps each to the first of them. */
	qsort_r(used, nused, sizeof(*used), id_cmp, &c);
	for (size_t i = 0; i < nused; i++) {
		bool same = i && strcmp(c.json[used[i]], c.json[used[i - 1]]) == 0;

		canon[used[i]] = same ? canon[used[i - 1]] : used[i];
		index[used[i]] = NONE;
	}
	qsort_r(e, nstacks, sizeof(*e), entry_cmp, &c);

	/* The profiles, and the table's order: frames by first use. */
	for (size_t i = 0; i < nstacks; i++) {
		if (!i || group_cmp(&c, &e[i - 1], &e[i]))
			prof[nprof++] = (struct prof){.first = i};
		prof[nprof - 1].end = i + 1;
		prof[nprof - 1].weight += e[i].count * period;
		for (size_t j = 0; j < e[i].n; j++) {
			uint32_t id = canon[e[i].body[j]];

			if (index[id] == NONE) {
				index[id] = (uint32_t)nout;
				order[nout++] = id;
			}
		}
	}
	/* speedscope opens on the busiest thread */
	for (size_t i = 1; i < nprof; i++)
		if (prof[i].weight > prof[active].weight)
			active = i;

	fputs("{\"$schema\":\"" SCHEMA_URL "\",\n", f);
	if (info->title) {
		fputs("\"name\":", f);
		put_json_str(f, &scratch, info->title);
		fputs(",\n", f);
	}
	fputs("\"exporter\":\"pybpfprof " PP_VERSION "\",\n", f);
	fprintf(f, "\"activeProfileIndex\":%zu,\n", active);
	fputs("\"shared\":{\"frames\":[", f);
	for (size_t i = 0; i < nout; i++) {
		fputs(i ? ",\n" : "\n", f);
		fputs(c.json[order[i]], f);
	}
	fputs("\n]},\n\"profiles\":[", f);
	/* Without samples still one (empty) profile: the file opens, and
	 * activeProfileIndex names a profile. */
	for (size_t i = 0; i < (nprof ? nprof : 1); i++) {
		const struct prof *pr = nprof ? &prof[i] : &(struct prof){0};

		fputs(i ? ",\n" : "\n", f);
		fputs("{\"type\":\"sampled\",\"name\":", f);
		put_json_str(f, &scratch, prof_name(p, nprof ? &e[pr->first] : NULL));
		fprintf(f, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%llu,\n\"samples\":[",
			info->frequency ? "nanoseconds" : "none", (unsigned long long)pr->weight);
		for (size_t j = pr->first, k = 0; j < pr->end; j++) {
			/* equal stacks (after the table merged frames) are one sample */
			if (j > pr->first && body_cmp(&c, &e[j - 1], &e[j]) == 0)
				continue;
			fputs(k++ ? ",[" : "[", f);
			for (size_t m = 0; m < e[j].n; m++)
				fprintf(f, m ? ",%u" : "%u", index[canon[e[j].body[m]]]);
			fputc(']', f);
		}
		fputs("],\n\"weights\":[", f);
		for (size_t j = pr->first, k = 0; j < pr->end; k++) {
			uint64_t count = e[j].count;

			while (++j < pr->end && body_cmp(&c, &e[j - 1], &e[j]) == 0)
				count += e[j].count;
			fprintf(f, k ? ",%llu" : "%llu", (unsigned long long)(count * period));
		}
		fputs("]}", f);
	}
	fputs("\n]}\n", f);

	if (ferror(f) || fflush(f) != 0)
		rc = -1;
	for (size_t i = 0; i < nfr; i++)
		free(c.json[i]);
	free(c.json);
	free(scratch.s);
	free(order);
	free(index);
	free(canon);
	free(used);
	free(prof);
	free(e);
	return rc;
}
