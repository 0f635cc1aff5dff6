// SPDX-License-Identifier: BSD-2-Clause
/*
 * Line-table decoders against the interpreters' own answers: every code
 * object of 40 stdlib modules, every instruction position, as printed by
 * gen_linetables.py under each interpreter present. Plus malformed tables.
 */
#include "check.h"
#include "linetable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const interpreters[] = {
	"/root/.pyenv/versions/2.7.18/bin/python2.7",
	"/root/.pyenv/versions/3.6.15/bin/python3.6",
	"/root/.pyenv/versions/3.7.16/bin/python3.7",
	"/root/.pyenv/versions/3.8.18/bin/python3.8",
	"/root/.pyenv/versions/3.9.18/bin/python3.9",
	"/root/.pyenv/versions/3.10.13/bin/python3.10",
	"/usr/bin/python3.11",
	"/usr/bin/python3.11-dbg",
	"/root/.pyenv/versions/3.11.7/bin/python3.11",
	"/root/.pyenv/versions/3.12.1/bin/python3.12",
	"/root/.pyenv/versions/3.13.0/bin/python3.13",
};

static size_t unhex(const char *h, uint8_t *out, size_t max)
{
	size_t n = 0;

	if (strcmp(h, "-") == 0)
		return 0;
	while (h[0] && h[1] && n < max) {
		unsigned v;

		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static int decode(const char *kind, const uint8_t *t, size_t n, int first, long pos)
{
	if (strcmp(kind, "locations") == 0)
		return linetable_locations(t, n, first, pos);
	if (strcmp(kind, "linetable310") == 0)
		return linetable_310(t, n, first, pos * 2);
	if (strcmp(kind, "lnotab27") == 0)
		return linetable_lnotab27(t, n, first, pos);
	return linetable_lnotab(t, n, first, pos);
}

static void check_interpreter(const char *py)
{
	char *cmd, *line = NULL;
	size_t cap = 0, codes = 0, positions = 0, wrong = 0;
	uint8_t *tab = malloc(1 << 20);
	FILE *f;

	if (access(py, X_OK) != 0) {
		printf("test_linetable: SKIPPED %s (not installed)\n", py);
		free(tab);
		return;
	}
	if (asprintf(&cmd, "%s tests/unit/gen_linetables.py", py) < 0)
		abort();
	f = popen(cmd, "r");
	CHECK(f != NULL);
	while (f && getline(&line, &cap, f) > 0) {
		char kind[32], *hex = malloc(strlen(line)), *lines = malloc(strlen(line));
		int first;

		if (sscanf(line, "%31s %d %s %s", kind, &first, hex, lines) == 4) {
			size_t n = unhex(hex, tab, 1 << 20);
			long pos = 0;

			codes++;
			for (char *tok = strtok(lines, ","); tok; tok = strtok(NULL, ","), pos++) {
				int want = atoi(tok), got = decode(kind, tab, n, first, pos);

				positions++;
				if (got != want && wrong++ < 5)
					fprintf(stderr, "%s: %s table %s pos %ld: got %d, want %d\n", py, kind, hex,
						pos, got, want);
			}
		}
		free(hex);
		free(lines);
	}
	CHECK(f && pclose(f) == 0);
	CHECK(codes > 100);
	CHECK_EQ_INT(wrong, 0);
	printf("test_linetable: %s: %zu code objects, %zu positions, %zu wrong\n", py, codes, positions, wrong);
	free(line);
	free(cmd);
	free(tab);
}

/* Malformed input never reads out of bounds and gives -1 or a line. */
static void check_malformed(void)
{
	const uint8_t cont_first[] = {0x05, 0x80};
	const uint8_t long_varint[] = {0xe8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const uint8_t cut_varint[] = {0xe8, 0x41};

	CHECK_EQ_INT(linetable_locations(cont_first, sizeof(cont_first), 10, 0), -1);
	CHECK_EQ_INT(linetable_locations(long_varint, sizeof(long_varint), 10, 0), -1);
	CHECK_EQ_INT(linetable_locations(cut_varint, sizeof(cut_varint), 10, 0), -1);
	CHECK_EQ_INT(linetable_locations(NULL, 0, 10, 3), -1);
	CHECK_EQ_INT(linetable_locations(NULL, 0, 10, -1), 10);
	CHECK_EQ_INT(linetable_310(NULL, 0, 7, 0), -1);
	CHECK_EQ_INT(linetable_lnotab(NULL, 0, 7, 100), 7);
}

int main(void)
{
	check_malformed();
	for (size_t i = 0; i < sizeof(interpreters) / sizeof(interpreters[0]); i++)
		check_interpreter(interpreters[i]);
	return check_report("test_linetable");
}
