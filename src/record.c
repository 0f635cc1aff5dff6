// SPDX-License-Identifier: BSD-2-Clause
#include "record.h"

int record_parse(const void *data, size_t size, struct pp_record *r)
{
	const struct pp_sample *s = data;
	size_t py_bytes;

	if (!data || size < sizeof(*s) || ((uintptr_t)data & 7))
		return -1;
	if (s->kstack_len > PP_MAX_KSTACK || s->py_len > PP_MAX_PYENTRIES || s->stack_len > PP_STACK_MAX)
		return -1;
	py_bytes = (size_t)s->py_len * sizeof(struct pp_pyframe);
	if (size - sizeof(*s) < py_bytes || size - sizeof(*s) - py_bytes < s->stack_len)
		return -1;
	r->s = s;
	r->py = (const struct pp_pyframe *)(s + 1);
	r->stack = (const uint8_t *)(s + 1) + py_bytes;
	return 0;
}
