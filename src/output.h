/* SPDX-License-Identifier: BSD-2-Clause */
/* The output formats: chosen by name or by the output file's extension,
 * and one entry point that writes a profile in any of them. */
#ifndef PP_OUTPUT_H
#define PP_OUTPUT_H

#include "outfile.h"
#include "profile.h"

#include <stddef.h>
#include <stdio.h>

enum pp_format {
	PP_FORMAT_FOLDED,
	PP_FORMAT_SVG,
	PP_FORMAT_SPEEDSCOPE,
	PP_FORMAT_PPROF,
};

/* "folded", "svg", "speedscope", "pprof"; -1 for another name. */
int output_format_parse(const char *name, enum pp_format *fmt);
/* From the path's extension (.folded/.txt, .svg, .speedscope.json or .json,
 * .pb.gz or .pprof); -1 if the extension names no format. */
int output_format_for_path(const char *path, enum pp_format *fmt);
const char *output_format_name(enum pp_format fmt);
/* Writes p in fmt to f; 0 on success, -1 on a write error. */
int output_write(const struct pp_profile *p, enum pp_format fmt, FILE *f);

/* The files one run writes: each --output, or standard output. */
#define PP_MAX_OUTPUTS 8
struct pp_output {
	const char *path; /* NULL: standard output */
	enum pp_format fmt;
	struct pp_outfile file;
};
struct pp_outputs {
	struct pp_output o[PP_MAX_OUTPUTS];
	size_t n;
};

/* Opens every output now, so that an unwritable one is found before
 * sampling; -1 with why filled (nothing is left behind) on error. */
int outputs_open(struct pp_outputs *outs, char *why, size_t whylen);
/* Writes p to every output and moves each into place; on an error the
 * outputs not yet in place are removed and why says which failed. */
int outputs_write(struct pp_outputs *outs, const struct pp_profile *p, char *why, size_t whylen);
void outputs_abort(struct pp_outputs *outs);

#endif
