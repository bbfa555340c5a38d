/* AZ-NAS (Lee & Ham, CVPR'24; docs/proxies-zoo.md): its feature-based
 * measures, each a kind. The "blocks" whose features are read are the
 * active non-identity activation nodes in node order (AZ-NAS reads each
 * block's output; an activation closes every block this library builds).
 * A feature map of per-row shape (C, H, W) becomes B H W rows of C
 * channels, (T, E) B T rows of E, a flat [K] B rows of K -- as the
 * official code's permute(0, 2, 3, 1).view(b h w, c).
 *
 * Per block: Sigma = Xc^T Xc / N (Xc the rows minus their mean, N rows:
 * the biased covariance, in double), s = its eigenvalues, p = s / sum(s),
 * e = sum_i -p_i log(p_i + 1e-8): the entropy of the principal-component
 * spectrum, highest when the features are isotropic.
 *
 * az_expressivity = sum of e over the blocks; az_progressivity = min over
 * consecutive blocks of e_{l+1} - e_l (needs at least 2 blocks). A NaN
 * score becomes -inf, as the official code maps it. One forward, no labels. */
#include <math.h>
#include <stdint.h>

#include "proxy/proxy.h"

/* The entropy of block `nd`'s covariance spectrum into *e. */
static sigeo_status_t block_entropy(double *e, const sigeo__proxy_call_t *c, const sigeo__probe_node_t *nd,
                                    int64_t B)
{
    int64_t F = nd->width, per = 1; /* F features; per rows per sample */
    if (nd->shape_ndim == 3) {
        F = nd->channels;
        per = nd->positions;
    } else if (nd->shape_ndim == 2) {
        F = nd->positions;
        per = nd->channels;
    }
    const int64_t N = B * per;
    /* element (row n*per + q, feature f) of sample n */
    const bool channel_major = nd->shape_ndim == 3;
    size_t bytes;
    const int64_t ew = sigeo__linalg_eig_work(F);
    if (!sigeo__mul_size(&bytes, (size_t)F, (size_t)F) || bytes > SIZE_MAX / 2 - (size_t)(2 * F + ew) ||
        !sigeo__mul_size(&bytes, bytes + (size_t)(2 * F + ew), sizeof(double)))
        return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "a %lld-channel covariance does not fit in memory",
                                 (long long)F);
    double *S;
    int *iwork;
    sigeo_status_t st;
    if ((st = sigeo__proxy_scratch((void **)&S, c, SIGEO__SCRATCH_A, bytes)) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_B, sizeof(int))) != SIGEO_OK)
        return st;
    double *mean = S + F * F, *w = mean + F, *ework = w + F;
    for (int64_t f = 0; f < F; f++)
        mean[f] = 0.0;
#define AT(n, q, f) ((double)nd->out[(n) * nd->width + (channel_major ? (f) * per + (q) : (q) * F + (f))])
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++)
            for (int64_t f = 0; f < F; f++)
                mean[f] += AT(n, q, f);
    for (int64_t f = 0; f < F; f++)
        mean[f] /= (double)N;
    for (int64_t k = 0; k < F * F; k++)
        S[k] = 0.0;
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++)
            for (int64_t i = 0; i < F; i++) {
                const double xi = AT(n, q, i) - mean[i];
                for (int64_t j = i; j < F; j++)
                    S[i * F + j] += xi * (AT(n, q, j) - mean[j]);
            }
#undef AT
    for (int64_t i = 0; i < F; i++)
        for (int64_t j = i; j < F; j++)
            S[i * F + j] = S[j * F + i] = S[i * F + j] / (double)N;
    if ((st = sigeo__linalg_sym_eigvals(w, S, F, ework, iwork, c)) != SIGEO_OK)
        return st;
    double total = 0.0, h = 0.0;
    for (int64_t i = 0; i < F; i++)
        total += w[i];
    for (int64_t i = 0; i < F; i++) {
        const double p = w[i] / total;
        h += -p * log(p + 1e-8);
    }
    *e = h;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_az_nas(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size;
    const bool progressivity = c->o->kind == SIGEO_PROXY_AZ_PROGRESSIVITY;
    double sum = 0.0, min_step = INFINITY, prev = 0.0;
    bool nan_step = false; /* np.min keeps a NaN, a comparison would drop it */
    uint32_t blocks = 0;
    for (int32_t i = 0; i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active || nd.width == 0 || nd.kind != SIGEO_LAYER_ACTIVATION || nd.activation == SIGEO_ACT_IDENTITY)
            continue;
        double e = NAN;
        if ((st = block_entropy(&e, c, &nd, B)) != SIGEO_OK)
            return st;
        sum += e;
        if (blocks > 0) {
            const double d = e - prev;
            nan_step = nan_step || isnan(d);
            if (d < min_step)
                min_step = d;
        }
        prev = e;
        blocks++;
    }
    if (blocks < (progressivity ? 2u : 1u))
        return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED,
                                 "%u active activation node(s): %s needs at least %u blocks", (unsigned)blocks,
                                 c->name, progressivity ? 2u : 1u);
    double score = progressivity ? (nan_step ? NAN : min_step) : sum;
    if (isnan(score))
        score = -INFINITY;
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    r->n_modules = blocks;
    return SIGEO_OK;
}
