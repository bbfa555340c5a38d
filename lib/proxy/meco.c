/* MeCo (NeurIPS'23; docs/proxies.md §8). One forward, no labels. For each
 * counted output O: F = O of sample 0 as [C, P] -- per-row shape (C, H, W)
 * gives C x HW, (T, E) gives T x E, a flat [K] gives K x 1; rho =
 * corrcoef(F) (C x C, double) with its NaN/Inf entries set to 0 (a
 * zero-variance channel, or P = 1 where every entry is NaN: then rho = 0
 * and the term is 0); term = the smallest eigenvalue of rho (symmetric
 * solver); score = the sum of the finite terms.
 *
 * Which outputs: the reference hooks every PyTorch module, so container
 * outputs repeat their last child's tensor. This is the clean port: each
 * distinct tensor once, namely the outputs of the nodes that are leaf
 * modules in PyTorch (linear, non-identity activation, embedding bag, dot
 * interaction, layer norm, batch norm, conv2d, pooling, global average
 * pooling, token linear, attention, FM, sigmoid gating); the functional
 * ones (sum, concat, select, slice, reshape, zero) and the inputs are not
 * counted. nn.MultiheadAttention returns a tuple, whose [0] is the whole
 * batch: an attention output gives F = [B, T E] (samples as rows).
 *
 * meco_opt (the paper's "MeCo opt"): per counted output, m = min(8, C)
 * distinct rows of F drawn uniformly (sigeo's stream seeded with
 * options->seed, outputs in node order, each a partial Fisher-Yates:
 * for t < m, swap position t with t + below(C - t)), rho = their m x m
 * corrcoef (NaN/Inf -> 0), term = (C / 8) lambda_min(rho). The official
 * code's randperm(C)[:8] takes all C rows when C < 8, scaled by C / 8 the
 * same way. Cost: an m x m eigenproblem per output instead of C x C.
 *
 * Per layer (sigeo_proxy_layers): an output's term goes to the module of
 * its node, or, for a node without parameters (an activation, a pool), to
 * the nearest module up its first-input chain -- the layer whose output it
 * transforms. An output with no module above it (a pool of the input) is in
 * the score but in no entry. */
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "proxy/proxy.h"

static bool counted(const sigeo__probe_node_t *nd)
{
    switch (nd->kind) {
    case SIGEO_LAYER_ACTIVATION:
        return nd->activation != SIGEO_ACT_IDENTITY;
    case SIGEO_LAYER_LINEAR:
    case SIGEO_LAYER_EMBEDDING_BAG:
    case SIGEO_LAYER_DOT_INTERACTION:
    case SIGEO_LAYER_LAYER_NORM:
    case SIGEO_LAYER_CONV2D:
    case SIGEO_LAYER_BATCH_NORM:
    case SIGEO_LAYER_POOL2D:
    case SIGEO_LAYER_GLOBAL_AVG_POOL:
    case SIGEO_LAYER_TOKEN_LINEAR:
    case SIGEO_LAYER_ATTENTION:
    case SIGEO_LAYER_FM:
    case SIGEO_LAYER_SIGMOID_GATING:
        return true;
    default:
        return false;
    }
}

/* The module an output's term is recorded under (see the top), -1 = none. */
static int32_t owner_module(sigeo_model_t *m, int32_t node)
{
    for (int32_t steps = 0; node >= 0 && steps < sigeo__probe_node_count(m); steps++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, node);
        if (nd.module >= 0)
            return nd.module;
        node = nd.n_inputs > 0 ? nd.inputs[0] : -1;
    }
    return -1;
}

sigeo_status_t sigeo__proxy_meco(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size;
    int *iwork;
    if ((st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_B, sizeof(int))) != SIGEO_OK)
        return st;
    const bool opt = c->o->kind == SIGEO_PROXY_MECO_OPT;
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, c->o->seed);
    double score = 0.0;
    uint32_t terms = 0;
    for (int32_t i = 0; i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active || nd.width == 0 || !counted(&nd))
            continue;
        const bool whole_batch = nd.kind == SIGEO_LAYER_ATTENTION;
        const int64_t C = whole_batch ? B : nd.channels, P = whole_batch ? nd.width : nd.positions;
        terms++;
        /* meco_opt: m random rows gathered into slot C, scaled by C / 8. */
        const float *F = nd.out;
        int64_t rows = C;
        double scale = 1.0;
        if (opt) {
            rows = C < 8 ? C : 8;
            scale = (double)C / 8.0;
            int64_t *idx;
            float *pick;
            if ((st = sigeo__proxy_scratch((void **)&idx, c, SIGEO__SCRATCH_D, (size_t)C * sizeof *idx)) != SIGEO_OK ||
                (st = sigeo__proxy_scratch((void **)&pick, c, SIGEO__SCRATCH_C, (size_t)(rows * P) * sizeof *pick)) !=
                    SIGEO_OK)
                return st;
            for (int64_t t = 0; t < C; t++)
                idx[t] = t;
            for (int64_t t = 0; t < rows; t++) {
                const int64_t j = t + (int64_t)sigeo__rng_below(&rng, (uint64_t)(C - t));
                const int64_t tmp = idx[t];
                idx[t] = idx[j];
                idx[j] = tmp;
                memcpy(pick + t * P, nd.out + idx[t] * P, (size_t)P * sizeof(float));
            }
            F = pick;
        }
        const int32_t owner = owner_module(m, i);
        if (P == 1) { /* rho is all NaN -> 0: lambda_min = 0 */
            if (owner >= 0)
                sigeo__proxy_layer_add(c->ws, owner, 0.0, NAN, NAN);
            continue;
        }
        double *rho;
        const int64_t ew = sigeo__linalg_eig_work(rows);
        if ((st = sigeo__proxy_scratch((void **)&rho, c, SIGEO__SCRATCH_A,
                                       (size_t)(rows * rows + 3 * rows + ew) * sizeof(double))) != SIGEO_OK)
            return st;
        double *work = rho + rows * rows, *w = work + 2 * rows, *ework = w + rows;
        sigeo__linalg_corrcoef(rho, work, F, rows, P, P);
        for (int64_t k = 0; k < rows * rows; k++)
            if (!isfinite(rho[k]))
                rho[k] = 0.0;
        if ((st = sigeo__linalg_sym_eigvals(w, rho, rows, ework, iwork, c)) != SIGEO_OK)
            return st;
        if (isfinite(w[0])) {
            score += scale * w[0];
            if (owner >= 0)
                sigeo__proxy_layer_add(c->ws, owner, scale * w[0], NAN, NAN);
        }
    }
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = 1;
    r->n_modules = terms;
    return SIGEO_OK;
}
