// SPDX-License-Identifier: BSD-2-Clause
/* Aggregation and the folded writer: counts add up per distinct stack,
 * lines are sorted, separators in names cannot split a frame. */
#include "check.h"
#include "out_folded.h"
#include "profile.h"

#include <stdlib.h>

int main(void)
{
	struct pp_profile *p = profile_new();
	uint32_t a = profile_intern(p, "main"), b = profile_intern(p, "f (x.py:1)"),
		 c = profile_intern(p, "we;ird\nname");
	uint32_t s1[] = {a, b}, s2[] = {a}, s3[] = {a, c};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ_INT(profile_intern(p, "main"), a);
	for (int i = 0; i < 3; i++)
		profile_add(p, s1, 2, 1);
	profile_add(p, s2, 1, 5);
	profile_add(p, s3, 2, 2);
	CHECK_EQ_INT(profile_nstacks(p), 3);
	CHECK_EQ_INT(profile_total(p), 10);
	/* many distinct stacks: the index grows and nothing is lost */
	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t st[] = {a, i % 2 ? b : c, profile_intern(p, i % 3 ? "x" : "y")};

		profile_add(p, st, 3, 1);
	}
	CHECK_EQ_INT(profile_total(p), 5010);
	CHECK_EQ_INT(profile_nstacks(p), 7);

	f = open_memstream(&text, &len);
	CHECK_EQ_INT(folded_write(p, f), 0);
	fclose(f);
	CHECK_EQ_STR(text, "main 5\n"
			   "main;f (x.py:1) 3\n"
			   "main;f (x.py:1);x 1667\n"
			   "main;f (x.py:1);y 833\n"
			   "main;we:ird name 2\n"
			   "main;we:ird name;x 1666\n"
			   "main;we:ird name;y 834\n");
	free(text);
	profile_free(p);
	return check_report("test_folded");
}
