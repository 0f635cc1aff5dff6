/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-line pieces every command shares; each prints its own one-line
 * error (naming the command's --help) and returns -1 on bad input. */
#ifndef PP_CLI_H
#define PP_CLI_H

#include <sys/types.h>

/* cmd (in cli_unknown and cli_finish): "pybpfprof", "pybpfprof top", ... for the messages. */
int cli_pid(const char *arg, pid_t *pid);
/* After getopt_long: an option it did not know. */
int cli_unknown(char **argv, int optopt_, const char *cmd);
/* After the options: no stray argument, and a target. */
int cli_finish(int argc, char **argv, pid_t pid, const char *cmd);

#endif
