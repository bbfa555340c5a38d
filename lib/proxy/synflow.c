/* SynFlow (Tanaka et al.; NASLib `synflow`, docs/proxies.md §6). The reference
 * builds a copy of the network without batch norm (bn=False), converts it to
 * float64, replaces every parameter by its absolute value, feeds one
 * all-ones sample, and backpropagates R = the sum of the outputs:
 *     raw = sum over the CL-weights of |W . dR/dW|,
 *     score = log(raw) (raw > 0), -log(-raw) (raw < 0), 0 (raw = 0).
 * Here, on the model itself (restored bit for bit afterwards):
 * - every batch norm computes the identity: eval mode on running mean 0,
 *   running var 1 - 1e-5 (so var + eps = 1), gamma 1, beta 0;
 * - every parameter the pass reads becomes |theta|: the weights of the
 *   active layers and the embedding rows sample 0 looks up (see flip);
 * - float32 instead of float64: R of a deep or wide net can overflow to
 *   inf, then the score is inf with SIGEO_PROXY_NONFINITE;
 * - a sparse field has no all-ones form: its bags are those of sample 0 of
 *   the first batch (a dense-only model needs no batch at all).
 * R = the sum of the loss node's outputs (the logits); no labels.
 * synflow_bn (NASLib's bn=True twin) is the same pass with the batch norms
 * left as built (train mode: the statistics of the one all-ones sample). */
#include <math.h>
#include <string.h>

#include "proxy/proxy.h"

/* What synflow changes besides the parameter signs: per batch norm its
 * flags, gamma and beta (the running statistics are the dispatcher's). */
typedef struct bn_saved {
    int32_t node;
    uint32_t flags;
    int64_t offset; /* of its gamma, then beta, in the float save area */
} bn_saved_t;

/* Every parameter the pass reads becomes |theta|. Dense parameters of the
 * active layers keep their sign bits (put back exactly, -0.0 included);
 * an embedding table is read only at the rows sample 0 looks up, so only
 * those rows change, each saved whole first (a bag may repeat an id: the
 * rows are restored in reverse order, so the original lands last). That
 * keeps synflow O(dense parameters + looked-up rows), not O(tables).
 * Inactive layers are not read and not touched. */
typedef struct saved_row {
    float *row;
    int64_t dim;
} saved_row_t;

/* The ids module `mod`'s bag of sample 0 looks up, or false if the module
 * is not an embedding bag; *dim = the table's row length. */
static bool bag_of(const int64_t **ids, int64_t *n, int64_t *dim, sigeo_model_t *m, const sigeo__probe_module_t *mod,
                   const sigeo_batch_t *in)
{
    sigeo__probe_node_t nd, src;
    sigeo__probe_node(&nd, m, mod->node);
    if (nd.kind != SIGEO_LAYER_EMBEDDING_BAG)
        return false;
    sigeo__probe_node(&src, m, nd.inputs[0]);
    *ids = in->sparse_ids + in->sparse_offsets[src.field];
    *n = in->sparse_offsets[src.field + 1] - in->sparse_offsets[src.field];
    *dim = nd.width;
    return true;
}

/* Sizes of the save areas: sign bits, rows, row floats. */
static void plan(int64_t *bits, int64_t *rows, int64_t *floats, sigeo_model_t *m, const sigeo_batch_t *in)
{
    *bits = *rows = *floats = 0;
    for (int32_t k = 0; k < sigeo__probe_module_count(m); k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        const int64_t *ids;
        int64_t n, dim;
        if (!mod.active)
            continue;
        if (bag_of(&ids, &n, &dim, m, &mod, in)) {
            *rows += n;
            *floats += n * dim;
        } else {
            *bits += mod.numel;
        }
    }
}

/* To |theta| (saving) or back. */
static void flip(sigeo_model_t *m, const sigeo_batch_t *in, uint8_t *bits, saved_row_t *rows, float *area, bool to_abs)
{
    int64_t at = 0, r = 0, f = 0;
    for (int32_t k = 0; k < sigeo__probe_module_count(m); k++) {
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, m, k);
        if (!mod.active)
            continue;
        float *d = sigeo__probe_module_data(m, k);
        const int64_t *ids;
        int64_t n, dim;
        if (bag_of(&ids, &n, &dim, m, &mod, in)) {
            const int64_t table_rows = dim > 0 ? mod.numel / dim : 0;
            for (int64_t i = 0; i < n; i++, r++, f += dim) {
                /* An id out of range is left alone: the forward reports it. */
                rows[r] = (saved_row_t){ ids[i] >= 0 && ids[i] < table_rows ? d + ids[i] * dim : NULL, dim };
                if (to_abs && rows[r].row) {
                    memcpy(area + f, rows[r].row, (size_t)dim * sizeof(float));
                    for (int64_t j = 0; j < dim; j++)
                        rows[r].row[j] = fabsf(rows[r].row[j]);
                }
            }
            continue;
        }
        for (int64_t i = 0; i < mod.numel; i++, at++) {
            if (to_abs) {
                const uint8_t bit = (uint8_t)(1u << (at % 8));
                bits[at / 8] = signbit(d[i]) ? (uint8_t)(bits[at / 8] | bit) : (uint8_t)(bits[at / 8] & ~bit);
                d[i] = fabsf(d[i]);
            } else if (bits[at / 8] >> (at % 8) & 1u) {
                d[i] = -d[i];
            }
        }
    }
    if (!to_abs)
        for (int64_t i = r - 1; i >= 0; i--) {
            f -= rows[i].dim;
            if (rows[i].row)
                memcpy(rows[i].row, area + f, (size_t)rows[i].dim * sizeof(float));
        }
}

/* The one-sample batch: dense all ones, sparse bags of sample 0. */
static sigeo_status_t make_input(sigeo_batch_t *in, const sigeo__proxy_call_t *c)
{
    sigeo_model_t *m = c->m;
    int64_t dense = 0;
    bool sparse = false;
    int32_t max_field = -1;
    for (int32_t i = 0; i < sigeo__probe_node_count(m); i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active)
            continue;
        if (nd.kind == SIGEO__PROBE_INPUT_DENSE)
            dense = nd.width;
        if (nd.kind == SIGEO__PROBE_INPUT_SPARSE) {
            sparse = true;
            max_field = nd.field > max_field ? nd.field : max_field;
        }
    }
    *in = (sigeo_batch_t)SIGEO_BATCH_INIT;
    in->batch_size = 1;
    sigeo_status_t st;
    if (dense > 0) {
        float *ones;
        if ((st = sigeo__proxy_scratch((void **)&ones, c, SIGEO__SCRATCH_C, (size_t)dense * sizeof(float))) !=
            SIGEO_OK)
            return st;
        for (int64_t j = 0; j < dense; j++)
            ones[j] = 1.0f;
        in->dense = ones;
        in->n_dense = dense;
    }
    if (sparse) {
        const sigeo_batch_t *b = c->batch;
        if (!b)
            return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG,
                                     "the model has sparse inputs: pass a batch (sample 0's bags are used)");
        if (!b->sparse_ids || !b->sparse_offsets || b->n_sparse_fields == 0)
            return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG, "the model has sparse inputs, batch 0 has no sparse "
                                                               "fields");
        const uint32_t F = b->n_sparse_fields;
        int64_t *offs;
        if ((st = sigeo__proxy_scratch((void **)&offs, c, SIGEO__SCRATCH_D, (size_t)(F + 1) * sizeof(int64_t))) !=
            SIGEO_OK)
            return st;
        /* The bags are read before the forward validates the batch. */
        if ((uint32_t)max_field >= F)
            return sigeo__proxy_fail(c, SIGEO_ERR_SHAPE, "the model reads sparse field %d, batch 0 has %u",
                                     (int)max_field, (unsigned)F);
        const int64_t base = b->sparse_offsets[0];
        for (uint32_t f = 0; f <= F; f++) {
            offs[f] = b->sparse_offsets[f] - base;
            if (base != 0 || (f > 0 && offs[f] < offs[f - 1]))
                return sigeo__proxy_fail(c, SIGEO_ERR_INVALID_ARG,
                                         "batch 0: sparse_offsets must start at 0 and not decrease (field %u)",
                                         (unsigned)f);
        }
        in->n_sparse_fields = F;
        in->sparse_ids = b->sparse_ids + base;
        in->sparse_offsets = offs;
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_synflow(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_model_t *m = c->m;
    sigeo_batch_t in;
    sigeo_status_t st = make_input(&in, c);
    if (st != SIGEO_OK)
        return st;
    /* Save areas: sign bits, looked-up rows; the batch norms' flags and affines. */
    int64_t n_bits, n_rows, row_floats;
    plan(&n_bits, &n_rows, &row_floats, m, &in);
    const int32_t n_nodes = sigeo__probe_node_count(m);
    int32_t n_bn = 0;
    int64_t bn_floats = 0;
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_bn_t bn;
        if (sigeo__probe_batch_norm(&bn, m, i)) {
            n_bn++;
            bn_floats += 2 * bn.channels;
        }
    }
    uint8_t *bits;
    bn_saved_t *saved;
    float *affine, *row_area;
    saved_row_t *rows;
    if ((st = sigeo__proxy_scratch((void **)&bits, c, SIGEO__SCRATCH_A, (size_t)(n_bits / 8 + 1))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&saved, c, SIGEO__SCRATCH_B,
                                   (size_t)n_bn * sizeof *saved + (size_t)bn_floats * sizeof(float))) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&rows, c, SIGEO__SCRATCH_G,
                                   (size_t)n_rows * sizeof *rows + (size_t)row_floats * sizeof(float))) != SIGEO_OK)
        return st;
    affine = (float *)(void *)(saved + n_bn);
    row_area = (float *)(void *)(rows + n_rows);
    int64_t at = 0;
    for (int32_t i = 0, j = 0; i < n_nodes; i++) {
        sigeo__probe_bn_t bn;
        if (!sigeo__probe_batch_norm(&bn, m, i))
            continue;
        saved[j++] = (bn_saved_t){ i, *bn.flags, at };
        memcpy(affine + at, bn.gamma, (size_t)bn.channels * sizeof(float));
        memcpy(affine + at + bn.channels, bn.beta, (size_t)bn.channels * sizeof(float));
        at += 2 * bn.channels;
    }
    flip(m, &in, bits, rows, row_area, true);
    /* synflow_bn (NASLib bn=True) keeps the batch norms as built: a train-mode
     * one normalises with the one sample's statistics (its |gamma|, |beta| are
     * parameters like the others). */
    const bool keep_bn = c->o->kind == SIGEO_PROXY_SYNFLOW_BN;
    for (int32_t j = 0; j < n_bn && !keep_bn; j++) {
        sigeo__probe_bn_t bn;
        sigeo__probe_batch_norm(&bn, m, saved[j].node);
        *bn.flags |= SIGEO_LAYER_RUNNING_STATS;
        for (int64_t ch = 0; ch < bn.channels; ch++) {
            bn.gamma[ch] = 1.0f;
            bn.beta[ch] = 0.0f;
            bn.running_mean[ch] = 0.0f;
            bn.running_var[ch] = (float)(1.0 - 1e-5);
        }
    }
    /* One forward, R = sum of the outputs, backward of R. */
    double raw = 0.0;
    uint32_t layers = 0;
    st = sigeo_model_forward(NULL, m, &in);
    if (st != SIGEO_OK) {
        st = sigeo__proxy_failed(c, st, "forward of the all-ones sample");
    } else {
        sigeo__probe_node_t out;
        sigeo__probe_node(&out, m, sigeo__probe_loss_node(m, NULL));
        float *seed;
        st = sigeo__proxy_scratch((void **)&seed, c, SIGEO__SCRATCH_E, (size_t)out.width * sizeof(float));
        if (st == SIGEO_OK) {
            for (int64_t j = 0; j < out.width; j++)
                seed[j] = 1.0f;
            if ((st = sigeo__tape_backward_from(m, seed, false)) != SIGEO_OK)
                st = sigeo__proxy_failed(c, st, "backward of R");
        }
    }
    sigeo__proxy_weight_t *w;
    int32_t n = 0;
    if (st == SIGEO_OK && (st = sigeo__proxy_cl_weights(&w, &n, c, SIGEO__SCRATCH_F)) == SIGEO_OK) {
        st = sigeo__proxy_product_sum(&raw, c, w, n, true);
        layers = (uint32_t)n;
    }
    /* Put everything back: signs first, then the batch norms' own values. */
    flip(m, &in, bits, rows, row_area, false);
    for (int32_t j = 0; j < n_bn && !keep_bn; j++) {
        sigeo__probe_bn_t bn;
        sigeo__probe_batch_norm(&bn, m, saved[j].node);
        *bn.flags = saved[j].flags;
        memcpy(bn.gamma, affine + saved[j].offset, (size_t)bn.channels * sizeof(float));
        memcpy(bn.beta, affine + saved[j].offset + bn.channels, (size_t)bn.channels * sizeof(float));
    }
    if (st != SIGEO_OK)
        return st;
    const double score = raw > 0.0 ? log(raw) : raw < 0.0 ? -log(-raw) : 0.0;
    sigeo__proxy_set_score(r, score, raw);
    r->n_samples = 1;
    r->k = in.sparse_ids ? 1u : 0u;
    r->n_modules = layers;
    return SIGEO_OK;
}
