/* The data-parallel warm-up's gradient exchange (sigeo_mpi_grad_hook).
 *
 * Every batch is cut into P parts; rank r computes a contiguous block of
 * them. Each part's gradient g_j (the mean over its n_j rows) is weighted
 * by n_j / N, so that the batch's gradient is the plain sum over the parts.
 * The sum is one fixed balanced binary tree over the P leaves: a rank folds
 * its own leaves with a binary counter (two partial sums of the same number
 * of leaves merge, left + right), the ranks' partial sums are gathered, and
 * every rank folds them the same way in rank order. The same inputs in the
 * same order give the same bits on every rank; and when np and P/np are
 * powers of two the tree, hence the bits, are those of any other such np.
 *
 * Embedding tables are sparse vectors: the rows a part touched
 * (sigeo_model_grad_rows) with their gradient rows; a sum merges the row
 * lists (a row absent from one side adds nothing: x + 0 = x exactly, so
 * the sparse sum equals the dense one), and the union is written back with
 * sigeo_model_set_grad_rows, so every rank's optimiser updates the rows a
 * single process would have touched on the whole batch.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_internal.h"

#define OOM(m) sigeo__mpi_fail(m, SIGEO_ERR_NO_MEMORY, "libsigeo-mpi: out of memory in the gradient exchange")

static bool grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    int64_t c = *cap > 0 ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static bool gvec_reserve(sigeo__mpi_gvec_t *v, int64_t n_dense, int32_t n_tables, int64_t n_rows, int64_t n_vals)
{
    int64_t cap_t = v->table_rows ? n_tables : 0;
    if (!v->table_rows && n_tables > 0) {
        if (!(v->table_rows = calloc((size_t)n_tables, sizeof *v->table_rows)))
            return false;
        cap_t = n_tables;
    }
    (void)cap_t;
    int64_t cap_v = v->cap_vals;
    bool ok = grow((void **)&v->dense, &v->cap_dense, n_dense, sizeof(float)) &&
              grow((void **)&v->rows, &v->cap_rows, n_rows, sizeof(int64_t)) &&
              grow((void **)&v->vals, &cap_v, n_vals, sizeof(float));
    v->cap_vals = cap_v;
    return ok;
}

/* The active parameters of this step's architecture (the same on every rank). */
static sigeo_status_t collect_params(sigeo_mpi_t *m, sigeo_model_t *model)
{
    int32_t n = 0;
    sigeo_status_t st = sigeo_model_param_count(&n, model);
    if (st != SIGEO_OK)
        return st;
    if (n > m->n_params) {
        free(m->dense_params);
        free(m->tables);
        free(m->table_dim);
        m->dense_params = calloc((size_t)n, sizeof *m->dense_params);
        m->tables = calloc((size_t)n, sizeof *m->tables);
        m->table_dim = calloc((size_t)n, sizeof *m->table_dim);
        m->n_params = n;
        if (!m->dense_params || !m->tables || !m->table_dim) {
            m->n_params = 0;
            return OOM(m);
        }
        for (size_t i = 0; i < sizeof m->stack / sizeof m->stack[0]; i++) {
            free(m->stack[i].table_rows);
            m->stack[i].table_rows = NULL;
        }
        free(m->tmp.table_rows);
        free(m->other.table_rows);
        m->tmp.table_rows = m->other.table_rows = NULL;
    }
    m->n_dense_params = m->n_tables = 0;
    for (int32_t i = 0; i < n; i++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        if ((st = sigeo_model_param_info(&info, model, i)) != SIGEO_OK)
            return st;
        if (info.active_numel == 0)
            continue;
        if (info.kind == SIGEO_PARAM_EMBEDDING) {
            m->table_dim[m->n_tables] = info.dims[1];
            m->tables[m->n_tables++] = i;
        } else {
            m->dense_params[m->n_dense_params++] = i;
        }
    }
    return SIGEO_OK;
}

static int64_t dense_numel(sigeo_mpi_t *m, sigeo_model_t *model)
{
    int64_t total = 0;
    for (int32_t k = 0; k < m->n_dense_params; k++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        sigeo_model_param_info(&info, model, m->dense_params[k]);
        total += info.numel;
    }
    return total;
}

/* The leaf of one part: the model's gradients weighted by w. */
static sigeo_status_t make_leaf(sigeo_mpi_t *m, sigeo__mpi_gvec_t *v, sigeo_model_t *model, double w, double loss)
{
    const int64_t nd = dense_numel(m, model);
    if (!gvec_reserve(v, nd, m->n_tables, 0, 0))
        return OOM(m);
    v->n_dense = nd;
    int64_t off = 0;
    sigeo_status_t st;
    const float wf = (float)w;
    for (int32_t k = 0; k < m->n_dense_params; k++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        sigeo_model_param_info(&info, model, m->dense_params[k]);
        if ((st = sigeo_model_get_grad(model, m->dense_params[k], v->dense + off, info.numel)) != SIGEO_OK)
            return st;
        off += info.numel;
    }
    for (int64_t i = 0; i < nd; i++)
        v->dense[i] *= wf;
    v->n_rows = v->n_vals = 0;
    for (int32_t t = 0; t < m->n_tables; t++) {
        int64_t cnt = 0;
        if ((st = sigeo_model_grad_rows(NULL, NULL, &cnt, model, m->tables[t])) != SIGEO_OK)
            return st;
        const int64_t dim = m->table_dim[t];
        if (!gvec_reserve(v, nd, m->n_tables, v->n_rows + cnt, v->n_vals + cnt * dim))
            return OOM(m);
        if ((st = sigeo_model_grad_rows(v->rows + v->n_rows, v->vals + v->n_vals, &cnt, model, m->tables[t])) != SIGEO_OK)
            return st;
        for (int64_t i = 0; i < cnt * dim; i++)
            v->vals[v->n_vals + i] *= wf;
        v->table_rows[t] = cnt;
        v->n_rows += cnt;
        v->n_vals += cnt * dim;
    }
    v->parts = 1;
    v->loss = w * loss;
    return SIGEO_OK;
}

/* out = a + b (a is the left subtree). */
static sigeo_status_t add(sigeo_mpi_t *m, sigeo__mpi_gvec_t *out, const sigeo__mpi_gvec_t *a,
                          const sigeo__mpi_gvec_t *b)
{
    if (!gvec_reserve(out, a->n_dense, m->n_tables, a->n_rows + b->n_rows, a->n_vals + b->n_vals))
        return OOM(m);
    out->n_dense = a->n_dense;
    for (int64_t i = 0; i < a->n_dense; i++)
        out->dense[i] = a->dense[i] + b->dense[i];
    int64_t ra = 0, rb = 0, va = 0, vb = 0;
    out->n_rows = out->n_vals = 0;
    for (int32_t t = 0; t < m->n_tables; t++) {
        const int64_t dim = m->table_dim[t];
        const int64_t ea = ra + a->table_rows[t], eb = rb + b->table_rows[t];
        int64_t n = 0;
        while (ra < ea || rb < eb) {
            float *dst = out->vals + out->n_vals;
            if (rb >= eb || (ra < ea && a->rows[ra] < b->rows[rb])) {
                out->rows[out->n_rows] = a->rows[ra++];
                memcpy(dst, a->vals + va, (size_t)dim * sizeof(float));
                va += dim;
            } else if (ra >= ea || b->rows[rb] < a->rows[ra]) {
                out->rows[out->n_rows] = b->rows[rb++];
                memcpy(dst, b->vals + vb, (size_t)dim * sizeof(float));
                vb += dim;
            } else {
                out->rows[out->n_rows] = a->rows[ra];
                for (int64_t j = 0; j < dim; j++)
                    dst[j] = a->vals[va + j] + b->vals[vb + j];
                ra++;
                rb++;
                va += dim;
                vb += dim;
            }
            out->n_rows++;
            out->n_vals += dim;
            n++;
        }
        out->table_rows[t] = n;
    }
    out->parts = a->parts + b->parts;
    out->loss = a->loss + b->loss;
    return SIGEO_OK;
}

static void swap_gvec(sigeo__mpi_gvec_t *a, sigeo__mpi_gvec_t *b)
{
    sigeo__mpi_gvec_t t = *a;
    *a = *b;
    *b = t;
}

/* Binary counter: merge while the two top sums cover as many leaves. With
 * `all`, fold everything left (for counts that are not powers of two). */
static sigeo_status_t fold(sigeo_mpi_t *m, bool all)
{
    while (m->depth >= 2 && (all || m->stack[m->depth - 1].parts == m->stack[m->depth - 2].parts)) {
        sigeo_status_t st = add(m, &m->tmp, &m->stack[m->depth - 2], &m->stack[m->depth - 1]);
        if (st != SIGEO_OK)
            return st;
        swap_gvec(&m->stack[m->depth - 2], &m->tmp);
        m->depth--;
    }
    return SIGEO_OK;
}

static sigeo_status_t push_copy(sigeo_mpi_t *m, const sigeo__mpi_gvec_t *v)
{
    if (m->depth >= (int32_t)(sizeof m->stack / sizeof m->stack[0]))
        return sigeo__mpi_fail(m, SIGEO_ERR_INTERNAL, "libsigeo-mpi: partial-sum stack overflow");
    sigeo__mpi_gvec_t *d = &m->stack[m->depth];
    if (!gvec_reserve(d, v->n_dense, m->n_tables, v->n_rows, v->n_vals))
        return OOM(m);
    d->n_dense = v->n_dense;
    d->n_rows = v->n_rows;
    d->n_vals = v->n_vals;
    memcpy(d->dense, v->dense, (size_t)v->n_dense * sizeof(float));
    memcpy(d->rows, v->rows, (size_t)v->n_rows * sizeof(int64_t));
    memcpy(d->vals, v->vals, (size_t)v->n_vals * sizeof(float));
    if (m->n_tables > 0)
        memcpy(d->table_rows, v->table_rows, (size_t)m->n_tables * sizeof(int64_t));
    d->parts = v->parts;
    d->loss = v->loss;
    m->depth++;
    return fold(m, false);
}

/* Wire format of a partial sum: loss, parts, dense, rows per table, rows, values. */
static size_t wire_size(const sigeo_mpi_t *m, const sigeo__mpi_gvec_t *v)
{
    return 16 + (size_t)v->n_dense * 4 + (size_t)m->n_tables * 8 + (size_t)v->n_rows * 8 + (size_t)v->n_vals * 4;
}

static void pack(unsigned char *p, const sigeo_mpi_t *m, const sigeo__mpi_gvec_t *v)
{
    int64_t parts = v->parts;
    memcpy(p, &v->loss, 8);
    memcpy(p + 8, &parts, 8);
    p += 16;
    memcpy(p, v->dense, (size_t)v->n_dense * 4);
    p += (size_t)v->n_dense * 4;
    if (m->n_tables > 0)
        memcpy(p, v->table_rows, (size_t)m->n_tables * 8);
    p += (size_t)m->n_tables * 8;
    memcpy(p, v->rows, (size_t)v->n_rows * 8);
    p += (size_t)v->n_rows * 8;
    memcpy(p, v->vals, (size_t)v->n_vals * 4);
}

static sigeo_status_t unpack(sigeo_mpi_t *m, sigeo__mpi_gvec_t *v, const unsigned char *p, size_t size, int64_t n_dense)
{
    int64_t parts, n_rows = 0, n_vals = 0;
    const size_t fixed = 16 + (size_t)n_dense * 4 + (size_t)m->n_tables * 8;
    if (size < fixed)
        return sigeo__mpi_fail(m, SIGEO_ERR_INTERNAL, "libsigeo-mpi: a partial sum of %zu bytes is too short", size);
    if (!gvec_reserve(v, n_dense, m->n_tables, 0, 0))
        return OOM(m);
    memcpy(&v->loss, p, 8);
    memcpy(&parts, p + 8, 8);
    v->parts = (int32_t)parts;
    memcpy(v->dense, p + 16, (size_t)n_dense * 4);
    v->n_dense = n_dense;
    if (m->n_tables > 0)
        memcpy(v->table_rows, p + 16 + (size_t)n_dense * 4, (size_t)m->n_tables * 8);
    for (int32_t t = 0; t < m->n_tables; t++) {
        n_rows += v->table_rows[t];
        n_vals += v->table_rows[t] * m->table_dim[t];
    }
    if (size != fixed + (size_t)n_rows * 8 + (size_t)n_vals * 4)
        return sigeo__mpi_fail(m, SIGEO_ERR_INTERNAL, "libsigeo-mpi: a partial sum of %zu bytes does not match its rows",
                               size);
    if (!gvec_reserve(v, n_dense, m->n_tables, n_rows, n_vals))
        return OOM(m);
    memcpy(v->rows, p + fixed, (size_t)n_rows * 8);
    memcpy(v->vals, p + fixed + (size_t)n_rows * 8, (size_t)n_vals * 4);
    v->n_rows = n_rows;
    v->n_vals = n_vals;
    return SIGEO_OK;
}

/* Gathers every rank's partial sum and folds them in rank order. */
static sigeo_status_t exchange(sigeo_mpi_t *m, sigeo_model_t *model)
{
    sigeo_status_t st = fold(m, true);
    if (st != SIGEO_OK)
        return st;
    const int64_t nd = dense_numel(m, model);
    const sigeo__mpi_gvec_t *mine = &m->stack[0];
    const size_t bytes = wire_size(m, mine);
    if (bytes > (size_t)INT32_MAX)
        return sigeo__mpi_fail(m, SIGEO_ERR_UNSUPPORTED, "libsigeo-mpi: a gradient of %zu bytes exceeds MPI's int counts",
                               bytes);
    int *counts = malloc((size_t)m->size * 2 * sizeof *counts);
    if (!counts)
        return OOM(m);
    int *displs = counts + m->size;
    int n = (int)bytes;
    const double t0 = sigeo__mpi_now();
    st = sigeo__mpi_check(m, MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, m->comm), "MPI_Allgather");
    size_t total = 0;
    for (int r = 0; st == SIGEO_OK && r < m->size; r++) {
        displs[r] = (int)total;
        total += (size_t)counts[r];
        if (total > (size_t)INT32_MAX)
            st = sigeo__mpi_fail(m, SIGEO_ERR_UNSUPPORTED, "libsigeo-mpi: the gathered gradients exceed MPI's int counts");
    }
    if (st == SIGEO_OK) {
        int64_t cs = (int64_t)m->cap_send, cr = (int64_t)m->cap_recv;
        if (!grow((void **)&m->send, &cs, (int64_t)bytes, 1) || !grow((void **)&m->recv, &cr, (int64_t)total, 1))
            st = OOM(m);
        m->cap_send = (size_t)cs;
        m->cap_recv = (size_t)cr;
    }
    if (st == SIGEO_OK) {
        pack(m->send, m, mine);
        st = sigeo__mpi_check(m, MPI_Allgatherv(m->send, n, MPI_BYTE, m->recv, counts, displs, MPI_BYTE, m->comm),
                              "MPI_Allgatherv");
    }
    m->stats.collectives += 2;
    m->stats.bytes_sent += sizeof n + bytes;
    m->stats.seconds_comm += sigeo__mpi_now() - t0;
    /* the ranks' subtrees, folded in rank order */
    m->depth = 0;
    for (int r = 0; st == SIGEO_OK && r < m->size; r++)
        if ((st = unpack(m, &m->other, m->recv + displs[r], (size_t)counts[r], nd)) == SIGEO_OK)
            st = push_copy(m, &m->other);
    free(counts);
    if (st == SIGEO_OK)
        st = fold(m, true);
    return st;
}

/* Writes the folded sum back into the model. */
static sigeo_status_t write_back(sigeo_mpi_t *m, sigeo_model_t *model, const sigeo__mpi_gvec_t *v)
{
    int64_t off = 0, roff = 0, voff = 0;
    sigeo_status_t st;
    for (int32_t k = 0; k < m->n_dense_params; k++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        sigeo_model_param_info(&info, model, m->dense_params[k]);
        if ((st = sigeo_model_set_grad(model, m->dense_params[k], v->dense + off, info.numel)) != SIGEO_OK)
            return st;
        off += info.numel;
    }
    for (int32_t t = 0; t < m->n_tables; t++) {
        const int64_t cnt = v->table_rows[t];
        if ((st = sigeo_model_set_grad_rows(model, m->tables[t], v->rows + roff, cnt, v->vals + voff)) != SIGEO_OK)
            return st;
        roff += cnt;
        voff += cnt * m->table_dim[t];
    }
    return SIGEO_OK;
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_grad_hook(sigeo_grad_step_t *step, sigeo_model_t *model, void *user)
{
    sigeo_mpi_t *m = user;
    if (!m || !step || !model)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_grad_hook: %s is NULL",
                               !m ? "mpi" : !step ? "step" : "model");
    const int32_t first = m->parts * m->rank / m->size;
    sigeo_status_t st = step->status;
    if (st == SIGEO_OK && step->part == first) {
        m->depth = 0;
        st = collect_params(m, model);
    }
    if (st == SIGEO_OK && step->status == SIGEO_OK) {
        const double w = step->batch_rows > 0 ? (double)step->rows / (double)step->batch_rows : 0.0;
        if ((st = make_leaf(m, &m->other, model, w, step->loss)) == SIGEO_OK)
            st = push_copy(m, &m->other);
    }
    if (st == SIGEO_OK && !step->last)
        return SIGEO_OK;
    /* This rank's last part (or its failure): agree, then exchange. A
     * failing rank's message (thread-local, set by sigeo_train) travels. */
    if ((st = sigeo_mpi_agree(m, st, NULL, 0)) != SIGEO_OK)
        return st;
    if ((st = exchange(m, model)) != SIGEO_OK)
        return st;
    m->stats.grad_steps++;
    step->loss = m->stack[0].loss;
    return write_back(m, model, &m->stack[0]);
}

SIGEO_MPI_API sigeo_status_t sigeo_mpi_train_options(sigeo_train_options_t *o, sigeo_mpi_t *m)
{
    if (!o || !m)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_train_options: %s is NULL", !o ? "options" : "mpi");
    if (o->struct_size < sizeof *o)
        return sigeo__mpi_fail(m, SIGEO_ERR_INVALID_ARG, "sigeo_mpi_train_options: struct_size %u (need %zu)",
                               (unsigned)o->struct_size, sizeof *o);
    o->shard_count = m->parts;
    o->shard_first = m->parts * m->rank / m->size;
    o->shard_n = m->parts / m->size;
    o->grad_hook = sigeo_mpi_grad_hook;
    o->grad_user = m;
    return SIGEO_OK;
}
