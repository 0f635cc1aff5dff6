// SPDX-License-Identifier: BSD-2-Clause
#include "fleet.h"
#include "discover.h"
#include "outfile.h"
#include "output.h"
#include "push.h"
#include "pyruntime.h"
#include "selfcheck.h"
#include "target.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A process that exited is let go this long after: its last records may
 * still be in the ring buffer. */
#define GONE_GRACE_NS (2000ULL * 1000 * 1000)

struct proc {
	pid_t pid;
	char comm[64];
	char service[64];
	char version[24];
	char cgroup[128];
	char *cmdline;
	uint64_t gone_ns; /* when it was seen gone; 0 while alive */
};

struct pp_fleet {
	struct pp_fleet_opts o;
	char *output_dir, *host;
	struct pp_pipeline *pl;
	struct pp_sampler *s;
	struct pp_discover *disc;
	struct proc *procs;
	size_t nprocs, procs_cap;
	uint64_t interval_start_ns, interval_start_unix_ns;
	struct pp_pusher *pusher;
	regex_t *exclude;
	size_t nexclude;
	struct pp_fleet_stats stats;
};

static uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Letters, digits, '.', '-' and '_' only: safe in a file name and a label. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '-' || *s == '_'))
			*s = '_';
}

void fleet_service_name(const char *cmdline, const char *comm, char *out, size_t outlen)
{
	char *copy = pp_xstrdup(cmdline ? cmdline : ""), *save = NULL, *tok;
	const char *name = NULL;
	bool first = true, module = false, skip_arg = false;

	for (tok = strtok_r(copy, " ", &save); tok && !name; tok = strtok_r(NULL, " ", &save)) {
		if (first) {
			first = false;
			if (!discover_python_name(tok))
				break; /* not "python ...": an embedding program or a retitled process */
			continue;
		}
		if (skip_arg) {
			skip_arg = false;
			continue;
		}
		if (module) {
			name = tok;
			break;
		}
		if (strcmp(tok, "-m") == 0) {
			module = true;
			continue;
		}
		if (strcmp(tok, "-c") == 0) {
			name = "python-c";
			break;
		}
		if (strcmp(tok, "-W") == 0 || strcmp(tok, "-X") == 0 || strcmp(tok, "-Q") == 0) {
			skip_arg = true;
			continue;
		}
		if (tok[0] == '-')
			continue;
		name = pp_basename(tok);
	}
	snprintf(out, outlen, "%s", name && *name ? name : (comm && *comm ? comm : "python"));
	free(copy);
	if (strlen(out) > 3 && strcmp(out + strlen(out) - 3, ".py") == 0)
		out[strlen(out) - 3] = '\0';
	sanitize(out);
}

/* The process's cgroup (v2 path, or the first v1 line's), the container's name for people. */
static void read_cgroup(pid_t pid, char *out, size_t outlen)
{
	char path[64], *text, *p;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	text = pp_read_file(path, 1 << 16, NULL);
	if (!text)
		return;
	p = strstr(text, "0::");
	p = p ? p + 3 : strrchr(text, ':');
	if (p) {
		if (*p == ':')
			p++;
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, outlen, "%s", p);
	}
	free(text);
}

static struct proc *find_proc(struct pp_fleet *f, pid_t pid)
{
	for (size_t i = 0; i < f->nprocs; i++)
		if (f->procs[i].pid == pid)
			return &f->procs[i];
	return NULL;
}

static void remember(struct pp_fleet *f, const struct pp_target *t, const struct pp_pyruntime *rt)
{
	struct proc *p;

	pp_grow((void **)&f->procs, &f->procs_cap, f->nprocs + 1, sizeof(*f->procs));
	p = &f->procs[f->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = t->pid;
	snprintf(p->comm, sizeof(p->comm), "%s", t->comm);
	snprintf(p->version, sizeof(p->version), "%s", rt->version);
	fleet_service_name(t->cmdline, t->comm, p->service, sizeof(p->service));
	read_cgroup(t->pid, p->cgroup, sizeof(p->cgroup));
	p->cmdline = pp_xstrdup(t->cmdline);
	f->stats.followed++;
}

void fleet_adopt(struct pp_fleet *f, pid_t pid)
{
	const struct pp_target *t = pipeline_target(f->pl, pid);
	const struct pp_pyruntime *rt = pipeline_runtime(f->pl, pid);

	if (t && rt && !find_proc(f, pid))
		remember(f, t, rt);
	if (f->disc)
		discover_verdict(f->disc, pid, PP_FOLLOWED);
}

/* The whole command line, arguments joined by spaces: target_open's copy
 * is cut short for display, a pattern may name a late argument. */
static bool excluded(const struct pp_fleet *f, pid_t pid)
{
	char *buf;
	bool match = false;

	if (!f->nexclude)
		return false;
	buf = pp_read_cmdline(pid, 1 << 16);
	if (!buf)
		return false; /* gone: not followed either way */
	for (size_t i = 0; i < f->nexclude && !match; i++)
		match = regexec(&f->exclude[i], buf, 0, NULL, 0) == 0;
	free(buf);
	return match;
}

/* Attaches a candidate without a word on stderr unless it is a CPython
 * this build cannot read. */
static enum pp_verdict try_attach(struct pp_fleet *f, pid_t pid)
{
	struct pp_target t;
	struct pp_pyruntime rt;
	struct pp_proc proc;
	char why[512];
	enum pp_check c;

	if (pipeline_follows(f->pl, pid))
		return PP_FOLLOWED;
	if (target_open(&t, pid))
		return PP_IGNORED;
	switch (pyruntime_find(&t, &rt, why, sizeof(why))) {
	case PP_RT_OK:
		break;
	case PP_RT_UNSUPPORTED:
		pp_err("not following %s", why);
		f->stats.ignored_unsupported++;
		target_close(&t);
		return PP_IGNORED;
	case PP_RT_UNREADABLE:
		target_close(&t);
		return PP_RETRY;
	default:
		/* Caught between exec and the loader mapping libpython, a
		 * python process shows no runtime yet: look again. */
		if (t.exe && discover_python_name(t.exe)) {
			target_close(&t);
			return PP_RETRY;
		}
		target_close(&t);
		return PP_IGNORED;
	}
	/* Only a CPython counts as excluded, once: a wrapper whose command
	 * line holds the same words is just not Python. */
	if (excluded(f, pid)) {
		pp_debug("process %d: excluded by --exclude", (int)pid);
		f->stats.excluded++;
		pyruntime_free(&rt);
		target_close(&t);
		return PP_IGNORED; /* looked at again only if it execs */
	}
	c = selfcheck(pid, &rt, why, sizeof(why));
	if (c == PP_CHECK_NOT_READY || c == PP_CHECK_MISMATCH) {
		/* A process starting up reads as a mismatch for a moment too. */
		pp_debug("process %d: %s; looking again", (int)pid, why);
		pyruntime_free(&rt);
		target_close(&t);
		return PP_RETRY;
	}
	proc = pyruntime_proc(&t, &rt);
	remember(f, &t, &rt);
	if (pipeline_add_process(f->pl, &t, &rt)) {
		f->nprocs--;
		free(f->procs[f->nprocs].cmdline);
		f->stats.followed--;
		return PP_RETRY;
	}
	if (sampler_follow(f->s, pid, &proc)) {
		pipeline_remove_process(f->pl, pid);
		return PP_RETRY;
	}
	pp_debug("following process %d (%s)", (int)pid, f->procs[f->nprocs - 1].service);
	return PP_FOLLOWED;
}

static void release_gone(struct pp_fleet *f, bool all_gone);

static bool periodic(const struct pp_fleet *f)
{
	return f->o.output_dir || f->o.push;
}

void fleet_scan(struct pp_fleet *f)
{
	const struct pp_scan *sc;
	uint64_t now = pp_now_ns();

	if (!f->disc) {
		/* Without discovery only the gone check matters. */
		for (size_t i = 0; i < f->nprocs; i++)
			if (!f->procs[i].gone_ns && !target_alive(f->procs[i].pid))
				f->procs[i].gone_ns = now;
		if (!periodic(f))
			release_gone(f, false);
		return;
	}
	sc = discover_scan(f->disc);
	for (size_t i = 0; i < sc->ngone; i++) {
		struct proc *p = find_proc(f, sc->gone[i]);

		sampler_unfollow(f->s, sc->gone[i]);
		if (p && !p->gone_ns)
			p->gone_ns = now;
	}
	for (size_t i = 0; i < sc->ncandidates; i++)
		discover_verdict(f->disc, sc->candidates[i], try_attach(f, sc->candidates[i]));
	/* Written every interval, a process is let go only once its last
	 * samples are out (fleet_maybe_flush). */
	if (!periodic(f))
		release_gone(f, false);
}

/* Lets go of processes gone for a while: the sampler, the pipeline's
 * caches and our record of them (after their last interval is out). */
static void release_gone(struct pp_fleet *f, bool all_gone)
{
	uint64_t now = pp_now_ns();

	for (size_t i = 0; i < f->nprocs;) {
		struct proc *p = &f->procs[i];

		if (!p->gone_ns || (!all_gone && now - p->gone_ns < GONE_GRACE_NS)) {
			i++;
			continue;
		}
		sampler_unfollow(f->s, p->pid);
		pipeline_remove_process(f->pl, p->pid);
		free(p->cmdline);
		f->stats.exited++;
		f->procs[i] = f->procs[--f->nprocs];
	}
}

/* The part of p whose root is one of the processes in pids. */
static struct pp_profile *select_roots(const struct pp_profile *p, const pid_t *pids, size_t n)
{
	struct pp_profile *q = profile_new();
	uint32_t *buf = NULL, *map = pp_xcalloc(profile_nframes(p) + 1, sizeof(uint32_t));
	size_t cap = 0;

	profile_set_info(q, profile_info(p));
	for (size_t i = 0; i < profile_nstacks(p); i++) {
		size_t len;
		uint64_t count;
		const uint32_t *fr = profile_stack(p, i, &len, &count);
		const struct pp_frame *root = len ? profile_frame(p, fr[0]) : NULL;
		bool keep = false;

		if (!root || root->kind != PP_FRAME_PROCESS)
			continue;
		for (size_t k = 0; k < n && !keep; k++)
			keep = root->num == (uint64_t)pids[k];
		if (!keep)
			continue;
		pp_grow((void **)&buf, &cap, len, sizeof(*buf));
		for (size_t j = 0; j < len; j++) {
			if (!map[fr[j]])
				map[fr[j]] = profile_intern_frame(q, profile_frame(p, fr[j])) + 1;
			buf[j] = map[fr[j]] - 1;
		}
		profile_add(q, buf, len, count);
	}
	free(buf);
	free(map);
	return q;
}

static void write_file(struct pp_fleet *f, const char *base, const char *ext, enum pp_format fmt,
		       const struct pp_profile *p)
{
	struct pp_outfile out;
	char why[512], *path = pp_xasprintf("%s/%s%s", f->output_dir, base, ext);

	if (outfile_open(&out, path, why, sizeof(why)) == 0) {
		if (output_write(p, fmt, out.f) == 0 && outfile_commit(&out, why, sizeof(why)) == 0) {
			f->stats.files_written++;
			free(path);
			return;
		}
		if (out.f)
			snprintf(why, sizeof(why), "cannot write %s: %s", path, strerror(errno));
		outfile_abort(&out);
	}
	f->stats.files_failed++;
	pp_err("%s", why);
	free(path);
}

struct file_entry {
	char *name;
	uint64_t size;
	char stamp[17]; /* YYYYmmddTHHMMSSZ */
};

/* Whether name is one of ours: ..._YYYYmmddTHHMMSSZ.folded or .pb.gz. */
static bool our_file(const char *name, char stamp[17])
{
	const char *ext = strstr(name, ".folded") ? strstr(name, ".folded") : strstr(name, ".pb.gz");
	const char *s;

	if (!ext || (strcmp(ext, ".folded") != 0 && strcmp(ext, ".pb.gz") != 0) || ext - name < 17)
		return false;
	s = ext - 16;
	if (s[-1] != '_' || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return false;
	memcpy(stamp, s, 16);
	stamp[16] = '\0';
	return true;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct file_entry *x = a, *y = b;
	int c = strcmp(x->stamp, y->stamp);

	return c ? c : strcmp(x->name, y->name);
}

/* Keeps our files in the output directory under the cap, oldest out first. */
static void retain(struct pp_fleet *f)
{
	struct file_entry *e = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	if (!f->o.retain_bytes || !(d = opendir(f->output_dir)))
		return;
	while ((de = readdir(d))) {
		char stamp[17], *path;
		struct stat st;

		if (!our_file(de->d_name, stamp))
			continue;
		path = pp_xasprintf("%s/%s", f->output_dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			pp_grow((void **)&e, &cap, n + 1, sizeof(*e));
			e[n] = (struct file_entry){.name = path, .size = (uint64_t)st.st_size};
			memcpy(e[n++].stamp, stamp, sizeof(stamp));
			total += (uint64_t)st.st_size;
		} else {
			free(path);
		}
	}
	closedir(d);
	if (n)
		qsort(e, n, sizeof(*e), entry_cmp);
	for (size_t i = 0; i < n; i++) {
		if (total > f->o.retain_bytes && unlink(e[i].name) == 0) {
			total -= e[i].size;
			f->stats.files_removed++;
		}
		free(e[i].name);
	}
	free(e);
}

/* Queues the profile for the Pyroscope server (folded, the format its
 * ingest API takes as text), labelled with where it came from. */
static void push(struct pp_fleet *f, const struct pp_profile *view, const struct proc *p, size_t nprocs)
{
	const struct pp_profile_info *info = profile_info(view);
	char *body = NULL, *labels[6] = {0};
	size_t len = 0, n = 0;
	FILE *mem = open_memstream(&body, &len);

	if (!mem)
		return;
	if (output_write(view, PP_FORMAT_FOLDED, mem) || fclose(mem)) {
		free(body);
		return;
	}
	labels[n++] = pp_xasprintf("host=%s", f->host);
	if (nprocs == 1)
		labels[n++] = pp_xasprintf("pid=%d", (int)p->pid);
	labels[n++] = pp_xasprintf("python=%s", p->version);
	if (p->cgroup[0])
		labels[n++] = pp_xasprintf("cgroup=%s", p->cgroup);
	push_enqueue(f->pusher,
		     &(struct pp_push_item){.app = p->service,
					    .labels = (const char *const *)labels,
					    .from_s = info->start_unix_ns / 1000000000ULL,
					    .until_s = (info->start_unix_ns + info->duration_ns) / 1000000000ULL,
					    .sample_rate = info->frequency,
					    .body = body,
					    .body_len = len});
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(body);
}

/* One profile (a process, or the processes of one service) of the interval. */
static void emit(struct pp_fleet *f, const struct pp_profile *all, const pid_t *pids, size_t n, const struct proc *p,
		 const char *stamp)
{
	struct pp_profile *sel = select_roots(all, pids, n), *view;
	const struct pp_profile_info *ai = profile_info(all);
	char *title, *base;

	if (!profile_total(sel)) {
		profile_free(sel);
		return;
	}
	if (f->o.by_service)
		title = pp_xasprintf("%s on %s: %zu processes, Python %s%s%s", p->service, f->host, n, p->version,
				     p->cgroup[0] ? ", cgroup " : "", p->cgroup);
	else
		title = pp_xasprintf("%s (%d) on %s: %s, Python %s%s%s", p->comm, (int)p->pid, f->host, p->cmdline,
				     p->version, p->cgroup[0] ? ", cgroup " : "", p->cgroup);
	profile_set_info(sel, &(struct pp_profile_info){.title = title,
							.frequency = ai->frequency,
							.start_unix_ns = ai->start_unix_ns,
							.duration_ns = ai->duration_ns});
	view = profile_view(sel, &f->o.view);
	if (f->o.by_service)
		base = pp_xasprintf("%s_%s_%s", f->host, p->service, stamp);
	else
		base = pp_xasprintf("%s_%s_%d_%s", f->host, p->service, (int)p->pid, stamp);
	if (f->output_dir) {
		write_file(f, base, ".folded", PP_FORMAT_FOLDED, view);
		write_file(f, base, ".pb.gz", PP_FORMAT_PPROF, view);
	}
	if (f->pusher)
		push(f, view, p, n);
	free(base);
	free(title);
	profile_free(view);
	profile_free(sel);
}

void fleet_maybe_flush(struct pp_fleet *f, bool final)
{
	uint64_t now = pp_now_ns(), unow = unix_ns();
	struct pp_profile *all;
	char stamp[32];
	struct tm tm;
	time_t t;

	if (!final && (double)(now - f->interval_start_ns) < f->o.interval_s * 1e9)
		return;
	all = pipeline_take_profile(f->pl);
	profile_set_info(all, &(struct pp_profile_info){.frequency = f->o.frequency,
							.start_unix_ns = f->interval_start_unix_ns,
							.duration_ns = now - f->interval_start_ns});
	t = (time_t)(f->interval_start_unix_ns / 1000000000ULL);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (f->o.by_service) {
		bool *done = pp_xcalloc(f->nprocs + 1, sizeof(bool));
		pid_t *pids = pp_xmalloc((f->nprocs + 1) * sizeof(pid_t));

		for (size_t i = 0; i < f->nprocs; i++) {
			size_t n = 0;

			if (done[i])
				continue;
			for (size_t j = i; j < f->nprocs; j++)
				if (!done[j] && strcmp(f->procs[j].service, f->procs[i].service) == 0) {
					done[j] = true;
					pids[n++] = f->procs[j].pid;
				}
			emit(f, all, pids, n, &f->procs[i], stamp);
		}
		free(pids);
		free(done);
	} else {
		for (size_t i = 0; i < f->nprocs; i++)
			emit(f, all, &f->procs[i].pid, 1, &f->procs[i], stamp);
	}
	profile_free(all);
	f->stats.intervals++;
	f->interval_start_ns = now;
	f->interval_start_unix_ns = unow;
	if (f->output_dir)
		retain(f);
	release_gone(f, false);
}

struct pp_fleet *fleet_new(const struct pp_fleet_opts *o, struct pp_pipeline *pl, struct pp_sampler *s, char *why,
			   size_t whylen)
{
	struct pp_fleet *f = pp_xcalloc(1, sizeof(*f));
	struct stat st;

	f->o = *o;
	f->pl = pl;
	f->s = s;
	f->host = pp_xstrdup(o->host ? o->host : "localhost");
	sanitize(f->host);
	if (o->output_dir) {
		if (mkdir(o->output_dir, 0755) && errno != EEXIST) {
			snprintf(why, whylen, "cannot create the output directory %s: %s", o->output_dir,
				 strerror(errno));
			fleet_free(f, 0);
			return NULL;
		}
		if (stat(o->output_dir, &st) || !S_ISDIR(st.st_mode) || access(o->output_dir, W_OK)) {
			snprintf(why, whylen, "cannot write profiles into %s: not a writable directory", o->output_dir);
			fleet_free(f, 0);
			return NULL;
		}
		f->output_dir = pp_xstrdup(o->output_dir);
	}
	if (o->push && !(f->pusher = push_new(o->push, why, whylen))) {
		fleet_free(f, 0);
		return NULL;
	}
	f->exclude = pp_xcalloc(o->nexclude ? o->nexclude : 1, sizeof(regex_t));
	for (; f->nexclude < o->nexclude; f->nexclude++) {
		int rc = regcomp(&f->exclude[f->nexclude], o->exclude[f->nexclude], REG_EXTENDED | REG_NOSUB);

		if (rc) {
			char err[128];

			regerror(rc, &f->exclude[f->nexclude], err, sizeof(err));
			snprintf(why, whylen, "--exclude '%s' is not a valid extended regular expression: %s",
				 o->exclude[f->nexclude], err);
			fleet_free(f, 0);
			return NULL;
		}
	}
	if (o->discover)
		f->disc = discover_new(o->root);
	f->interval_start_ns = pp_now_ns();
	f->interval_start_unix_ns = unix_ns();
	return f;
}

size_t fleet_nprocs(const struct pp_fleet *f)
{
	return f->nprocs;
}

const struct pp_fleet_stats *fleet_stats(const struct pp_fleet *f)
{
	return &f->stats;
}

void fleet_push_stats(struct pp_fleet *f, struct pp_push_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (f->pusher)
		push_stats(f->pusher, out);
}

void fleet_end_push(struct pp_fleet *f, double grace_s)
{
	push_stop(f->pusher, grace_s);
}

void fleet_free(struct pp_fleet *f, double push_grace_s)
{
	if (!f)
		return;
	push_free(f->pusher, push_grace_s);
	for (size_t i = 0; i < f->nprocs; i++)
		free(f->procs[i].cmdline);
	free(f->procs);
	discover_free(f->disc);
	for (size_t i = 0; i < f->nexclude; i++)
		regfree(&f->exclude[i]);
	free(f->exclude);
	free(f->output_dir);
	free(f->host);
	free(f);
}
