/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A self-contained interactive flame graph: one SVG file with its own
 * script and style, readable offline in any browser. The root is at the
 * bottom; frame widths are proportional to samples.
 *
 * For tools that read it back, the root <svg> carries data-total-samples,
 * data-width (the width of the frame area, in user units) and data-x0 (its
 * left edge); each drawn frame is a <g class="f" data-kind="KIND"> holding
 * <title>NAME (N samples, P%)</title>, a <rect> and a <text>, where KIND
 * is python, native, interp, kernel, marker, process or thread.
 */
#ifndef PP_OUT_SVG_H
#define PP_OUT_SVG_H

#include "profile.h"

#include <stdio.h>

/* Writes the profile as an SVG flame graph; 0 on success, -1 on a write error. */
int svg_write(const struct pp_profile *p, FILE *f);

#endif
