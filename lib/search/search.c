/* sigeo_search_t: options, callbacks, the default proxy scorer's batches,
 * budgets, and the results (top-k, info). The evolution loop itself is in
 * evolution.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/search_internal.h"

SIGEO_API sigeo_status_t sigeo_search_options_init(sigeo_search_options_t *options, uint32_t struct_size)
{
    static const sigeo_search_options_t defaults = SIGEO_SEARCH_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_search_options");
}

SIGEO_API sigeo_status_t sigeo_search_callbacks_init(sigeo_search_callbacks_t *callbacks, uint32_t struct_size)
{
    static const sigeo_search_callbacks_t defaults = SIGEO_SEARCH_CALLBACKS_INIT;
    return sigeo__struct_init(callbacks, struct_size, &defaults, sizeof defaults, "sigeo_search_callbacks");
}

SIGEO_API sigeo_status_t sigeo_evaluation_init(sigeo_evaluation_t *evaluation, uint32_t struct_size)
{
    static const sigeo_evaluation_t defaults = SIGEO_EVALUATION_INIT;
    return sigeo__struct_init(evaluation, struct_size, &defaults, sizeof defaults, "sigeo_evaluation");
}

SIGEO_API sigeo_status_t sigeo_cycle_report_init(sigeo_cycle_report_t *report, uint32_t struct_size)
{
    static const sigeo_cycle_report_t defaults = SIGEO_CYCLE_REPORT_INIT;
    return sigeo__struct_init(report, struct_size, &defaults, sizeof defaults, "sigeo_cycle_report");
}

SIGEO_API sigeo_status_t sigeo_search_info_init(sigeo_search_info_t *info, uint32_t struct_size)
{
    static const sigeo_search_info_t defaults = SIGEO_SEARCH_INFO_INIT;
    return sigeo__struct_init(info, struct_size, &defaults, sizeof defaults, "sigeo_search_info");
}

SIGEO_API uint64_t sigeo_arch_hash(const int32_t *arch, int32_t n)
{
    /* FNV-1a over the canonical text "3,0,1": stable everywhere. */
    uint64_t h = 0xcbf29ce484222325ull;
    char tmp[16];
    for (int32_t i = 0; arch && i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, i ? ",%d" : "%d", (int)arch[i]);
        for (int j = 0; j < k; j++) {
            h ^= (unsigned char)tmp[j];
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static sigeo_status_t check_options(const sigeo_search_options_t *o)
{
    static const char fn[] = "sigeo_search_create";
    if (o->kind != SIGEO_SEARCH_EVOLUTION && o->kind != SIGEO_SEARCH_RANDOM)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown search kind %d", fn, (int)o->kind);
    if (o->population < 2 || o->sample_size < 1 || o->sample_size > o->population || o->children < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "%s: need population >= 2, 1 <= sample_size <= population, children >= 1 (got P %u, S %u, "
                           "C %u)",
                           fn, (unsigned)o->population, (unsigned)o->sample_size, (unsigned)o->children);
    if (o->population > (1u << 24) || o->children > (1u << 24))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: population or children too large", fn);
    if (!isfinite(o->max_seconds) || o->max_seconds < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: max_seconds %g", fn, o->max_seconds);
    if (o->init_sampling < SIGEO_SAMPLE_UNIFORM || o->init_sampling > SIGEO_SAMPLE_FULL_PATH)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown init_sampling %d", fn, (int)o->init_sampling);
    if (o->mutation_schedule != SIGEO_MUTATE_ONE && o->mutation_schedule != SIGEO_MUTATE_NASREC)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown mutation_schedule %d", fn, (int)o->mutation_schedule);
    if (o->max_attempts < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: max_attempts must be >= 1", fn);
    return sigeo__search_ensemble_check(o);
}

SIGEO_API sigeo_status_t sigeo_search_create(sigeo_search_t **out, sigeo_model_t *model,
                                             const sigeo_search_options_t *options)
{
    static const char fn[] = "sigeo_search_create";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!model)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_search_options", NULL);
    if (st != SIGEO_OK || (st = check_options(&o)) != SIGEO_OK)
        return st;
    int32_t n;
    if ((st = sigeo_model_choices(&n, NULL, 0, model)) != SIGEO_OK)
        return st;
    if (n < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the model has no choice points to search", fn);
    sigeo_search_t *s = sigeo__calloc(1, sizeof *s);
    if (!s)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    s->model = model;
    s->o = o;
    s->n = n;
    s->cb = (sigeo_search_callbacks_t)SIGEO_SEARCH_CALLBACKS_INIT;
    s->proxy = (sigeo_proxy_options_t)SIGEO_PROXY_OPTIONS_INIT;
    s->best_ever = -INFINITY;
    sigeo__rng_seed(&s->rng, o.seed);
    const size_t cap = (size_t)o.population + o.children;
    s->pop_arch = sigeo__calloc(cap * (size_t)n, sizeof(int32_t));
    s->pop_score = sigeo__calloc(cap, sizeof(double));
    s->scratch = sigeo__calloc(4 * (size_t)n, sizeof(int32_t));
    s->pick = sigeo__calloc(cap, sizeof(uint32_t));
    s->sorted = sigeo__calloc(cap, sizeof(double));
    s->text = sigeo__alloc((size_t)n * 12 + 1);
    if (!s->pop_arch || !s->pop_score || !s->scratch || !s->pick || !s->sorted || !s->text ||
        (st = sigeo__memo_init(&s->memo, n)) != SIGEO_OK) {
        sigeo_search_destroy(s);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    *out = s;
    return SIGEO_OK;
}

static void free_batches(sigeo_search_t *s)
{
    for (uint32_t i = 0; i < s->n_batches; i++)
        sigeo__free(s->batch_mem[i]);
    sigeo__free(s->batch_mem);
    sigeo__free(s->batches);
    s->batch_mem = NULL;
    s->batches = NULL;
    s->n_batches = 0;
}

SIGEO_API void sigeo_search_destroy(sigeo_search_t *s)
{
    if (!s)
        return;
    free_batches(s);
    sigeo__memo_free(&s->memo);
    sigeo__free(s->ens_log);
    sigeo__free(s->ens_work);
    sigeo__free(s->pop_arch);
    sigeo__free(s->pop_score);
    sigeo__free(s->scratch);
    sigeo__free(s->pick);
    sigeo__free(s->sorted);
    sigeo__free(s->text);
    sigeo__free(s->pending);
    sigeo__free(s->scored);
    sigeo__free(s);
}

SIGEO_API sigeo_status_t sigeo_search_set_callbacks(sigeo_search_t *s, const sigeo_search_callbacks_t *callbacks)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_set_callbacks: search is NULL");
    sigeo_search_callbacks_t c = SIGEO_SEARCH_CALLBACKS_INIT;
    sigeo_status_t st = sigeo__struct_in(&c, sizeof c, callbacks, "sigeo_search_callbacks", &s->err);
    if (st == SIGEO_OK)
        s->cb = c;
    return st;
}

SIGEO_API sigeo_status_t sigeo_search_set_proxy(sigeo_search_t *s, const sigeo_proxy_options_t *options)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_set_proxy: search is NULL");
    sigeo_proxy_options_t o = SIGEO_PROXY_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_proxy_options", &s->err);
    if (st == SIGEO_OK) {
        if (!sigeo_proxy_kind_name((sigeo_proxy_kind_t)o.kind))
            return sigeo__fail_on(&s->err, SIGEO_ERR_INVALID_ARG, "sigeo_search_set_proxy: unknown proxy kind %d",
                                  (int)o.kind);
        s->proxy = o;
    }
    return st;
}

/* Copies one batch into a single block the search owns. */
static sigeo_status_t copy_batch(sigeo_search_t *s, uint32_t i, const sigeo_batch_t *batches, void **mem_out,
                                 sigeo_batch_t *dst)
{
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    sigeo_status_t st = sigeo__struct_array_in(&b, sizeof b, batches, i, "sigeo_batch", &s->err);
    if (st != SIGEO_OK)
        return st;
    if (b.batch_size < 1)
        return sigeo__fail_on(&s->err, SIGEO_ERR_INVALID_ARG, "sigeo_search_set_batches: batch %u is empty", (unsigned)i);
    const int64_t B = b.batch_size, F = b.n_sparse_fields;
    const int64_t n_ids = b.sparse_offsets ? b.sparse_offsets[B * F] : 0;
    size_t dense = b.dense ? (size_t)(B * b.n_dense) * sizeof(float) : 0;
    size_t ids = b.sparse_ids ? (size_t)n_ids * sizeof(int64_t) : 0;
    size_t offs = b.sparse_offsets ? (size_t)(B * F + 1) * sizeof(int64_t) : 0;
    size_t labels = b.labels ? (size_t)B * sizeof(int32_t) : 0;
    size_t targets = b.targets ? (size_t)(B * b.n_targets) * sizeof(float) : 0;
    /* 8-byte aligned pieces */
    size_t total = ids + offs + dense + targets + labels + 64;
    char *p = sigeo__alloc(total);
    if (!p)
        return sigeo__fail_on(&s->err, SIGEO_ERR_NO_MEMORY, "sigeo_search_set_batches: out of memory");
    *mem_out = p;
    *dst = b;
    if (ids) {
        memcpy(p, b.sparse_ids, ids);
        dst->sparse_ids = (const int64_t *)(void *)p;
        p += ids;
    }
    if (offs) {
        memcpy(p, b.sparse_offsets, offs);
        dst->sparse_offsets = (const int64_t *)(void *)p;
        p += offs;
    }
    if (dense) {
        memcpy(p, b.dense, dense);
        dst->dense = (const float *)(void *)p;
        p += dense;
    }
    if (targets) {
        memcpy(p, b.targets, targets);
        dst->targets = (const float *)(void *)p;
        p += targets;
    }
    if (labels) {
        memcpy(p, b.labels, labels);
        dst->labels = (const int32_t *)(void *)p;
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_search_set_batches(sigeo_search_t *s, const sigeo_batch_t *batches, uint32_t n)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_set_batches: search is NULL");
    if (!batches || n == 0)
        return sigeo__fail_on(&s->err, SIGEO_ERR_INVALID_ARG, "sigeo_search_set_batches: no batches");
    void **mem = sigeo__calloc(n, sizeof *mem);
    sigeo_batch_t *copy = sigeo__calloc(n, sizeof *copy);
    if (!mem || !copy) {
        sigeo__free(mem);
        sigeo__free(copy);
        return sigeo__fail_on(&s->err, SIGEO_ERR_NO_MEMORY, "sigeo_search_set_batches: out of memory");
    }
    sigeo_status_t st = SIGEO_OK;
    for (uint32_t i = 0; i < n && st == SIGEO_OK; i++)
        st = copy_batch(s, i, batches, &mem[i], &copy[i]);
    if (st != SIGEO_OK) {
        for (uint32_t i = 0; i < n; i++)
            sigeo__free(mem[i]);
        sigeo__free(mem);
        sigeo__free(copy);
        return st;
    }
    free_batches(s);
    s->batch_mem = mem;
    s->batches = copy;
    s->n_batches = n;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_search_set_budget(sigeo_search_t *s, int64_t max_params, int64_t max_flops)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_set_budget: search is NULL");
    if (max_params < 0 || max_flops < 0)
        return sigeo__fail_on(&s->err, SIGEO_ERR_INVALID_ARG, "sigeo_search_set_budget: negative budget");
    s->max_params = max_params;
    s->max_flops = max_flops;
    return SIGEO_OK;
}

typedef struct ranked {
    double score;
    int64_t order;
    int64_t index;
} ranked_t;

static int by_score_desc(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->order > y->order) - (x->order < y->order); /* earlier first */
}

/* An ensemble's aggregates over every evaluation are a cache the readers
 * bring up to date: stale only when read from a record callback during a
 * run (a run ends refreshed), and a search is not read from two threads
 * while it runs, so writing through the const pointer is safe. */
static sigeo_status_t refresh_cache(const sigeo_search_t *s)
{
    return sigeo__search_ensemble_refresh((sigeo_search_t *)s);
}

SIGEO_API sigeo_status_t sigeo_search_top(int32_t *archs, double *scores, int32_t capacity, int32_t *count_out,
                                          const sigeo_search_t *s)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_top: search is NULL");
    sigeo__errbuf_t *err = (sigeo__errbuf_t *)&s->err;
    if (!count_out || capacity < 0 || (!archs && capacity > 0))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "sigeo_search_top: bad output arguments");
    sigeo_status_t st = refresh_cache(s);
    if (st != SIGEO_OK)
        return st;
    ranked_t *r = sigeo__alloc((size_t)(s->memo.count > 0 ? s->memo.count : 1) * sizeof *r);
    if (!r)
        return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "sigeo_search_top: out of memory");
    int64_t k = 0;
    for (int64_t i = 0; i < s->memo.cap; i++) {
        const sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (e->used && e->status == SIGEO_OK)
            r[k++] = (ranked_t){ e->score, e->order, i };
    }
    qsort(r, (size_t)k, sizeof *r, by_score_desc);
    int32_t w = (int32_t)(k < capacity ? k : capacity);
    for (int32_t i = 0; i < w; i++) {
        memcpy(archs + (int64_t)i * s->n, sigeo__memo_arch(&s->memo, r[i].index), (size_t)s->n * sizeof(int32_t));
        if (scores)
            scores[i] = r[i].score;
    }
    *count_out = w;
    sigeo__free(r);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_search_get_info(sigeo_search_info_t *out, const sigeo_search_t *s)
{
    if (!s || !out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_get_info: %s is NULL", s ? "out" : "search");
    sigeo_status_t st = refresh_cache(s);
    if (st != SIGEO_OK)
        return st;
    sigeo_search_info_t i = SIGEO_SEARCH_INFO_INIT;
    i.population = s->pop_size;
    i.evaluations = s->evaluations;
    i.failed = s->failed;
    i.distinct = (uint64_t)s->memo.count;
    i.rejected = s->rejected;
    i.revisits = s->revisits;
    i.cycles_done = s->cycles_done;
    i.seconds = s->seconds;
    i.best_score = s->best_ever;
    return sigeo__struct_out(out, &i, sizeof i, "sigeo_search_info", (sigeo__errbuf_t *)&s->err);
}

SIGEO_API const char *sigeo_search_last_error(const sigeo_search_t *s)
{
    return s ? s->err.msg : "";
}
