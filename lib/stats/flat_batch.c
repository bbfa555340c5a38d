/* sigeo_stats_add_flat_batch: the flat-buffer form of a batch for FFI
 * callers. It only turns offsets into the pointer arrays of
 * sigeo_stats_batch_t and hands the batch to sigeo_stats_add_batch, so both
 * paths share one validation and one accumulation (bit for bit the same).
 * Up to FLAT_STACK modules the arrays live on the stack: the common case
 * allocates nothing. */
#include <string.h>

#include "core/core.h"
#include "sigeo/stats.h"
#include "stats/stats_internal.h"

#define FLAT_STACK 64
#define FN "sigeo_stats_add_flat_batch"

SIGEO_API sigeo_status_t sigeo_stats_flat_batch_init(sigeo_stats_flat_batch_t *batch, uint32_t struct_size)
{
    static const sigeo_stats_flat_batch_t defaults = SIGEO_STATS_FLAT_BATCH_INIT;
    return sigeo__struct_init(batch, struct_size, &defaults, sizeof defaults, "sigeo_stats_flat_batch");
}

/* [off, off + count) inside [0, len)? Checked without overflow. */
static bool range_inside(int64_t off, int64_t count, int64_t len)
{
    return off >= 0 && count >= 0 && off <= len && count <= len - off;
}

/* Fills grads/rows/counts from the flat batch `f` (validated here: offsets
 * and counts; everything else is left to sigeo_stats_add_batch). */
static sigeo_status_t unflatten(sigeo__errbuf_t *err, const sigeo_stats_flat_batch_t *f, const float **grads,
                                const int64_t **rows, int64_t *row_counts)
{
    if (!f->module_counts)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": module_counts is NULL");
    if (!f->gradients)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": gradients is NULL");
    if (f->gradients_len < 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": gradients_len %lld is negative",
                              (long long)f->gradients_len);
    if (f->touched_rows && (!f->touched_offsets || !f->touched_counts))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": touched_rows is set but %s is NULL",
                              f->touched_offsets ? "touched_counts" : "touched_offsets");
    int64_t packed = 0; /* next offset when module_offsets is NULL */
    for (uint32_t m = 0; m < f->n_modules; m++) {
        const int64_t count = f->module_counts[m];
        const int64_t off = f->module_offsets ? f->module_offsets[m] : packed;
        if (count < 0 || off < 0)
            return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": module %u has %s %lld (negative)", (unsigned)m,
                                  count < 0 ? "count" : "offset", (long long)(count < 0 ? count : off));
        if (!range_inside(off, count, f->gradients_len))
            return sigeo__fail_on(err, SIGEO_ERR_SHAPE,
                                  FN ": module %u's %lld floats at offset %lld do not fit in gradients_len %lld",
                                  (unsigned)m, (long long)count, (long long)off, (long long)f->gradients_len);
        grads[m] = f->gradients + off;
        packed = off + count; /* no overflow: off + count <= gradients_len */
        rows[m] = NULL;
        row_counts[m] = 0;
        if (!f->touched_rows || f->touched_offsets[m] < 0)
            continue;
        const int64_t roff = f->touched_offsets[m], rn = f->touched_counts[m];
        if (!range_inside(roff, rn, f->touched_rows_len))
            return sigeo__fail_on(err, rn < 0 ? SIGEO_ERR_INVALID_ARG : SIGEO_ERR_SHAPE,
                                  FN ": module %u's %lld touched rows at offset %lld do not fit in "
                                  "touched_rows_len %lld",
                                  (unsigned)m, (long long)rn, (long long)roff, (long long)f->touched_rows_len);
        rows[m] = f->touched_rows + roff;
        row_counts[m] = rn;
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_add_flat_batch(sigeo_stats_t *stats, const sigeo_stats_flat_batch_t *batch)
{
    if (!stats)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, FN ": stats is NULL");
    sigeo__errbuf_t *err = sigeo__stats_errbuf(stats);
    if (!batch)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, FN ": batch is NULL");
    sigeo_stats_flat_batch_t f = SIGEO_STATS_FLAT_BATCH_INIT;
    sigeo_status_t st = sigeo__struct_in(&f, sizeof f, batch, "sigeo_stats_flat_batch", err);
    if (st != SIGEO_OK)
        return st;
    int32_t registered = 0;
    sigeo_stats_module_count(&registered, stats);
    if ((int64_t)f.n_modules != registered) /* before sizing the arrays by n_modules */
        return sigeo__fail_on(err, SIGEO_ERR_SHAPE, FN ": the batch has %u modules, %d are registered",
                              (unsigned)f.n_modules, (int)registered);

    const float *grads_stack[FLAT_STACK];
    const int64_t *rows_stack[FLAT_STACK];
    int64_t counts_stack[FLAT_STACK];
    const float **grads = grads_stack;
    const int64_t **rows = rows_stack;
    int64_t *row_counts = counts_stack;
    void *heap = NULL;
    const size_t n = f.n_modules;
    if (n > FLAT_STACK) {
        const size_t one = sizeof(void *) > sizeof(int64_t) ? sizeof(void *) : sizeof(int64_t);
        heap = sigeo__calloc(n * 3, one); /* n <= INT32_MAX: no overflow on 64-bit size_t; calloc checks anyway */
        if (!heap)
            return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, FN ": out of memory (%zu module pointers)", n * 3);
        grads = (const float **)heap;
        rows = (const int64_t **)((char *)heap + n * one);
        row_counts = (int64_t *)((char *)heap + 2 * n * one);
    }
    if ((st = unflatten(err, &f, grads, rows, row_counts)) == SIGEO_OK) {
        sigeo_stats_batch_t b = SIGEO_STATS_BATCH_INIT;
        b.n_modules = f.n_modules;
        b.gradients = grads;
        b.gradient_counts = f.module_counts;
        b.loss = f.loss;
        b.batch_size = f.batch_size;
        b.directional = f.directional;
        b.touched_rows = f.touched_rows ? rows : NULL;
        b.touched_counts = f.touched_rows ? row_counts : NULL;
        st = sigeo_stats_add_batch(stats, &b);
    }
    sigeo__free(heap);
    return st;
}
