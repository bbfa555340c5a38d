/*
 * Ctrl-C that loses nothing, for the example programs.
 *
 * interrupt_install() catches SIGINT and SIGTERM. The FIRST signal only sets
 * a flag and says so on stderr; the program polls interrupt_requested() at
 * its safe points (between training steps, between candidates), stops,
 * writes what is complete (its JSON marked "interrupted": true), and exits
 * with PROGRAM_EXIT_INTERRUPTED (130). A SECOND signal exits at once with
 * _exit(130): outputs are not touched, and the temporary files of atomic
 * writes still open (output.h registers them here) are removed, so a
 * pre-existing output file keeps its old content.
 *
 *   interrupt_install(PROG);
 *   for (...) { if (interrupt_requested()) break; ... }
 *   sigeo_search_callbacks_t cb = ...; cb.cancel = interrupt_cancel;   (search stops at a safe point)
 *   train progress callback: return interrupt_requested();             (sigeo_train stops)
 */
#ifndef SIGEO_EXAMPLES_INTERRUPT_H
#define SIGEO_EXAMPLES_INTERRUPT_H

/* Installs the handlers; `prog` (kept, not copied) names the program in the
 * one-line notice. Returns 0, or -1 with errno set. */
int interrupt_install(const char *prog);

/* Makes `sig` (e.g. SIGUSR1, which Open MPI's mpirun forwards to every
 * rank) behave as SIGINT and SIGTERM do. Returns 0, or -1 with errno set. */
int interrupt_also(int sig);

/* Call first in main, before any other thread exists: blocks SIGINT,
 * SIGTERM and SIGUSR1 in this thread (every thread started later inherits
 * that) and starts one thread that takes them with sigwait and does what
 * the handler does. Then no signal lands in the middle of the compute
 * threads (under mpirun, a SIGUSR1 delivered to a busy oneDNN/OpenMP thread
 * was seen to abort a rank with a corrupted heap). Returns 0, or -1 with
 * errno set. */
int interrupt_use_thread(void);

/* on = 1: the handler prints no notice (a worker process whose parent
 * speaks for the program; the parent prints it once). */
void interrupt_set_quiet(int on);

/* 1 once SIGINT or SIGTERM arrived, else 0. Async-signal-safe to read. */
int interrupt_requested(void);

/* The signal that arrived first (SIGINT, SIGTERM), 0 if none. */
int interrupt_signal(void);

/* "SIGINT" / "SIGTERM" / "SIGUSR1" / NULL, for messages and JSON. */
const char *interrupt_signal_name(void);

/* Matches sigeo_cancel_fn and the cancel convention of sigeo_progress_fn:
 * returns interrupt_requested(); `user` is ignored. */
int interrupt_cancel(void *user);

/* For output.h: a temporary file to delete if the program dies by a second
 * signal. Returns a slot >= 0, or -1 when all slots are in use (the file is
 * then simply not cleaned up). `path` is copied. */
int interrupt_register_temp(const char *path);
void interrupt_unregister_temp(int slot);

/* For tests of the handler itself: forget a received signal. */
void interrupt_reset(void);

#endif
