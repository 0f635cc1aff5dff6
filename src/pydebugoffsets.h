/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * CPython 3.13+ begins _PyRuntime with _Py_DebugOffsets: the cookie
 * "xdebugpy", PY_VERSION_HEX, the free-threaded flag, then the offsets an
 * out-of-process reader needs, computed by the compiler of that very build.
 * This turns those bytes into a struct pp_layout: a pure function, no I/O.
 */
#ifndef PP_PYDEBUGOFFSETS_H
#define PP_PYDEBUGOFFSETS_H

#include "pylayout.h"

#include <stddef.h>

/* Bytes of _PyRuntime that hold _Py_DebugOffsets in every layout handled
 * (3.13: 584, 3.14: 760); reading this many from the target is enough. */
#define PP_DEBUGOFFSETS_MAX 760

/* Builds *out from the _Py_DebugOffsets at the start of _PyRuntime (buf, len bytes read from the target).
 * Checks the cookie "xdebugpy" and the version field; handles the 3.13 and the 3.14 layouts of the struct.
 * Returns 0, or -1 with one line for people in why (*out is then untouched). */
int pydebugoffsets_layout(const void *buf, size_t len, struct pp_layout *out, char *why, size_t whylen);

#endif
