/* The in-process parallel map: independent tasks on worker threads, one
 * task per thread at a time and one compute thread per task (docs/design.md
 * §3, "Parallelism across independent work"). Not installed. */
#ifndef SIGEO_CORE_PARALLEL_H
#define SIGEO_CORE_PARALLEL_H

#include "core/core.h"

/* A task: the signature of sigeo_task_fn (search.h), restated here so
 * that core does not include a later layer's header. */
typedef sigeo_status_t (*sigeo__task_fn)(void *result, int64_t index, void *task_user);

/* Called on the calling thread while the workers run (at least every
 * 50 ms, and after each task), and once after the last task: non-zero
 * cancels (no task starts after it; the running ones finish or stop on
 * their own, through state the caller shares with them). */
typedef int (*sigeo__poll_fn)(void *user);

/* Fills results[i] (result_size bytes each) with task(results + i *
 * result_size, i, task_user) for every i in [0, count), on up to `workers`
 * threads (capped at count), tasks handed out in index order. Inside a
 * worker every backend call runs on one thread (sigeo__context_cap_team),
 * except in a last round of t < workers tasks: those get workers / t
 * threads each (the cores the finished workers leave), by index, so a
 * worker count always gives a task the same team.
 * The calling thread only waits and polls. A task's non-OK status is
 * fatal: no task with a higher index starts after it, the lower ones still
 * run, so the failure returned (status and message, re-raised on the
 * calling thread) is the one of the lowest failing index, as one by one.
 * A poll's cancel returns SIGEO_ERR_CANCELLED unless a task failed.
 * If no thread can be started the tasks run here, in order (polled between
 * tasks). workers <= 1: in order on the calling thread, nothing capped. */
sigeo_status_t sigeo__thread_map(void *results, size_t result_size, int64_t count, sigeo__task_fn task,
                                 void *task_user, int32_t workers, sigeo__poll_fn poll, void *poll_user);

#endif
