// SPDX-License-Identifier: BSD-2-Clause
/*
 * _Py_DebugOffsets -> struct pp_layout (src/pydebugoffsets.c). Input: the
 * bytes read from the start of the target's _PyRuntime. A layout accepted
 * must keep every field it names inside the object pycode.c reads; a
 * refusal is one line, within the buffer given, and leaves *out alone.
 */
#include "fuzz.h"
#include "pydebugoffsets.h"

static void check_layout(const struct pp_layout *l)
{
	const int16_t code_fields[] = {l->co_filename, l->co_name, l->co_qualname, l->co_linetable, l->co_firstlineno};

	FUZZ_CHECK(l->version == 0x030d || l->version == 0x030e);
	for (size_t i = 0; i < sizeof(code_fields) / sizeof(code_fields[0]); i++)
		FUZZ_CHECK(code_fields[i] >= 0 && code_fields[i] + 8 <= (int)l->code_size);
	FUZZ_CHECK(l->bpf.code_tag == l->co_firstlineno);
	FUZZ_CHECK(l->co_code_adaptive >= 0 && l->co_code_adaptive < (int)l->code_size);
	FUZZ_CHECK(l->str_kind == PP_STR_UNICODE);
	FUZZ_CHECK(l->str_length >= 0 && l->str_state >= 0 && l->str_ascii_size >= 0);
	/* PyUnicodeObject (compact + the data pointer) holds length and state. */
	FUZZ_CHECK(l->str_compact_size == l->str_ascii_size + 16);
	FUZZ_CHECK(l->str_length + 8 <= l->str_compact_size + 8 && l->str_state + 4 <= l->str_compact_size + 8);
	FUZZ_CHECK(l->bytes_size >= 0 && l->bytes_data >= 0);
}

static void one(const uint8_t *data, size_t size, size_t whylen)
{
	struct pp_layout out, before;
	char why[256];
	int rc;

	memset(&out, 0x5a, sizeof(out));
	memcpy(&before, &out, sizeof(out));
	memset(why, 'x', sizeof(why));
	rc = pydebugoffsets_layout(data, size, &out, whylen ? why : NULL, whylen);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_layout(&out);
		return;
	}
	FUZZ_CHECK(memcmp(&out, &before, sizeof(out)) == 0);
	if (whylen) {
		size_t len = strnlen(why, whylen);

		FUZZ_CHECK(len < whylen);
		FUZZ_CHECK(whylen == 1 || len > 0);
		FUZZ_CHECK(!memchr(why, '\n', len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* What pyruntime.c passes: PP_DEBUGOFFSETS_MAX bytes (the input, cut
	 * or padded with zeros), and the exact input. */
	uint8_t img[PP_DEBUGOFFSETS_MAX] = {0};

	memcpy(img, data, size < sizeof(img) ? size : sizeof(img));
	one(img, sizeof(img), 200);
	one(data, size, 256);
	one(data, size, 1);
	one(data, size, 0);
	return 0;
}
