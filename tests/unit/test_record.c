// SPDX-License-Identifier: BSD-2-Clause
/* The ring-buffer record parser accepts exactly the well-formed records. */
#include "check.h"
#include "record.h"

#include <stdlib.h>

int main(void)
{
	size_t size = sizeof(struct pp_sample) + 3 * sizeof(struct pp_pyframe) + 100;
	uint64_t *buf = calloc(1, size + 64);
	struct pp_sample *s = (struct pp_sample *)buf;
	struct pp_record r;

	s->py_len = 3;
	s->stack_len = 100;
	s->kstack_len = 5;
	CHECK_EQ_INT(record_parse(buf, size, &r), 0);
	CHECK(r.py == (const struct pp_pyframe *)(s + 1));
	CHECK(r.stack == (const uint8_t *)(s + 1) + 3 * sizeof(struct pp_pyframe));
	CHECK_EQ_INT(record_parse(buf, size - 1, &r), -1);
	CHECK_EQ_INT(record_parse(buf, sizeof(struct pp_sample) - 1, &r), -1);
	CHECK_EQ_INT(record_parse(NULL, size, &r), -1);
	s->kstack_len = PP_MAX_KSTACK + 1;
	CHECK_EQ_INT(record_parse(buf, size, &r), -1);
	s->kstack_len = 0;
	s->py_len = PP_MAX_PYENTRIES + 1;
	CHECK_EQ_INT(record_parse(buf, size, &r), -1);
	s->py_len = 3;
	s->stack_len = 0xffffffffu;
	CHECK_EQ_INT(record_parse(buf, size, &r), -1);
	s->stack_len = 101;
	CHECK_EQ_INT(record_parse(buf, size, &r), -1);
	free(buf);
	return check_report("test_record");
}
