// SPDX-License-Identifier: BSD-2-Clause
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

int cli_pid(const char *arg, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT_MAX) {
		pp_err("--pid takes a process id, not '%s'", arg);
		return -1;
	}
	*pid = (pid_t)v;
	return 0;
}

int cli_unknown(char **argv, int optopt_, const char *cmd)
{
	if (optopt_ && optopt_ < 256)
		pp_err("unknown option '-%c'; see %s --help", optopt_, cmd);
	else
		pp_err("unknown or incomplete option '%s'; see %s --help", argv[optind - 1], cmd);
	return -1;
}

int cli_finish(int argc, char **argv, pid_t pid, const char *cmd)
{
	if (optind < argc) {
		pp_err("unexpected argument '%s'; see %s --help", argv[optind], cmd);
		return -1;
	}
	if (!pid) {
		pp_err("no target: give --pid PID; see %s --help", cmd);
		return -1;
	}
	return 0;
}
