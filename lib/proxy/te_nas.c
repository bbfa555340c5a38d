/* TE-NAS (Chen et al., ICLR'21; docs/proxies-zoo.md): its two training-free
 * indicators, each a kind.
 *
 * tenas_ntk: the condition number of the empirical NTK on the first batch.
 * As the official get_ntk_n: for each sample n, a backward of the sum of
 * its logits (row n of the loss node's output seeded with ones, the other
 * rows with zeros; train-mode batch norm couples the rows, as in PyTorch),
 * J_n = the gradients of every parameter PyTorch would name "*.weight"
 * (linear/conv/projection weights, norm scales, embedding tables), NTK =
 * J J^T (B x B, double), eigenvalues ascending, cond = lambda_max /
 * lambda_min (NaN -> 0); score = -cond (TE-NAS prefers well-conditioned
 * NTKs), raw_score = cond. Cost: 1 fwd + B bwd, B x (weights) floats.
 *
 * tenas_regions: the linear regions the batch's samples fall in: the number
 * of distinct per-sample on/off patterns of all ReLU neurons (1[x > 0]
 * over every active ReLU node, concatenated). TE-NAS counts them over 1000
 * samples of 3 x 3 crops on a narrowed copy of the network; here the batch
 * as given (so at most B). Higher better. 1 fwd, no labels. */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

static bool weight_named(int32_t kind)
{
    return kind == SIGEO_PARAM_WEIGHT || kind == SIGEO_PARAM_NORM_SCALE || kind == SIGEO_PARAM_EMBEDDING;
}

sigeo_status_t sigeo__proxy_tenas_ntk(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    const int64_t B = c->batch->batch_size;
    if (B < 2)
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "batch size %lld: the NTK needs at least 2 samples",
                                 (long long)B);
    const int32_t n_par = sigeo__probe_param_count(m);
    int64_t P = 0;
    for (int32_t p = 0; p < n_par; p++) {
        sigeo__probe_tensor_t t;
        sigeo__probe_param(&t, m, p);
        if (t.active && weight_named(t.kind))
            P += t.numel;
    }
    size_t jbytes;
    if (P == 0 || !sigeo__mul_size(&jbytes, (size_t)B, (size_t)P) || !sigeo__mul_size(&jbytes, jbytes, sizeof(float)))
        return sigeo__proxy_fail(c, P ? SIGEO_ERR_NO_MEMORY : SIGEO_ERR_UNSUPPORTED,
                                 P ? "a %lld x %lld Jacobian does not fit in memory" : "no weight parameters",
                                 (long long)B, (long long)P);
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    sigeo__probe_node_t out;
    sigeo__probe_node(&out, m, sigeo__probe_loss_node(m, NULL));
    float *J, *seed;
    double *K;
    int *iwork;
    const int64_t ew = sigeo__linalg_eig_work(B);
    if ((st = sigeo__proxy_scratch((void **)&J, c, SIGEO__SCRATCH_A, jbytes)) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&seed, c, SIGEO__SCRATCH_B, (size_t)(B * out.width) * sizeof(float))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&K, c, SIGEO__SCRATCH_C, (size_t)(B * B + B + ew) * sizeof(double))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_D, sizeof(int))) != SIGEO_OK)
        return st;
    for (int64_t n = 0; n < B; n++) {
        memset(seed, 0, (size_t)(B * out.width) * sizeof(float));
        for (int64_t k = 0; k < out.width; k++)
            seed[n * out.width + k] = 1.0f;
        if ((st = sigeo__tape_backward_from(m, seed, false)) != SIGEO_OK)
            return sigeo__proxy_failed(c, st, "backward of a sample's logits");
        int64_t at = 0;
        for (int32_t p = 0; p < n_par; p++) {
            sigeo__probe_tensor_t t;
            sigeo__probe_param(&t, m, p);
            if (!t.active || !weight_named(t.kind))
                continue;
            memcpy(J + n * P + at, t.grad, (size_t)t.numel * sizeof(float));
            at += t.numel;
        }
    }
    for (int64_t a = 0; a < B; a++)
        for (int64_t b = a; b < B; b++) {
            double s = 0.0;
            for (int64_t j = 0; j < P; j++)
                s += (double)J[a * P + j] * (double)J[b * P + j];
            K[a * B + b] = K[b * B + a] = s;
        }
    double *w = K + B * B, *ework = w + B;
    if ((st = sigeo__linalg_sym_eigvals(w, K, B, ework, iwork, c)) != SIGEO_OK)
        return st;
    double cond = w[B - 1] / w[0];
    if (isnan(cond))
        cond = 0.0;
    sigeo__proxy_set_score(r, -cond, cond);
    r->n_samples = (uint64_t)B;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_tenas_regions(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    uint64_t *pat;
    int64_t samples, words;
    uint32_t relus;
    sigeo_status_t st = sigeo__proxy_relu_patterns(&pat, &samples, &words, &relus, c, false);
    if (st != SIGEO_OK)
        return st;
    const int64_t regions = sigeo__proxy_distinct_patterns(pat, samples, words);
    sigeo__proxy_set_score(r, (double)regions, (double)regions);
    r->n_samples = (uint64_t)samples;
    r->n_modules = relus;
    return SIGEO_OK;
}
