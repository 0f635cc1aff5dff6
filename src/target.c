// SPDX-License-Identifier: BSD-2-Clause
#include "target.h"
#include "elfsym.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool target_alive(pid_t pid)
{
	char path[64], *stat, *p;
	bool alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = pp_read_file(path, 4096, NULL);
	if (!stat)
		return false;
	/* The state follows the last ')' (comm may itself hold parentheses). */
	p = strrchr(stat, ')');
	alive = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return alive;
}

static void strip_newline(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static char *read_cmdline(pid_t pid)
{
	char *buf = pp_read_cmdline(pid, 4096);

	if (!buf)
		return pp_xstrdup("");
	if (strlen(buf) > 200)
		strcpy(buf + 197, "...");
	return buf;
}

int target_open(struct pp_target *t, pid_t pid)
{
	char path[64], buf[4096];
	struct stat st;
	ssize_t n;
	char *comm;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (pid <= 0 || !target_alive(pid)) {
		errno = ESRCH;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	comm = pp_read_file(path, 256, NULL);
	if (comm) {
		strip_newline(comm);
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
		free(comm);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;

		target_close(t);
		errno = e == ENOENT ? ESRCH : e;
		return -1;
	}
	buf[n] = '\0';
	t->exe = pp_xstrdup(buf);
	t->cmdline = read_cmdline(pid);
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat(path, &st) == 0) {
		t->pidns_dev = st.st_dev;
		t->pidns_ino = st.st_ino;
	}
	if (target_read_maps(t)) {
		int e = errno;

		target_close(t);
		errno = e;
		return -1;
	}
	return 0;
}

static void free_maps(struct pp_target *t)
{
	for (size_t i = 0; i < t->nmaps; i++)
		free(t->maps[i].path);
	free(t->maps);
	t->maps = NULL;
	t->nmaps = 0;
}

void target_close(struct pp_target *t)
{
	free_maps(t);
	free(t->exe);
	free(t->cmdline);
	t->exe = t->cmdline = NULL;
}

int target_read_maps(struct pp_target *t)
{
	char path[64], *text, *line, *save = NULL;
	size_t cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	text = pp_read_file(path, 64 << 20, NULL);
	if (!text) {
		if (errno == ENOENT)
			errno = ESRCH;
		return -1;
	}
	free_maps(t);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct pp_map m = {0};
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*s %*s%n", &m.start, &m.end, m.perms,
			   &m.offset, &pos) < 4)
			continue;
		while (line[pos] == ' ')
			pos++;
		if (line[pos])
			m.path = pp_xstrdup(line + pos);
		pp_grow((void **)&t->maps, &cap, t->nmaps + 1, sizeof(m));
		t->maps[t->nmaps++] = m;
	}
	free(text);
	return 0;
}

/* /proc/PID/map_files/START-END for a mapping of path, which opens the
 * mapped file itself whatever its path shows (root only), and the file's
 * inode; NULL if path is not mapped. */
static char *map_files_path(pid_t pid, const char *path, uint64_t *inode)
{
	char maps[64], *text, *line, *save = NULL, *found = NULL;
	size_t plen = strlen(path);

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	text = pp_read_file(maps, 64 << 20, NULL);
	if (!text)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		uint64_t start, end, off;
		char perms[5];

		if (len > plen && strcmp(line + len - plen, path) == 0 && line[len - plen - 1] == ' ' &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*s %" SCNu64, &start, &end, perms, &off,
			   inode) == 5)
			found = pp_xasprintf("/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, start, end);
	}
	free(text);
	return found;
}

char *target_resolve_path(pid_t pid, const char *path)
{
	uint64_t inode = 0;
	char *cand[3] = {pp_xasprintf("/proc/%d/root%s", (int)pid, path), pp_xstrdup(path), NULL};
	char *found = NULL;
	struct stat st;

	cand[2] = map_files_path(pid, path, &inode);
	/* The candidate that is the mapped file, else the first that exists. */
	for (int i = 0; i < 3 && !found && inode; i++)
		if (cand[i] && stat(cand[i], &st) == 0 && (uint64_t)st.st_ino == inode)
			found = cand[i];
	for (int i = 0; i < 3 && !found; i++)
		if (cand[i] && stat(cand[i], &st) == 0)
			found = cand[i];
	if (!found)
		found = cand[0];
	for (int i = 0; i < 3; i++)
		if (cand[i] != found)
			free(cand[i]);
	return found;
}

char *target_file_path(const struct pp_target *t, const char *path)
{
	return target_resolve_path(t->pid, path);
}

int target_load_bias(const struct pp_target *t, const char *path, uint64_t *bias)
{
	struct pp_elf *e = NULL;
	int rc = -1;

	for (size_t i = 0; i < t->nmaps && rc; i++) {
		const struct pp_map *m = &t->maps[i];
		int64_t delta;

		if (!m->path || strcmp(m->path, path) != 0)
			continue;
		if (!e) {
			char *fp = target_file_path(t, path);

			e = elf_open(fp);
			free(fp);
			if (!e)
				return -1;
		}
		if (elf_load_delta(e, m->offset, &delta) == 0) {
			*bias = m->start - m->offset - (uint64_t)delta;
			rc = 0;
		}
	}
	elf_close(e);
	return rc;
}

void target_thread_name(pid_t pid, pid_t tid, char *out, size_t outlen)
{
	char path[96], *s;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	s = pp_read_file(path, 256, NULL);
	if (!s) {
		snprintf(out, outlen, "?");
		return;
	}
	strip_newline(s);
	snprintf(out, outlen, "%s", s);
	free(s);
}

/* Where the executable's first mapping starts in maps, 0 if it is not mapped. */
static uint64_t exe_start(const struct pp_target *t)
{
	for (size_t i = 0; i < t->nmaps; i++)
		if (t->maps[i].path && strcmp(t->maps[i].path, t->exe) == 0)
			return t->maps[i].start;
	return 0;
}

bool target_execd(const struct pp_target *t)
{
	char path[64], buf[4096];
	struct pp_target now = {.pid = t->pid};
	ssize_t n;
	bool moved;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0 || !t->exe)
		return false; /* gone, or never known: not an exec */
	buf[n] = '\0';
	if (strcmp(buf, t->exe) != 0)
		return true;
	/* The same program exec'd again is loaded elsewhere (ASLR). */
	if (target_read_maps(&now))
		return false;
	now.exe = t->exe;
	moved = exe_start(&now) != exe_start(t);
	now.exe = NULL;
	target_close(&now);
	return moved;
}
