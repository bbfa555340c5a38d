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
    uint64_t *pat;
    int64_t neurons, words;
    uint32_t relus;
    if ((st = sigeo__proxy_relu_patterns(&pat, &neurons, &words, &relus, c, true)) != SIGEO_OK)
        return st;
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
    r->n_samples = (uint64_t)c->batch->batch_size;
    r->n_modules = relus;
    return SIGEO_OK;
}
