// SPDX-License-Identifier: BSD-2-Clause
#include "output.h"
#include "out_folded.h"
#include "out_pprof.h"
#include "out_speedscope.h"
#include "out_svg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum pp_format fmt;
} formats[] = {
	{"folded", PP_FORMAT_FOLDED},
	{"svg", PP_FORMAT_SVG},
	{"speedscope", PP_FORMAT_SPEEDSCOPE},
	{"pprof", PP_FORMAT_PPROF},
};

/* Longest suffix first: ".speedscope.json" before ".json". */
static const struct {
	const char *suffix;
	enum pp_format fmt;
} extensions[] = {
	{".speedscope.json", PP_FORMAT_SPEEDSCOPE},
	{".folded", PP_FORMAT_FOLDED},
	{".txt", PP_FORMAT_FOLDED},
	{".svg", PP_FORMAT_SVG},
	{".json", PP_FORMAT_SPEEDSCOPE},
	{".pb.gz", PP_FORMAT_PPROF},
	{".pprof", PP_FORMAT_PPROF},
};

int output_format_parse(const char *name, enum pp_format *fmt)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(name, formats[i].name) == 0) {
			*fmt = formats[i].fmt;
			return 0;
		}
	return -1;
}

int output_format_for_path(const char *path, enum pp_format *fmt)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
		size_t m = strlen(extensions[i].suffix);

		if (n > m && strcmp(path + n - m, extensions[i].suffix) == 0) {
			*fmt = extensions[i].fmt;
			return 0;
		}
	}
	return -1;
}

const char *output_format_name(enum pp_format fmt)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fmt == fmt)
			return formats[i].name;
	return "?";
}

int output_write(const struct pp_profile *p, enum pp_format fmt, FILE *f)
{
	switch (fmt) {
	case PP_FORMAT_FOLDED:
		return folded_write(p, f);
	case PP_FORMAT_SPEEDSCOPE:
		return speedscope_write(p, f);
	case PP_FORMAT_PPROF:
		return pprof_write(p, f);
	case PP_FORMAT_SVG:
		return svg_write(p, f);
	default:
		errno = ENOTSUP;
		return -1;
	}
}

int outputs_open(struct pp_outputs *outs, char *why, size_t whylen)
{
	for (size_t i = 0; i < outs->n; i++) {
		for (size_t j = 0; j < i; j++)
			if ((!outs->o[i].path && !outs->o[j].path) ||
			    (outs->o[i].path && outs->o[j].path && strcmp(outs->o[i].path, outs->o[j].path) == 0)) {
				snprintf(why, whylen, "%s is named twice as --output; name each file once",
					 outs->o[i].path ? outs->o[i].path : "standard output");
				outputs_abort(outs);
				return -1;
			}
		if (outfile_open(&outs->o[i].file, outs->o[i].path, why, whylen)) {
			outputs_abort(outs);
			return -1;
		}
	}
	return 0;
}

int outputs_write(struct pp_outputs *outs, const struct pp_profile *p, char *why, size_t whylen)
{
	for (size_t i = 0; i < outs->n; i++) {
		struct pp_output *o = &outs->o[i];

		if (output_write(p, o->fmt, o->file.f)) {
			snprintf(why, whylen, "cannot write the profile to %s: %s",
				 o->path ? o->path : "standard output", strerror(errno));
			outputs_abort(outs);
			return -1;
		}
		if (outfile_commit(&o->file, why, whylen)) {
			outputs_abort(outs);
			return -1;
		}
	}
	return 0;
}

void outputs_abort(struct pp_outputs *outs)
{
	for (size_t i = 0; i < outs->n; i++)
		outfile_abort(&outs->o[i].file);
}
