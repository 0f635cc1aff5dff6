// SPDX-License-Identifier: BSD-2-Clause
#include "out_folded.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct line {
	char *text;
	uint64_t count;
};

/* ';' separates frames and the last ' ' the count: a frame name keeps
 * neither a ';' nor a newline. */
static void put_frame(char **o, const char *name)
{
	for (const char *c = name; *c; c++)
		*(*o)++ = (*c == ';') ? ':' : (*c == '\n' || *c == '\r') ? ' ' : *c;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

int folded_write(const struct pp_profile *p, FILE *f)
{
	size_t n = profile_nstacks(p), m = 0;
	struct line *lines = pp_xcalloc(n, sizeof(*lines));
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		size_t nf, len = 1;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &nf, &count);
		char *o;

		for (size_t j = 0; j < nf; j++)
			len += strlen(profile_name(p, fr[j])) + 1;
		lines[m].text = o = pp_xmalloc(len);
		for (size_t j = 0; j < nf; j++) {
			if (j)
				*o++ = ';';
			put_frame(&o, profile_name(p, fr[j]));
		}
		*o = '\0';
		lines[m++].count = count;
	}
	qsort(lines, m, sizeof(*lines), line_cmp);
	/* Stacks that differ only by a sanitised character are one line. */
	for (size_t i = 0; i < m; i++) {
		uint64_t count = lines[i].count;

		while (i + 1 < m && strcmp(lines[i].text, lines[i + 1].text) == 0)
			count += lines[++i].count;
		if (fprintf(f, "%s %llu\n", lines[i].text, (unsigned long long)count) < 0)
			rc = -1;
	}
	for (size_t i = 0; i < m; i++)
		free(lines[i].text);
	free(lines);
	if (fflush(f) != 0)
		rc = -1;
	return rc;
}
