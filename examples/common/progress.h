/*
 * Progress on stderr for the long-running example programs, readable both
 * on a terminal and in a log file.
 *
 * Not a terminal (a log, a pipe, CI): whole lines, at most one per interval
 * (3 s; $SIGEO_PROGRESS_INTERVAL seconds overrides), plus one when a phase
 * starts and one when it ends:
 *
 *   sigeo-fig3: train 5/96 (5.2 %), elapsed 41 s, ETA 12 min 3 s: seed 0, network 5 (h = 10)
 *
 * A terminal: the same text as one line rewritten in place ("\r"), at most
 * 5 times a second; phase ends and notes get lines of their own.
 * Quiet (--quiet): nothing.
 *
 *   progress_t pg;
 *   progress_init(&pg, PROG, quiet ? PROGRESS_OFF : PROGRESS_AUTO);
 *   progress_phase(&pg, "train", n_networks);
 *   for (i = 0; i < n; i++) { ...; progress_update(&pg, i + 1, "network %zu (h = %d)", i + 1, h); }
 *   progress_end(&pg, "done: test loss %.4f", loss);
 *
 * Errors printed while a terminal line is shown should call
 * progress_break() first (or use progress_note) so they start on a line of
 * their own. One reporter per program; not thread-safe.
 */
#ifndef SIGEO_EXAMPLES_PROGRESS_H
#define SIGEO_EXAMPLES_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

typedef enum progress_mode {
    PROGRESS_AUTO = 0,  /* TTY when stderr is a terminal, else LINES */
    PROGRESS_OFF = 1,
    PROGRESS_LINES = 2,
    PROGRESS_TTY = 3
} progress_mode_t;

typedef struct progress {
    const char *prog;
    int mode;                  /* PROGRESS_OFF, PROGRESS_LINES or PROGRESS_TTY after init */
    FILE *f;                   /* stderr */
    double interval;           /* seconds between update lines */
    struct timespec start;     /* of the program (progress_init) */
    struct timespec phase_start;
    double last_shown;         /* seconds since start of the last update shown, < 0 none yet */
    char phase[48];
    int64_t total;             /* steps of the phase, 0 = unknown */
    int64_t step;
    size_t width;              /* of the terminal line shown, 0 = none */
} progress_t;

void progress_init(progress_t *p, const char *prog, progress_mode_t mode);

/* Seconds since progress_init. */
double progress_elapsed(const progress_t *p);

/* Starts a phase of `total` steps (0: unknown, no ETA); prints its start. */
void progress_phase(progress_t *p, const char *phase, int64_t total);

/* `step` of the phase's total are done; `fmt` (may be NULL) describes the
 * current work. Shown when an interval has passed since the last line
 * (the phase's start line included). Returns 1 if it was shown. */
int progress_update(progress_t *p, int64_t step, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Ends the phase with a line of its own ("prog: train done in 3 min 2 s: ..."). */
void progress_end(progress_t *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A line of its own ("prog: " + text), unless quiet. */
void progress_note(progress_t *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Ends a terminal line being shown, so the next output starts afresh. */
void progress_break(progress_t *p);

/* "41 s", "12 min 3 s", "2 h 5 min" into out. */
void progress_format_seconds(char *out, size_t size, double seconds);

#endif
