// SPDX-License-Identifier: BSD-2-Clause
#include "sampler.h"
#include "util.h"
#include "sampler.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pp_sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	struct bpf_link *munmap_link;
	int ncpus;
	pp_record_fn on_record;
	void *ctx;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && pp_verbose < 2)
		return 0;
	if (!pp_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int on_rb(void *ctx, void *data, size_t size)
{
	struct pp_sampler *s = ctx;

	return s->on_record(s->ctx, data, size) ? -EAGAIN : 0;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 4096;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

struct pp_sampler *sampler_open(const struct pp_sampler_opts *o, char *why, size_t whylen)
{
	struct pp_sampler *s = pp_xcalloc(1, sizeof(*s));
	int err, attached = 0;

	libbpf_set_print(libbpf_print);
	s->on_record = o->on_record;
	s->ctx = o->ctx;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		snprintf(why, whylen, "cannot count the CPUs of this machine");
		goto fail;
	}
	s->skel = sampler_bpf__open();
	if (!s->skel) {
		snprintf(why, whylen, "cannot open the BPF program: %s", strerror(errno));
		goto fail;
	}
	s->skel->rodata->stack_limit = o->stack_limit;
	/* A quarter of the ring: the reader, woken by sampler_poll's timeout
	 * otherwise, is called well before the ring fills. */
	s->skel->rodata->wakeup_bytes = pow2_at_least(o->ringbuf_size) / 4;
	bpf_map__set_max_entries(s->skel->maps.scratch, (uint32_t)s->ncpus);
	bpf_map__set_max_entries(s->skel->maps.records, pow2_at_least(o->ringbuf_size));
	err = sampler_bpf__load(s->skel);
	if (err) {
		snprintf(why, whylen,
			 "cannot load the BPF program (%s); this kernel needs BTF and BPF ring buffers (Linux 5.17+); "
			 "run with --verbose for the verifier log",
			 strerror(-err));
		goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.records), on_rb, s, NULL);
	if (!s->rb) {
		snprintf(why, whylen, "cannot set up the BPF ring buffer: %s", strerror(errno));
		goto fail;
	}
	s->links = pp_xcalloc((size_t)s->ncpus, sizeof(*s->links));
	for (int cpu = 0; cpu < s->ncpus; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_freq = o->frequency,
			.freq = 1,
		};
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* offline CPU */
			snprintf(why, whylen, "cannot open a CPU-clock perf event on CPU %d: %s", cpu, strerror(errno));
			goto fail;
		}
		s->links[cpu] = bpf_program__attach_perf_event(s->skel->progs.pp_sample, fd);
		if (!s->links[cpu]) {
			snprintf(why, whylen, "cannot attach the BPF program to CPU %d: %s", cpu, strerror(errno));
			close(fd);
			goto fail;
		}
		attached++;
	}
	if (!attached) {
		snprintf(why, whylen, "no online CPU to sample");
		goto fail;
	}
	/* Without it (not asked for, or no tracefs), changed mappings are
	 * noticed by a look at /proc/PID/maps once a second instead. */
	if (o->unmap_tracepoint) {
		s->munmap_link = bpf_program__attach(s->skel->progs.pp_munmap);
		if (!s->munmap_link)
			pp_debug("no munmap tracepoint (%s): library unloads are noticed within a second",
				 strerror(errno));
	}
	return s;
fail:
	sampler_close(s);
	return NULL;
}

int sampler_follow(struct pp_sampler *s, pid_t pid, const struct pp_proc *proc)
{
	uint32_t key = (uint32_t)pid;

	return bpf_map__update_elem(s->skel->maps.procs, &key, sizeof(key), proc, sizeof(*proc), BPF_ANY);
}

int sampler_unfollow(struct pp_sampler *s, pid_t pid)
{
	uint32_t key = (uint32_t)pid;

	return bpf_map__delete_elem(s->skel->maps.procs, &key, sizeof(key), 0);
}

int sampler_poll(struct pp_sampler *s, int timeout_ms)
{
	int n = ring_buffer__poll(s->rb, timeout_ms), m;

	if (n < 0)
		return n;
	/* Records below the wakeup mark raise no event: take them anyway. */
	m = ring_buffer__consume(s->rb);
	return m < 0 ? m : n + m;
}

void sampler_stop(struct pp_sampler *s)
{
	if (s->links) {
		for (int cpu = 0; cpu < s->ncpus; cpu++) {
			/* bpf_link__destroy closes the perf event fd too. */
			bpf_link__destroy(s->links[cpu]);
			s->links[cpu] = NULL;
		}
	}
	if (s->rb)
		ring_buffer__consume(s->rb);
}

void sampler_counters(struct pp_sampler *s, uint64_t out[PP_NCOUNTERS])
{
	uint64_t *vals = pp_xcalloc((size_t)s->ncpus, sizeof(uint64_t));

	for (uint32_t k = 0; k < PP_NCOUNTERS; k++) {
		out[k] = 0;
		if (bpf_map__lookup_elem(s->skel->maps.counters, &k, sizeof(k), vals,
					 sizeof(uint64_t) * (size_t)s->ncpus, 0))
			continue;
		for (int c = 0; c < s->ncpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void sampler_close(struct pp_sampler *s)
{
	if (!s)
		return;
	if (s->links) {
		for (int cpu = 0; cpu < s->ncpus; cpu++)
			bpf_link__destroy(s->links[cpu]);
		free(s->links);
	}
	bpf_link__destroy(s->munmap_link);
	ring_buffer__free(s->rb);
	sampler_bpf__destroy(s->skel);
	free(s);
}

bool sampler_tracks_unmaps(const struct pp_sampler *s)
{
	return s->munmap_link != NULL;
}
