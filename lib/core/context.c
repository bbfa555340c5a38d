/* The context: thread policy (sigeo_thread_policy_t), seed, the model streams and the compute
 * engine, shared by every handle created from it (under its lock). */
#include <string.h>
#include <unistd.h>

#include "core/context.h"

static uint32_t online_cores(void);

/* This thread's cap on every team (0: none), set by the parallel map's
 * workers (parallel.c): one compute thread per independent task. */
static _Thread_local uint32_t team_cap;

int32_t sigeo__context_cap_team(int32_t cap)
{
    const int32_t old = (int32_t)team_cap;
    team_cap = cap > 0 ? (uint32_t)cap : 0u;
    return old;
}

SIGEO_API sigeo_status_t sigeo_context_options_init(sigeo_context_options_t *options, uint32_t struct_size)
{
    static const sigeo_context_options_t defaults = SIGEO_CONTEXT_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_context_options");
}

SIGEO_API sigeo_status_t sigeo_context_create(sigeo_context_t **out, const sigeo_context_options_t *options)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_context_create: out is NULL");
    *out = NULL;
    sigeo_context_options_t o = SIGEO_CONTEXT_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_context_options", NULL);
    if (st != SIGEO_OK)
        return st;
    if (o.threads == 0)
        o.threads = online_cores();
    if (o.threads > 1024)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_context_create: threads %u is more than 1024",
                           (unsigned)o.threads);
    if (o.thread_policy != SIGEO_THREADS_AUTO && o.thread_policy != SIGEO_THREADS_FIXED)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "sigeo_context_create: thread_policy %u is unknown (0 auto, 1 fixed)",
                           (unsigned)o.thread_policy);
    if (o.reserved0 != 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_context_create: reserved0 is %u (must be 0)",
                           (unsigned)o.reserved0);
    if (o.parallel_min_flops == 0)
        o.parallel_min_flops = SIGEO_PARALLEL_MIN_FLOPS_DEFAULT;
    sigeo_context_t *ctx = sigeo__calloc(1, sizeof *ctx);
    if (!ctx)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_context_create: out of memory (%zu bytes)", sizeof *ctx);
    ctx->options = o;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        sigeo__free(ctx);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_context_create: cannot create the context's mutex");
    }
    *out = ctx;
    return SIGEO_OK;
}

SIGEO_API void sigeo_context_destroy(sigeo_context_t *ctx)
{
    if (!ctx)
        return;
    if (ctx->engine && ctx->engine_destroy)
        ctx->engine_destroy(ctx->engine);
    pthread_mutex_destroy(&ctx->lock);
    sigeo__free(ctx);
}

SIGEO_API sigeo_status_t sigeo_context_get_options(sigeo_context_options_t *out, const sigeo_context_t *ctx)
{
    if (!ctx)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_context_get_options: ctx is NULL");
    /* The message buffer is bookkeeping, not state: writable through a const handle. */
    sigeo_context_t *c = (sigeo_context_t *)ctx;
    if (!out)
        return sigeo__context_propagate(
            c, sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_context_get_options: out is NULL"));
    sigeo_status_t st = sigeo__struct_out(out, &ctx->options, sizeof ctx->options, "sigeo_context_options", NULL);
    return st == SIGEO_OK ? st : sigeo__context_propagate(c, st);
}

static uint32_t online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1u;
}

int sigeo__context_team(const sigeo_context_t *ctx, double work)
{
    /* No context (a statistics accumulator created without one): the
     * defaults, AUTO on every online core. */
    uint32_t threads = ctx ? ctx->options.threads : online_cores();
    uint32_t policy = ctx ? ctx->options.thread_policy : SIGEO_THREADS_AUTO;
    uint64_t min_work = ctx ? ctx->options.parallel_min_flops : SIGEO_PARALLEL_MIN_FLOPS_DEFAULT;
    if (team_cap > 0 && threads > team_cap)
        threads = team_cap;
    if (threads <= 1)
        return 1;
    if (policy == SIGEO_THREADS_FIXED)
        return (int)threads;
    /* `work` is a double so that a product of four int64 sizes cannot wrap
     * into a small number; any value >= the threshold parallelises. */
    return work >= (double)min_work ? (int)threads : 1;
}

uint64_t sigeo__context_next_stream(sigeo_context_t *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t k = ctx->next_stream++;
    pthread_mutex_unlock(&ctx->lock);
    return k;
}

sigeo_status_t sigeo__context_propagate(sigeo_context_t *ctx, sigeo_status_t status)
{
    if (status == SIGEO_OK)
        return status;
    pthread_mutex_lock(&ctx->lock);
    sigeo__propagate(&ctx->err, status);
    pthread_mutex_unlock(&ctx->lock);
    return status;
}

SIGEO_API const char *sigeo_context_last_error(const sigeo_context_t *ctx)
{
    return ctx ? ctx->err.msg : "";
}
