/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The aggregate: interned frames and distinct stacks with counts, plus what
 * every output format needs to say about the run. A frame keeps its parts
 * (kind, function, file, line, module) so that each writer can present it
 * its own way; profile_name() is the one-string form of the folded format.
 */
#ifndef PP_PROFILE_H
#define PP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pp_frame_kind {
	PP_FRAME_MARKER = 0, /* [truncated], [native stack truncated], [unknown] */
	PP_FRAME_PROCESS, /* the root: "comm (pid)" */
	PP_FRAME_THREAD, /* "thread name (tid)" */
	PP_FRAME_PYTHON, /* "qualname (file:line)" */
	PP_FRAME_NATIVE, /* a function of a library or C extension */
	PP_FRAME_INTERP, /* a native function of the interpreter (python or libpython) */
	PP_FRAME_KERNEL, /* "symbol_[k]" */
	PP_FRAME_NKINDS
};

struct pp_frame {
	uint8_t kind; /* enum pp_frame_kind */
	const char *name; /* function, symbol, comm, thread name or marker text; never NULL */
	const char *file; /* PYTHON: source file; NATIVE/INTERP: the ELF's path; else NULL */
	int line; /* PYTHON: the line executed; 0: unknown or not shown */
	uint64_t num; /* PROCESS: pid; THREAD: tid; NATIVE/INTERP: the function's address in its ELF file */
	const char *build_id; /* NATIVE/INTERP: the ELF's GNU build id in hex, NULL if none */
};

/* What the run was, for titles and headers. */
struct pp_profile_info {
	const char *title; /* "python3.11 (4711): app.py" */
	unsigned frequency; /* Hz; the sampling period is 1/frequency */
	uint64_t start_unix_ns;
	uint64_t duration_ns;
};

struct pp_profile;

struct pp_profile *profile_new(void);
void profile_free(struct pp_profile *p);

/* Interns a frame (every field is compared; strings are copied); the id is
 * stable for the profile's life. */
uint32_t profile_intern_frame(struct pp_profile *p, const struct pp_frame *f);
/* Interns a marker frame named name. */
uint32_t profile_intern(struct pp_profile *p, const char *name);
const struct pp_frame *profile_frame(const struct pp_profile *p, uint32_t id);
/* The frame as one string, as the folded format shows it. */
const char *profile_name(const struct pp_profile *p, uint32_t id);
size_t profile_nframes(const struct pp_profile *p);

/* Adds count to the stack frames[0..n) (root first). */
void profile_add(struct pp_profile *p, const uint32_t *frames, size_t n, uint64_t count);

size_t profile_nstacks(const struct pp_profile *p);
/* The i-th distinct stack, in insertion order. */
const uint32_t *profile_stack(const struct pp_profile *p, size_t i, size_t *n, uint64_t *count);
uint64_t profile_total(const struct pp_profile *p);

/* Run information (copied); profile_info() never returns NULL fields but title. */
void profile_set_info(struct pp_profile *p, const struct pp_profile_info *info);
const struct pp_profile_info *profile_info(const struct pp_profile *p);

/* What a reader asked to see: the options every output format honours. */
struct pp_view {
	bool threads; /* thread frames */
	bool lines; /* Python line numbers (false: one frame per function) */
	bool native; /* native frames (false: the Python view) */
	bool kernel; /* kernel frames */
};

/* A new profile with the frames the view leaves out removed (and Python
 * frames merged by function without lines); stacks that become equal add up. */
struct pp_profile *profile_view(const struct pp_profile *p, const struct pp_view *v);

#endif
