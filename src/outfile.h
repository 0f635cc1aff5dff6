/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Output files are written to a temporary file beside the target path and
 * renamed into place when complete: no half-written profile is ever left
 * under the requested name, and a symlink planted at the path is replaced,
 * not followed.
 */
#ifndef PP_OUTFILE_H
#define PP_OUTFILE_H

#include <stdio.h>

struct pp_outfile {
	char *path; /* NULL: standard output */
	char *tmp;
	FILE *f;
};

/* Opens (creates the temporary file) now, so that an unwritable path is
 * found before sampling. -1 with why filled on error. */
int outfile_open(struct pp_outfile *o, const char *path, char *why, size_t whylen);
/* Renames into place; -1 with why on error (the temporary is removed). */
int outfile_commit(struct pp_outfile *o, char *why, size_t whylen);
/* Removes the temporary file. */
void outfile_abort(struct pp_outfile *o);

#endif
