/* NASWOT (Mellor et al. v2; docs/proxies.md §6). For every active ReLU
 * activation node (the reference hooks ReLU modules only), the binary codes
 * c_n = 1[x_n > 0] of its input, flattened per sample; K accumulates
 * c c^T + (1 - c)(1 - c)^T = D_r - Hamming(c_a, c_b) over all of them;
 * score = log|det K| (LU with partial pivoting, as numpy's slogdet).
 * The counts are exact (64-bit words, popcount, sums below 2^53 in double).
 * K is PSD but often singular (no ReLU, two samples with the same codes):
 * then the score is -inf with SIGEO_PROXY_SINGULAR | NONFINITE set, where
 * the harness would store -1e8. One forward, no labels. */
#include <string.h>

#include "proxy/proxy.h"

static int popcount64(uint64_t x)
{
#if defined(__GNUC__)
    return __builtin_popcountll(x);
#else
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
#endif
}

sigeo_status_t sigeo__proxy_nwot(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size;
    double *K;
    int *ipiv;
    if ((st = sigeo__proxy_scratch((void **)&K, c, SIGEO__SCRATCH_A, (size_t)(B * B) * sizeof(double))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&ipiv, c, SIGEO__SCRATCH_B, (size_t)B * sizeof(int))) != SIGEO_OK)
        return st;
    memset(K, 0, (size_t)(B * B) * sizeof(double));
    const int32_t n_nodes = sigeo__probe_node_count(m);
    uint32_t relus = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd, in;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active || nd.kind != SIGEO_LAYER_ACTIVATION || nd.activation != SIGEO_ACT_RELU)
            continue;
        sigeo__probe_node(&in, m, nd.inputs[0]);
        const int64_t Dr = in.width, words = (Dr + 63) / 64;
        uint64_t *bits;
        if ((st = sigeo__proxy_scratch((void **)&bits, c, SIGEO__SCRATCH_C,
                                       (size_t)(B * (words > 0 ? words : 1)) * sizeof(uint64_t))) != SIGEO_OK)
            return st;
        memset(bits, 0, (size_t)(B * words) * sizeof(uint64_t));
        for (int64_t n = 0; n < B; n++)
            for (int64_t j = 0; j < Dr; j++)
                if (in.out[n * Dr + j] > 0.0f)
                    bits[n * words + j / 64] |= (uint64_t)1 << (j % 64);
        for (int64_t a = 0; a < B; a++)
            for (int64_t b = a; b < B; b++) {
                int64_t ham = 0;
                for (int64_t w = 0; w < words; w++)
                    ham += popcount64(bits[a * words + w] ^ bits[b * words + w]);
                K[a * B + b] += (double)(Dr - ham);
                if (b != a)
                    K[b * B + a] += (double)(Dr - ham);
            }
        relus++;
    }
    double logdet;
    bool singular;
    if ((st = sigeo__linalg_logabsdet(&logdet, &singular, K, B, ipiv, c)) != SIGEO_OK)
        return st;
    if (singular)
        r->flags |= SIGEO_PROXY_SINGULAR;
    sigeo__proxy_set_score(r, logdet, logdet);
    r->n_samples = (uint64_t)B;
    r->n_modules = relus;
    return SIGEO_OK;
}
