/*
 * Output files of the example programs: written atomically, and checked
 * before any work starts.
 *
 * Atomic: the content goes to a temporary file in the target's directory
 * (".<name>.XXXXXX"), which is flushed, fsync'ed and renamed over the
 * target, and the directory is fsync'ed. A reader (or a crash, a kill, a
 * full disk) sees the old file or the complete new one, never a prefix.
 * While open, the temporary file is registered with interrupt.h so a
 * second Ctrl-C removes it.
 *
 *   output_file_t o;
 *   FILE *f = output_open(&o, path);          NULL: errno says why
 *   ... write to f ...
 *   if (output_commit(&o) != 0) ...           errno says why; the target is unchanged
 *   (or output_abort(&o) to drop what was written)
 *
 * Checked early: output_check_file() says, before a job starts, whether
 * the file can be written there (its directory exists and is writable, the
 * path is not a directory), so a typo in --out fails in a second with exit
 * status 2 instead of after an hour of work.
 */
#ifndef SIGEO_EXAMPLES_OUTPUT_H
#define SIGEO_EXAMPLES_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include "json_out.h"

typedef struct output_file {
    FILE *f;
    char *path;  /* the target */
    char *tmp;   /* the temporary file, NULL once committed or aborted */
    int slot;    /* interrupt.h registration, -1 if none */
} output_file_t;

/* Creates the temporary file next to `path` (mode 0666 & ~umask, like
 * fopen) and returns its stream, or NULL with errno set (*o then needs no
 * cleanup). */
FILE *output_open(output_file_t *o, const char *path);

/* Flushes, fsyncs, closes and renames over the target. 0, or -1 with errno
 * set and the temporary file removed (the target untouched). */
int output_commit(output_file_t *o);

/* Closes and removes the temporary file; the target is untouched. */
void output_abort(output_file_t *o);

/* Whether `path` can be written as a file: not empty, not a directory, its
 * directory exists, is a directory and is writable. 0 if so; else -1 and ONE
 * line (without the program name) in why[why_size], e.g.
 * "the directory '/missing' does not exist". */
int output_check_file(const char *path, char *why, size_t why_size);

/* Whether `dir` can hold output files: an existing writable directory, or
 * (create != 0) a missing one whose parent is an existing writable
 * directory. Same return convention. Creates nothing. */
int output_check_dir(const char *dir, int create, char *why, size_t why_size);

/* The common use of both checks: on failure prints
 * "prog: OPTION PATH: why" on stderr and returns -1 (the caller exits with
 * PROGRAM_EXIT_USAGE). path NULL passes. */
int output_validate_file(const char *prog, const char *option, const char *path);
int output_validate_dir(const char *prog, const char *option, const char *dir, int create);

/* Writes one JSON document to `path` atomically: `body` writes the value
 * through the writer it is given (initialised, `pretty` or not; the
 * document is checked for completeness). On failure prints
 * "prog: OPTION PATH: why" and returns -1, the target unchanged. */
typedef void (*output_json_fn)(json_out_t *j, const void *user);
int output_write_json(const char *prog, const char *option, const char *path, int pretty, output_json_fn body,
                      const void *user);

#endif
