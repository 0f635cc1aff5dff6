// SPDX-License-Identifier: BSD-2-Clause
/* The pprof writer, read back as a reader would: gunzip, decode with the
 * generated protobuf-c code, and check what each part of the format says
 * (types, values, leaf-first locations, functions, mappings, labels). */
#include "check.h"
#include "out_pprof.h"
#include "pprof.pb-c.h"
#include "profile.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#define LIBZ	"/usr/lib/x86_64-linux-gnu/libz.so.1"
#define PYTHON	"/usr/bin/python3.11"
#define PERIOD	10000000 /* ns at 100 Hz */
#define START	1700000000123456789LL
#define SECONDS 5000000000LL

/* The gzip member in buf, inflated; NULL if it is not one. */
static uint8_t *gunzip(const uint8_t *buf, size_t len, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = 4096;
	uint8_t *out = malloc(cap);
	int rc;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return NULL;
	z.next_in = (unsigned char *)buf;
	z.avail_in = (uInt)len;
	do {
		if (z.total_out == cap) {
			cap *= 2;
			out = realloc(out, cap);
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
	} while (rc == Z_OK);
	*out_len = z.total_out;
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

static const Pprof__Profile *prof;

static const char *str(int64_t i)
{
	return i >= 0 && (size_t)i < prof->n_string_table ? prof->string_table[i] : "(out of range)";
}

static const Pprof__Location *location(uint64_t id)
{
	for (size_t i = 0; i < prof->n_location; i++)
		if (prof->location[i]->id == id)
			return prof->location[i];
	return NULL;
}

static const Pprof__Function *function(uint64_t id)
{
	for (size_t i = 0; i < prof->n_function; i++)
		if (prof->function[i]->id == id)
			return prof->function[i];
	return NULL;
}

static const Pprof__Mapping *mapping(uint64_t id)
{
	for (size_t i = 0; i < prof->n_mapping; i++)
		if (prof->mapping[i]->id == id)
			return prof->mapping[i];
	return NULL;
}

/* The function of a sample's j-th location (leaf first), or a dummy. */
static const Pprof__Function *fn_at(const Pprof__Sample *s, size_t j, int64_t *line, const Pprof__Location **lp)
{
	static const Pprof__Function none = PPROF__FUNCTION__INIT;
	const Pprof__Location *l = j < s->n_location_id ? location(s->location_id[j]) : NULL;
	const Pprof__Function *f;

	*lp = l;
	if (!l || l->n_line != 1 || !(f = function(l->line[0]->function_id)))
		return &none;
	*line = l->line[0]->line;
	return f;
}

/* The string or number of the sample's label key; "" / -1 if absent. */
static const char *label_str(const Pprof__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(str(s->label[i]->key), key) == 0)
			return str(s->label[i]->str);
	return "";
}

static int64_t label_num(const Pprof__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(str(s->label[i]->key), key) == 0)
			return s->label[i]->num;
	return -1;
}

/* Checks the leaf-first names and lines of sample s. */
static void check_stack(const Pprof__Sample *s, size_t n, const char *const *names, const int *lines)
{
	CHECK_EQ_INT(s->n_location_id, n);
	for (size_t j = 0; j < n; j++) {
		int64_t line = -1;
		const Pprof__Location *l;
		const Pprof__Function *f = fn_at(s, j, &line, &l);

		CHECK_EQ_STR(str(f->name), names[j]);
		CHECK_EQ_STR(str(f->system_name), names[j]);
		CHECK_EQ_INT(line, lines[j]);
	}
}

/* Every id is nonzero and unique, and every reference resolves. */
static void check_ids(void)
{
	for (size_t i = 0; i < prof->n_location; i++) {
		const Pprof__Location *l = prof->location[i];

		CHECK(l->id != 0 && location(l->id) == l);
		CHECK(l->mapping_id == 0 || mapping(l->mapping_id));
		for (size_t j = 0; j < l->n_line; j++)
			CHECK(function(l->line[j]->function_id));
	}
	for (size_t i = 0; i < prof->n_function; i++)
		CHECK(prof->function[i]->id != 0 && function(prof->function[i]->id) == prof->function[i]);
	for (size_t i = 0; i < prof->n_mapping; i++)
		CHECK(prof->mapping[i]->id != 0 && mapping(prof->mapping[i]->id) == prof->mapping[i]);
	for (size_t i = 0; i < prof->n_sample; i++)
		for (size_t j = 0; j < prof->sample[i]->n_location_id; j++)
			CHECK(location(prof->sample[i]->location_id[j]));
}

static Pprof__Profile *write_and_read(const struct pp_profile *p)
{
	char *buf = NULL;
	size_t len = 0, raw_len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint8_t *raw;
	Pprof__Profile *out = NULL;

	CHECK_EQ_INT(pprof_write(p, f), 0);
	fclose(f);
	CHECK(len > 2 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b);
	raw = gunzip((const uint8_t *)buf, len, &raw_len);
	CHECK(raw != NULL);
	if (raw)
		out = pprof__profile__unpack(NULL, raw_len, raw);
	CHECK(out != NULL);
	free(raw);
	free(buf);
	return out;
}

int main(void)
{
	struct pp_profile *p = profile_new();
	uint32_t proc = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PROCESS, .name = "python3.11", .num = 4711});
	uint32_t main_thr =
		profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_THREAD, .name = "MainThread", .num = 4711});
	uint32_t worker =
		profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_THREAD, .name = "worker", .num = 4713});
	uint32_t mod = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "<module>", .file = "app.py", .line = 10});
	uint32_t work20 = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "Job.work", .file = "app.py", .line = 20});
	uint32_t work21 = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_PYTHON, .name = "Job.work", .file = "app.py", .line = 21});
	uint32_t compress = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_NATIVE,
								       .name = "compress2",
								       .file = LIBZ,
								       .num = 0x3c10,
								       .build_id = "0badc0de"});
	uint32_t deflate = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_NATIVE,
								      .name = "deflate_slow",
								      .file = LIBZ,
								      .num = 0x7a00,
								      .build_id = "0badc0de"});
	uint32_t call = profile_intern_frame(
		p, &(struct pp_frame){.kind = PP_FRAME_INTERP, .name = "PyObject_Call", .file = PYTHON, .num = 0x5000});
	uint32_t sys = profile_intern_frame(p, &(struct pp_frame){.kind = PP_FRAME_KERNEL, .name = "do_syscall_64"});
	uint32_t trunc = profile_intern(p, "[truncated]");
	uint32_t s1[] = {proc, main_thr, mod, work20}, s2[] = {proc, main_thr, mod, work21, compress, deflate, sys},
		 s3[] = {proc, worker, trunc, call};
	const Pprof__Sample *s;
	const Pprof__Location *l;
	const Pprof__Function *fn;
	const Pprof__Mapping *m;
	int64_t line;
	Pprof__Profile *out;
	FILE *full;

	profile_add(p, s1, 4, 3);
	profile_add(p, s2, 7, 2);
	profile_add(p, s3, 4, 5);
	profile_set_info(p, &(struct pp_profile_info){.title = "python3.11 (4711): app.py",
						      .frequency = 100,
						      .start_unix_ns = START,
						      .duration_ns = SECONDS});
	prof = out = write_and_read(p);
	if (!out)
		return check_report("test_pprof");

	CHECK(out->n_string_table > 0);
	CHECK_EQ_STR(str(0), "");
	CHECK_EQ_INT(out->n_sample_type, 2);
	if (out->n_sample_type == 2) {
		CHECK_EQ_STR(str(out->sample_type[0]->type), "samples");
		CHECK_EQ_STR(str(out->sample_type[0]->unit), "count");
		CHECK_EQ_STR(str(out->sample_type[1]->type), "cpu");
		CHECK_EQ_STR(str(out->sample_type[1]->unit), "nanoseconds");
	}
	CHECK(out->period_type != NULL);
	if (out->period_type) {
		CHECK_EQ_STR(str(out->period_type->type), "cpu");
		CHECK_EQ_STR(str(out->period_type->unit), "nanoseconds");
	}
	CHECK_EQ_INT(out->period, PERIOD);
	CHECK_EQ_INT(out->time_nanos, START);
	CHECK_EQ_INT(out->duration_nanos, SECONDS);
	CHECK_EQ_INT(out->n_comment, 1);
	if (out->n_comment == 1)
		CHECK_EQ_STR(str(out->comment[0]), "pybpfprof python3.11 (4711): app.py");
	check_ids();

	/* Functions: one per (name, file), the two lines of Job.work share one. */
	CHECK_EQ_INT(out->n_function, 7);
	/* Locations: one per frame that is not a process or a thread. */
	CHECK_EQ_INT(out->n_location, 8);
	/* Mappings: the interpreter's first (readers show it as the file), libz. */
	CHECK_EQ_INT(out->n_mapping, 2);
	if (out->n_mapping)
		CHECK_EQ_STR(str(out->mapping[0]->filename), PYTHON);

	CHECK_EQ_INT(out->n_sample, 3);
	if (out->n_sample != 3)
		return check_report("test_pprof");

	s = out->sample[0];
	CHECK_EQ_INT(s->n_value, 2);
	CHECK_EQ_INT(s->value[0], 3);
	CHECK_EQ_INT(s->value[1], 3LL * PERIOD);
	check_stack(s, 2, (const char *const[]){"Job.work", "<module>"}, (const int[]){20, 10});
	fn = fn_at(s, 0, &line, &l);
	CHECK_EQ_STR(str(fn->filename), "app.py");
	CHECK_EQ_INT(l->mapping_id, 0);
	CHECK_EQ_INT(label_num(s, "pid"), 4711);
	CHECK_EQ_STR(label_str(s, "process"), "python3.11");
	CHECK_EQ_INT(label_num(s, "tid"), 4711);
	CHECK_EQ_STR(label_str(s, "thread"), "MainThread");
	CHECK_EQ_INT(s->n_label, 4);

	s = out->sample[1];
	CHECK_EQ_INT(s->value[0], 2);
	CHECK_EQ_INT(s->value[1], 2LL * PERIOD);
	check_stack(s, 5, (const char *const[]){"do_syscall_64", "deflate_slow", "compress2", "Job.work", "<module>"},
		    (const int[]){0, 0, 0, 21, 10});
	/* the shared root frame is one location; lines 20 and 21 two, of one function */
	CHECK_EQ_INT(s->location_id[4], out->sample[0]->location_id[1]);
	CHECK(s->location_id[3] != out->sample[0]->location_id[0]);
	CHECK_EQ_INT(location(s->location_id[3])->line[0]->function_id,
		     location(out->sample[0]->location_id[0])->line[0]->function_id);
	/* native frames: the ELF's mapping, with build id, at the function's address */
	fn = fn_at(s, 2, &line, &l);
	CHECK_EQ_STR(str(fn->filename), LIBZ);
	CHECK_EQ_INT(l->address, 0x3c10);
	m = mapping(l->mapping_id);
	CHECK(m != NULL);
	if (m) {
		CHECK_EQ_STR(str(m->filename), LIBZ);
		CHECK_EQ_STR(str(m->build_id), "0badc0de");
		CHECK(m->has_functions);
		CHECK(!m->has_filenames && !m->has_line_numbers);
		CHECK(m->memory_start <= 0x3c10 && m->memory_limit > 0x7a00);
	}
	fn_at(s, 1, &line, &l);
	CHECK_EQ_INT(l->address, 0x7a00);
	CHECK(l->mapping_id == location(s->location_id[2])->mapping_id);
	/* the kernel's frame: named as perf does, no mapping, so no file to open */
	fn = fn_at(s, 0, &line, &l);
	CHECK_EQ_INT(l->mapping_id, 0);
	CHECK_EQ_STR(str(fn->filename), "[kernel.kallsyms]");

	s = out->sample[2];
	CHECK_EQ_INT(s->value[0], 5);
	check_stack(s, 2, (const char *const[]){"PyObject_Call", "[truncated]"}, (const int[]){0, 0});
	CHECK_EQ_STR(label_str(s, "thread"), "worker");
	CHECK_EQ_INT(label_num(s, "tid"), 4713);
	CHECK_EQ_INT(label_num(s, "pid"), 4711);
	fn = fn_at(s, 0, &line, &l);
	m = mapping(l->mapping_id);
	CHECK(m != NULL);
	if (m) {
		CHECK_EQ_STR(str(m->filename), PYTHON);
		CHECK_EQ_STR(str(m->build_id), "");
	}
	fn = fn_at(s, 1, &line, &l);
	CHECK_EQ_INT(l->mapping_id, 0);
	CHECK_EQ_STR(str(fn->filename), "");

	/* each string once */
	for (size_t i = 0; i < out->n_string_table; i++)
		for (size_t j = i + 1; j < out->n_string_table; j++)
			CHECK(strcmp(out->string_table[i], out->string_table[j]) != 0);
	pprof__profile__free_unpacked(out, NULL);
	profile_free(p);

	/* An empty profile is still a valid one. */
	p = profile_new();
	prof = out = write_and_read(p);
	if (out) {
		CHECK_EQ_INT(out->n_sample, 0);
		CHECK_EQ_INT(out->n_sample_type, 2);
		CHECK_EQ_STR(str(0), "");
		CHECK_EQ_INT(out->n_comment, 1);
		if (out->n_comment == 1)
			CHECK_EQ_STR(str(out->comment[0]), "pybpfprof");
		pprof__profile__free_unpacked(out, NULL);
	}

	/* A full disk is an error, not a truncated file said to be fine. */
	full = fopen("/dev/full", "w");
	if (full) {
		CHECK_EQ_INT(pprof_write(p, full), -1);
		fclose(full);
	}
	profile_free(p);
	return check_report("test_pprof");
}
