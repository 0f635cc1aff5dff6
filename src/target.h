/* SPDX-License-Identifier: BSD-2-Clause */
/* The target process as /proc shows it: alive or not, its name, its mappings. */
#ifndef PP_TARGET_H
#define PP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pp_map {
	uint64_t start, end, offset;
	char perms[5];
	char *path; /* NULL for anonymous mappings */
};

struct pp_target {
	pid_t pid;
	char comm[64];
	char *exe; /* /proc/PID/exe target */
	char *cmdline; /* argv joined with spaces, shortened */
	struct pp_map *maps;
	size_t nmaps;
	uint64_t pidns_dev, pidns_ino;
};

/* Fills t for pid. 0 on success, -1 with errno ESRCH if there is no such
 * live process, or another errno. */
int target_open(struct pp_target *t, pid_t pid);
void target_close(struct pp_target *t);
/* Re-reads /proc/PID/maps. */
int target_read_maps(struct pp_target *t);
/* Whether the process now runs another executable than at target_open. */
bool target_execd(const struct pp_target *t);
/* Whether the process still exists and is not a zombie. */
bool target_alive(pid_t pid);
/* The path under which we can open a file the process maps as path. The
 * kernel shows a container's files by their path inside the container (to
 * be read through /proc/PID/root), a chroot's by their path outside it, and
 * a mount of another namespace by a path that may exist nowhere we look
 * (/proc/PID/map_files then): the candidate with the mapping's inode wins. */
char *target_file_path(const struct pp_target *t, const char *path);
char *target_resolve_path(pid_t pid, const char *path);
/* The load bias of the ELF file at path as mapped in t; 0 on success. */
int target_load_bias(const struct pp_target *t, const char *path, uint64_t *bias);
/* A thread's name from /proc/PID/task/TID/comm, into out. */
void target_thread_name(pid_t pid, pid_t tid, char *out, size_t outlen);

#endif
