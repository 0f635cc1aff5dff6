/*
 * fakepy: a tiny executable that looks like a CPython interpreter to
 * pybpfprof's runtime lookup, for tests of versions and builds that are
 * not installed here (and must be refused cleanly).
 *
 * It exports the two symbols pybpfprof looks up first in the executable:
 *   _PyRuntime  from 3.13 on, starts with _Py_DebugOffsets: the cookie
 *               "xdebugpy", the u64 version, the u64 free_threaded flag
 *   Py_Version  const unsigned long, PY_VERSION_HEX (3.11+)
 * then prints READY and sleeps until killed. It runs no Python at all.
 *
 * Built by tests/run.py, e.g.
 *   cc -O0 -g -rdynamic -DFAKE_VERSION=0x030500f0 -o fakepy-3.5 fakepy.c
 *   cc -O0 -g -rdynamic -DFAKE_VERSION=0x030d00f0 -DFAKE_FREE_THREADED=1 \
 *      -DFAKE_DEBUG_COOKIE=1 -o fakepy-3.13t fakepy.c
 * -rdynamic puts the symbols in .dynsym as well as .symtab; "used" keeps
 * them even though nothing here reads them.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#ifndef FAKE_VERSION
#error "define FAKE_VERSION (a PY_VERSION_HEX value, e.g. 0x030500f0)"
#endif
#ifndef FAKE_FREE_THREADED
#define FAKE_FREE_THREADED 0
#endif
#ifndef FAKE_DEBUG_COOKIE
#define FAKE_DEBUG_COOKIE 0
#endif

struct fake_runtime {
	char cookie[8];         /* "xdebugpy" (3.13+ _Py_DebugOffsets) */
	uint64_t version;       /* PY_VERSION_HEX */
	uint64_t free_threaded; /* 1 in Py_GIL_DISABLED builds */
	char rest[4096];        /* anything read beyond the head is zeros */
};

__attribute__((used)) struct fake_runtime _PyRuntime = {
#if FAKE_DEBUG_COOKIE
	.cookie = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'},
#endif
	.version = FAKE_VERSION,
	.free_threaded = FAKE_FREE_THREADED,
};

__attribute__((used)) const unsigned long Py_Version = FAKE_VERSION;

int main(void)
{
	printf("READY\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}
