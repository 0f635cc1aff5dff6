// SPDX-License-Identifier: BSD-2-Clause
/*
 * pybpfprof: options, wiring, signals, exit codes. The work is done by the
 * stages: target -> pyruntime/pylayout -> selfcheck -> sampler (BPF) ->
 * pipeline (unwind, symbolize, merge, profile) -> out_folded.
 */
#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "fleet.h"
#include "push.h"
#include "outfile.h"
#include "output.h"
#include "pipeline.h"
#include "pyruntime.h"
#include "sampler.h"
#include "selfcheck.h"
#include "target.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_FREQUENCY 99
#define FLEET_FREQUENCY	  19 /* --all: cheap enough to leave on */
#define DEFAULT_INTERVAL  60
#define DEFAULT_RETAIN_MB 1024
#define DEFAULT_SPOOL_MB  256
#define DEFAULT_STACK_KB  (PP_STACK_MAX / 1024)
/* Small on purpose: the sampler writes each record where the last write
 * left off, so it sweeps the whole ring, and a ring larger than the cache
 * makes every record a cache miss (measured: 5.7 us of BPF per sample with
 * an 8 MB ring, 12.5 us with 32 MB, 30 us with 128 MB). 8 MB holds over
 * 0.1 s of two threads' deep stacks at 999 Hz; the reader is woken at a
 * quarter. */
#define DEFAULT_RINGBUF_MB 8
/* --all: 1 MB per CPU holds ~0.2 s of the largest records at 19 Hz on
 * every CPU, twice the reader's poll period. */
#define FLEET_RINGBUF_MB_MIN 4
#define FLEET_RINGBUF_MB_MAX 32
#define PP_MAX_EXCLUDE	     8

struct options {
	pid_t pid;
	double seconds; /* 0: until Ctrl-C */
	unsigned frequency;
	struct pp_outputs outputs;
	struct pp_view view;
	unsigned stack_kb;
	unsigned ringbuf_mb; /* 0: the default for the mode */
	bool interp_frames;
	/* following many processes */
	bool all, subprocesses, by_service;
	const char *output_dir, *push_url, *spool_dir, *host;
	double interval;
	unsigned retain_mb, spool_mb;
	int unmap_tracepoint; /* -1: the default for the mode */
	const char *exclude[PP_MAX_EXCLUDE];
	size_t nexclude;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pybpfprof --pid PID [options] > profile.folded\n"
		"       pybpfprof --all --output-dir DIR [options]   (every Python process, always on)\n"
		"       pybpfprof top --pid PID     (a live view; see pybpfprof top --help)\n"
		"       pybpfprof dump --pid PID    (every thread's stack, now; see pybpfprof dump --help)\n"
		"Samples a running CPython process from outside and prints one merged stack per\n"
		"sample (Python frames, the C extensions and libraries they call, the kernel) as\n"
		"FlameGraph folded stacks.\n"
		"\n"
		"Options:\n"
		"  -p, --pid PID          process to profile (required)\n"
		"  -d, --seconds N        how long to sample (default: until Ctrl-C or SIGTERM)\n"
		"  -F, --frequency HZ     samples per second per CPU (default: %d)\n"
		"  -o, --output FILE      write the profile to FILE (default: standard output); may be\n"
		"                         given up to 8 times, each file in the format of its extension\n"
		"  -f, --format FORMAT    folded, svg, speedscope or pprof: the format of standard output\n"
		"                         and of files whose extension names none (default: folded)\n"
		"                         extensions: .folded .txt, .svg, .speedscope.json .json, .pb.gz .pprof\n"
		"      --threads          a frame per thread under the process (default)\n"
		"      --no-threads       leave the thread frame out of each stack\n"
		"      --no-lines         one frame per Python function, without line numbers (default: lines)\n"
		"      --native           show native frames (default)\n"
		"      --no-native        hide native frames: the Python view\n"
		"      --no-kernel        hide kernel frames (default: shown)\n"
		"      --interp-frames    keep the interpreter's call machinery frames (default: hidden)\n"
		"\n"
		"Many processes (fleet mode, see docs/fleet.md):\n"
		"      --all              every CPython process of the host, those started later too\n"
		"                         (default frequency then: %d Hz)\n"
		"      --subprocesses     with --pid: the process and its descendants, new ones too\n"
		"      --exclude REGEX    with --all/--subprocesses: do not follow processes whose command\n"
		"                         line (arguments joined by spaces) matches this extended regular\n"
		"                         expression; may be given up to %d times (default: none)\n"
		"      --output-dir DIR   every --interval, one folded and one pprof file per process\n"
		"                         into DIR (default: one profile at the end, as above)\n"
		"      --interval N       seconds per profile with --output-dir/--push (default: %d)\n"
		"      --group-by WHAT    process or service (the script or module name) (default: process)\n"
		"      --retain MB        at most this much of our files in DIR, oldest removed (default: %d;\n"
		"                         0: no cap)\n"
		"      --push URL         also send each profile to a Pyroscope server (URL/ingest)\n"
		"      --spool-dir DIR    where pushes wait while the server is unreachable\n"
		"                         (default: DIR/.spool, or /var/spool/pybpfprof)\n"
		"      --spool-max MB     at most this much waiting; the oldest is dropped (default: %d)\n"
		"      --host NAME        the host name in file names and labels (default: hostname)\n"
		"\n"
		"      --stack-size KB    user stack bytes copied per sample, at most (default: %d, max %d)\n"
		"      --ringbuf-size MB  BPF ring buffer size (default: %d; with --all: 1 per CPU,\n"
		"                         %d to %d)\n"
		"      --unmap-check HOW  how unloaded libraries are noticed: tracepoint (exact, but every\n"
		"                         syscall of the host is slower while it is attached) or poll\n"
		"                         (/proc/PID/maps once a second) (default: tracepoint; with --all: poll)\n"
		"  -v, --verbose          diagnostics on stderr (twice: libbpf debug output)\n"
		"  -h, --help             this help\n"
		"  -V, --version          the version\n"
		"\n"
		"Needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE). Supported CPython: %s.\n",
		DEFAULT_FREQUENCY, FLEET_FREQUENCY, PP_MAX_EXCLUDE, DEFAULT_INTERVAL, DEFAULT_RETAIN_MB,
		DEFAULT_SPOOL_MB, DEFAULT_STACK_KB, PP_STACK_MAX / 1024, DEFAULT_RINGBUF_MB, FLEET_RINGBUF_MB_MIN,
		FLEET_RINGBUF_MB_MAX, pylayout_supported());
}

static unsigned fleet_ringbuf_mb(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	if (n < FLEET_RINGBUF_MB_MIN)
		return FLEET_RINGBUF_MB_MIN;
	return n > FLEET_RINGBUF_MB_MAX ? FLEET_RINGBUF_MB_MAX : (unsigned)n;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_STACK = 256,
		OPT_ALL,
		OPT_SUBPROCESSES,
		OPT_EXCLUDE,
		OPT_OUTPUT_DIR,
		OPT_INTERVAL,
		OPT_RETAIN,
		OPT_GROUP_BY,
		OPT_PUSH,
		OPT_SPOOL_DIR,
		OPT_SPOOL_MAX,
		OPT_HOST,
		OPT_RINGBUF,
		OPT_INTERP,
		OPT_THREADS,
		OPT_NO_THREADS,
		OPT_NO_LINES,
		OPT_NATIVE,
		OPT_NO_NATIVE,
		OPT_NO_KERNEL,
		OPT_UNMAP_CHECK
	};
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"seconds", required_argument, NULL, 'd'},
		{"frequency", required_argument, NULL, 'F'},
		{"output", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'f'},
		{"threads", no_argument, NULL, OPT_THREADS},
		{"no-lines", no_argument, NULL, OPT_NO_LINES},
		{"native", no_argument, NULL, OPT_NATIVE},
		{"no-native", no_argument, NULL, OPT_NO_NATIVE},
		{"no-kernel", no_argument, NULL, OPT_NO_KERNEL},
		{"stack-size", required_argument, NULL, OPT_STACK},
		{"ringbuf-size", required_argument, NULL, OPT_RINGBUF},
		{"unmap-check", required_argument, NULL, OPT_UNMAP_CHECK},
		{"interp-frames", no_argument, NULL, OPT_INTERP},
		{"no-threads", no_argument, NULL, OPT_NO_THREADS},
		{"all", no_argument, NULL, OPT_ALL},
		{"subprocesses", no_argument, NULL, OPT_SUBPROCESSES},
		{"exclude", required_argument, NULL, OPT_EXCLUDE},
		{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{"retain", required_argument, NULL, OPT_RETAIN},
		{"group-by", required_argument, NULL, OPT_GROUP_BY},
		{"push", required_argument, NULL, OPT_PUSH},
		{"spool-dir", required_argument, NULL, OPT_SPOOL_DIR},
		{"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
		{"host", required_argument, NULL, OPT_HOST},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *format = NULL;
	bool freq_set = false;
	enum pp_format fmt = PP_FORMAT_FOLDED;
	unsigned long v;
	int c;

	*o = (struct options){.frequency = DEFAULT_FREQUENCY,
			      .stack_kb = DEFAULT_STACK_KB,
			      .view = {.threads = true, .lines = true, .native = true, .kernel = true},
			      .interval = DEFAULT_INTERVAL,
			      .retain_mb = DEFAULT_RETAIN_MB,
			      .spool_mb = DEFAULT_SPOOL_MB,
			      .unmap_tracepoint = -1};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:d:F:o:f:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_pid(optarg, &o->pid))
				return -1;
			break;
		case 'd': {
			char *end;

			o->seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(o->seconds > 0) || o->seconds > 1e7) {
				pp_err("--seconds takes a positive number of seconds, not '%s'", optarg);
				return -1;
			}
			break;
		}
		case 'F':
			if (parse_uint(optarg, 100000, &v) || v == 0) {
				pp_err("--frequency takes a rate in Hz from 1 to 100000, not '%s'", optarg);
				return -1;
			}
			o->frequency = (unsigned)v;
			freq_set = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_SUBPROCESSES:
			o->subprocesses = true;
			break;
		case OPT_EXCLUDE: {
			regex_t re;
			int rc;

			if (o->nexclude == PP_MAX_EXCLUDE) {
				pp_err("at most %d --exclude patterns; join more with '|'", PP_MAX_EXCLUDE);
				return -1;
			}
			rc = regcomp(&re, optarg, REG_EXTENDED | REG_NOSUB);
			if (rc) {
				char err[128];

				regerror(rc, &re, err, sizeof(err));
				pp_err("--exclude '%s' is not a valid extended regular expression: %s", optarg, err);
				return -1;
			}
			regfree(&re);
			o->exclude[o->nexclude++] = optarg;
			break;
		}
		case OPT_OUTPUT_DIR:
			o->output_dir = optarg;
			break;
		case OPT_INTERVAL: {
			char *end;

			o->interval = strtod(optarg, &end);
			if (end == optarg || *end || !(o->interval >= 1) || o->interval > 86400) {
				pp_err("--interval takes seconds from 1 to 86400, not '%s'", optarg);
				return -1;
			}
			break;
		}
		case OPT_RETAIN:
		case OPT_SPOOL_MAX:
			if (parse_uint(optarg, 1u << 30, &v)) {
				pp_err("--%s takes a size in MB (0: no cap), not '%s'",
				       c == OPT_RETAIN ? "retain" : "spool-max", optarg);
				return -1;
			}
			if (c == OPT_RETAIN)
				o->retain_mb = (unsigned)v;
			else
				o->spool_mb = (unsigned)v;
			break;
		case OPT_GROUP_BY:
			if (strcmp(optarg, "process") && strcmp(optarg, "service")) {
				pp_err("--group-by takes process or service, not '%s'", optarg);
				return -1;
			}
			o->by_service = strcmp(optarg, "service") == 0;
			break;
		case OPT_PUSH:
			o->push_url = optarg;
			break;
		case OPT_SPOOL_DIR:
			o->spool_dir = optarg;
			break;
		case OPT_HOST:
			o->host = optarg;
			break;
		case 'o':
			if (o->outputs.n == PP_MAX_OUTPUTS) {
				pp_err("at most %d --output files", PP_MAX_OUTPUTS);
				return -1;
			}
			o->outputs.o[o->outputs.n++].path = strcmp(optarg, "-") == 0 ? NULL : optarg;
			break;
		case OPT_STACK:
			if (parse_uint(optarg, PP_STACK_MAX / 1024, &v) || v < 4) {
				pp_err("--stack-size takes KB from 4 to %d, not '%s'", PP_STACK_MAX / 1024, optarg);
				return -1;
			}
			o->stack_kb = (unsigned)v;
			break;
		case OPT_RINGBUF:
			if (parse_uint(optarg, 1024, &v) || v < 1) {
				pp_err("--ringbuf-size takes MB from 1 to 1024, not '%s'", optarg);
				return -1;
			}
			o->ringbuf_mb = (unsigned)v;
			break;
		case OPT_INTERP:
			o->interp_frames = true;
			break;
		case OPT_UNMAP_CHECK:
			if (strcmp(optarg, "tracepoint") && strcmp(optarg, "poll")) {
				pp_err("--unmap-check takes tracepoint or poll, not '%s'", optarg);
				return -1;
			}
			o->unmap_tracepoint = strcmp(optarg, "tracepoint") == 0;
			break;
		case 'f':
			format = optarg;
			break;
		case OPT_THREADS:
			o->view.threads = true;
			break;
		case OPT_NO_THREADS:
			o->view.threads = false;
			break;
		case OPT_NO_LINES:
			o->view.lines = false;
			break;
		case OPT_NATIVE:
			o->view.native = true;
			break;
		case OPT_NO_NATIVE:
			o->view.native = false;
			break;
		case OPT_NO_KERNEL:
			o->view.kernel = false;
			break;
		case 'v':
			pp_verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("pybpfprof %s\n", PP_VERSION);
			exit(0);
		default:
			return cli_unknown(argv, optopt, "pybpfprof");
		}
	}
	if (optind < argc) {
		pp_err("unexpected argument '%s'; see pybpfprof --help", argv[optind]);
		return -1;
	}
	if (!o->pid && !o->all) {
		pp_err("no target: give --pid PID, or --all for every Python process; see pybpfprof --help");
		return -1;
	}
	if (o->pid && o->all) {
		pp_err("--pid and --all exclude each other: --all follows every Python process");
		return -1;
	}
	if (o->subprocesses && !o->pid) {
		pp_err("--subprocesses goes with --pid: the process whose descendants to follow");
		return -1;
	}
	if (o->nexclude && !o->all && !o->subprocesses) {
		pp_err("--exclude goes with --all or --subprocesses: it keeps processes found there out");
		return -1;
	}
	if ((o->output_dir || o->push_url) && o->outputs.n) {
		pp_err("--output and --output-dir/--push exclude each other: one profile at the end, or one "
		       "per process every --interval");
		return -1;
	}
	if (o->all && !freq_set)
		o->frequency = FLEET_FREQUENCY;
	/* Always on, host-wide: a tax on every syscall of the host is not
	 * worth closing a one-second window after a rare dlclose. */
	if (o->unmap_tracepoint < 0)
		o->unmap_tracepoint = !o->all;
	if (!o->ringbuf_mb)
		o->ringbuf_mb = o->all ? fleet_ringbuf_mb() : DEFAULT_RINGBUF_MB;
	if (format && output_format_parse(format, &fmt)) {
		pp_err("--format takes folded, svg, speedscope or pprof, not '%s'", format);
		return -1;
	}
	if (!o->outputs.n)
		o->outputs.n = 1; /* standard output */
	for (size_t i = 0; i < o->outputs.n; i++) {
		struct pp_output *out = &o->outputs.o[i];

		if (!out->path || output_format_for_path(out->path, &out->fmt))
			out->fmt = fmt;
		if (!out->path && out->fmt == PP_FORMAT_PPROF && isatty(STDOUT_FILENO)) {
			pp_err("pprof output is binary: give --output FILE.pb.gz or redirect standard output");
			return -1;
		}
	}
	return 0;
}

/* After sampling ends, what is still buffered is processed for at most
 * this long, so that the profile is written promptly; the rest is counted
 * as dropped. */
#define DRAIN_DEADLINE_NS (1000ULL * 1000 * 1000)

/* One poll round handles records for at most this long, so that the
 * main loop keeps checking the clock and signals however fast they come. */
#define POLL_ROUND_NS (200ULL * 1000 * 1000)

struct record_sink {
	struct pp_pipeline *pl;
	uint64_t round_end_ns;
	uint64_t deadline_ns; /* 0 while sampling */
	uint64_t dropped;
};

static int on_record(void *ctx, const void *data, size_t size)
{
	struct record_sink *sink = ctx;
	uint64_t now = pp_now_ns();

	if (sink->deadline_ns && now > sink->deadline_ns) {
		sink->dropped++;
		return 0;
	}
	pipeline_sample(sink->pl, data, size);
	return !sink->deadline_ns && now > sink->round_end_ns;
}

/* On a terminal, one line rewritten every second; in a log, a line every 10 s. */
static void progress(double elapsed, double total, uint64_t samples, size_t nprocs, bool final)
{
	static bool shown;
	static double last_logged;
	bool tty = isatty(STDERR_FILENO);

	if (!tty && (final || elapsed - last_logged < 10))
		return;
	last_logged = elapsed;
	if (final) {
		if (shown)
			fputc('\n', stderr);
		return;
	}
	fputs(tty ? "\r" : "", stderr);
	if (total > 0)
		fprintf(stderr, "pybpfprof: %.0f/%.0f s, %llu samples", elapsed, total, (unsigned long long)samples);
	else
		fprintf(stderr, "pybpfprof: %.0f s, %llu samples", elapsed, (unsigned long long)samples);
	if (nprocs > 1)
		fprintf(stderr, ", %zu processes", nprocs);
	if (total <= 0)
		fputs(" (Ctrl-C to stop)", stderr);
	fputs(tty ? "   " : "\n", stderr);
	shown = tty;
}

/* The profile as the options ask to see it, in the chosen format. */
static int write_profile(struct pp_pipeline *pl, struct options *o, const char *title, uint64_t start_unix_ns,
			 double elapsed, char *why, size_t whylen)
{
	struct pp_profile *p = pipeline_profile(pl), *v;
	int rc;

	profile_set_info(p, &(struct pp_profile_info){.title = title,
						      .frequency = o->frequency,
						      .start_unix_ns = start_unix_ns,
						      .duration_ns = (uint64_t)(elapsed * 1e9)});
	v = profile_view(p, &o->view);
	rc = outputs_write(&o->outputs, v, why, whylen);
	profile_free(v);
	return rc;
}

static uint64_t unix_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed terminal (or the session it ran in ending) stops the run
	 * like Ctrl-C: what was sampled is still written. */
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The host's name, for fleet file names and labels. */
static void host_name(const struct options *o, char *out, size_t outlen)
{
	if (o->host) {
		snprintf(out, outlen, "%s", o->host);
		return;
	}
	if (gethostname(out, outlen) != 0 || !out[0])
		snprintf(out, outlen, "localhost");
	out[outlen - 1] = '\0';
}

static void print_summary(const struct options *o, const struct pp_pipeline *pl, struct pp_fleet *fleet,
			  const uint64_t *counters, uint64_t dropped, double elapsed, bool exited, const char *comm)
{
	const struct pp_stats *st = pipeline_stats(pl);

	pp_debug("user stack copied per sample: %.0f bytes on average, %llu at most; %llu copies cut at "
		 "--stack-size, %llu at an unreadable page; %llu thread-list walks and %llu stack mapping lookups in "
		 "BPF; %llu samples of "
		 "threads without Python, %llu malformed records, %llu of processes not followed",
		 st->samples ? (double)st->stack_bytes / (double)st->samples : 0.0, (unsigned long long)st->stack_max,
		 (unsigned long long)st->stack_limited, (unsigned long long)st->stack_faulted,
		 (unsigned long long)counters[PP_C_TSTATE_WALKS], (unsigned long long)counters[PP_C_STACK_LOOKUPS],
		 (unsigned long long)st->no_tstate, (unsigned long long)st->bad_records,
		 (unsigned long long)st->unknown_pid);
	if (st->stack_limited && st->stack_limited * 100 >= st->samples) {
		if (o->stack_kb < PP_STACK_MAX / 1024)
			fprintf(stderr,
				"pybpfprof: %llu samples had more native stack than --stack-size %u KB copies; "
				"raise it (up to %d) for complete native stacks\n",
				(unsigned long long)st->stack_limited, o->stack_kb, PP_STACK_MAX / 1024);
		else
			fprintf(stderr,
				"pybpfprof: %llu samples had more native stack than the %u KB a copy holds; "
				"they are marked [native stack truncated]\n",
				(unsigned long long)st->stack_limited, o->stack_kb);
	}
	if (exited)
		fprintf(stderr, "pybpfprof: process %d (%s) exited after %.1f s; wrote what was sampled\n", (int)o->pid,
			comm, elapsed);
	else if (stop_signal)
		fprintf(stderr, "pybpfprof: stopped by %s after %.1f s\n", strsignal(stop_signal), elapsed);
	if (fleet && o->push_url) {
		struct pp_push_stats ps;

		fleet_push_stats(fleet, &ps);
		fprintf(stderr,
			"pybpfprof: pushed %llu profiles to %s; %llu waiting in the spool, %llu dropped (%llu "
			"bytes), %llu failed attempts\n",
			(unsigned long long)ps.sent, o->push_url, (unsigned long long)ps.pending,
			(unsigned long long)ps.dropped, (unsigned long long)ps.dropped_bytes,
			(unsigned long long)ps.attempts_failed);
	}
	if (fleet) {
		const struct pp_fleet_stats *fs = fleet_stats(fleet);

		fprintf(stderr,
			"pybpfprof: %llu processes followed (%llu exited), %llu intervals, %llu files written, "
			"%llu failed, %llu removed by --retain, %llu excluded\n",
			(unsigned long long)fs->followed, (unsigned long long)fs->exited,
			(unsigned long long)fs->intervals, (unsigned long long)fs->files_written,
			(unsigned long long)fs->files_failed, (unsigned long long)fs->files_removed,
			(unsigned long long)fs->excluded);
	}
	fprintf(stderr,
		"pybpfprof: %llu samples in %.1f s; lost: %llu (ring buffer full), %llu (not processed "
		"in time at exit); incomplete: %llu native unwind failed, %llu Python walk failed, %llu "
		"Python stack truncated\n",
		(unsigned long long)st->samples, elapsed, (unsigned long long)counters[PP_C_RINGBUF_FULL],
		(unsigned long long)dropped, (unsigned long long)st->native_truncated,
		(unsigned long long)st->py_failed, (unsigned long long)st->py_truncated);
}

int main(int argc, char **argv)
{
	struct options o;
	struct pp_target t;
	struct pp_pyruntime rt;
	struct pp_pipeline *pl = NULL;
	struct pp_sampler *s = NULL;
	struct pp_fleet *fleet = NULL;
	struct pp_proc proc;
	struct record_sink sink = {0};
	uint64_t counters[PP_NCOUNTERS], start, last_check, start_unix_ns;
	char why[512], comm[64] = "", host[128], *start_line = NULL, *title = NULL;
	bool exited = false, execd = false, periodic;
	double elapsed = 0;
	int rc = 1;

	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		return dump_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "top") == 0)
		return top_main(argc - 1, argv + 1);
	if (parse_options(argc, argv, &o))
		return 1;
	if (!attach_privileged()) {
		pp_err("needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE): run it with sudo");
		return 1;
	}
	/* Profiles every interval into a directory or a server, or one at the end. */
	periodic = o.output_dir || o.push_url;
	host_name(&o, host, sizeof(host));
	if (!periodic && outputs_open(&o.outputs, why, sizeof(why))) {
		pp_err("%s", why);
		return 1;
	}
	sink.pl = pl = pipeline_new(&(struct pp_pipeline_opts){.show_interp = o.interp_frames});
	if (o.all) {
		title = pp_xasprintf("every CPython process on %s", host);
		start_line =
			pp_xasprintf("pybpfprof: sampling every CPython process on %s at %u Hz\n", host, o.frequency);
	} else {
		if (attach_python(o.pid, &t, &rt))
			goto fail;
		proc = pyruntime_proc(&t, &rt);
		snprintf(comm, sizeof(comm), "%s", t.comm);
		title = pp_xasprintf("%s (%d): %s", t.comm, (int)t.pid, t.cmdline);
		start_line = pp_xasprintf("pybpfprof: sampling PID %d (%s)%s at %u Hz: Python %s, runtime in %s\n",
					  (int)t.pid, t.cmdline, o.subprocesses ? " and its descendants" : "",
					  o.frequency, rt.version, rt.path);
		if (pipeline_add_process(pl, &t, &rt)) {
			if (!target_alive(o.pid))
				pp_err("process %d exited before sampling started", (int)o.pid);
			else
				pp_err("cannot read the mappings of process %d: %s", (int)o.pid, strerror(errno));
			target_close(&t);
			pyruntime_free(&rt);
			goto fail;
		}
	}
	install_signals();
	s = sampler_open(&(struct pp_sampler_opts){.frequency = o.frequency,
						   .stack_limit = o.stack_kb * 1024,
						   .ringbuf_size = o.ringbuf_mb << 20,
						   .unmap_tracepoint = o.unmap_tracepoint,
						   .on_record = on_record,
						   .ctx = &sink},
			 why, sizeof(why));
	if (!s) {
		pp_err("%s", why);
		goto fail;
	}
	if (!o.all && sampler_follow(s, o.pid, &proc)) {
		pp_err("cannot hand process %d to the BPF sampler", (int)o.pid);
		goto fail;
	}
	if (o.all || o.subprocesses || periodic) {
		char *spool = o.spool_dir    ? pp_xstrdup(o.spool_dir)
			      : o.output_dir ? pp_xasprintf("%s/.spool", o.output_dir)
					     : pp_xstrdup("/var/spool/pybpfprof");
		struct pp_push_opts push = {.url = o.push_url,
					    .spool_dir = spool,
					    .spool_max_bytes = (uint64_t)o.spool_mb << 20,
					    .timeout_s = 10};

		fleet = fleet_new(&(struct pp_fleet_opts){.push = o.push_url ? &push : NULL,
							  .discover = o.all || o.subprocesses,
							  .root = o.subprocesses ? o.pid : 0,
							  .output_dir = o.output_dir,
							  .interval_s = o.interval,
							  .retain_bytes = (uint64_t)o.retain_mb << 20,
							  .by_service = o.by_service,
							  .host = host,
							  .frequency = o.frequency,
							  .view = o.view,
							  .exclude = o.exclude,
							  .nexclude = o.nexclude},
				  pl, s, why, sizeof(why));
		free(spool);
		if (!fleet) {
			pp_err("%s", why);
			goto fail;
		}
		if (!o.all)
			fleet_adopt(fleet, o.pid);
		fleet_scan(fleet);
	}
	if (!o.all && !target_alive(o.pid)) {
		pp_err("process %d exited before sampling started", (int)o.pid);
		goto fail;
	}
	attach_drop_privileges();
	/* Said only now: from this line on, the target is being sampled. */
	fputs(start_line, stderr);

	start = last_check = pp_now_ns();
	start_unix_ns = unix_now_ns();
	while (!stop_signal) {
		uint64_t now;
		int n;

		sink.round_end_ns = pp_now_ns() + POLL_ROUND_NS;
		n = sampler_poll(s, 100);

		if (n < 0 && n != -EINTR && n != -EAGAIN) {
			pp_err("reading the BPF ring buffer failed: %s", strerror(-n));
			break;
		}
		now = pp_now_ns();
		elapsed = (double)(now - start) / 1e9;
		if (o.seconds > 0 && elapsed >= o.seconds)
			break;
		if (now - last_check < 1000000000ULL)
			continue;
		last_check = now;
		progress(elapsed, o.seconds, pipeline_stats(pl)->samples, fleet ? fleet_nprocs(fleet) : 1, false);
		if (!sampler_tracks_unmaps(s))
			pipeline_check_maps(pl);
		if (!o.all && !o.subprocesses && target_execd(pipeline_target(pl, o.pid))) {
			execd = true; /* not the program sampled any more */
			break;
		}
		if (fleet) {
			fleet_scan(fleet);
			if (periodic)
				fleet_maybe_flush(fleet, false);
		}
		/* One process, or a process tree: the run ends with it. */
		if (!o.all && !target_alive(o.pid) && (!o.subprocesses || fleet_nprocs(fleet) == 0)) {
			exited = true;
			break;
		}
	}
	sink.deadline_ns = pp_now_ns() + DRAIN_DEADLINE_NS;
	sampler_stop(s);
	sampler_counters(s, counters);
	progress(elapsed, o.seconds, pipeline_stats(pl)->samples, 0, true);

	if (periodic) {
		fleet_maybe_flush(fleet, true);
		fleet_end_push(fleet, 5); /* what is not out by then stays spooled */
	} else if (write_profile(pl, &o, title, start_unix_ns, elapsed, why, sizeof(why))) {
		pp_err("%s", why);
		goto done;
	}
	if (execd)
		fprintf(stderr,
			"pybpfprof: process %d (%s) exec'd another program after %.1f s; wrote what was sampled\n",
			(int)o.pid, comm, elapsed);
	print_summary(&o, pl, fleet, counters, sink.dropped, elapsed, exited, comm);
	rc = 0;
	goto done;
fail:
	outputs_abort(&o.outputs);
done:
	free(start_line);
	free(title);
	fleet_free(fleet, 5);
	sampler_close(s);
	pipeline_free(pl);
	return rc;
}
