// SPDX-License-Identifier: BSD-2-Clause
/*
 * pybpfprof top: a live view of a running process, refreshed every
 * second: the functions (Python, native, kernel) with the most own and
 * total samples, the GIL holder and the thread count. It samples like the
 * profiler (same BPF sampler and pipeline) and reads the GIL from the
 * target's memory at each refresh.
 */
#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "pipeline.h"
#include "pywalk.h"
#include "sampler.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define TOP_DEFAULT_FREQUENCY 99

struct top_options {
	pid_t pid;
	unsigned frequency;
	double seconds; /* 0: until q */
	double interval; /* seconds between refreshes */
	bool interp_frames;
};

/* One function of the table: the frames of a function at any line merge. */
struct fn {
	char *label;
	uint64_t own, total;
	uint64_t stamp; /* the stack that last counted it in total */
};

struct top {
	struct top_options o;
	struct pp_pipeline *pl;
	pid_t pid;
	char *cmdline, version[24];
	/* frame id -> fn index + 1 (0: not mapped yet; UINT32_MAX: not a function) */
	uint32_t *frame_fn;
	size_t frame_fn_cap;
	struct fn *fns;
	size_t nfns, fns_cap;
	/* per stack: the count at the last refresh */
	uint64_t *last_counts;
	size_t last_cap;
	bool cumulative, by_total;
	uint64_t window_samples;
	bool tty;
	/* GIL readings of the current interval: who held it, how often */
	struct gil_count {
		uint64_t tstate; /* 0: released */
		uint64_t n;
	} gil[PP_MAX_INTERPS + 8];
	size_t ngil;
	uint64_t gil_reads;
	bool gil_unknown;
};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	top_stop = sig;
}

static void top_usage(FILE *f)
{
	fprintf(f,
		"Usage: pybpfprof top --pid PID [options]\n"
		"A live view of a running CPython process, refreshed every second: the functions\n"
		"(Python, native and kernel) with the most samples of their own and in total, the\n"
		"thread holding the GIL and the number of threads.\n"
		"\n"
		"Options:\n"
		"  -p, --pid PID          process to watch (required)\n"
		"  -F, --frequency HZ     samples per second per CPU (default: %d)\n"
		"  -d, --seconds N        stop after N seconds (default: until q or Ctrl-C)\n"
		"  -i, --interval N       seconds between refreshes (default: 1)\n"
		"      --interp-frames    count the interpreter's call machinery too (default: hidden)\n"
		"  -h, --help             this help\n"
		"\n"
		"Keys: q quits; c switches between the last interval and everything since the start;\n"
		"s sorts by own or by total samples.\n",
		TOP_DEFAULT_FREQUENCY);
}

static int top_parse(int argc, char **argv, struct top_options *o)
{
	enum { OPT_INTERP = 256 };
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"frequency", required_argument, NULL, 'F'},
		{"seconds", required_argument, NULL, 'd'},
		{"interval", required_argument, NULL, 'i'},
		{"interp-frames", no_argument, NULL, OPT_INTERP},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	*o = (struct top_options){.frequency = TOP_DEFAULT_FREQUENCY, .interval = 1};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:F:d:i:vh", longopts, NULL)) != -1) {
		char *end;
		double d;
		long v;

		switch (c) {
		case 'p':
			if (cli_pid(optarg, &o->pid))
				return -1;
			break;
		case 'F':
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 1 || v > 100000) {
				pp_err("--frequency takes a rate in Hz from 1 to 100000, not '%s'", optarg);
				return -1;
			}
			o->frequency = (unsigned)v;
			break;
		case 'd':
		case 'i':
			d = strtod(optarg, &end);
			if (end == optarg || *end || !(d > 0) || d > 1e7 || (c == 'i' && d < 0.1)) {
				pp_err("--%s takes a positive number of seconds%s, not '%s'",
				       c == 'd' ? "seconds" : "interval", c == 'i' ? " (at least 0.1)" : "", optarg);
				return -1;
			}
			if (c == 'd')
				o->seconds = d;
			else
				o->interval = d;
			break;
		case OPT_INTERP:
			o->interp_frames = true;
			break;
		case 'v':
			pp_verbose++;
			break;
		case 'h':
			top_usage(stdout);
			exit(0);
		default:
			return cli_unknown(argv, optopt, "pybpfprof top");
		}
	}
	return cli_finish(argc, argv, o->pid, "pybpfprof top");
}

/* What a frame counts as in the table; NULL for process and thread frames. */
static char *function_label(const struct pp_frame *f)
{
	switch (f->kind) {
	case PP_FRAME_PROCESS:
	case PP_FRAME_THREAD:
		return NULL;
	case PP_FRAME_PYTHON:
		return pp_xasprintf("%s (%s)", f->name, f->file ? f->file : "?");
	case PP_FRAME_NATIVE:
	case PP_FRAME_INTERP:
		return pp_xasprintf("%s [%s]", f->name, f->file ? pp_basename(f->file) : "?");
	case PP_FRAME_KERNEL:
		return pp_xasprintf("%s [kernel]", f->name);
	default:
		return pp_xstrdup(f->name);
	}
}

/* The table entry of frame id; UINT32_MAX if the frame is no function. */
static uint32_t frame_function(struct top *t, const struct pp_profile *p, uint32_t id)
{
	char *label;
	uint32_t fi;

	if (id >= t->frame_fn_cap) {
		size_t old = t->frame_fn_cap;

		pp_grow((void **)&t->frame_fn, &t->frame_fn_cap, (size_t)id + 1, sizeof(*t->frame_fn));
		memset(t->frame_fn + old, 0, (t->frame_fn_cap - old) * sizeof(*t->frame_fn));
	}
	if (t->frame_fn[id])
		return t->frame_fn[id] == UINT32_MAX ? UINT32_MAX : t->frame_fn[id] - 1;
	label = function_label(profile_frame(p, id));
	if (!label) {
		t->frame_fn[id] = UINT32_MAX;
		return UINT32_MAX;
	}
	/* Few distinct functions in a live view: a linear search is enough
	 * because each frame id is mapped once. */
	for (fi = 0; fi < t->nfns; fi++)
		if (strcmp(t->fns[fi].label, label) == 0)
			break;
	if (fi == t->nfns) {
		pp_grow((void **)&t->fns, &t->fns_cap, t->nfns + 1, sizeof(*t->fns));
		t->fns[t->nfns++] = (struct fn){.label = label};
	} else {
		free(label);
	}
	t->frame_fn[id] = fi + 1;
	return fi;
}

/* Counts the samples since the last refresh (or all, cumulative). */
static void tally(struct top *t)
{
	const struct pp_profile *p = pipeline_profile(t->pl);
	size_t nst = profile_nstacks(p);
	static uint64_t stamp;

	if (nst > t->last_cap) {
		size_t old = t->last_cap;

		pp_grow((void **)&t->last_counts, &t->last_cap, nst, sizeof(*t->last_counts));
		memset(t->last_counts + old, 0, (t->last_cap - old) * sizeof(*t->last_counts));
	}
	for (size_t i = 0; i < t->nfns; i++)
		t->fns[i].own = t->fns[i].total = 0;
	t->window_samples = 0;
	for (size_t i = 0; i < nst; i++) {
		size_t n;
		uint64_t count, d;
		const uint32_t *fr = profile_stack(p, i, &n, &count);
		uint32_t leaf = UINT32_MAX;

		d = t->cumulative ? count : count - t->last_counts[i];
		t->last_counts[i] = count;
		if (!d)
			continue;
		t->window_samples += d;
		stamp++;
		for (size_t j = 0; j < n; j++) {
			uint32_t fi = frame_function(t, p, fr[j]);

			if (fi == UINT32_MAX)
				continue;
			leaf = fi;
			if (t->fns[fi].stamp != stamp) {
				t->fns[fi].stamp = stamp;
				t->fns[fi].total += d;
			}
		}
		if (leaf != UINT32_MAX)
			t->fns[leaf].own += d;
	}
}

static const struct top *sort_top;

static int fn_cmp(const void *a, const void *b)
{
	const struct fn *x = &sort_top->fns[*(const uint32_t *)a], *y = &sort_top->fns[*(const uint32_t *)b];
	uint64_t kx = sort_top->by_total ? x->total : x->own, ky = sort_top->by_total ? y->total : y->own;

	if (kx != ky)
		return kx < ky ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->label, y->label);
}

static int count_threads(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* One look at the GIL; done many times an interval, since a single look
 * at a lock that changes hands thousands of times a second says little. */
static void gil_sample(struct top *t)
{
	uint64_t holders[PP_MAX_INTERPS];
	int n = pywalk_gil_holders(t->pid, pipeline_runtime(t->pl, t->pid), holders, PP_ARRAY_LEN(holders));

	if (n < 0) {
		t->gil_unknown = true;
		return;
	}
	t->gil_reads++;
	for (int i = 0; i <= n; i++) {
		uint64_t ts = i < n ? holders[i] : 0;
		size_t j;

		if (i == n && n)
			break; /* "released" only when nobody holds one */
		for (j = 0; j < t->ngil && t->gil[j].tstate != ts; j++)
			;
		if (j == t->ngil) {
			if (t->ngil == PP_ARRAY_LEN(t->gil))
				continue;
			t->gil[t->ngil++] = (struct gil_count){.tstate = ts};
		}
		t->gil[j].n++;
	}
}

static int gil_cmp(const void *a, const void *b)
{
	const struct gil_count *x = a, *y = b;

	return (x->n < y->n) - (x->n > y->n);
}

/* "pp-spinner (4713) 85%, released 15%": the holders of the interval. */
static void gil_text(struct top *t, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	if (!t->gil_reads) {
		snprintf(out, outlen, t->gil_unknown ? "unknown" : "-");
		return;
	}
	qsort(t->gil, t->ngil, sizeof(t->gil[0]), gil_cmp);
	for (size_t i = 0; i < t->ngil && i < 3 && o < outlen; i++) {
		unsigned pct = (unsigned)(100 * t->gil[i].n / t->gil_reads);
		pid_t tid = t->gil[i].tstate ? pipeline_thread_of(t->pl, t->pid, t->gil[i].tstate) : 0;
		char name[64];

		if (!t->gil[i].tstate) {
			o += (size_t)snprintf(out + o, outlen - o, "%sreleased %u%%", i ? ", " : "", pct);
		} else if (tid) {
			target_thread_name(t->pid, tid, name, sizeof(name));
			o += (size_t)snprintf(out + o, outlen - o, "%s%s (%d) %u%%", i ? ", " : "", name, (int)tid,
					      pct);
		} else {
			o += (size_t)snprintf(out + o, outlen - o, "%sa thread not sampled yet %u%%", i ? ", " : "",
					      pct);
		}
	}
	t->ngil = 0;
	t->gil_reads = 0;
}

/* Writes s cut to width columns (bytes: names are mostly ASCII). */
static void put_line(const char *s, int width)
{
	int n = (int)strlen(s);

	fwrite(s, 1, (size_t)(n < width ? n : width), stdout);
	fputs("\n", stdout);
}

static void render(struct top *t, double elapsed, const struct pp_stats *st, uint64_t lost)
{
	struct winsize ws = {.ws_row = 40, .ws_col = 120};
	char line[1024], gil[256];
	uint32_t *order;
	int rows, width;

	if (t->tty)
		ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
	width = ws.ws_col ? ws.ws_col : 120;
	rows = ws.ws_row ? ws.ws_row : 40;
	if (!t->tty)
		rows = 30;
	gil_text(t, gil, sizeof(gil));
	tally(t);
	order = pp_xmalloc((t->nfns ? t->nfns : 1) * sizeof(*order));
	for (uint32_t i = 0; i < t->nfns; i++)
		order[i] = i;
	sort_top = t;
	qsort(order, t->nfns, sizeof(*order), fn_cmp);

	if (t->tty)
		fputs("\x1b[H\x1b[2J", stdout);
	else
		fputs("\n", stdout);
	/* The command line last: it is what a narrow terminal cuts. */
	snprintf(line, sizeof(line), "pybpfprof top: PID %d  Python %s  %u Hz  %s  %.0f s  (%s)", (int)t->pid,
		 t->version, t->o.frequency, t->cumulative ? "since start" : "last interval", elapsed, t->cmdline);
	put_line(line, width);
	snprintf(line, sizeof(line), "threads: %d  GIL: %s  samples: %llu (total %llu, lost %llu)",
		 count_threads(t->pid), gil, (unsigned long long)t->window_samples, (unsigned long long)st->samples,
		 (unsigned long long)lost);
	put_line(line, width);
	put_line("", width);
	snprintf(line, sizeof(line), "%6s %7s %8s %8s  %s", "OWN%", "TOTAL%", "OWN", "TOTAL", "FUNCTION");
	put_line(line, width);
	for (int r = 0; r < rows - 6 && (size_t)r < t->nfns; r++) {
		const struct fn *f = &t->fns[order[r]];
		double w = t->window_samples ? 100.0 / (double)t->window_samples : 0;

		if (!f->total)
			break;
		snprintf(line, sizeof(line), "%5.1f%% %6.1f%% %8llu %8llu  %s", (double)f->own * w,
			 (double)f->total * w, (unsigned long long)f->own, (unsigned long long)f->total, f->label);
		put_line(line, width);
	}
	if (t->tty) {
		snprintf(line, sizeof(line), "\x1b[%d;1Hq quit  c %s  s sort by %s", rows,
			 t->cumulative ? "last interval" : "since start", t->by_total ? "own" : "total");
		fputs(line, stdout);
	}
	fflush(stdout);
	free(order);
}

static struct termios saved_termios;
static bool termios_saved;

static void terminal_restore(void)
{
	if (termios_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		termios_saved = false;
	}
	if (isatty(STDOUT_FILENO))
		fputs("\x1b[?25h\x1b[?1049l", stdout); /* cursor back, main screen */
	fflush(stdout);
}

static void terminal_raw(void)
{
	struct termios raw;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
		raw = saved_termios;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		termios_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	if (isatty(STDOUT_FILENO))
		fputs("\x1b[?1049h\x1b[?25l", stdout); /* alternate screen, no cursor */
}

/* Handles the keys typed since the last call; true to quit. */
static bool handle_keys(struct top *t, bool *redraw)
{
	struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
	char buf[32];
	ssize_t n;

	if (!termios_saved || poll(&pfd, 1, 0) <= 0)
		return false;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++) {
		switch (buf[i]) {
		case 'q':
		case 'Q':
			return true;
		case 'c':
			t->cumulative = !t->cumulative;
			*redraw = true;
			break;
		case 's':
			t->by_total = !t->by_total;
			*redraw = true;
			break;
		default:
			break;
		}
	}
	return false;
}

static int top_record(void *ctx, const void *data, size_t size)
{
	pipeline_sample(ctx, data, size);
	return 0;
}

int top_main(int argc, char **argv)
{
	struct top t = {0};
	struct pp_target tg;
	struct pp_pyruntime rt;
	struct pp_sampler *s = NULL;
	struct pp_proc proc;
	struct sigaction sa = {.sa_handler = top_on_signal};
	uint64_t start, last_refresh, counters[PP_NCOUNTERS];
	char why[512];
	int rc = 1;

	if (top_parse(argc, argv, &t.o))
		return 1;
	if (!attach_privileged()) {
		pp_err("needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE): run it with sudo");
		return 1;
	}
	if (attach_python(t.o.pid, &tg, &rt))
		return 1;
	t.pid = tg.pid;
	t.cmdline = pp_xstrdup(tg.cmdline);
	snprintf(t.version, sizeof(t.version), "%s", rt.version);
	proc = pyruntime_proc(&tg, &rt);
	t.pl = pipeline_new(&(struct pp_pipeline_opts){.show_interp = t.o.interp_frames});
	if (pipeline_add_process(t.pl, &tg, &rt)) {
		pp_err("cannot read the mappings of process %d: it may have exited", (int)t.pid);
		target_close(&tg);
		pyruntime_free(&rt);
		goto out;
	}
	s = sampler_open(&(struct pp_sampler_opts){.frequency = t.o.frequency,
						   .stack_limit = PP_STACK_MAX,
						   .ringbuf_size = 8 << 20,
						   .unmap_tracepoint = true,
						   .on_record = top_record,
						   .ctx = t.pl},
			 why, sizeof(why));
	if (!s) {
		pp_err("%s", why);
		goto out;
	}
	if (sampler_follow(s, t.pid, &proc)) {
		pp_err("cannot hand process %d to the BPF sampler", (int)t.pid);
		goto out;
	}
	attach_drop_privileges();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	t.tty = isatty(STDOUT_FILENO);
	terminal_raw();
	start = last_refresh = pp_now_ns();
	if (t.tty)
		render(&t, 0, pipeline_stats(t.pl), 0); /* at once, not after the first interval */
	rc = 0;
	while (!top_stop) {
		uint64_t now;
		bool redraw = false;
		double elapsed;
		int n = sampler_poll(s, 10);

		if (n < 0 && n != -EINTR && n != -EAGAIN) {
			terminal_restore();
			pp_err("reading the BPF ring buffer failed: %s", strerror(-n));
			rc = 1;
			break;
		}
		if (handle_keys(&t, &redraw))
			break;
		gil_sample(&t);
		now = pp_now_ns();
		elapsed = (double)(now - start) / 1e9;
		if (redraw || (double)(now - last_refresh) / 1e9 >= t.o.interval) {
			if (!redraw)
				last_refresh = now;
			sampler_counters(s, counters);
			if (!sampler_tracks_unmaps(s))
				pipeline_check_maps(t.pl);
			render(&t, elapsed, pipeline_stats(t.pl), counters[PP_C_RINGBUF_FULL]);
			if (!target_alive(t.pid)) {
				terminal_restore();
				fprintf(stderr, "pybpfprof: process %d exited after %.1f s\n", (int)t.pid, elapsed);
				break;
			}
		}
		if (t.o.seconds > 0 && elapsed >= t.o.seconds)
			break;
	}
	terminal_restore();
out:
	sampler_close(s);
	pipeline_free(t.pl);
	for (size_t i = 0; i < t.nfns; i++)
		free(t.fns[i].label);
	free(t.fns);
	free(t.frame_fn);
	free(t.last_counts);
	free(t.cmdline);
	return rc;
}
