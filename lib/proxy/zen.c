/* Zen-NAS (Lin et al.; docs/proxies.md §6), on the model itself and restored bit
 * for bit afterwards:
 * 1. re-initialisation from options->seed: the active elements of every
 *    CL-weight of an active layer ~ N(0, 1), drawn in parameter order,
 *    row-major (so a subnet draws what its standalone extract would);
 *    biases 0; batch norms gamma 1, beta 0, running mean 0, var 1 (a fresh
 *    network's). Embedding tables and layer norms keep their values, as in
 *    Zen-NAS (it re-initialises conv, linear, BatchNorm2d and GroupNorm).
 * 2. e1, e2 ~ N(0, 1) of the first batch's dense shape [B, D], drawn after
 *    the weights, e1 then e2, row-major; x2 = e1 + 0.01 e2.
 * 3. two forward passes (train-mode batch norm updates its running var) up
 *    to the feature map f: the input of the last global average pooling
 *    (Zen's "before global pooling"), or, in a model without one (MLP, CTR),
 *    the input(s) of the loss node -- the features entering the final
 *    layer; Delta = mean_n sum over f's features of |f(e1) - f(x2)|.
 * 4. score = log(Delta) + sum over active batch norms of a (C, H, W) input
 *    (BatchNorm2d; flat or token-shaped ones are BatchNorm1d and not
 *    counted, as in Zen-NAS) of log(sqrt(mean over the active channels of
 *    running_var)), read after both passes.
 * Sparse fields keep the first batch's bags in both passes (Gaussian ids do
 * not exist), so only the dense part carries the perturbation; a model
 * without an active dense input is refused. No labels. Delta = 0 gives
 * -inf (NONFINITE). */
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "proxy/proxy.h"

/* Parameters step 1 writes: WEIGHT, BIAS of active layers and the affines
 * of batch norms. */
static bool reinitialised(const sigeo__probe_module_t *mod, int32_t kind, bool is_bn)
{
    return mod->active &&
           (kind == SIGEO_PARAM_WEIGHT || kind == SIGEO_PARAM_BIAS ||
            (is_bn && (kind == SIGEO_PARAM_NORM_SCALE || kind == SIGEO_PARAM_NORM_SHIFT)));
}

/* Saves (save) or restores the values step 1 writes, in module order. */
static void keep(sigeo_model_t *m, float *area, bool save)
{
    int64_t at = 0;
    for (int32_t k = 0; k < sigeo__probe_module_count(m); k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        sigeo__probe_bn_t bn;
        const bool is_bn = sigeo__probe_batch_norm(&bn, m, mod.node);
        float *d = sigeo__probe_module_data(m, k);
        for (int32_t i = 0; i < mod.n_params; i++) {
            if (!reinitialised(&mod, mod.params[i].kind, is_bn))
                continue;
            float *p = d + mod.params[i].offset;
            const size_t bytes = (size_t)mod.params[i].numel * sizeof(float);
            if (save)
                memcpy(area + at, p, bytes);
            else
                memcpy(p, area + at, bytes);
            at += mod.params[i].numel;
        }
    }
}

static int64_t kept_floats(sigeo_model_t *m, int64_t *largest)
{
    int64_t total = 0;
    *largest = 1;
    for (int32_t k = 0; k < sigeo__probe_module_count(m); k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        sigeo__probe_bn_t bn;
        const bool is_bn = sigeo__probe_batch_norm(&bn, m, mod.node);
        for (int32_t i = 0; i < mod.n_params; i++)
            if (reinitialised(&mod, mod.params[i].kind, is_bn)) {
                total += mod.params[i].numel;
                *largest = mod.params[i].numel > *largest ? mod.params[i].numel : *largest;
            }
    }
    return total;
}

static sigeo_status_t reinit(const sigeo__proxy_call_t *c, sigeo__rng_t *rng, uint8_t *mask, bool reset_running)
{
    sigeo_model_t *m = c->m;
    for (int32_t k = 0; k < sigeo__probe_module_count(m); k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        sigeo__probe_bn_t bn;
        const bool is_bn = sigeo__probe_batch_norm(&bn, m, mod.node);
        float *d = sigeo__probe_module_data(m, k);
        for (int32_t i = 0; i < mod.n_params; i++) {
            const int32_t kind = mod.params[i].kind;
            if (!reinitialised(&mod, kind, is_bn))
                continue;
            float *p = d + mod.params[i].offset;
            const int64_t n = mod.params[i].numel;
            if (kind == SIGEO_PARAM_WEIGHT) {
                sigeo_status_t st = sigeo__probe_active_mask(mask, m, k, i);
                if (st != SIGEO_OK)
                    return sigeo__proxy_failed(c, st, "active slice");
                for (int64_t j = 0; j < n; j++)
                    if (mask[j])
                        p[j] = (float)sigeo__rng_normal(rng);
            } else {
                const float v = kind == SIGEO_PARAM_NORM_SCALE ? 1.0f : 0.0f;
                for (int64_t j = 0; j < n; j++)
                    p[j] = v;
            }
        }
    }
    for (int32_t i = 0; reset_running && i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_bn_t bn;
        if (!sigeo__probe_batch_norm(&bn, m, i))
            continue;
        for (int64_t ch = 0; ch < bn.channels; ch++) {
            bn.running_mean[ch] = 0.0f;
            bn.running_var[ch] = 1.0f;
        }
    }
    return SIGEO_OK;
}

/* The nodes whose outputs form f (at most `cap`); returns how many. */
static int32_t feature_nodes(int32_t *f, int32_t cap, sigeo_model_t *m)
{
    int32_t gap = -1;
    for (int32_t i = 0; i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (nd.active && nd.kind == SIGEO_LAYER_GLOBAL_AVG_POOL)
            gap = i;
    }
    const int32_t last = gap >= 0 ? gap : sigeo__probe_loss_node(m, NULL);
    sigeo__probe_node_t nd;
    sigeo__probe_node(&nd, m, last);
    int32_t n = 0;
    for (int32_t j = 0; j < nd.n_inputs && n < cap; j++) {
        sigeo__probe_node_t in;
        sigeo__probe_node(&in, m, nd.inputs[j]);
        if (in.active && in.width > 0 && sigeo__probe_input_on(m, last, j))
            f[n++] = nd.inputs[j];
    }
    return n;
}

sigeo_status_t sigeo__proxy_zen(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    int64_t D = 0;
    for (int32_t i = 0; i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (nd.active && nd.kind == SIGEO__PROBE_INPUT_DENSE)
            D = nd.width;
    }
    if (D == 0)
        return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED,
                                 "the model (active architecture) has no dense input to draw Gaussian inputs for");
    const int64_t B = c->batch->batch_size;
    int32_t fnodes[64];
    const int32_t n_f = feature_nodes(fnodes, 64, m);
    if (n_f == 0)
        return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED, "no feature map: the final layer has no active input");
    int64_t F = 0;
    for (int32_t i = 0; i < n_f; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, fnodes[i]);
        F += nd.width;
    }
    int64_t largest;
    const int64_t total = kept_floats(m, &largest);
    float *area, *x, *f1;
    uint8_t *mask;
    if ((st = sigeo__proxy_scratch((void **)&area, c, SIGEO__SCRATCH_A, (size_t)total * sizeof(float))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&mask, c, SIGEO__SCRATCH_B, (size_t)largest)) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&x, c, SIGEO__SCRATCH_C, (size_t)(2 * B * D) * sizeof(float))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&f1, c, SIGEO__SCRATCH_D, (size_t)(B * F) * sizeof(float))) != SIGEO_OK)
        return st;
    float *x2 = x + B * D;
    /* Zen-NAS's repeat and mixup_gamma: each repeat re-draws the weights,
     * e1 and e2 (continuing the stream) and the scores are averaged; the
     * running statistics carry over from one repeat to the next, as in the
     * official loop (only the first starts from mean 0, var 1). */
    const double gamma = c->o->zen_mixup_gamma > 0.0 ? c->o->zen_mixup_gamma : 1e-2;
    const uint32_t repeats = c->o->zen_repeat > 0 ? c->o->zen_repeat : 1u;
    if (!isfinite(gamma) || c->o->zen_repeat > 1000)
        return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "zen_mixup_gamma %g / zen_repeat %u (need finite, <= 1000)",
                                 c->o->zen_mixup_gamma, (unsigned)c->o->zen_repeat);
    keep(m, area, true);
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, c->o->seed);
    double total_score = 0.0;
    uint32_t n_bn = 0;
    for (uint32_t rep = 0; rep < repeats && st == SIGEO_OK; rep++) {
        st = reinit(c, &rng, mask, rep == 0);
        if (st == SIGEO_OK) {
            for (int64_t i = 0; i < B * D; i++)
                x[i] = (float)sigeo__rng_normal(&rng);
            for (int64_t i = 0; i < B * D; i++)
                x2[i] = (float)((double)x[i] + gamma * sigeo__rng_normal(&rng));
        }
        sigeo_batch_t in = *c->batch;
        in.struct_size = sizeof in;
        in.n_dense = D;
        in.labels = NULL;
        in.targets = NULL;
        double delta = 0.0;
        for (int pass = 0; pass < 2 && st == SIGEO_OK; pass++) {
            in.dense = pass == 0 ? x : x2;
            if ((st = sigeo_model_forward(NULL, m, &in)) != SIGEO_OK) {
                st = sigeo__proxy_failed(c, st, pass == 0 ? "forward of e1" : "forward of e1 + gamma e2");
                break;
            }
            int64_t off = 0;
            for (int32_t i = 0; i < n_f; i++) {
                sigeo__probe_node_t nd;
                sigeo__probe_node(&nd, m, fnodes[i]);
                for (int64_t n = 0; n < B; n++) {
                    float *dst = f1 + n * F + off;
                    const float *src = nd.out + n * nd.width;
                    if (pass == 0) {
                        memcpy(dst, src, (size_t)nd.width * sizeof(float));
                    } else {
                        for (int64_t j = 0; j < nd.width; j++)
                            delta += fabs((double)dst[j] - (double)src[j]);
                    }
                }
                off += nd.width;
            }
        }
        /* The BN term reads the running variances the two passes left. */
        double bn_term = 0.0;
        n_bn = 0;
        for (int32_t i = 0; st == SIGEO_OK && i < sigeo__probe_node_count(m); i++) {
            sigeo__probe_node_t nd;
            sigeo__probe_bn_t bn;
            sigeo__probe_node(&nd, m, i);
            if (!nd.active || nd.shape_ndim != 3 || !sigeo__probe_batch_norm(&bn, m, i))
                continue;
            int64_t *idx;
            if ((st = sigeo__proxy_scratch((void **)&idx, c, SIGEO__SCRATCH_E, (size_t)bn.channels * sizeof *idx)) !=
                SIGEO_OK)
                break;
            const int64_t n_ch = sigeo__probe_batch_norm_channels(idx, bn.channels, m, i);
            double s = 0.0;
            for (int64_t ch = 0; ch < n_ch; ch++)
                s += bn.running_var[idx[ch]];
            bn_term += log(sqrt(s / (double)n_ch));
            n_bn++;
        }
        total_score += log(delta / (double)B) + bn_term;
    }
    keep(m, area, false);
    if (st != SIGEO_OK)
        return st;
    const double score = total_score / (double)repeats;
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    r->n_modules = n_bn;
    return SIGEO_OK;
}
