/* What the baseline proxies share: workspace buffers, error messages that
 * name the kind, the CL-weight list, and the save/restore of the batch-norm
 * buffers a train-mode forward updates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

/* qsort has no context argument: the pattern width of the sort under way, per thread. */
static _Thread_local int64_t pattern_words;

static int compare_patterns(const void *a, const void *b)
{
    return memcmp(a, b, (size_t)pattern_words * sizeof(uint64_t));
}

sigeo_status_t sigeo__proxy_scratch(void **out, const sigeo__proxy_call_t *c, int slot, size_t bytes)
{
    sigeo__proxy_ws_t *ws = c->ws;
    if (bytes == 0)
        bytes = 1;
    if (ws->scratch_size[slot] < bytes) {
        void *p = sigeo__alloc(bytes);
        if (!p)
            return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "out of memory for %zu bytes of scratch", bytes);
        sigeo__free(ws->scratch[slot]);
        ws->scratch[slot] = p;
        ws->scratch_size[slot] = bytes;
    }
    *out = ws->scratch[slot];
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_fail(const sigeo__proxy_call_t *c, sigeo_status_t st, const char *fmt, ...)
{
    char msg[SIGEO__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sigeo__fail_on(sigeo__probe_errbuf(c->m), st, "sigeo_proxy_compute (%s): %s", c->name, msg);
}

sigeo_status_t sigeo__proxy_failed(const sigeo__proxy_call_t *c, sigeo_status_t st, const char *what)
{
    return sigeo__fail_wrap(sigeo__probe_errbuf(c->m), st, "sigeo_proxy_compute (%s): %s", c->name, what);
}

sigeo_status_t sigeo__proxy_need_batch(const sigeo__proxy_call_t *c)
{
    if (!c->batch)
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "needs a batch (batches NULL or n_batches 0)");
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_cl_weights(sigeo__proxy_weight_t **out, int32_t *count, const sigeo__proxy_call_t *c,
                                       int slot)
{
    const int32_t n_mod = sigeo__probe_module_count(c->m);
    sigeo__proxy_weight_t *w;
    sigeo_status_t st = sigeo__proxy_scratch((void **)&w, c, slot, (size_t)(4 * n_mod) * sizeof *w);
    if (st != SIGEO_OK)
        return st;
    int32_t n = 0;
    for (int32_t k = 0; k < n_mod; k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, c->m, k);
        if (!mod.active)
            continue;
        float *data = sigeo__probe_module_data(c->m, k);
        for (int32_t i = 0; i < mod.n_params; i++) {
            if (mod.params[i].kind != SIGEO_PARAM_WEIGHT)
                continue;
            w[n++] = (sigeo__proxy_weight_t){ k, i, mod.node, data + mod.params[i].offset,
                                              mod.grad + mod.params[i].offset, mod.params[i].numel };
        }
    }
    *out = w;
    *count = n;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_forward_backward(const sigeo__proxy_call_t *c)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    if ((st = sigeo_model_forward_backward(NULL, c->m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward+backward of batch 0");
    return SIGEO_OK;
}

void sigeo__proxy_set_score(sigeo_proxy_result_t *r, double score, double raw)
{
    r->score = score;
    r->raw_score = raw;
    if (!isfinite(score))
        r->flags |= SIGEO_PROXY_NONFINITE;
}

/* Bytes of one batch norm's saved state: the batch counter, then running
 * mean and var. */
static size_t bn_state_bytes(const sigeo__probe_bn_t *bn)
{
    return sizeof(int64_t) + 2 * (size_t)bn->channels * sizeof(float);
}

sigeo_status_t sigeo__proxy_save_state(const sigeo__proxy_call_t *c)
{
    const int32_t n_nodes = sigeo__probe_node_count(c->m);
    size_t bytes = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_bn_t bn;
        if (sigeo__probe_batch_norm(&bn, c->m, i))
            bytes += bn_state_bytes(&bn);
    }
    if (bytes == 0)
        return SIGEO_OK;
    char *p;
    sigeo_status_t st = sigeo__proxy_scratch((void **)&p, c, SIGEO__SCRATCH_STATE, bytes);
    if (st != SIGEO_OK)
        return st;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_bn_t bn;
        if (!sigeo__probe_batch_norm(&bn, c->m, i))
            continue;
        const size_t v = (size_t)bn.channels * sizeof(float);
        memcpy(p, bn.num_batches_tracked, sizeof(int64_t));
        memcpy(p + sizeof(int64_t), bn.running_mean, v);
        memcpy(p + sizeof(int64_t) + v, bn.running_var, v);
        p += bn_state_bytes(&bn);
    }
    return SIGEO_OK;
}

void sigeo__proxy_restore_state(const sigeo__proxy_call_t *c)
{
    const char *p = c->ws->scratch[SIGEO__SCRATCH_STATE];
    const int32_t n_nodes = sigeo__probe_node_count(c->m);
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_bn_t bn;
        if (!sigeo__probe_batch_norm(&bn, c->m, i))
            continue;
        const size_t v = (size_t)bn.channels * sizeof(float);
        memcpy(bn.num_batches_tracked, p, sizeof(int64_t));
        memcpy(bn.running_mean, p + sizeof(int64_t), v);
        memcpy(bn.running_var, p + sizeof(int64_t) + v, v);
        p += bn_state_bytes(&bn);
    }
}

sigeo_status_t sigeo__proxy_product_sum(double *out, const sigeo__proxy_call_t *c, const sigeo__proxy_weight_t *w,
                                        int32_t n, bool absolute)
{
    double score = 0.0;
    for (int32_t l = 0; l < n; l++) {
        float *sal;
        sigeo_status_t st = sigeo__proxy_saliency_of(&sal, c, &w[l]);
        if (st != SIGEO_OK)
            return st;
        double layer = 0.0;
        for (int64_t i = 0; i < w[l].numel; i++) {
            const double p = (double)w[l].data[i] * (double)w[l].grad[i], v = absolute ? fabs(p) : p;
            layer += v;
            if (sal)
                sal[i] = (float)v;
        }
        sigeo__proxy_layer_add(c->ws, w[l].module, layer, NAN, NAN);
        score += layer;
    }
    *out = score;
    return SIGEO_OK;
}

int64_t sigeo__proxy_distinct_patterns(uint64_t *patterns, int64_t n, int64_t words)
{
    if (n == 0)
        return 0;
    pattern_words = words;
    qsort(patterns, (size_t)n, (size_t)words * sizeof(uint64_t), compare_patterns);
    int64_t distinct = 1;
    for (int64_t k = 1; k < n; k++)
        distinct += memcmp(patterns + k * words, patterns + (k - 1) * words, (size_t)words * sizeof(uint64_t)) != 0;
    return distinct;
}

static bool is_relu(const sigeo__probe_node_t *nd)
{
    return nd->active && nd->kind == SIGEO_LAYER_ACTIVATION && nd->activation == SIGEO_ACT_RELU;
}

sigeo_status_t sigeo__proxy_relu_patterns(uint64_t **out, int64_t *n_patterns, int64_t *words, uint32_t *relus,
                                          const sigeo__proxy_call_t *c, bool by_neuron)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size;
    const int32_t n_nodes = sigeo__probe_node_count(m);
    int64_t N = 0;
    *relus = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (is_relu(&nd)) {
            N += nd.width;
            (*relus)++;
        }
    }
    const int64_t n = by_neuron ? N : B, bits = by_neuron ? B : N, w = bits > 0 ? (bits + 63) / 64 : 1;
    size_t bytes;
    if (!sigeo__mul_size(&bytes, (size_t)(n > 0 ? n : 1), (size_t)w * sizeof(uint64_t)))
        return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "%lld patterns of %lld bits do not fit in memory",
                                 (long long)n, (long long)bits);
    uint64_t *pat;
    if ((st = sigeo__proxy_scratch((void **)&pat, c, SIGEO__SCRATCH_A, bytes)) != SIGEO_OK)
        return st;
    memset(pat, 0, bytes);
    int64_t at = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!is_relu(&nd))
            continue;
        for (int64_t s = 0; s < B; s++)
            for (int64_t j = 0; j < nd.width; j++) {
                if (!(nd.out[s * nd.width + j] > 0.0f))
                    continue;
                const int64_t row = by_neuron ? at + j : s, bit = by_neuron ? s : at + j;
                pat[row * w + bit / 64] |= (uint64_t)1 << (bit % 64);
            }
        at += nd.width;
    }
    *out = pat;
    *n_patterns = n;
    *words = w;
    return SIGEO_OK;
}
