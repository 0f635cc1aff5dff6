/* SPDX-License-Identifier: BSD-2-Clause */
/* The output formats: chosen by name or by the output file's extension,
 * and one entry point that writes a profile in any of them. */
#ifndef PP_OUTPUT_H
#define PP_OUTPUT_H

#include "profile.h"

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

#endif
