/* Gradients written by the host (SIGEO_1.1): between a backward pass and
 * the optimiser step a data-parallel host replaces each gradient by the
 * average over its processes (libsigeo-mpi does). Embedding tables keep
 * their row-sparse form: the host reads which rows this process touched and
 * writes back the union of every process's rows, so the optimiser's
 * row-sparse update visits exactly the rows a single process would have
 * touched on the whole batch. */
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t check(const sigeo_model_t *m, int32_t param, const char *fn)
{
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!m->finalized)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: model '%s' is not finalised (sigeo_model_finalize)", fn, m->name);
    if (param < 0 || param >= m->n_params)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: parameter index %d out of range (%d parameters)", fn, (int)param, (int)m->n_params);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_set_grad(sigeo_model_t *m, int32_t param, const float *buf, int64_t count)
{
    static const char fn[] = "sigeo_model_set_grad";
    sigeo_status_t st = check(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo__param_t *p = &m->params[param];
    if (p->kind == SIGEO_PARAM_EMBEDDING)
        return sigeo__fail_on(&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: '%s' is an embedding table; its gradient is row-sparse (sigeo_model_set_grad_rows)",
                              fn, p->name);
    if (!buf || count != p->numel)
        return sigeo__fail_on(&m->err, buf ? SIGEO_ERR_SHAPE : SIGEO_ERR_INVALID_ARG,
                              "%s: parameter '%s' has %lld elements, buffer %s %lld", fn, p->name,
                              (long long)p->numel, buf ? "holds" : "is NULL, count", (long long)count);
    memcpy(p->grad, buf, (size_t)count * sizeof(float));
    p->grad_dirty = true; /* the next backward zeroes it first */
    return SIGEO_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

SIGEO_API sigeo_status_t sigeo_model_grad_rows(int64_t *rows, float *values, int64_t *count, const sigeo_model_t *m,
                                               int32_t param)
{
    static const char fn[] = "sigeo_model_grad_rows";
    sigeo_status_t st = check(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    if (!count)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG, "%s: count is NULL", fn);
    const sigeo__param_t *p = &m->params[param];
    if (p->kind != SIGEO_PARAM_EMBEDDING)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                              "%s: '%s' is not an embedding table", fn, p->name);
    /* The backward appends a row per lookup: sort a copy and keep each once. */
    int64_t n = 0;
    int64_t *tmp = NULL;
    if (p->n_dirty_rows > 0) {
        if (!(tmp = sigeo__calloc((size_t)p->n_dirty_rows, sizeof *tmp)))
            return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld rows",
                                  fn, (long long)p->n_dirty_rows);
        memcpy(tmp, p->dirty_rows, (size_t)p->n_dirty_rows * sizeof *tmp);
        qsort(tmp, (size_t)p->n_dirty_rows, sizeof *tmp, cmp_i64);
        for (int64_t i = 0; i < p->n_dirty_rows; i++)
            if (n == 0 || tmp[i] != tmp[n - 1])
                tmp[n++] = tmp[i];
    }
    if (rows) {
        if (*count < n) {
            sigeo__free(tmp);
            return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG,
                                  "%s: '%s' has %lld touched rows, the buffer holds %lld", fn, p->name, (long long)n,
                                  (long long)*count);
        }
        if (n > 0)
            memcpy(rows, tmp, (size_t)n * sizeof *rows);
        const int64_t dim = p->dims[1];
        for (int64_t i = 0; values && i < n; i++)
            memcpy(values + i * dim, p->grad + tmp[i] * dim, (size_t)dim * sizeof(float));
    }
    *count = n;
    sigeo__free(tmp);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_set_grad_rows(sigeo_model_t *m, int32_t param, const int64_t *rows,
                                                   int64_t n_rows, const float *values)
{
    static const char fn[] = "sigeo_model_set_grad_rows";
    sigeo_status_t st = check(m, param, fn);
    if (st != SIGEO_OK)
        return st;
    sigeo__param_t *p = &m->params[param];
    if (p->kind != SIGEO_PARAM_EMBEDDING)
        return sigeo__fail_on(&m->err, SIGEO_ERR_INVALID_ARG, "%s: '%s' is not an embedding table (sigeo_model_set_grad)",
                              fn, p->name);
    if (n_rows < 0 || (n_rows > 0 && (!rows || !values)))
        return sigeo__fail_on(&m->err, SIGEO_ERR_INVALID_ARG, "%s: %lld rows with rows %s and values %s", fn,
                              (long long)n_rows, rows ? "given" : "NULL", values ? "given" : "NULL");
    const int64_t table_rows = p->dims[0], dim = p->dims[1];
    for (int64_t i = 0; i < n_rows; i++)
        if (rows[i] < 0 || rows[i] >= table_rows || (i > 0 && rows[i] <= rows[i - 1]))
            return sigeo__fail_on(&m->err, SIGEO_ERR_INVALID_ARG,
                                  "%s: '%s': row %lld at position %lld is %s (rows must ascend strictly within [0, %lld))",
                                  fn, p->name, (long long)rows[i], (long long)i,
                                  rows[i] < 0 || rows[i] >= table_rows ? "out of range" : "not above the previous",
                                  (long long)table_rows);
    if (p->cap_dirty_rows < n_rows) {
        int64_t *grown = sigeo__realloc_array(p->dirty_rows, (size_t)p->n_dirty_rows, (size_t)n_rows, sizeof *grown);
        if (!grown)
            return sigeo__fail_on(&m->err, SIGEO_ERR_NO_MEMORY, "%s: '%s': out of memory for %lld rows", fn, p->name,
                                  (long long)n_rows);
        p->dirty_rows = grown;
        p->cap_dirty_rows = n_rows;
    }
    sigeo__param_clear_grad(p); /* zeroes the rows this process touched */
    for (int64_t i = 0; i < n_rows; i++) {
        memcpy(p->grad + rows[i] * dim, values + i * dim, (size_t)dim * sizeof(float));
        p->dirty_rows[i] = rows[i];
    }
    p->n_dirty_rows = n_rows;
    return SIGEO_OK;
}
