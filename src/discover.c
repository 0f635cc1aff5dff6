// SPDX-License-Identifier: BSD-2-Clause
#include "discover.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A process not ready yet (no interpreter, self-check failed) is looked
 * at on this many scans before it is ignored until it execs. */
#define RETRIES	    10
#define MAX_TRACKED 65536

enum state { ST_IGNORED, ST_RETRY, ST_FOLLOWED };

struct tracked {
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
	char exe[128]; /* the exe link when last looked at: a change is an exec */
	uint8_t state;
	uint8_t retries;
	bool seen; /* in the current scan */
};

struct pp_discover {
	pid_t root;
	pid_t self;
	struct tracked *t;
	size_t n, cap;
	struct pp_scan scan;
	size_t cand_cap, gone_cap;
};

struct pp_discover *discover_new(pid_t root)
{
	struct pp_discover *d = pp_xcalloc(1, sizeof(*d));

	d->root = root;
	d->self = getpid();
	return d;
}

void discover_free(struct pp_discover *d)
{
	if (!d)
		return;
	free(d->t);
	free(d->scan.candidates);
	free(d->scan.gone);
	free(d);
}

bool discover_python_name(const char *path)
{
	const char *base = pp_basename(path);

	return strncmp(base, "python", 6) == 0 || strncmp(base, "libpython", 9) == 0 || strncmp(base, "pypy", 4) == 0;
}

/* ppid and start time from /proc/PID/stat; -1 if gone. */
static int read_stat(pid_t pid, pid_t *ppid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int field = 3; /* the state, after "pid (comm)" */

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -1;
	for (p++; *p && field < 22; field++) {
		while (*p == ' ')
			p++;
		if (field == 3 && (p[0] == 'Z' || p[0] == 'X'))
			return -1; /* a zombie is gone */
		if (field == 4)
			*ppid = (pid_t)strtol(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			return -1;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

static void read_exe(pid_t pid, char *out, size_t outlen)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* Whether a file of the process's mappings names a libpython: a program
 * that embeds CPython (uwsgi, a C++ server) has no python exe. */
static bool maps_have_libpython(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *slash = strchr(line, '/');

		found = slash && strstr(slash, "/libpython") != NULL;
	}
	fclose(f);
	return found;
}

static struct tracked *find(struct pp_discover *d, pid_t pid)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->t[i].pid == pid)
			return &d->t[i];
	return NULL;
}

/* Whether pid descends from the root (bounded walk up the ppid chain). */
static bool descends(struct pp_discover *d, pid_t pid)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid_t ppid = 0;
		uint64_t start;

		if (pid == d->root)
			return true;
		if (read_stat(pid, &ppid, &start))
			return false;
		pid = ppid;
	}
	return pid == d->root;
}

static void add_candidate(struct pp_discover *d, pid_t pid)
{
	pp_grow((void **)&d->scan.candidates, &d->cand_cap, d->scan.ncandidates + 1, sizeof(pid_t));
	d->scan.candidates[d->scan.ncandidates++] = pid;
}

static void add_gone(struct pp_discover *d, pid_t pid)
{
	pp_grow((void **)&d->scan.gone, &d->gone_cap, d->scan.ngone + 1, sizeof(pid_t));
	d->scan.gone[d->scan.ngone++] = pid;
}

static bool worth_a_look(struct pp_discover *d, struct tracked *t)
{
	if (d->root)
		return true; /* a descendant: the attach decides */
	return discover_python_name(t->exe) || maps_have_libpython(t->pid);
}

const struct pp_scan *discover_scan(struct pp_discover *d)
{
	struct dirent *de;
	DIR *dir = opendir("/proc");

	d->scan.ncandidates = d->scan.ngone = 0;
	for (size_t i = 0; i < d->n; i++)
		d->t[i].seen = false;
	while (dir && (de = readdir(dir))) {
		char exe[128];
		struct tracked *t;
		uint64_t start;
		pid_t pid, ppid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (pid <= 0 || pid == d->self)
			continue;
		t = find(d, pid);
		if (t) {
			t->seen = true;
			read_exe(pid, exe, sizeof(exe));
			if (strcmp(exe, t->exe) == 0) {
				if (t->state == ST_RETRY)
					add_candidate(d, pid);
				continue;
			}
			/* It exec'd (or the pid was reused): look again from scratch. */
			if (read_stat(pid, &ppid, &start))
				continue;
			if (t->state == ST_FOLLOWED)
				add_gone(d, pid);
			snprintf(t->exe, sizeof(t->exe), "%s", exe);
			t->start_time = start;
			t->retries = 0;
			t->state = ST_IGNORED;
			if (exe[0] && (!d->root || descends(d, pid)) && worth_a_look(d, t)) {
				t->state = ST_RETRY;
				add_candidate(d, pid);
			}
			continue;
		}
		if (read_stat(pid, &ppid, &start) || d->n >= MAX_TRACKED)
			continue;
		if (d->root && !descends(d, pid))
			continue; /* not tracked: it may be re-parented later, looked at again then */
		pp_grow((void **)&d->t, &d->cap, d->n + 1, sizeof(*d->t));
		t = &d->t[d->n++];
		*t = (struct tracked){.pid = pid, .start_time = start, .state = ST_IGNORED, .seen = true};
		read_exe(pid, t->exe, sizeof(t->exe));
		if (t->exe[0] && worth_a_look(d, t)) {
			t->state = ST_RETRY;
			add_candidate(d, pid);
		}
	}
	if (dir)
		closedir(dir);
	/* Entries not seen have exited. */
	for (size_t i = 0; i < d->n;) {
		if (d->t[i].seen) {
			i++;
			continue;
		}
		if (d->t[i].state == ST_FOLLOWED)
			add_gone(d, d->t[i].pid);
		d->t[i] = d->t[--d->n];
	}
	return &d->scan;
}

void discover_verdict(struct pp_discover *d, pid_t pid, enum pp_verdict v)
{
	struct tracked *t = find(d, pid);

	if (!t)
		return;
	if (v == PP_FOLLOWED)
		t->state = ST_FOLLOWED;
	else if (v == PP_RETRY && ++t->retries < RETRIES)
		t->state = ST_RETRY;
	else
		t->state = ST_IGNORED;
}
