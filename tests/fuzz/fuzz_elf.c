// SPDX-License-Identifier: BSD-2-Clause
/*
 * The ELF reader (src/elfsym.c) over a file whose bytes are the input: the
 * way pyruntime.c and target.c use it on the target's libpython (a file the
 * target's owner may have made). The input goes to a memfd and elf_open()
 * opens /proc/self/fd/N, so the production path (open, libelf's mmap
 * reader) is the one fuzzed.
 */
#include "elfsym.h"
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

/* The names pyruntime.c looks up. */
static const char *const names[] = {
	"_PyRuntime",
	"Py_Version",
	"PyCode_Type",
	"interp_head",
	"PyInterpreterState_Head",
	"PyUnicode_Type",
	"PyString_Type",
	"_PyThreadState_Current",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static int memfd = -1;
static char path[64];

static void touch(const char *s)
{
	/* A string libelf gave us must end inside its section: strlen reads it all. */
	volatile size_t n = strlen(s);

	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t values[NNAMES], value, symsize;
	const uint64_t offsets[] = {0, 0x1000, size / 2, size, UINT64_MAX};
	struct pp_elf *e;
	const char *so;
	int64_t delta;
	int found;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_elf", MFD_CLOEXEC);
		FUZZ_CHECK(memfd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	FUZZ_CHECK(ftruncate(memfd, 0) == 0);
	FUZZ_CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	e = elf_open(path);
	if (!e)
		return 0;
	/* All names in one pass, or one by one: the same symbols, and the count
	 * is that of the names found. */
	found = elf_symbols(e, names, values, NNAMES);
	FUZZ_CHECK(found >= 0 && (size_t)found <= NNAMES);
	for (size_t i = 0; i < NNAMES; i++) {
		if (elf_symbol(e, names[i], &value, &symsize) == 0) {
			FUZZ_CHECK(values[i] == value);
			found--;
		} else {
			FUZZ_CHECK(values[i] == 0);
		}
	}
	FUZZ_CHECK(found == 0);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++)
		elf_load_delta(e, offsets[i], &delta);
	so = elf_soname(e);
	if (so)
		touch(so);
	/* FUZZ_VERBOSE=1 fuzz_elf FILE...: what a seed holds. */
	if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz_elf: SONAME %s;", so ? so : "(none)");
		for (size_t i = 0; i < NNAMES; i++)
			if (values[i])
				fprintf(stderr, " %s=0x%llx", names[i], (unsigned long long)values[i]);
		fprintf(stderr, "\n");
	}
	elf_close(e);
	return 0;
}
