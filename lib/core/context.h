/* Internal layout of sigeo_context_t. Later layers hang their per-context
 * state here through opaque slots, so core never includes their headers. */
#ifndef SIGEO_CORE_CONTEXT_H
#define SIGEO_CORE_CONTEXT_H

#include <pthread.h>

#include "core/core.h"
#include "core/rng.h"

struct sigeo_context {
    sigeo_context_options_t options; /* threads resolved to a real count; immutable after create */
    sigeo__errbuf_t err;             /* written under `lock` (sigeo__context_propagate) */
    /* Handles created from one context may be used from different threads
     * at once (sigeo.h, "Threads"), so everything below is shared state
     * behind `lock`: the lazily created engine, the stream counter. */
    pthread_mutex_t lock;
    /* Models draw from their own streams, sigeo__rng_derive(seed, k) for
     * the k-th model of this context to draw (at its finalisation), so one
     * model's draws never change another's (and no two threads share a
     * generator). */
    uint64_t next_stream;
    /* The compute engine (lib/nn) is created on first use and destroyed with
     * the context through this hook, so core stays free of oneDNN. */
    void *engine;
    void (*engine_destroy)(void *engine);
};

/* The OpenMP team size one call of `work` FLOPs (memory-bound calls: 16
 * per element) gets under the context's thread policy (sigeo.h,
 * sigeo_thread_policy_t): 1 below AUTO's threshold, the context's threads
 * otherwise, at most this thread's cap (sigeo__context_cap_team). ctx may
 * be NULL (the default options). Thread-safe: reads the immutable options
 * and a thread-local cap only. */
int sigeo__context_team(const sigeo_context_t *ctx, double work);

/* Caps every team this thread's calls get (sigeo__context_team) at `cap`
 * (0: no cap) and returns the previous cap. Thread-local: the parallel
 * map's workers (parallel.c) run their tasks on one compute thread each. */
int32_t sigeo__context_cap_team(int32_t cap);

/* The number of the next model stream (sigeo__rng_derive), under the lock. */
uint64_t sigeo__context_next_stream(sigeo_context_t *ctx);

/* Records this thread's current message in the context's own buffer
 * (another thread may fail on the same context at the same time). */
sigeo_status_t sigeo__context_propagate(sigeo_context_t *ctx, sigeo_status_t status);

#endif
