/* SPDX-License-Identifier: BSD-2-Clause */
/* The subcommands besides profiling: each takes its own argv (argv[0] is
 * the subcommand's name) and returns the exit code. */
#ifndef PP_COMMANDS_H
#define PP_COMMANDS_H

int dump_main(int argc, char **argv);
int top_main(int argc, char **argv);

#endif
