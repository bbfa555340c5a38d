/* oneDNN glue (see backend.h). oneDNN reports a bare status, so every call
 * is checked here with what we were doing. */
#include <string.h>

#include <cblas.h>
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <oneapi/dnnl/dnnl.h>

#include "core/context.h"
#include "nn/backend.h"

/* A model's handle on the backend: the context's engine (shared, created
 * once under the context's lock; oneDNN engines are safe to share across
 * threads) and the model's own stream, so two models of one context run
 * primitives from two threads without sharing any mutable oneDNN object. */
struct sigeo__engine {
    dnnl_engine_t engine; /* borrowed from the context */
    dnnl_stream_t stream; /* owned */
    const sigeo_context_t *ctx; /* the thread policy (immutable options) */
    /* The team of the call in progress: set by slot_prepare from the call's
     * work (sigeo__context_team), read by every omp_enter of that call, so
     * the primitive is created and run with the same team (oneDNN fixes its
     * work split at creation). */
    int team;
};

enum slot_kind {
    SLOT_MATMUL, SLOT_ELTWISE_FWD, SLOT_ELTWISE_BWD, SLOT_BMM, SLOT_CONV_FWD, SLOT_CONV_BWD_DATA,
    SLOT_CONV_BWD_WEIGHTS, SLOT_POOL_FWD, SLOT_POOL_BWD, SLOT_SOFTMAX_FWD, SLOT_SOFTMAX_BWD
};

#define SLOT_MAX_ARGS 5
#define SLOT_KEY_LEN 24

/* An argument whose layout the primitive chose (convolutions built with
 * channels-last or dnnl_format_tag_any, docs/onednn-notes.md) is staged:
 * the primitive reads and writes its own copy in its layout, and a cached
 * reorder primitive converts between it and the caller's plain layout on
 * every call (inputs before the primitive, outputs after). */
typedef struct slot_stage {
    dnnl_primitive_t reorder; /* NULL: the argument is used in place */
    dnnl_memory_t user;       /* the caller's layout, on the caller's pointer */
    void *buf;                /* owned: the primitive-layout copy (mem[i]'s data) */
    void *scratchpad;         /* owned: the reorder's scratch memory, if any */
    dnnl_memory_t scratchpad_mem;
    bool out;
    const void *last;         /* input: the caller's pointer the copy was last made from */
} slot_stage_t;

struct sigeo__prim_slot {
    enum slot_kind kind;
    int64_t key[SLOT_KEY_LEN]; /* the shape the primitive was built for */
    dnnl_primitive_t prim;
    int team; /* OpenMP threads it was created for, and runs on */
    int n_args;
    int arg_ids[SLOT_MAX_ARGS];
    dnnl_memory_t mem[SLOT_MAX_ARGS];
    void *workspace; /* owned: max pooling's argmax, read by the backward */
    /* oneDNN runs in user-scratchpad mode: each primitive's scratch memory
     * comes from the library's allocator (so a host allocator and the
     * allocation-failure tests see it), allocated once with the slot. */
    void *scratchpad;
    dnnl_memory_t scratchpad_mem;
    slot_stage_t stage[SLOT_MAX_ARGS];
    /* Outputs are added to the caller's buffer instead of overwriting it:
     * a staged output's reorder carries a sum post-op; a plain one is
     * written to `accum` (owned, accum_n floats) and added by slot_run. */
    bool accumulate;
    int accum_arg;
    float *accum;
    int64_t accum_n;
};

static sigeo_status_t check(dnnl_status_t st, const char *what)
{
    if (st == dnnl_success)
        return SIGEO_OK;
    if (st == dnnl_out_of_memory)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "oneDNN: out of memory while %s", what);
    if (st == dnnl_unimplemented)
        return sigeo__fail(SIGEO_ERR_UNSUPPORTED, "oneDNN: no implementation for %s", what);
    return sigeo__fail(SIGEO_ERR_INTERNAL, "oneDNN: status %d while %s", (int)st, what);
}

static void context_engine_destroy(void *p)
{
    dnnl_engine_t engine = p;
    if (engine)
        dnnl_engine_destroy(engine);
}

/* The context's engine, created on first use: the lock makes two models
 * created at once from two threads see one engine. */
static sigeo_status_t context_engine(dnnl_engine_t *out, sigeo_context_t *ctx)
{
    sigeo_status_t st = SIGEO_OK;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->engine) {
        dnnl_engine_t engine = NULL;
        st = check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine");
        if (st == SIGEO_OK) {
            ctx->engine = engine;
            ctx->engine_destroy = context_engine_destroy;
        }
    }
    *out = ctx->engine;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

sigeo_status_t sigeo__engine_open(sigeo__engine_t **out, sigeo_context_t *ctx)
{
    *out = NULL;
    dnnl_engine_t engine;
    sigeo_status_t st = context_engine(&engine, ctx);
    if (st != SIGEO_OK)
        return st;
    sigeo__engine_t *e = sigeo__calloc(1, sizeof *e);
    if (!e)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "creating a compute stream: out of memory");
    e->engine = engine;
    e->ctx = ctx;
    e->team = 1;
    /* OpenBLAS's thread count is process state shared with the host: it is
     * left alone (sigeo_set_option(SIGEO_OPTION_BLAS_THREADS) sets it). */
    st = check(dnnl_stream_create(&e->stream, e->engine, dnnl_stream_default_flags), "creating the stream");
    if (st != SIGEO_OK) {
        sigeo__free(e);
        return st;
    }
    *out = e;
    return SIGEO_OK;
}

void sigeo__engine_close(sigeo__engine_t *e)
{
    if (!e)
        return;
    if (e->stream)
        dnnl_stream_destroy(e->stream);
    sigeo__free(e);
}

/* oneDNN's OpenMP runtime sizes its team (at primitive creation and at
 * execution) from the calling thread's omp_get_max_threads(). That setting
 * belongs to the host's thread: it is switched to the call's team (the
 * context's thread policy applied to the call's work, e->team) for the
 * duration of one backend call and put back after, never left changed. */
typedef struct omp_scope {
    int saved;
} omp_scope_t;

static omp_scope_t omp_enter(const sigeo__engine_t *e)
{
    omp_scope_t sc = { 0 };
#if defined(_OPENMP)
    sc.saved = omp_get_max_threads();
    if (sc.saved != e->team)
        omp_set_num_threads(e->team);
#else
    (void)e;
#endif
    return sc;
}

static void omp_leave(const sigeo__engine_t *e, omp_scope_t sc)
{
#if defined(_OPENMP)
    if (sc.saved != e->team)
        omp_set_num_threads(sc.saved);
#else
    (void)e;
    (void)sc;
#endif
}

SIGEO_API sigeo_status_t sigeo_set_option(sigeo_option_t option, int64_t value)
{
    switch (option) {
    case SIGEO_OPTION_BLAS_THREADS:
        if (value < 1 || value > 1024)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "sigeo_set_option: SIGEO_OPTION_BLAS_THREADS %lld is outside 1..1024", (long long)value);
        openblas_set_num_threads((int)value);
        return SIGEO_OK;
    }
    return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_set_option: unknown option %d", (int)option);
}

SIGEO_API sigeo_status_t sigeo_get_option(int64_t *value, sigeo_option_t option)
{
    if (!value)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_get_option: value is NULL");
    switch (option) {
    case SIGEO_OPTION_BLAS_THREADS:
        *value = openblas_get_num_threads();
        return SIGEO_OK;
    }
    return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_get_option: unknown option %d", (int)option);
}

void sigeo__prim_slot_free(sigeo__prim_slot_t *slot)
{
    if (!slot)
        return;
    for (int i = 0; i < slot->n_args; i++) {
        slot_stage_t *g = &slot->stage[i];
        if (slot->mem[i])
            dnnl_memory_destroy(slot->mem[i]);
        if (g->reorder)
            dnnl_primitive_destroy(g->reorder);
        if (g->user)
            dnnl_memory_destroy(g->user);
        if (g->scratchpad_mem)
            dnnl_memory_destroy(g->scratchpad_mem);
        sigeo__free(g->scratchpad);
        sigeo__free(g->buf);
    }
    sigeo__free(slot->accum);
    if (slot->prim)
        dnnl_primitive_destroy(slot->prim);
    sigeo__free(slot->workspace);
    if (slot->scratchpad_mem)
        dnnl_memory_destroy(slot->scratchpad_mem);
    sigeo__free(slot->scratchpad);
    sigeo__free(slot);
}

/* The work of one call of a primitive built for `key` (the layouts of the
 * keys below), in FLOPs; memory-bound kinds count 16 per element they
 * read or write (a 2-thread pass over 1 M floats pays, over 64 k it does
 * not). A double: products of sizes never wrap. */
static double slot_work(enum slot_kind kind, const int64_t *k)
{
    switch (kind) {
    case SLOT_MATMUL: /* m, n, k, ... */
        return 2.0 * (double)k[0] * (double)k[1] * (double)k[2];
    case SLOT_BMM: /* batch0, batch1, m, n, k, ... */
        return 2.0 * (double)k[0] * (double)k[1] * (double)k[2] * (double)k[3] * (double)k[4];
    case SLOT_CONV_FWD: case SLOT_CONV_BWD_DATA: case SLOT_CONV_BWD_WEIGHTS:
        /* batch, in_c, in_h, in_w, out_c, out_h, out_w, kh, kw, ... */
        return 2.0 * (double)k[0] * (double)k[1] * (double)k[4] * (double)k[5] * (double)k[6] * (double)k[7] *
               (double)k[8];
    case SLOT_POOL_FWD: case SLOT_POOL_BWD: /* batch, channels, in_h, in_w, out_h, out_w, kh, kw, ... */
        return 16.0 * (double)k[0] * (double)k[1] *
               ((double)k[2] * (double)k[3] + (double)k[4] * (double)k[5] * (double)k[6] * (double)k[7]);
    case SLOT_ELTWISE_FWD: case SLOT_ELTWISE_BWD: /* alg, n */
        return 16.0 * 3.0 * (double)k[1];
    case SLOT_SOFTMAX_FWD: case SLOT_SOFTMAX_BWD: /* rows, cols */
        return 16.0 * 3.0 * (double)k[0] * (double)k[1];
    }
    return 0.0;
}

/* Returns the slot if it was built for `key`, otherwise a fresh empty one
 * (the old one freed). Either way it sets the team of this call (e->team)
 * to the one the slot is built for. */
static sigeo_status_t slot_prepare(sigeo__prim_slot_t **slot, sigeo__engine_t *e, bool *ready, enum slot_kind kind,
                                   const int64_t *key, int n_key)
{
    sigeo__prim_slot_t *s = *slot;
    int64_t full[SLOT_KEY_LEN] = { 0 };
    if (n_key > SLOT_KEY_LEN)
        return sigeo__fail(SIGEO_ERR_INTERNAL, "primitive key of %d entries exceeds %d", n_key, SLOT_KEY_LEN);
    memcpy(full, key, (size_t)n_key * sizeof *key);
    if (s && s->kind == kind && memcmp(s->key, full, sizeof full) == 0) {
        e->team = s->team;
        *ready = true;
        return SIGEO_OK;
    }
    sigeo__prim_slot_free(s);
    *slot = NULL;
    s = sigeo__calloc(1, sizeof *s);
    if (!s)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "out of memory for a primitive slot");
    s->kind = kind;
    memcpy(s->key, full, sizeof full);
    s->team = e->team = sigeo__context_team(e->ctx, slot_work(kind, full));
    *slot = s;
    *ready = false;
    return SIGEO_OK;
}

static bool arg_is_output(int arg)
{
    return arg == DNNL_ARG_DST || arg == DNNL_ARG_DIFF_SRC || arg == DNNL_ARG_DIFF_WEIGHTS ||
           arg == DNNL_ARG_DIFF_BIAS;
}

/* Allocates the scratch memory `pd` asks for (user-scratchpad mode) from
 * the library's allocator. */
static sigeo_status_t scratchpad_alloc(void **buf, dnnl_memory_t *mem, sigeo__engine_t *e, const_dnnl_primitive_desc_t pd,
                                       const char *what)
{
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t size = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (size == 0)
        return SIGEO_OK;
    *buf = sigeo__alloc(size);
    if (!*buf)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "out of memory for %zu bytes of oneDNN scratchpad while %s", size,
                           what);
    return check(dnnl_memory_create(mem, sp, e->engine, *buf), what);
}

/* Argument i of the slot in the primitive's layout `prim_md`, which differs
 * from the caller's `user_md`: its own buffer and the reorder to or from
 * the caller's layout. */
static sigeo_status_t stage_build(sigeo__prim_slot_t *s, sigeo__engine_t *e, int i, const dnnl_memory_desc_t *user_md,
                                  const dnnl_memory_desc_t *prim_md, const char *what)
{
    slot_stage_t *g = &s->stage[i];
    g->out = arg_is_output(s->arg_ids[i]);
    const size_t bytes = dnnl_memory_desc_get_size(prim_md);
    g->buf = sigeo__alloc(bytes ? bytes : 1);
    if (!g->buf)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "out of memory for a %zu-byte staging buffer while %s", bytes, what);
    sigeo_status_t st = check(dnnl_memory_create(&s->mem[i], prim_md, e->engine, g->buf), what);
    if (st == SIGEO_OK)
        st = check(dnnl_memory_create(&g->user, user_md, e->engine, DNNL_MEMORY_NONE), what);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    if (st == SIGEO_OK)
        st = check(dnnl_primitive_attr_create(&attr), what);
    if (st == SIGEO_OK)
        st = check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), what);
    if (st == SIGEO_OK && g->out && s->accumulate) {
        /* to = from + 1 * to: the accumulation rides on the reorder */
        dnnl_post_ops_t ops = NULL;
        st = check(dnnl_post_ops_create(&ops), what);
        if (st == SIGEO_OK)
            st = check(dnnl_post_ops_append_sum(ops, 1.0f), what);
        if (st == SIGEO_OK)
            st = check(dnnl_primitive_attr_set_post_ops(attr, ops), what);
        if (ops)
            dnnl_post_ops_destroy(ops);
    }
    if (st == SIGEO_OK) {
        const omp_scope_t sc = omp_enter(e);
        st = g->out ? check(dnnl_reorder_primitive_desc_create(&rpd, prim_md, e->engine, user_md, e->engine, attr), what)
                    : check(dnnl_reorder_primitive_desc_create(&rpd, user_md, e->engine, prim_md, e->engine, attr), what);
        if (st == SIGEO_OK)
            st = check(dnnl_primitive_create(&g->reorder, rpd), what);
        omp_leave(e, sc);
    }
    if (st == SIGEO_OK)
        st = scratchpad_alloc(&g->scratchpad, &g->scratchpad_mem, e, rpd, what);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Builds the primitive and one memory object per argument from `pd`;
 * `mds` are the caller's layouts, and an argument the primitive wants in
 * another layout is staged (slot_stage_t). On failure the slot is freed
 * (and *slot NULL), so the next call starts over. */
static sigeo_status_t slot_build(sigeo__prim_slot_t **slot, sigeo__engine_t *e, dnnl_primitive_desc_t pd,
                                 const int *arg_ids, const dnnl_memory_desc_t *const *mds, int n_args,
                                 const char *what)
{
    sigeo__prim_slot_t *s = *slot;
    const omp_scope_t sc = omp_enter(e);
    sigeo_status_t st = check(dnnl_primitive_create(&s->prim, pd), what);
    omp_leave(e, sc);
    for (int i = 0; st == SIGEO_OK && i < n_args; i++) {
        s->arg_ids[i] = arg_ids[i];
        s->n_args = i + 1;
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg_ids[i]);
        if (want && want->ndims > 0 && !dnnl_memory_desc_equal(want, mds[i]))
            st = stage_build(s, e, i, mds[i], want, what);
        else
            st = check(dnnl_memory_create(&s->mem[i], mds[i], e->engine, DNNL_MEMORY_NONE), what);
    }
    for (int i = 0; st == SIGEO_OK && s->accumulate && i < s->n_args; i++)
        if (arg_is_output(s->arg_ids[i]) && !s->stage[i].reorder) {
            const int64_t n = (int64_t)(dnnl_memory_desc_get_size(mds[i]) / sizeof(float));
            s->accum = sigeo__alloc((size_t)(n ? n : 1) * sizeof(float));
            if (!s->accum)
                st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "out of memory for a %lld-float accumulation buffer while %s",
                                 (long long)n, what);
            s->accum_arg = i;
            s->accum_n = n;
            break; /* one output accumulates (conv backward-data's diff_src) */
        }
    if (st == SIGEO_OK)
        st = scratchpad_alloc(&s->scratchpad, &s->scratchpad_mem, e, pd, what);
    dnnl_primitive_desc_destroy(pd);
    if (st != SIGEO_OK) {
        sigeo__prim_slot_free(s);
        *slot = NULL;
    }
    return st;
}

/* Runs one staged argument's reorder (caller's layout <-> the slot's copy). */
static dnnl_status_t stage_run(const sigeo__prim_slot_t *s, int i, dnnl_stream_t stream)
{
    const slot_stage_t *g = &s->stage[i];
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_FROM, g->out ? s->mem[i] : g->user },
                                { DNNL_ARG_TO, g->out ? g->user : s->mem[i] },
                                { DNNL_ARG_SCRATCHPAD, g->scratchpad_mem } };
    return dnnl_primitive_execute(g->reorder, stream, g->scratchpad_mem ? 3 : 2, args);
}

/* Runs the slot's primitive on the caller's pointers. borrowed[i] (NULL,
 * or NULL entries: none) is another slot's staged copy of input i already
 * in this primitive's layout, used instead of reordering the input again
 * (see slot_borrow). */
static sigeo_status_t slot_run_with(sigeo__prim_slot_t *s, sigeo__engine_t *e, void *const *ptrs,
                                    const dnnl_memory_t *borrowed, const char *what)
{
    dnnl_exec_arg_t args[SLOT_MAX_ARGS + 1];
    for (int i = 0; i < s->n_args; i++) {
        slot_stage_t *g = &s->stage[i];
        void *p = s->accum && i == s->accum_arg ? (void *)s->accum : ptrs[i];
        dnnl_memory_t target = g->reorder ? g->user : s->mem[i];
        sigeo_status_t st = check(dnnl_memory_set_data_handle_v2(target, p, e->stream), what);
        if (st != SIGEO_OK)
            return st;
        args[i].arg = s->arg_ids[i];
        args[i].memory = borrowed && borrowed[i] ? borrowed[i] : s->mem[i];
    }
    int n = s->n_args;
    if (s->scratchpad_mem) {
        args[n].arg = DNNL_ARG_SCRATCHPAD;
        args[n].memory = s->scratchpad_mem;
        n++;
    }
    const omp_scope_t sc = omp_enter(e);
    dnnl_status_t ds = dnnl_success;
    for (int i = 0; ds == dnnl_success && i < s->n_args; i++)
        if (s->stage[i].reorder && !s->stage[i].out && !(borrowed && borrowed[i])) {
            ds = stage_run(s, i, e->stream);
            s->stage[i].last = ds == dnnl_success ? ptrs[i] : NULL;
        }
    if (ds == dnnl_success)
        ds = dnnl_primitive_execute(s->prim, e->stream, n, args);
    for (int i = 0; ds == dnnl_success && i < s->n_args; i++)
        if (s->stage[i].reorder && s->stage[i].out)
            ds = stage_run(s, i, e->stream);
    sigeo_status_t st = check(ds, what);
    if (st == SIGEO_OK)
        st = check(dnnl_stream_wait(e->stream), what);
    omp_leave(e, sc);
    if (st == SIGEO_OK && s->accum) {
        float *dst = ptrs[s->accum_arg];
        for (int64_t i = 0; i < s->accum_n; i++)
            dst[i] += s->accum[i];
    }
    return st;
}

static sigeo_status_t slot_run(sigeo__prim_slot_t *s, sigeo__engine_t *e, void *const *ptrs, const char *what)
{
    return slot_run_with(s, e, ptrs, NULL, what);
}

/* The staged copy of argument `arg_id` that slot `from` last made from the
 * caller's `ptr`, if it is in the layout `s` wants for its argument i;
 * else NULL. Sound only when the caller knows the data at ptr is unchanged
 * since `from` ran (sigeo__conv_backward_*'s `share` argument). */
static dnnl_memory_t slot_borrow(const sigeo__prim_slot_t *s, int i, const sigeo__prim_slot_t *from, int arg_id,
                                 const void *ptr)
{
    if (!from || !s->stage[i].reorder)
        return NULL;
    for (int j = 0; j < from->n_args; j++) {
        const slot_stage_t *g = &from->stage[j];
        if (from->arg_ids[j] != arg_id || !g->reorder || g->out || g->last != ptr)
            continue;
        const dnnl_memory_desc_t *have = NULL, *want = NULL;
        if (dnnl_memory_get_memory_desc(from->mem[j], &have) == dnnl_success &&
            dnnl_memory_get_memory_desc(s->mem[i], &want) == dnnl_success && dnnl_memory_desc_equal(have, want))
            return from->mem[j];
    }
    return NULL;
}

/* Every primitive descriptor is created through here: user-scratchpad mode
 * (the slot then owns the scratch memory, from the library's allocator).
 * The raw form reports oneDNN's status without recording a failure (for
 * attempts that have a fallback). */
static dnnl_status_t pd_create_raw(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc, dnnl_primitive_attr_t attr,
                                   sigeo__engine_t *e, const_dnnl_primitive_desc_t hint)
{
    dnnl_primitive_attr_t own = NULL;
    dnnl_status_t st = dnnl_success;
    *pd = NULL;
    if (!attr) {
        st = dnnl_primitive_attr_create(&own);
        attr = own;
    }
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success) {
        /* implementations pick their blocking by the team size */
        const omp_scope_t sc = omp_enter(e);
        st = dnnl_primitive_desc_create(pd, desc, attr, e->engine, hint);
        omp_leave(e, sc);
    }
    if (own)
        dnnl_primitive_attr_destroy(own);
    return st;
}

static sigeo_status_t pd_create(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc, dnnl_primitive_attr_t attr,
                                sigeo__engine_t *e, const_dnnl_primitive_desc_t hint, const char *what)
{
    return check(pd_create_raw(pd, desc, attr, e, hint), what);
}

/* A matmul primitive descriptor with the optional output scale and the
 * accumulate (sum) post-op. */
static sigeo_status_t matmul_pd(dnnl_primitive_desc_t *pd, sigeo__engine_t *e, const dnnl_matmul_desc_t *desc,
                                bool accumulate, float scale, const char *what)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    sigeo_status_t st = SIGEO_OK;
    if (accumulate || scale != 1.0f)
        st = check(dnnl_primitive_attr_create(&attr), "creating matmul attributes");
    if (st == SIGEO_OK && scale != 1.0f)
        st = check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "setting the matmul scale");
    if (st == SIGEO_OK && accumulate) {
        st = check(dnnl_post_ops_create(&ops), "creating matmul post-ops");
        if (st == SIGEO_OK)
            st = check(dnnl_post_ops_append_sum(ops, 1.0f), "appending the accumulate post-op");
        if (st == SIGEO_OK)
            st = check(dnnl_primitive_attr_set_post_ops(attr, ops), "setting matmul post-ops");
    }
    if (st == SIGEO_OK)
        st = pd_create(pd, desc, attr, e, NULL, what);
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

sigeo_status_t sigeo__matmul(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__matmul_shape_t *sh,
                             const float *a, const float *b, const float *bias, float *c)
{
    const int64_t key[] = { sh->m, sh->n, sh->k, sh->a_stride[0], sh->a_stride[1], sh->b_stride[0],
                            sh->b_stride[1], sh->c_stride[0], sh->c_stride[1], sh->bias, sh->accumulate };
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_MATMUL, key, (int)(sizeof key / sizeof key[0]));
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t a_md, b_md, bias_md, c_md;
        dnnl_dims_t ad = { sh->m, sh->k }, as = { sh->a_stride[0], sh->a_stride[1] };
        dnnl_dims_t bd = { sh->k, sh->n }, bs = { sh->b_stride[0], sh->b_stride[1] };
        dnnl_dims_t cd = { sh->m, sh->n }, cs = { sh->c_stride[0], sh->c_stride[1] };
        dnnl_dims_t biasd = { 1, sh->n }, biass = { sh->n, 1 };
        st = check(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dnnl_f32, as), "describing matmul src");
        if (st == SIGEO_OK)
            st = check(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_f32, bs), "describing matmul weights");
        if (st == SIGEO_OK)
            st = check(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs), "describing matmul dst");
        if (st == SIGEO_OK && sh->bias)
            st = check(dnnl_memory_desc_init_by_strides(&bias_md, 2, biasd, dnnl_f32, biass), "describing matmul bias");
        dnnl_matmul_desc_t desc;
        if (st == SIGEO_OK)
            st = check(dnnl_matmul_desc_init(&desc, &a_md, &b_md, sh->bias ? &bias_md : NULL, &c_md),
                       "initialising a matmul descriptor");
        dnnl_primitive_desc_t pd = NULL;
        if (st == SIGEO_OK)
            st = matmul_pd(&pd, e, &desc, sh->accumulate, 1.0f, "creating a matmul");
        if (st != SIGEO_OK) {
            sigeo__prim_slot_free(*slot);
            *slot = NULL;
            return st;
        }
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
        const dnnl_memory_desc_t *mds[] = { &a_md, &b_md, &c_md, &bias_md };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->bias ? 4 : 3, "building a matmul")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)a, (void *)b, c, (void *)bias };
    return slot_run(*slot, e, ptrs, "running a matmul");
}

static dnnl_alg_kind_t eltwise_alg(sigeo__eltwise_alg_t alg)
{
    switch (alg) {
    case SIGEO__ELT_RELU: return dnnl_eltwise_relu;
    case SIGEO__ELT_SIGMOID: return dnnl_eltwise_logistic;
    case SIGEO__ELT_TANH: return dnnl_eltwise_tanh;
    case SIGEO__ELT_GELU_ERF: return dnnl_eltwise_gelu_erf;
    }
    return dnnl_eltwise_relu;
}

sigeo_status_t sigeo__eltwise_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, sigeo__eltwise_alg_t alg,
                                      int64_t n, const float *src, float *dst)
{
    const int64_t key[] = { alg, n };
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_ELTWISE_FWD, key, 2);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = { n }, s = { 1 };
        dnnl_eltwise_desc_t desc;
        dnnl_primitive_desc_t pd = NULL;
        st = check(dnnl_memory_desc_init_by_strides(&md, 1, d, dnnl_f32, s), "describing eltwise data");
        if (st == SIGEO_OK)
            st = check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training, eltwise_alg(alg), &md, 0.f, 0.f),
                       "initialising an eltwise forward");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &desc, NULL, e, NULL, "creating an eltwise forward");
        if (st != SIGEO_OK) {
            sigeo__prim_slot_free(*slot);
            *slot = NULL;
            return st;
        }
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_DST };
        const dnnl_memory_desc_t *mds[] = { &md, &md };
        if ((st = slot_build(slot, e, pd, ids, mds, 2, "building an eltwise forward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, dst };
    return slot_run(*slot, e, ptrs, "running an eltwise forward");
}

sigeo_status_t sigeo__eltwise_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, sigeo__eltwise_alg_t alg,
                                       int64_t n, const float *src, const float *diff_dst, float *diff_src)
{
    const int64_t key[] = { alg, n };
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_ELTWISE_BWD, key, 2);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = { n }, s = { 1 };
        dnnl_eltwise_desc_t fdesc, bdesc;
        dnnl_primitive_desc_t fpd = NULL, pd = NULL;
        st = check(dnnl_memory_desc_init_by_strides(&md, 1, d, dnnl_f32, s), "describing eltwise data");
        if (st == SIGEO_OK)
            st = check(dnnl_eltwise_forward_desc_init(&fdesc, dnnl_forward_training, eltwise_alg(alg), &md, 0.f, 0.f),
                       "initialising an eltwise forward hint");
        if (st == SIGEO_OK)
            st = pd_create(&fpd, &fdesc, NULL, e, NULL, "creating an eltwise hint");
        if (st == SIGEO_OK)
            st = check(dnnl_eltwise_backward_desc_init(&bdesc, eltwise_alg(alg), &md, &md, 0.f, 0.f),
                       "initialising an eltwise backward");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &bdesc, NULL, e, fpd, "creating an eltwise backward");
        if (fpd)
            dnnl_primitive_desc_destroy(fpd);
        if (st != SIGEO_OK) {
            sigeo__prim_slot_free(*slot);
            *slot = NULL;
            return st;
        }
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC };
        const dnnl_memory_desc_t *mds[] = { &md, &md, &md };
        if ((st = slot_build(slot, e, pd, ids, mds, 3, "building an eltwise backward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, (void *)diff_dst, diff_src };
    return slot_run(*slot, e, ptrs, "running an eltwise backward");
}

/* ------------------------------------------------- batched matmul, conv, pool */

static int64_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (int64_t)u;
}

/* A 4-D view (batch0, batch1, rows, cols); both batch strides 0 = broadcast. */
static sigeo_status_t bmm_md(dnnl_memory_desc_t *md, const int64_t *batch, int64_t rows, int64_t cols,
                             const int64_t *stride, const char *what)
{
    const bool shared = stride[0] == 0 && stride[1] == 0;
    const int64_t extent = (rows - 1) * stride[2] + (cols - 1) * stride[3] + 1;
    dnnl_dims_t d = { shared ? 1 : batch[0], shared ? 1 : batch[1], rows, cols };
    dnnl_dims_t s = { shared ? extent : stride[0], shared ? extent : stride[1], stride[2], stride[3] };
    return check(dnnl_memory_desc_init_by_strides(md, 4, d, dnnl_f32, s), what);
}

sigeo_status_t sigeo__matmul_batched(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__bmm_shape_t *sh,
                                     const float *a, const float *b, const float *bias, float *c)
{
    const int64_t key[] = { sh->batch[0], sh->batch[1], sh->m, sh->n, sh->k,
                            sh->a_stride[0], sh->a_stride[1], sh->a_stride[2], sh->a_stride[3],
                            sh->b_stride[0], sh->b_stride[1], sh->b_stride[2], sh->b_stride[3],
                            sh->c_stride[0], sh->c_stride[1], sh->c_stride[2], sh->c_stride[3],
                            sh->bias, sh->accumulate, float_bits(sh->scale) };
    const float scale = sh->scale != 0.0f ? sh->scale : 1.0f;
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_BMM, key, (int)(sizeof key / sizeof key[0]));
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t a_md, b_md, c_md, bias_md;
        if (sh->c_stride[0] == 0 && sh->c_stride[1] == 0 && sh->batch[0] * sh->batch[1] > 1)
            st = sigeo__fail(SIGEO_ERR_INTERNAL, "batched matmul: the destination cannot be broadcast");
        if (st == SIGEO_OK)
            st = bmm_md(&a_md, sh->batch, sh->m, sh->k, sh->a_stride, "describing batched matmul src");
        if (st == SIGEO_OK)
            st = bmm_md(&b_md, sh->batch, sh->k, sh->n, sh->b_stride, "describing batched matmul weights");
        if (st == SIGEO_OK)
            st = bmm_md(&c_md, sh->batch, sh->m, sh->n, sh->c_stride, "describing batched matmul dst");
        if (st == SIGEO_OK && sh->bias) {
            dnnl_dims_t bd = { 1, 1, 1, sh->n }, bs = { sh->n, sh->n, sh->n, 1 };
            st = check(dnnl_memory_desc_init_by_strides(&bias_md, 4, bd, dnnl_f32, bs), "describing matmul bias");
        }
        dnnl_matmul_desc_t desc;
        if (st == SIGEO_OK)
            st = check(dnnl_matmul_desc_init(&desc, &a_md, &b_md, sh->bias ? &bias_md : NULL, &c_md),
                       "initialising a batched matmul descriptor");
        dnnl_primitive_desc_t pd = NULL;
        if (st == SIGEO_OK)
            st = matmul_pd(&pd, e, &desc, sh->accumulate, scale, "creating a batched matmul");
        if (st != SIGEO_OK) {
            sigeo__prim_slot_free(*slot);
            *slot = NULL;
            return st;
        }
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
        const dnnl_memory_desc_t *mds[] = { &a_md, &b_md, &c_md, &bias_md };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->bias ? 4 : 3, "building a batched matmul")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)a, (void *)b, c, (void *)bias };
    return slot_run(*slot, e, ptrs, "running a batched matmul");
}

/* The layouts a convolution is built with, in order of preference. The
 * model's rows are plain NCHW, and on plain NCHW oneDNN 2.6 only has its
 * im2col + GEMM implementation ("gemm:jit"), 2-3x slower than its direct
 * JIT kernels for the small channel counts of the cell space (bench/README.md
 * "conv path"). Those kernels want channels-last (nhwc) or a blocked layout
 * (nChw16c / nChw8c, what dnnl_format_tag_any picks): the conv is built on
 * channels-last activations, else on the layouts oneDNN picks, and only
 * when both end up in the GEMM anyway on the plain ones (no reorders). The
 * arguments in other layouts are staged by slot_run (a cached reorder per
 * call each way, cheap next to the conv). */
enum conv_layout { CONV_CHANNELS_LAST, CONV_ANY, CONV_PLAIN };

/* Tests only (sigeo__conv_force_plain): every conv built afterwards is
 * plain, the pre-staging path, to compare the two. */
static bool conv_plain_only;

void sigeo__conv_force_plain(bool on)
{
    conv_plain_only = on;
}

typedef struct conv_mds {
    dnnl_memory_desc_t src, weights, bias, dst;     /* the primitive's, by the layout tried */
    dnnl_memory_desc_t usrc, uweights, udst;        /* the caller's: nchw, oihw, nchw */
    dnnl_dims_t strides, pad_l, pad_r;
} conv_mds_t;

static sigeo_status_t conv_describe(conv_mds_t *c, const sigeo__conv_shape_t *sh, enum conv_layout layout)
{
    dnnl_dims_t sd = { sh->batch, sh->in_c, sh->in_h, sh->in_w };
    dnnl_dims_t wd = { sh->out_c, sh->in_c, sh->kernel[0], sh->kernel[1] };
    dnnl_dims_t bd = { sh->out_c };
    dnnl_dims_t dd = { sh->batch, sh->out_c, sh->out_h, sh->out_w };
    const dnnl_format_tag_t act = layout == CONV_CHANNELS_LAST ? dnnl_nhwc
                                  : layout == CONV_ANY         ? dnnl_format_tag_any
                                                               : dnnl_nchw;
    const dnnl_format_tag_t wt = layout == CONV_PLAIN ? dnnl_oihw : dnnl_format_tag_any;
    sigeo_status_t st = check(dnnl_memory_desc_init_by_tag(&c->usrc, 4, sd, dnnl_f32, dnnl_nchw), "describing conv src");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->uweights, 4, wd, dnnl_f32, dnnl_oihw), "describing conv weights");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->udst, 4, dd, dnnl_f32, dnnl_nchw), "describing conv dst");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->src, 4, sd, dnnl_f32, act), "describing conv src");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->weights, 4, wd, dnnl_f32, wt), "describing conv weights");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->bias, 1, bd, dnnl_f32, dnnl_x), "describing conv bias");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&c->dst, 4, dd, dnnl_f32, act), "describing conv dst");
    /* Right padding as given: oneDNN rounds the output size down like
     * PyTorch, and padding that no window reaches is never read. */
    for (int i = 0; i < 2; i++) {
        c->strides[i] = sh->stride[i];
        c->pad_l[i] = sh->padding[i];
        c->pad_r[i] = sh->padding[i];
    }
    return st;
}

static bool pd_is_gemm(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
           strstr(impl, "gemm") != NULL;
}

/* The forward primitive descriptor (also the hint the backward ones need)
 * on the first layout of enum conv_layout that gets a direct kernel; *c
 * describes that layout. */
static sigeo_status_t conv_forward_pd(dnnl_primitive_desc_t *pd, sigeo__engine_t *e, conv_mds_t *c,
                                      const sigeo__conv_shape_t *sh)
{
    *pd = NULL;
    for (int layout = conv_plain_only ? CONV_PLAIN : CONV_CHANNELS_LAST; layout < CONV_PLAIN; layout++) {
        dnnl_convolution_desc_t desc;
        sigeo_status_t st = conv_describe(c, sh, (enum conv_layout)layout);
        if (st != SIGEO_OK)
            return st;
        /* An attempt without a direct kernel (or any kernel) is no error: the next layout is tried. */
        if (dnnl_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct, &c->src,
                                               &c->weights, sh->bias ? &c->bias : NULL, &c->dst, c->strides,
                                               c->pad_l, c->pad_r) == dnnl_success &&
            pd_create_raw(pd, &desc, NULL, e, NULL) == dnnl_success) {
            if (!pd_is_gemm(*pd))
                return SIGEO_OK;
            dnnl_primitive_desc_destroy(*pd);
            *pd = NULL;
        }
    }
    dnnl_convolution_desc_t desc;
    sigeo_status_t st = conv_describe(c, sh, CONV_PLAIN);
    if (st == SIGEO_OK)
        st = check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_convolution_direct, &c->src,
                                                      &c->weights, sh->bias ? &c->bias : NULL, &c->dst, c->strides,
                                                      c->pad_l, c->pad_r),
                   "initialising a conv forward");
    if (st == SIGEO_OK)
        st = pd_create(pd, &desc, NULL, e, NULL, "creating a conv forward");
    return st;
}

static void conv_key(int64_t *key, const sigeo__conv_shape_t *sh)
{
    const int64_t k[] = { sh->batch,     sh->in_c,      sh->in_h,      sh->in_w,       sh->out_c,
                          sh->out_h,     sh->out_w,     sh->kernel[0], sh->kernel[1],  sh->stride[0],
                          sh->stride[1], sh->padding[0], sh->padding[1], sh->bias };
    memcpy(key, k, sizeof k);
}
#define CONV_KEY_LEN 14

static sigeo_status_t slot_fail(sigeo__prim_slot_t **slot, sigeo_status_t st)
{
    sigeo__prim_slot_free(*slot);
    *slot = NULL;
    return st;
}

sigeo_status_t sigeo__conv_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__conv_shape_t *sh,
                                   const float *src, const float *weights, const float *bias, float *dst)
{
    int64_t key[CONV_KEY_LEN];
    conv_key(key, sh);
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_CONV_FWD, key, CONV_KEY_LEN);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        conv_mds_t c;
        dnnl_primitive_desc_t pd = NULL;
        st = conv_forward_pd(&pd, e, &c, sh);
        if (st != SIGEO_OK)
            return slot_fail(slot, st);
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
        const dnnl_memory_desc_t *mds[] = { &c.usrc, &c.uweights, &c.udst, &c.bias };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->bias ? 4 : 3, "building a conv forward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, (void *)weights, dst, (void *)bias };
    return slot_run(*slot, e, ptrs, "running a conv forward");
}

sigeo_status_t sigeo__conv_backward_data(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__conv_shape_t *sh,
                                         const float *diff_dst, const float *weights, float *diff_src, bool accumulate,
                                         const sigeo__prim_slot_t *share)
{
    int64_t key[CONV_KEY_LEN + 1];
    conv_key(key, sh);
    key[CONV_KEY_LEN] = accumulate;
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_CONV_BWD_DATA, key, CONV_KEY_LEN + 1);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        conv_mds_t c;
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        dnnl_convolution_desc_t desc;
        st = conv_forward_pd(&hint, e, &c, sh);
        if (st == SIGEO_OK)
            st = check(dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &c.src, &c.weights,
                                                                 &c.dst, c.strides, c.pad_l, c.pad_r),
                       "initialising a conv backward-data");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &desc, NULL, e, hint, "creating conv backward-data pd");
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        if (st != SIGEO_OK)
            return slot_fail(slot, st);
        const int ids[] = { DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC };
        const dnnl_memory_desc_t *mds[] = { &c.udst, &c.uweights, &c.usrc };
        (*slot)->accumulate = accumulate;
        if ((st = slot_build(slot, e, pd, ids, mds, 3, "building a conv backward-data")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)diff_dst, (void *)weights, diff_src };
    const dnnl_memory_t borrowed[] = { slot_borrow(*slot, 0, share, DNNL_ARG_DIFF_DST, diff_dst), NULL, NULL };
    return slot_run_with(*slot, e, ptrs, borrowed, "running a conv backward-data");
}

sigeo_status_t sigeo__conv_backward_weights(sigeo__prim_slot_t **slot, sigeo__engine_t *e,
                                            const sigeo__conv_shape_t *sh, const float *src, const float *diff_dst,
                                            float *diff_weights, float *diff_bias, const sigeo__prim_slot_t *share)
{
    int64_t key[CONV_KEY_LEN];
    conv_key(key, sh);
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_CONV_BWD_WEIGHTS, key, CONV_KEY_LEN);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        conv_mds_t c;
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        dnnl_convolution_desc_t desc;
        st = conv_forward_pd(&hint, e, &c, sh);
        if (st == SIGEO_OK)
            st = check(dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &c.src, &c.weights,
                                                                    sh->bias ? &c.bias : NULL, &c.dst, c.strides,
                                                                    c.pad_l, c.pad_r),
                       "initialising a conv backward-weights");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &desc, NULL, e, hint, "creating conv backward-weights pd");
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        if (st != SIGEO_OK)
            return slot_fail(slot, st);
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS };
        const dnnl_memory_desc_t *mds[] = { &c.usrc, &c.udst, &c.uweights, &c.bias };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->bias ? 4 : 3, "building a conv backward-weights")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, (void *)diff_dst, diff_weights, diff_bias };
    const dnnl_memory_t borrowed[] = { slot_borrow(*slot, 0, share, DNNL_ARG_SRC, src), NULL, NULL, NULL };
    return slot_run_with(*slot, e, ptrs, borrowed, "running a conv backward-weights");
}

typedef struct pool_mds {
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t strides, kernel, pad_l, pad_r;
    dnnl_alg_kind_t alg;
} pool_mds_t;

static sigeo_status_t pool_describe(pool_mds_t *p, const sigeo__pool_shape_t *sh)
{
    dnnl_dims_t sd = { sh->batch, sh->channels, sh->in_h, sh->in_w };
    dnnl_dims_t dd = { sh->batch, sh->channels, sh->out_h, sh->out_w };
    sigeo_status_t st = check(dnnl_memory_desc_init_by_tag(&p->src, 4, sd, dnnl_f32, dnnl_nchw), "describing pool src");
    if (st == SIGEO_OK)
        st = check(dnnl_memory_desc_init_by_tag(&p->dst, 4, dd, dnnl_f32, dnnl_nchw), "describing pool dst");
    for (int i = 0; i < 2; i++) {
        p->strides[i] = sh->stride[i];
        p->kernel[i] = sh->kernel[i];
        p->pad_l[i] = sh->padding[i];
        p->pad_r[i] = sh->padding[i];
    }
    /* Every window lies inside the padded input (floor rounding), so the
     * include-padding divisor is always kh*kw, as PyTorch's default; the
     * exclude-padding one counts the window's in-image pixels. */
    p->alg = sh->max ? dnnl_pooling_max
                     : sh->exclude_pad ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_avg_include_padding;
    return st;
}

static sigeo_status_t pool_forward_pd(dnnl_primitive_desc_t *pd, sigeo__engine_t *e, pool_mds_t *p)
{
    dnnl_pooling_desc_t desc;
    *pd = NULL;
    sigeo_status_t st = check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_training, p->alg, &p->src, &p->dst,
                                                             p->strides, p->kernel, p->pad_l, p->pad_r),
                              "initialising a pooling forward");
    if (st == SIGEO_OK)
        st = pd_create(pd, &desc, NULL, e, NULL, "creating a pooling forward");
    return st;
}

static void pool_key(int64_t *key, const sigeo__pool_shape_t *sh)
{
    const int64_t k[] = { sh->batch,     sh->channels,  sh->in_h,      sh->in_w,       sh->out_h,      sh->out_w,
                          sh->kernel[0], sh->kernel[1], sh->stride[0], sh->stride[1], sh->padding[0], sh->padding[1],
                          sh->max,       sh->exclude_pad };
    memcpy(key, k, sizeof k);
}
#define POOL_KEY_LEN 14

sigeo_status_t sigeo__pool_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__pool_shape_t *sh,
                                   const float *src, float *dst)
{
    int64_t key[POOL_KEY_LEN];
    pool_key(key, sh);
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_POOL_FWD, key, POOL_KEY_LEN);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        pool_mds_t p;
        dnnl_primitive_desc_t pd = NULL;
        dnnl_memory_desc_t ws;
        memset(&ws, 0, sizeof ws);
        st = pool_describe(&p, sh);
        if (st == SIGEO_OK)
            st = pool_forward_pd(&pd, e, &p);
        const dnnl_memory_desc_t *q = st == SIGEO_OK && sh->max ? dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0) : NULL;
        if (st == SIGEO_OK && sh->max && !q)
            st = sigeo__fail(SIGEO_ERR_INTERNAL, "max pooling forward has no workspace");
        if (st == SIGEO_OK && sh->max) {
            ws = *q;
            size_t bytes = dnnl_memory_desc_get_size(&ws);
            (*slot)->workspace = sigeo__alloc(bytes ? bytes : 1);
            if (!(*slot)->workspace)
                st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "out of memory for a %zu-byte pooling workspace", bytes);
        }
        if (st != SIGEO_OK) {
            if (pd)
                dnnl_primitive_desc_destroy(pd);
            return slot_fail(slot, st);
        }
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE };
        const dnnl_memory_desc_t *mds[] = { &p.src, &p.dst, &ws };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->max ? 3 : 2, "building a pooling forward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, dst, (*slot)->workspace };
    return slot_run(*slot, e, ptrs, "running a pooling forward");
}

sigeo_status_t sigeo__pool_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__pool_shape_t *sh,
                                    const sigeo__prim_slot_t *fwd, const float *diff_dst, float *diff_src)
{
    int64_t key[POOL_KEY_LEN];
    pool_key(key, sh);
    if (sh->max && (!fwd || fwd->kind != SLOT_POOL_FWD || memcmp(fwd->key, key, sizeof key) != 0 || !fwd->workspace))
        return sigeo__fail(SIGEO_ERR_INTERNAL, "max pooling backward without the matching forward");
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_POOL_BWD, key, POOL_KEY_LEN);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        pool_mds_t p;
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        dnnl_pooling_desc_t desc;
        dnnl_memory_desc_t ws;
        memset(&ws, 0, sizeof ws);
        st = pool_describe(&p, sh);
        if (st == SIGEO_OK)
            st = pool_forward_pd(&hint, e, &p);
        if (st == SIGEO_OK)
            st = check(dnnl_pooling_backward_desc_init(&desc, p.alg, &p.src, &p.dst, p.strides, p.kernel, p.pad_l,
                                                       p.pad_r),
                       "initialising a pooling backward");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &desc, NULL, e, hint, "creating a pooling backward");
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        const dnnl_memory_desc_t *q = st == SIGEO_OK && sh->max ? dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0) : NULL;
        if (st == SIGEO_OK && sh->max && !q)
            st = sigeo__fail(SIGEO_ERR_INTERNAL, "max pooling backward has no workspace");
        if (st == SIGEO_OK && sh->max)
            ws = *q;
        if (st != SIGEO_OK) {
            if (pd)
                dnnl_primitive_desc_destroy(pd);
            return slot_fail(slot, st);
        }
        const int ids[] = { DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE };
        const dnnl_memory_desc_t *mds[] = { &p.dst, &p.src, &ws };
        if ((st = slot_build(slot, e, pd, ids, mds, sh->max ? 3 : 2, "building a pooling backward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)diff_dst, diff_src, sh->max ? fwd->workspace : NULL };
    return slot_run(*slot, e, ptrs, "running a pooling backward");
}

/* ------------------------------------------------------------- softmax */

static sigeo_status_t softmax_forward_pd(dnnl_primitive_desc_t *pd, sigeo__engine_t *e, dnnl_memory_desc_t *md)
{
    dnnl_softmax_desc_t desc;
    *pd = NULL;
    sigeo_status_t st = check(dnnl_softmax_forward_desc_init(&desc, dnnl_forward_training, md, 1),
                              "initialising a softmax forward");
    if (st == SIGEO_OK)
        st = pd_create(pd, &desc, NULL, e, NULL, "creating a softmax forward");
    return st;
}

sigeo_status_t sigeo__softmax_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, int64_t rows, int64_t cols,
                                      const float *src, float *dst)
{
    const int64_t key[] = { rows, cols };
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_SOFTMAX_FWD, key, 2);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = { rows, cols };
        dnnl_primitive_desc_t pd = NULL;
        st = check(dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab), "describing softmax data");
        if (st == SIGEO_OK)
            st = softmax_forward_pd(&pd, e, &md);
        if (st != SIGEO_OK)
            return slot_fail(slot, st);
        const int ids[] = { DNNL_ARG_SRC, DNNL_ARG_DST };
        const dnnl_memory_desc_t *mds[] = { &md, &md };
        if ((st = slot_build(slot, e, pd, ids, mds, 2, "building a softmax forward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)src, dst };
    return slot_run(*slot, e, ptrs, "running a softmax forward");
}

sigeo_status_t sigeo__softmax_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, int64_t rows, int64_t cols,
                                       const float *dst, const float *diff_dst, float *diff_src)
{
    const int64_t key[] = { rows, cols };
    bool ready;
    sigeo_status_t st = slot_prepare(slot, e, &ready, SLOT_SOFTMAX_BWD, key, 2);
    if (st != SIGEO_OK)
        return st;
    if (!ready) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = { rows, cols };
        dnnl_primitive_desc_t hint = NULL, pd = NULL;
        dnnl_softmax_desc_t desc;
        st = check(dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab), "describing softmax data");
        if (st == SIGEO_OK)
            st = softmax_forward_pd(&hint, e, &md);
        if (st == SIGEO_OK)
            st = check(dnnl_softmax_backward_desc_init(&desc, &md, &md, 1), "initialising a softmax backward");
        if (st == SIGEO_OK)
            st = pd_create(&pd, &desc, NULL, e, hint, "creating a softmax backward");
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        if (st != SIGEO_OK)
            return slot_fail(slot, st);
        const int ids[] = { DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC };
        const dnnl_memory_desc_t *mds[] = { &md, &md, &md };
        if ((st = slot_build(slot, e, pd, ids, mds, 3, "building a softmax backward")) != SIGEO_OK)
            return st;
    }
    void *ptrs[] = { (void *)dst, (void *)diff_dst, diff_src };
    return slot_run(*slot, e, ptrs, "running a softmax backward");
}
