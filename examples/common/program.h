/*
 * What every example program shares: exit statuses, --version, and the
 * closing sections of --help, so all of them look and behave alike.
 *
 * Help layout (every program):
 *   Usage: PROG [options]
 *   <what it does>
 *   Options: ... then program_help_options() for the common ones
 *   Examples: ...
 *   program_help_exit_status()
 */
#ifndef SIGEO_EXAMPLES_PROGRAM_H
#define SIGEO_EXAMPLES_PROGRAM_H

#include <stdio.h>

/* Exit statuses (documented in every --help). */
#define PROGRAM_EXIT_OK 0
#define PROGRAM_EXIT_FAILURE 1      /* a failure while running: library error, output file */
#define PROGRAM_EXIT_USAGE 2        /* bad usage: option, value, path or data unusable; nothing was done */
#define PROGRAM_EXIT_INTERRUPTED 130 /* SIGINT/SIGTERM: stopped, what was complete written (128 + SIGINT) */

/* The programs' version: the source tree's, which is also that of the
 * libsigeo headers they were built with. */
const char *program_version(void);

/* Prints "PROG VERSION" and the run-time libsigeo version on stdout (and a
 * note when the library differs from the headers). Returns PROGRAM_EXIT_OK. */
int program_print_version(const char *prog);

/* Flags of the common option and exit-status lines a program has. */
#define PROGRAM_HELP_QUIET 0x1u      /* --quiet (and progress lines) */
#define PROGRAM_HELP_INTERRUPT 0x2u  /* exit status 130 */

/* "  --quiet ...  --version ...  --help ..." (part of the Options list). */
void program_help_options(FILE *f, unsigned flags);

/* "Exit status:" and its lines. */
void program_help_exit_status(FILE *f, unsigned flags);

#endif
