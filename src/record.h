/* SPDX-License-Identifier: BSD-2-Clause */
/* Parsing a ring-buffer record into its parts, checking every length. */
#ifndef PP_RECORD_H
#define PP_RECORD_H

#include "pybpfprof.h"

#include <stddef.h>
#include <stdint.h>

struct pp_record {
	const struct pp_sample *s;
	const struct pp_pyframe *py; /* s->py_len entries */
	const uint8_t *stack; /* s->stack_len bytes */
};

/* 0 if data holds a well-formed record; -1 otherwise. */
int record_parse(const void *data, size_t size, struct pp_record *r);

#endif
