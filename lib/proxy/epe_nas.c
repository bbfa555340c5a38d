/* EPE-NAS (Lopes et al.; docs/proxies.md §6) on the input Jacobian J of
 * jacobian.c. Rows are grouped by class; per class c with n_c rows,
 * P_c = corrcoef(J_c) and s_c = sum_{a,b} log(|P_c[a,b]| + 1e-5) (a class
 * with one row has P = 1, as numpy's corrcoef of one row). With at most 100
 * outputs (C_out = width of the loss node) score = sum_c |s_c|; with more,
 * s_c /= n_c, one-row classes are dropped (the reference's len() of a
 * scalar raises and skips them) and score = sum_{c, c'} |s_c - s_c'| / the
 * number of classes kept. NaN (a constant row) is reported as is.
 *
 * Classes come from the batch: softmax CE labels; BCE with one target per
 * row: target >= 0.5; several targets per row: the argmax (one-hot targets,
 * as the reference takes argmax first). MSE with one target has none. */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

/* The class of each row into cls[0..B); *n_ids = the largest class + 1. */
static sigeo_status_t classes(int32_t *cls, int32_t *n_ids, const sigeo__proxy_call_t *c)
{
    const sigeo_batch_t *b = c->batch;
    int32_t loss_kind;
    sigeo__probe_loss_node(c->m, &loss_kind);
    int32_t top = 0;
    if (loss_kind == SIGEO_LOSS_SOFTMAX_CE) {
        if (!b->labels)
            return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "needs batch->labels (the classes of the samples)");
        sigeo__probe_node_t out;
        sigeo__probe_node(&out, c->m, sigeo__probe_loss_node(c->m, NULL));
        for (int64_t n = 0; n < b->batch_size; n++) {
            if (b->labels[n] < 0 || b->labels[n] >= out.width)
                return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "label %d in batch row %lld is outside 0..%lld",
                                         (int)b->labels[n], (long long)n, (long long)out.width - 1);
            cls[n] = b->labels[n];
        }
    } else {
        if (!b->targets || b->n_targets < 1)
            return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "needs batch->targets (the classes of the samples)");
        const int64_t T = b->n_targets;
        if (T == 1 && loss_kind != SIGEO_LOSS_BCE_WITH_LOGITS)
            return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED,
                                     "an MSE model with one target per row has no classes to group by");
        for (int64_t n = 0; n < b->batch_size; n++) {
            const float *t = b->targets + n * T;
            if (T == 1) {
                cls[n] = t[0] >= 0.5f ? 1 : 0;
                continue;
            }
            int32_t best = 0;
            for (int64_t j = 1; j < T; j++)
                if (t[j] > t[best])
                    best = (int32_t)j;
            cls[n] = best;
        }
    }
    for (int64_t n = 0; n < b->batch_size; n++)
        top = cls[n] + 1 > top ? cls[n] + 1 : top;
    *n_ids = top;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_epe_nas(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    const int64_t B = c->batch->batch_size;
    int32_t *cls, n_ids;
    if ((st = sigeo__proxy_scratch((void **)&cls, c, SIGEO__SCRATCH_E, (size_t)B * sizeof *cls)) != SIGEO_OK ||
        (st = classes(cls, &n_ids, c)) != SIGEO_OK)
        return st;
    float *J;
    int64_t D;
    if ((st = sigeo__proxy_input_jacobian(&J, &D, c, SIGEO__SCRATCH_A, SIGEO__SCRATCH_B)) != SIGEO_OK)
        return st;
    sigeo__probe_node_t out;
    sigeo__probe_node(&out, c->m, sigeo__probe_loss_node(c->m, NULL));
    const bool many = out.width > 100;
    /* rows: J_c gathered; corr: its correlation; s[id]: the class score,
     * has[id]: whether the class entered the score. */
    float *rows;
    double *corr, *s;
    uint8_t *has;
    if ((st = sigeo__proxy_scratch((void **)&rows, c, SIGEO__SCRATCH_C, (size_t)(B * D) * sizeof(float))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&corr, c, SIGEO__SCRATCH_D,
                                   (size_t)(B * B + 2 * B + n_ids) * sizeof(double))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&has, c, SIGEO__SCRATCH_F, (size_t)n_ids)) != SIGEO_OK)
        return st;
    double *work = corr + B * B;
    s = work + 2 * B;
    int32_t kept = 0;
    for (int32_t id = 0; id < n_ids; id++) {
        int64_t nc = 0;
        for (int64_t n = 0; n < B; n++)
            if (cls[n] == id)
                memcpy(rows + (nc++) * D, J + n * D, (size_t)D * sizeof(float));
        has[id] = nc > 1 || (nc == 1 && !many);
        if (!has[id])
            continue;
        double sc = 0.0;
        if (nc == 1) {
            sc = log(1.0 + 1e-5);
        } else {
            sigeo__linalg_corrcoef(corr, work, rows, nc, D, D);
            for (int64_t i = 0; i < nc * nc; i++)
                sc += log(fabs(corr[i]) + 1e-5);
            if (many)
                sc /= (double)nc;
        }
        s[id] = sc;
        kept++;
    }
    double score = 0.0;
    for (int32_t a = 0; a < n_ids; a++) {
        if (!has[a])
            continue;
        if (!many) {
            score += fabs(s[a]);
            continue;
        }
        for (int32_t b = 0; b < n_ids; b++)
            if (has[b])
                score += fabs(s[a] - s[b]);
    }
    if (many && kept > 0)
        score /= (double)kept;
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    r->n_modules = (uint32_t)kept;
    return SIGEO_OK;
}
