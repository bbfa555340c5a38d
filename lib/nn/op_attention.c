/* Multi-head self-attention over the tokens of (T, E) rows, as
 * nn.MultiheadAttention(E, heads, batch_first=True)(x, x, x) without mask or
 * dropout:
 *   P = x W_in^T + b_in          [B*T, 3E], columns Q | K | V
 *   A_bh = softmax(Q_bh K_bh^T / sqrt(d))   per batch row b and head h, d = E/heads
 *   O_bh = A_bh V_bh             heads side by side in [B*T, E]
 *   y = O W_out^T + b_out
 * Heads are strided views of P and O: the per-head products are batched
 * matmuls over (B, heads) with no copies (oneDNN picks gemm:jit for these
 * strides); 1/sqrt(d) is the scores matmul's output scale, and the softmax
 * is oneDNN's over rows of length T (a libm exp loop was most of the step
 * with NASRec's 8 heads of width 2).
 *
 * Parameters (consecutive, PyTorch's names): in_proj_weight [3E, E],
 * in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E].
 *
 * Scratch (floats): P, A, O (kept for the backward), then dP, dO, dA, dS. */
#include <math.h>
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

enum {
    SLOT_IN_PROJ, SLOT_QK, SLOT_AV, SLOT_OUT_PROJ,
    SLOT_D_O, SLOT_D_WOUT, SLOT_D_A, SLOT_D_V, SLOT_D_Q, SLOT_D_K, SLOT_D_X, SLOT_D_WIN,
    SLOT_SOFTMAX, SLOT_D_SOFTMAX,
    SLOT_J_IN, SLOT_J_QK, SLOT_J_AV, SLOT_J_OUT, /* forward-mode pass (the accumulating products) */
    N_SLOTS
};
enum { P_IN_W, P_IN_B, P_OUT_W, P_OUT_B };

static sigeo_status_t attn_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: attention '%s' takes 1 input, got %u", fn, d->name,
                    (unsigned)d->n_inputs);
    sigeo__node_t *in = &m->nodes[d->inputs[0]];
    sigeo__shape_t s = sigeo__node_shape(m, in);
    if (s.ndim != 2)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: attention '%s': input '%s' (%lld features) has no (T, E) token shape", fn,
                    d->name, in->name, (long long)in->max_width);
    const int64_t E = s.d[1];
    if (d->heads < 1 || E % d->heads != 0)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: attention '%s': %d heads do not divide the embedding width %lld", fn,
                    d->name, (int)d->heads, (long long)E);
    if (d->flags & SIGEO_LAYER_NO_BIAS)
        return FAIL(m, SIGEO_ERR_UNSUPPORTED, "%s: attention '%s': NO_BIAS is not supported", fn, d->name);
    int64_t scores; /* per row: heads x T x T attention weights */
    if (!sigeo__mul_elems(&scores, d->heads, s.d[0]) || !sigeo__mul_elems(&scores, scores, s.d[0]))
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: attention '%s': %d heads x %lld x %lld scores exceed the limit of %lld", fn,
                    d->name, (int)d->heads, (long long)s.d[0], (long long)s.d[0], (long long)SIGEO_MAX_ELEMENTS);
    n->heads = d->heads;
    n->units = E;
    n->max_width = in->max_width;
    n->max_runs = in->max_runs;
    sigeo__node_set_shape(n, 2, s.d);
    n->module = m->n_modules;
    const int32_t first = m->n_params;
    const int64_t in_w[2] = { 3 * E, E }, in_b[1] = { 3 * E }, out_w[2] = { E, E }, out_b[1] = { E };
    sigeo_status_t st = sigeo__model_add_param(m, n, 0, "in_proj_weight", SIGEO_PARAM_WEIGHT, 2, in_w);
    if (st == SIGEO_OK)
        st = sigeo__model_add_param(m, n, 1, "in_proj_bias", SIGEO_PARAM_BIAS, 1, in_b);
    if (st == SIGEO_OK)
        st = sigeo__model_add_param(m, n, 0, "out_proj.weight", SIGEO_PARAM_WEIGHT, 2, out_w);
    if (st == SIGEO_OK)
        st = sigeo__model_add_param(m, n, 1, "out_proj.bias", SIGEO_PARAM_BIAS, 1, out_b);
    if (st != SIGEO_OK)
        return st;
    /* The four are consecutive: param[0] is the first, the rest follow. */
    n->param[0] = first;
    n->param[1] = first + 1;
    return sigeo__node_own_slots(m, n, N_SLOTS);
}

static sigeo_status_t attn_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const int64_t E = n->units;
    if (in->width < E || in->width % E)
        return FAIL(m, SIGEO_ERR_SHAPE, "attention '%s': input '%s' has %lld active features, not tokens of %lld",
                    n->name, in->name, (long long)in->width, (long long)E);
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    return SIGEO_OK;
}

typedef struct attn_dims {
    int64_t B, T, E, H, d;
} attn_dims_t;

typedef struct attn_buf {
    float *p, *a, *o, *dp, *d_o, *da, *ds;
} attn_buf_t;

static attn_dims_t dims_of(const sigeo__node_t *n, int64_t B)
{
    const int64_t E = n->units;
    return (attn_dims_t){ B, n->width / E, E, n->heads, E / n->heads };
}

static sigeo_status_t buffers(attn_buf_t *bf, sigeo_model_t *m, sigeo__node_t *n, const attn_dims_t *k)
{
    /* B T E is within the limit (the forward checks batch x width); the
     * scores B H T T need not be. */
    int64_t on, pn, an, sum, total;
    if (!sigeo__mul_elems(&on, k->B * k->T, k->E) || !sigeo__mul_elems(&pn, on, 3) ||
        !sigeo__mul_elems(&an, k->B * k->H, k->T) || !sigeo__mul_elems(&an, an, k->T) ||
        !sigeo__add_elems(&sum, pn, an) || !sigeo__add_elems(&sum, sum, on) || !sigeo__mul_elems(&total, sum, 2) ||
        !sigeo__add_elems(&total, total, an))
        return FAIL(m, SIGEO_ERR_SHAPE,
                    "attention '%s': %lld rows of %lld heads x %lld x %lld scores exceed the limit of %lld elements",
                    n->name, (long long)k->B, (long long)k->H, (long long)k->T, (long long)k->T,
                    (long long)SIGEO_MAX_ELEMENTS);
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)total * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    bf->p = n->scratch;
    bf->a = bf->p + pn;
    bf->o = bf->a + an;
    bf->dp = bf->o + on;
    bf->d_o = bf->dp + pn;
    bf->da = bf->d_o + on;
    bf->ds = bf->da + an;
    return SIGEO_OK;
}

static sigeo__param_t *param(sigeo_model_t *m, const sigeo__node_t *n, int k)
{
    return &m->params[n->param[0] + k];
}

/* Per-head view of a column block of a [B*T, ld] buffer: (b, h, t, j). */
static void head_view(int64_t *stride, const attn_dims_t *k, int64_t ld, bool transposed)
{
    stride[0] = k->T * ld;
    stride[1] = k->d;
    stride[2] = transposed ? 1 : ld;
    stride[3] = transposed ? ld : 1;
}

/* The (b, h) blocks of A [B, H, T, T]. */
static void score_view(int64_t *stride, const attn_dims_t *k, bool transposed)
{
    stride[0] = k->H * k->T * k->T;
    stride[1] = k->T * k->T;
    stride[2] = transposed ? 1 : k->T;
    stride[3] = transposed ? k->T : 1;
}

static sigeo_status_t bmm(sigeo_model_t *m, sigeo__node_t *n, int slot, const attn_dims_t *k, int64_t mm, int64_t nn,
                          int64_t kk, const int64_t *as, const float *a, const int64_t *bs, const float *b,
                          const int64_t *cs, float *c, float scale)
{
    sigeo__bmm_shape_t sh = { .batch = { k->B, k->H }, .m = mm, .n = nn, .k = kk, .scale = scale };
    memcpy(sh.a_stride, as, sizeof sh.a_stride);
    memcpy(sh.b_stride, bs, sizeof sh.b_stride);
    memcpy(sh.c_stride, cs, sizeof sh.c_stride);
    return sigeo__matmul_batched(&n->slots[slot], m->engine, &sh, a, b, NULL, c);
}

static sigeo_status_t attn_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const attn_dims_t k = dims_of(n, b->batch_size);
    const int64_t rows = k.B * k.T, E = k.E, E3 = 3 * E;
    attn_buf_t bf;
    sigeo_status_t st = buffers(&bf, m, n, &k);
    if (st != SIGEO_OK)
        return st;
    sigeo__matmul_shape_t proj = {
        .m = rows, .n = E3, .k = E, .a_stride = { E, 1 }, .b_stride = { 1, E }, .c_stride = { E3, 1 }, .bias = true,
    };
    st = sigeo__matmul(&n->slots[SLOT_IN_PROJ], m->engine, &proj, in->out, param(m, n, P_IN_W)->data,
                       param(m, n, P_IN_B)->data, bf.p);
    if (st != SIGEO_OK)
        return st;
    int64_t qs[4], kts[4], vs[4], as[4], os[4];
    head_view(qs, &k, E3, false);
    head_view(kts, &k, E3, true);
    head_view(vs, &k, E3, false);
    score_view(as, &k, false);
    head_view(os, &k, E, false);
    const float scale = (float)(1.0 / sqrt((double)k.d));
    if ((st = bmm(m, n, SLOT_QK, &k, k.T, k.T, k.d, qs, bf.p, kts, bf.p + E, as, bf.a, scale)) != SIGEO_OK)
        return st;
    st = sigeo__softmax_forward(&n->slots[SLOT_SOFTMAX], m->engine, k.B * k.H * k.T, k.T, bf.a, bf.a);
    if (st != SIGEO_OK)
        return st;
    if ((st = bmm(m, n, SLOT_AV, &k, k.T, k.d, k.T, as, bf.a, vs, bf.p + 2 * E, os, bf.o, 1.0f)) != SIGEO_OK)
        return st;
    sigeo__matmul_shape_t out = {
        .m = rows, .n = E, .k = E, .a_stride = { E, 1 }, .b_stride = { 1, E }, .c_stride = { E, 1 }, .bias = true,
    };
    return sigeo__matmul(&n->slots[SLOT_OUT_PROJ], m->engine, &out, bf.o, param(m, n, P_OUT_W)->data,
                         param(m, n, P_OUT_B)->data, n->out);
}

/* Column sums of a [rows, w] block into db (overwritten). */
static void column_sums(float *db, const float *g, int64_t rows, int64_t w)
{
    for (int64_t j = 0; j < w; j++)
        db[j] = 0.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < w; j++)
            db[j] += g[r * w + j];
}

static sigeo_status_t attn_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const attn_dims_t k = dims_of(n, m->batch);
    const int64_t rows = k.B * k.T, E = k.E, E3 = 3 * E;
    attn_buf_t bf;
    sigeo_status_t st = buffers(&bf, m, n, &k); /* same size as the forward's: contents kept */
    if (st != SIGEO_OK)
        return st;
    sigeo__param_t *w_in = param(m, n, P_IN_W), *b_in = param(m, n, P_IN_B);
    sigeo__param_t *w_out = param(m, n, P_OUT_W), *b_out = param(m, n, P_OUT_B);
    /* Output projection. */
    sigeo__matmul_shape_t d_o = { .m = rows, .n = E, .k = E, .a_stride = { E, 1 }, .b_stride = { E, 1 },
                                  .c_stride = { E, 1 } };
    if ((st = sigeo__matmul(&n->slots[SLOT_D_O], m->engine, &d_o, n->grad, w_out->data, NULL, bf.d_o)) != SIGEO_OK)
        return st;
    sigeo__matmul_shape_t dw_out = { .m = E, .n = E, .k = rows, .a_stride = { 1, E }, .b_stride = { E, 1 },
                                     .c_stride = { E, 1 } };
    if ((st = sigeo__matmul(&n->slots[SLOT_D_WOUT], m->engine, &dw_out, n->grad, bf.o, NULL, w_out->grad)) != SIGEO_OK)
        return st;
    column_sums(b_out->grad, n->grad, rows, E);
    /* Attention. */
    int64_t qs[4], kts[4], ks[4], vts[4], vs[4], as[4], ats[4], os[4];
    head_view(qs, &k, E3, false);
    head_view(ks, &k, E3, false);
    head_view(kts, &k, E3, true);
    head_view(vs, &k, E3, false);
    head_view(vts, &k, E3, true);
    score_view(as, &k, false);
    score_view(ats, &k, true);
    head_view(os, &k, E, false);
    if ((st = bmm(m, n, SLOT_D_A, &k, k.T, k.T, k.d, os, bf.d_o, vts, bf.p + 2 * E, as, bf.da, 1.0f)) != SIGEO_OK)
        return st;
    if ((st = bmm(m, n, SLOT_D_V, &k, k.T, k.d, k.T, ats, bf.a, os, bf.d_o, vs, bf.dp + 2 * E, 1.0f)) != SIGEO_OK)
        return st;
    /* dS = A (dA - rowsum(dA A)), then the 1/sqrt(d) of the scores on dQ and dK */
    st = sigeo__softmax_backward(&n->slots[SLOT_D_SOFTMAX], m->engine, k.B * k.H * k.T, k.T, bf.a, bf.da, bf.ds);
    if (st != SIGEO_OK)
        return st;
    const float scale = (float)(1.0 / sqrt((double)k.d));
    if ((st = bmm(m, n, SLOT_D_Q, &k, k.T, k.d, k.T, as, bf.ds, ks, bf.p + E, qs, bf.dp, scale)) != SIGEO_OK)
        return st;
    if ((st = bmm(m, n, SLOT_D_K, &k, k.T, k.d, k.T, ats, bf.ds, qs, bf.p, ks, bf.dp + E, scale)) != SIGEO_OK)
        return st;
    /* Input projection. */
    if (sigeo__wants_grad(m, in)) {
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        sigeo__matmul_shape_t d_x = { .m = rows, .n = E, .k = E3, .a_stride = { E3, 1 }, .b_stride = { E, 1 },
                                      .c_stride = { E, 1 }, .accumulate = acc };
        if ((st = sigeo__matmul(&n->slots[SLOT_D_X], m->engine, &d_x, bf.dp, w_in->data, NULL, dx)) != SIGEO_OK)
            return st;
    }
    sigeo__matmul_shape_t dw_in = { .m = E3, .n = E, .k = rows, .a_stride = { 1, E3 }, .b_stride = { E, 1 },
                                    .c_stride = { E, 1 } };
    if ((st = sigeo__matmul(&n->slots[SLOT_D_WIN], m->engine, &dw_in, bf.dp, in->out, NULL, w_in->grad)) != SIGEO_OK)
        return st;
    column_sums(b_in->grad, bf.dp, rows, E3);
    w_in->grad_dirty = b_in->grad_dirty = w_out->grad_dirty = b_out->grad_dirty = true;
    /* Per projection, the output is linear in its own (W, b) for fixed input
     * (docs/proxies.md §4.1): [Q;K;V] for the in-projection, y for the
     * out-projection. The scores are degree 2 in (Wq, Wk) jointly, which
     * does not matter: each tensor is counted once, at its own linear map.
     * Exact per sample: attention mixes tokens, not samples. */
    sigeo__add_directional(m, bf.p, bf.dp, k.B, k.T * E3);
    sigeo__add_directional(m, n->out, n->grad, k.B, k.T * E);
    return SIGEO_OK;
}

/* Forward-mode pass (jvp.c), from the forward's P, A, O:
 *   Pdot = xdot W_in^T + P               (in-projection, linear in its (W, b))
 *   Sdot = (Qdot K^T + Q Kdot^T) / sqrt(d)
 *   Adot = A (Sdot - rowsum(A Sdot))     (the softmax backward's formula)
 *   Odot = Adot V + A Vdot
 *   ydot = Odot W_out^T + y              (out-projection, linear in its (W, b))
 * The non-accumulating products have the forward's shapes and reuse its
 * slots; the accumulating ones have their own. Scratch (floats): Pdot,
 * Sdot, Adot, Odot. Mixes tokens, not samples. */
static sigeo_status_t attn_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const attn_dims_t k = dims_of(n, m->batch);
    const int64_t rows = k.B * k.T, E = k.E, E3 = 3 * E;
    const int64_t pn = rows * E3, an = k.B * k.H * k.T * k.T, on = rows * E;
    attn_buf_t bf;
    sigeo_status_t st = buffers(&bf, m, n, &k); /* same size as the forward's: contents kept */
    if (st == SIGEO_OK)
        st = sigeo__node_jvp_scratch(m, n, (size_t)(pn + 2 * an + on) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *pd = n->jvp_scratch, *sd = pd + pn, *ad = sd + an, *od = ad + an;
    memcpy(pd, bf.p, (size_t)pn * sizeof(float));
    if (in->kind != SIGEO__NODE_INPUT_DENSE) {
        sigeo__matmul_shape_t proj = { .m = rows, .n = E3, .k = E, .a_stride = { E, 1 }, .b_stride = { 1, E },
                                       .c_stride = { E3, 1 }, .accumulate = true };
        if ((st = sigeo__matmul(&n->slots[SLOT_J_IN], m->engine, &proj, in->tangent, param(m, n, P_IN_W)->data,
                                NULL, pd)) != SIGEO_OK)
            return st;
    }
    int64_t qs[4], kts[4], vs[4], as[4], os[4];
    head_view(qs, &k, E3, false);
    head_view(kts, &k, E3, true);
    head_view(vs, &k, E3, false);
    score_view(as, &k, false);
    head_view(os, &k, E, false);
    const float scale = (float)(1.0 / sqrt((double)k.d));
    if ((st = bmm(m, n, SLOT_QK, &k, k.T, k.T, k.d, qs, pd, kts, bf.p + E, as, sd, scale)) != SIGEO_OK)
        return st;
    sigeo__bmm_shape_t acc = { .batch = { k.B, k.H }, .m = k.T, .n = k.T, .k = k.d, .accumulate = true,
                               .scale = scale };
    memcpy(acc.a_stride, qs, sizeof qs);
    memcpy(acc.b_stride, kts, sizeof kts);
    memcpy(acc.c_stride, as, sizeof as);
    if ((st = sigeo__matmul_batched(&n->slots[SLOT_J_QK], m->engine, &acc, bf.p, pd + E, NULL, sd)) != SIGEO_OK)
        return st;
    st = sigeo__softmax_backward(&n->slots[SLOT_D_SOFTMAX], m->engine, k.B * k.H * k.T, k.T, bf.a, sd, ad);
    if (st != SIGEO_OK)
        return st;
    if ((st = bmm(m, n, SLOT_AV, &k, k.T, k.d, k.T, as, ad, vs, bf.p + 2 * E, os, od, 1.0f)) != SIGEO_OK)
        return st;
    acc = (sigeo__bmm_shape_t){ .batch = { k.B, k.H }, .m = k.T, .n = k.d, .k = k.T, .accumulate = true };
    memcpy(acc.a_stride, as, sizeof as);
    memcpy(acc.b_stride, vs, sizeof vs);
    memcpy(acc.c_stride, os, sizeof os);
    if ((st = sigeo__matmul_batched(&n->slots[SLOT_J_AV], m->engine, &acc, bf.a, pd + 2 * E, NULL, od)) != SIGEO_OK)
        return st;
    memcpy(n->tangent, n->out, (size_t)on * sizeof(float));
    sigeo__matmul_shape_t out = { .m = rows, .n = E, .k = E, .a_stride = { E, 1 }, .b_stride = { 1, E },
                                  .c_stride = { E, 1 }, .accumulate = true };
    return sigeo__matmul(&n->slots[SLOT_J_OUT], m->engine, &out, od, param(m, n, P_OUT_W)->data, NULL, n->tangent);
}

/* ------------------------------------------------ Hessian-vector pass
 * (hvp.c; plain loops, double sums: a GraSP pass, not a training step).
 * Forward, with v = (V_in, v_in, V_out, v_out) the direction's parts on the
 * four parameters (NULL = 0) and the input's tangent Xd:
 *   Pd = Xd W_in^T + X V_in^T + v_in;  Sd = c (Qd K^T + Q Kd^T);
 *   Ad = A o (Sd - rowsum(A o Sd));    Od = Ad V + A Vd;
 *   Yd = Od W_out^T + O V_out^T + v_out.
 * Reverse (hvp.c's swap: n->grad = R{G}, n->r_grad = G), the R-image of
 * each step of attn_backward:
 *   dO = G W_out,  R{dO} = R{G} W_out + G V_out;  R{dW_out} = R{G}^T O + G^T Od
 *   dA = dO V^T,   R{dA} = R{dO} V^T + dO Vd^T;   R{dV} = Ad^T dO + A^T R{dO}
 *   dS = A o (dA - r), r = rowsum(dA o A):
 *   R{dS} = Ad o (dA - r) + A o (R{dA} - rowsum(R{dA} o A + dA o Ad))
 *   R{dQ} = c (R{dS} K + dS Kd),  R{dK} = c (R{dS}^T Q + dS^T Qd)
 *   R{dX} = R{dP} W_in + dP V_in; R{dW_in} = R{dP}^T X + dP^T Xd.
 * Scratch (node->jvp_scratch, floats): Pd, Ad, Od (kept from the forward
 * rule to the reverse one), dO, R{dO}, dP, R{dP}, then per (b, h) block dA,
 * R{dA}, dS, R{dS}. */
typedef struct attn_r {
    float *pd, *ad, *od, *g_o, *rg_o, *g_p, *rg_p, *da, *rda, *ds, *rds;
} attn_r_t;

static sigeo_status_t r_buffers(attn_r_t *rb, sigeo_model_t *m, sigeo__node_t *n, const attn_dims_t *k)
{
    int64_t on, pn, an, tt, total;
    if (!sigeo__mul_elems(&on, k->B * k->T, k->E) || !sigeo__mul_elems(&pn, on, 3) ||
        !sigeo__mul_elems(&an, k->B * k->H, k->T) || !sigeo__mul_elems(&an, an, k->T) ||
        !sigeo__mul_elems(&tt, k->T, k->T) || !sigeo__mul_elems(&total, pn, 3) ||
        !sigeo__add_elems(&total, total, an) || !sigeo__add_elems(&total, total, 3 * on) ||
        !sigeo__add_elems(&total, total, 4 * tt))
        return FAIL(m, SIGEO_ERR_SHAPE, "attention '%s': the Hessian-vector buffers exceed the limit of %lld elements",
                    n->name, (long long)SIGEO_MAX_ELEMENTS);
    sigeo_status_t st = sigeo__node_jvp_scratch(m, n, (size_t)total * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    rb->pd = n->jvp_scratch;
    rb->ad = rb->pd + pn;
    rb->od = rb->ad + an;
    rb->g_o = rb->od + on;
    rb->rg_o = rb->g_o + on;
    rb->g_p = rb->rg_o + on;
    rb->rg_p = rb->g_p + pn;
    rb->da = rb->rg_p + pn;
    rb->rda = rb->da + tt;
    rb->ds = rb->rda + tt;
    rb->rds = rb->ds + tt;
    return SIGEO_OK;
}

/* y[r, j] (+)= sum_e x[r, e] w[j, e] (+ sum_e x2[r, e] w2[j, e]) + b[j], rows x cols, inner e. */
static void rows_times_wt(float *y, const float *x, const float *w, const float *x2, const float *w2, const float *b,
                          int64_t rows, int64_t cols, int64_t inner, bool accumulate)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) {
            double s = b ? (double)b[j] : 0.0;
            for (int64_t e = 0; e < inner; e++)
                s += (double)x[r * inner + e] * w[j * inner + e];
            if (w2)
                for (int64_t e = 0; e < inner; e++)
                    s += (double)x2[r * inner + e] * w2[j * inner + e];
            y[r * cols + j] = (float)(accumulate ? y[r * cols + j] + s : s);
        }
}

/* y[r, e] = sum_j g[r, j] w[j, e] (+ sum_j g2[r, j] w2[j, e]): g [rows, cols], w [cols, inner]. */
static void rows_times_w(float *y, const float *g, const float *w, const float *g2, const float *w2, int64_t rows,
                         int64_t cols, int64_t inner)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t e = 0; e < inner; e++) {
            double s = 0.0;
            for (int64_t j = 0; j < cols; j++)
                s += (double)g[r * cols + j] * w[j * inner + e];
            if (w2)
                for (int64_t j = 0; j < cols; j++)
                    s += (double)g2[r * cols + j] * w2[j * inner + e];
            y[r * inner + e] = (float)s;
        }
}

/* h[j, e] += sum_r (g[r, j] x[r, e] + g2[r, j] x2[r, e]); hb[j] += sum_r g[r, j] (hb may be NULL). */
static void outer_sums(float *h, float *hb, const float *g, const float *x, const float *g2, const float *x2,
                       int64_t rows, int64_t cols, int64_t inner)
{
    if (h)
        for (int64_t j = 0; j < cols; j++)
            for (int64_t e = 0; e < inner; e++) {
                double s = 0.0;
                for (int64_t r = 0; r < rows; r++)
                    s += (double)g[r * cols + j] * x[r * inner + e] + (double)g2[r * cols + j] * x2[r * inner + e];
                h[j * inner + e] += (float)s;
            }
    if (hb)
        for (int64_t j = 0; j < cols; j++) {
            double s = 0.0;
            for (int64_t r = 0; r < rows; r++)
                s += (double)g[r * cols + j];
            hb[j] += (float)s;
        }
}

static int32_t param_index(sigeo_model_t *m, const sigeo__node_t *n, int k)
{
    return (int32_t)(param(m, n, k) - m->params);
}

sigeo_status_t sigeo__attention_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v)
{
    const sigeo__node_t *in = sigeo__input(m, n, 0);
    const attn_dims_t k = dims_of(n, m->batch);
    const int64_t rows = k.B * k.T, E = k.E, E3 = 3 * E, T = k.T, d = k.d;
    attn_buf_t bf;
    attn_r_t rb;
    sigeo_status_t st = buffers(&bf, m, n, &k); /* the forward's: contents kept */
    if (st == SIGEO_OK)
        st = r_buffers(&rb, m, n, &k);
    if (st != SIGEO_OK)
        return st;
    const float *vw_in = v[param_index(m, n, P_IN_W)], *vb_in = v[param_index(m, n, P_IN_B)];
    const float *vw_out = v[param_index(m, n, P_OUT_W)], *vb_out = v[param_index(m, n, P_OUT_B)];
    rows_times_wt(rb.pd, in->tangent, param(m, n, P_IN_W)->data, in->out, vw_in, vb_in, rows, E3, E, false);
    const double c = 1.0 / sqrt((double)d);
    for (int64_t b = 0; b < k.B; b++)
        for (int64_t h = 0; h < k.H; h++) {
            const float *A = bf.a + (b * k.H + h) * T * T;
            float *Ad = rb.ad + (b * k.H + h) * T * T;
            const int64_t base = b * T * E3 + h * d;
            for (int64_t t = 0; t < T; t++) {
                double rs = 0.0;
                for (int64_t u = 0; u < T; u++) {
                    double sd = 0.0;
                    for (int64_t i = 0; i < d; i++)
                        sd += (double)rb.pd[base + t * E3 + i] * bf.p[base + u * E3 + E + i] +
                              (double)bf.p[base + t * E3 + i] * rb.pd[base + u * E3 + E + i];
                    Ad[t * T + u] = (float)(c * sd); /* Sd for now */
                    rs += (double)A[t * T + u] * c * sd;
                }
                for (int64_t u = 0; u < T; u++)
                    Ad[t * T + u] = (float)((double)A[t * T + u] * ((double)Ad[t * T + u] - rs));
            }
            for (int64_t t = 0; t < T; t++)
                for (int64_t i = 0; i < d; i++) {
                    double s = 0.0;
                    for (int64_t u = 0; u < T; u++)
                        s += (double)Ad[t * T + u] * bf.p[base + u * E3 + 2 * E + i] +
                             (double)A[t * T + u] * rb.pd[base + u * E3 + 2 * E + i];
                    rb.od[(b * T + t) * E + h * d + i] = (float)s;
                }
        }
    rows_times_wt(n->tangent, rb.od, param(m, n, P_OUT_W)->data, bf.o, vw_out, vb_out, rows, E, E, false);
    return SIGEO_OK;
}

/* One (b, h) block of the reverse rule: R{dP} and dP of its Q, K, V columns. */
static void r_backward_head(const attn_dims_t *k, const attn_buf_t *bf, const attn_r_t *rb, int64_t b, int64_t h)
{
    const int64_t T = k->T, E = k->E, E3 = 3 * E, d = k->d;
    const double c = 1.0 / sqrt((double)d);
    const float *A = bf->a + (b * k->H + h) * T * T, *Ad = rb->ad + (b * k->H + h) * T * T;
    const int64_t base = b * T * E3 + h * d, obase = b * T * E + h * d;
#define Q(t, i) bf->p[base + (t) * E3 + (i)]
#define K(t, i) bf->p[base + (t) * E3 + E + (i)]
#define V(t, i) bf->p[base + (t) * E3 + 2 * E + (i)]
#define QD(t, i) rb->pd[base + (t) * E3 + (i)]
#define KD(t, i) rb->pd[base + (t) * E3 + E + (i)]
#define VD(t, i) rb->pd[base + (t) * E3 + 2 * E + (i)]
#define GO(t, i) rb->g_o[obase + (t) * E + (i)]
#define RGO(t, i) rb->rg_o[obase + (t) * E + (i)]
    for (int64_t t = 0; t < T; t++)
        for (int64_t u = 0; u < T; u++) {
            double s = 0.0, rs = 0.0;
            for (int64_t i = 0; i < d; i++) {
                s += (double)GO(t, i) * V(u, i);
                rs += (double)RGO(t, i) * V(u, i) + (double)GO(t, i) * VD(u, i);
            }
            rb->da[t * T + u] = (float)s;
            rb->rda[t * T + u] = (float)rs;
        }
    for (int64_t t = 0; t < T; t++) {
        double r = 0.0, rdot = 0.0;
        for (int64_t u = 0; u < T; u++) {
            r += (double)rb->da[t * T + u] * A[t * T + u];
            rdot += (double)rb->rda[t * T + u] * A[t * T + u] + (double)rb->da[t * T + u] * Ad[t * T + u];
        }
        for (int64_t u = 0; u < T; u++) {
            const double da = rb->da[t * T + u];
            rb->ds[t * T + u] = (float)((double)A[t * T + u] * (da - r));
            rb->rds[t * T + u] =
                (float)((double)Ad[t * T + u] * (da - r) + (double)A[t * T + u] * ((double)rb->rda[t * T + u] - rdot));
        }
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < d; i++) {
            double dq = 0, rdq = 0, dk = 0, rdk = 0, dv = 0, rdv = 0;
            for (int64_t u = 0; u < T; u++) {
                const double ds_tu = rb->ds[t * T + u], rds_tu = rb->rds[t * T + u];
                const double ds_ut = rb->ds[u * T + t], rds_ut = rb->rds[u * T + t];
                dq += ds_tu * K(u, i);
                rdq += rds_tu * K(u, i) + ds_tu * KD(u, i);
                dk += ds_ut * Q(u, i);
                rdk += rds_ut * Q(u, i) + ds_ut * QD(u, i);
                dv += (double)A[u * T + t] * GO(u, i);
                rdv += (double)Ad[u * T + t] * GO(u, i) + (double)A[u * T + t] * RGO(u, i);
            }
            rb->g_p[base + t * E3 + i] = (float)(c * dq);
            rb->rg_p[base + t * E3 + i] = (float)(c * rdq);
            rb->g_p[base + t * E3 + E + i] = (float)(c * dk);
            rb->rg_p[base + t * E3 + E + i] = (float)(c * rdk);
            rb->g_p[base + t * E3 + 2 * E + i] = (float)dv;
            rb->rg_p[base + t * E3 + 2 * E + i] = (float)rdv;
        }
#undef Q
#undef K
#undef V
#undef QD
#undef KD
#undef VD
#undef GO
#undef RGO
}

sigeo_status_t sigeo__attention_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v, float *const *hv)
{
    sigeo__node_t *in = sigeo__input(m, n, 0);
    const attn_dims_t k = dims_of(n, m->batch);
    const int64_t rows = k.B * k.T, E = k.E, E3 = 3 * E;
    attn_buf_t bf;
    attn_r_t rb;
    sigeo_status_t st = buffers(&bf, m, n, &k);
    if (st == SIGEO_OK)
        st = r_buffers(&rb, m, n, &k);
    if (st != SIGEO_OK)
        return st;
    const float *RG = n->grad, *G = n->r_grad;
    const float *w_in = param(m, n, P_IN_W)->data, *w_out = param(m, n, P_OUT_W)->data;
    const float *vw_in = v[param_index(m, n, P_IN_W)], *vw_out = v[param_index(m, n, P_OUT_W)];
    rows_times_w(rb.g_o, G, w_out, NULL, NULL, rows, E, E);
    rows_times_w(rb.rg_o, RG, w_out, G, vw_out, rows, E, E);
    outer_sums(hv[param_index(m, n, P_OUT_W)], hv[param_index(m, n, P_OUT_B)], RG, bf.o, G, rb.od, rows, E, E);
    for (int64_t b = 0; b < k.B; b++)
        for (int64_t h = 0; h < k.H; h++)
            r_backward_head(&k, &bf, &rb, b, h);
    outer_sums(hv[param_index(m, n, P_IN_W)], hv[param_index(m, n, P_IN_B)], rb.rg_p, in->out, rb.g_p, in->tangent,
               rows, E3, E);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    float *tmp = rb.g_o; /* dO is no longer needed: R{dX} first there */
    rows_times_w(tmp, rb.rg_p, w_in, rb.g_p, vw_in, rows, E3, E);
    for (int64_t i = 0; i < rows * E; i++)
        dx[i] = acc ? dx[i] + tmp[i] : tmp[i];
    return SIGEO_OK;
}


/* nn.MultiheadAttention._reset_parameters: xavier_uniform_ on in_proj_weight
 * (fan_in E, fan_out 3E), zero biases; out_proj.weight keeps nn.Linear's
 * kaiming_uniform(a=sqrt 5) bound 1/sqrt(E). */
static void attn_init(sigeo_model_t *m, const sigeo__node_t *n, sigeo__param_t *p)
{
    const int64_t E = n->units;
    switch ((int)(p - m->params) - n->param[0]) {
    case P_IN_W: sigeo__init_uniform(m, p, sqrt(6.0 / (double)(E + 3 * E))); break;
    case P_OUT_W: sigeo__init_uniform(m, p, 1.0 / sqrt((double)E)); break;
    default: memset(p->data, 0, (size_t)p->numel * sizeof(float)); break;
    }
}

static int64_t attn_active_numel(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p)
{
    (void)m;
    (void)n;
    return p->numel;
}

static int64_t attn_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    (void)m;
    const int64_t E = n->units, T = n->width / E;
    const int64_t proj = sigeo__sat_mul_i64(4 * T, sigeo__sat_mul_i64(E, E));
    return sigeo__sat_add_i64(proj, sigeo__sat_mul_i64(2 * T, sigeo__sat_mul_i64(T, E)));
}

const sigeo__op_t sigeo__op_attention = {
    .name = "attention", .configure = attn_configure, .infer = attn_infer, .forward = attn_forward,
    .backward = attn_backward, .flops = attn_flops, .init_param = attn_init, .active_numel = attn_active_numel,
    .jvp = attn_jvp,
};
