/* SWAP-score (Peng et al., ICLR'24, "SWAP-NAS"; docs/proxies-zoo.md). The
 * official code hooks every nn.ReLU, concatenates the outputs of a batch
 * per sample into [B, N], takes sign() (a ReLU output is >= 0: the pattern
 * 1[x > 0]), transposes to [N, B] and counts the distinct rows
 * (torch.unique(dim=0)): how many different on/off patterns over the batch
 * the network's neurons show. Here each neuron's pattern is packed into
 * ceil(B / 64) words, the N patterns sorted and the runs counted: exact,
 * O(N log N) words. The regularised form multiplies by exp(-(P - mu)^2 /
 * sigma), P = parameters in thousands. One forward, no labels. */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_swap(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    const double mu = c->o->swap_mu, sigma = c->o->swap_sigma;
    if (!isfinite(mu) || !(sigma >= 0.0) || !isfinite(sigma))
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "swap_mu %g / swap_sigma %g (need finite, sigma >= 0)", mu,
                                 sigma);
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size, words = (B + 63) / 64;
    const int32_t n_nodes = sigeo__probe_node_count(m);
    int64_t neurons = 0;
    uint32_t relus = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (nd.active && nd.kind == SIGEO_LAYER_ACTIVATION && nd.activation == SIGEO_ACT_RELU) {
            neurons += nd.width;
            relus++;
        }
    }
    uint64_t *pat;
    if ((st = sigeo__proxy_scratch((void **)&pat, c, SIGEO__SCRATCH_A,
                                   (size_t)(neurons > 0 ? neurons : 1) * (size_t)words * sizeof(uint64_t))) != SIGEO_OK)
        return st;
    memset(pat, 0, (size_t)neurons * (size_t)words * sizeof(uint64_t));
    int64_t at = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active || nd.kind != SIGEO_LAYER_ACTIVATION || nd.activation != SIGEO_ACT_RELU)
            continue;
        for (int64_t n = 0; n < B; n++)
            for (int64_t j = 0; j < nd.width; j++)
                if (nd.out[n * nd.width + j] > 0.0f)
                    pat[(at + j) * words + n / 64] |= (uint64_t)1 << (n % 64);
        at += nd.width;
    }
    const int64_t distinct = sigeo__proxy_distinct_patterns(pat, neurons, words);
    double factor = 1.0;
    if (sigma > 0.0) {
        int64_t params = 0;
        if ((st = sigeo__proxy_count(&params, NULL, c)) != SIGEO_OK)
            return st;
        const double p = (double)params / 1e3;
        factor = exp(-(p - mu) * (p - mu) / sigma);
    }
    sigeo__proxy_set_score(r, (double)distinct * factor, (double)distinct);
    r->n_samples = (uint64_t)B;
    r->n_modules = relus;
    return SIGEO_OK;
}
