// SPDX-License-Identifier: BSD-2-Clause
#include "pyruntime.h"
#include "elfsym.h"
#include "procmem.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "libpython3.11.so.1.0" or "python3.11" -> 0x030b0000; 0 if the name says nothing. */
static uint32_t version_from_name(const char *name)
{
	const char *p = strstr(name, "python");
	unsigned maj, min;

	if (!p || sscanf(p, "python%u.%u", &maj, &min) != 2 || maj < 2 || maj > 3 || min > 99)
		return 0;
	return (maj << 24) | (min << 16);
}

/* Files worth opening: the executable and anything called libpython*. */
static int is_candidate(const struct pp_target *t, const char *path)
{
	return strcmp(path, t->exe) == 0 || strncmp(pp_basename(path), "libpython", 9) == 0;
}

static void fmt_version(struct pp_pyruntime *rt)
{
	uint32_t v = rt->hexversion;

	if (v & 0xff00)
		snprintf(rt->version, sizeof(rt->version), "%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
	else
		snprintf(rt->version, sizeof(rt->version), "%u.%u", v >> 24, (v >> 16) & 0xff);
}

/*
 * 3.13+ runtimes start with _Py_DebugOffsets: the cookie "xdebugpy", the
 * version, then free_threaded (1 in Py_GIL_DISABLED builds, whose objects
 * have another layout).
 */
static bool free_threaded(pid_t pid, const struct pp_pyruntime *rt)
{
	struct {
		char cookie[8];
		uint64_t version, free_threaded;
	} head;

	if (rt->hexversion < 0x030d0000 || procmem_read(pid, rt->runtime, &head, sizeof(head)))
		return false;
	return memcmp(head.cookie, "xdebugpy", 8) == 0 && head.free_threaded == 1;
}

enum pp_runtime_error pyruntime_find(const struct pp_target *t, struct pp_pyruntime *rt, char *why, size_t whylen)
{
	memset(rt, 0, sizeof(*rt));
	for (size_t i = 0; i < t->nmaps; i++) {
		const char *path = t->maps[i].path;
		uint64_t value, bias, pyver = 0, code_type = 0;
		struct pp_elf *e;
		char *fp;
		int found;

		if (!path || path[0] != '/' || t->maps[i].offset != 0 || !is_candidate(t, path))
			continue;
		if (rt->path && strcmp(rt->path, path) == 0)
			continue;
		fp = target_file_path(t, path);
		e = elf_open(fp);
		free(fp);
		if (!e)
			continue;
		{
			static const char *const names[] = {"_PyRuntime", "Py_Version", "PyCode_Type"};
			uint64_t vals[3];

			elf_symbols(e, names, vals, 3);
			found = vals[0] != 0;
			value = vals[0];
			pyver = vals[1];
			code_type = vals[2];
		}
		if (!found) {
			const char *so = elf_soname(e);

			/* A libpython without the symbol is not one we can read. */
			if (version_from_name(so ? so : path) && strncmp(pp_basename(path), "libpython", 9) == 0)
				rt->hexversion = version_from_name(so ? so : path);
		}
		elf_close(e);
		if (!found)
			continue;
		if (target_load_bias(t, path, &bias)) {
			snprintf(why, whylen, "cannot find where %s is loaded in process %d", path, (int)t->pid);
			return PP_RT_UNREADABLE;
		}
		rt->path = pp_xstrdup(path);
		rt->bias = bias;
		rt->runtime = bias + value;
		rt->code_type = code_type ? bias + code_type : 0;
		rt->hexversion = 0;
		if (pyver) {
			uint64_t v;

			if (procmem_read_u64(t->pid, bias + pyver, &v) == 0)
				rt->hexversion = (uint32_t)v;
		}
		if (!rt->hexversion)
			rt->hexversion = version_from_name(path);
		if (!rt->hexversion)
			rt->hexversion = version_from_name(t->exe);
		break;
	}
	if (!rt->path) {
		if (rt->hexversion) {
			fmt_version(rt);
			snprintf(why, whylen,
				 "process %d runs Python %s, which this build does not support (supported: %s)",
				 (int)t->pid, rt->version, pylayout_supported());
			return PP_RT_UNSUPPORTED;
		}
		snprintf(why, whylen,
			 "process %d (%s) is not a CPython interpreter: no _PyRuntime in %s or a libpython",
			 (int)t->pid, t->comm, t->exe);
		return PP_RT_NOT_PYTHON;
	}
	fmt_version(rt);
	if (free_threaded(t->pid, rt)) {
		snprintf(why, whylen,
			 "process %d runs a free-threaded (no-GIL) build of Python %s, which this build does not "
			 "support "
			 "(supported: %s, with the GIL)",
			 (int)t->pid, rt->version, pylayout_supported());
		return PP_RT_UNSUPPORTED;
	}
	rt->layout = pylayout_for_version(rt->hexversion);
	if (!rt->layout) {
		snprintf(why, whylen, "process %d runs Python %s, which this build does not support (supported: %s)",
			 (int)t->pid, rt->version, pylayout_supported());
		return PP_RT_UNSUPPORTED;
	}
	return PP_RT_OK;
}

void pyruntime_free(struct pp_pyruntime *rt)
{
	free(rt->path);
	rt->path = NULL;
}
