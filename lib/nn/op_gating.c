/* NASRec sigmoid gating: inputs L and R, the narrower zero-padded to the
 * wider active width V; z = L W^T + b (an nn.Linear(V, V) on padded L),
 * out = sigmoid(z) * R. The padding is never materialised: the GEMM runs
 * over L's active features only (the padded columns multiply zeros), one
 * column block of W per run of L as in the linear layer, and gate outputs
 * past R's width multiply zeros. W's active rows are the first V.
 *
 * Scratch (floats): z [B, V], g = sigmoid(z) [B, V], dz [B, V]. */
#include <math.h>
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static sigeo_status_t gate_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    if (d->n_inputs != 2)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: sigmoid gating '%s' takes 2 inputs (L, R), got %u", fn, d->name,
                    (unsigned)d->n_inputs);
    const sigeo__node_t *l = &m->nodes[d->inputs[0]], *r = &m->nodes[d->inputs[1]];
    if (l->max_width < 1 || r->max_width < 1)
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: sigmoid gating '%s': inputs '%s' (%lld) and '%s' (%lld) need features", fn,
                    d->name, l->name, (long long)l->max_width, r->name, (long long)r->max_width);
    const int64_t V = l->max_width > r->max_width ? l->max_width : r->max_width;
    n->units = n->max_width = V;
    n->module = m->n_modules;
    const int64_t wd[2] = { V, V };
    sigeo_status_t st = sigeo__model_add_param(m, n, 0, "weight", SIGEO_PARAM_WEIGHT, 2, wd);
    if (st == SIGEO_OK)
        st = sigeo__model_add_param(m, n, 1, "bias", SIGEO_PARAM_BIAS, 1, wd);
    return st;
}

static sigeo_status_t gate_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    if (l->width < 1 || r->width < 1)
        return FAIL(m, SIGEO_ERR_SHAPE, "sigmoid gating '%s': inputs '%s' (%lld) and '%s' (%lld) need active features",
                    n->name, l->name, (long long)l->width, r->name, (long long)r->width);
    n->width = l->width > r->width ? l->width : r->width;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t gate_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *bias = m->params[n->param[1]].data;
    const int64_t B = b->batch_size, V = n->width, Vmax = w->dims[1], lw = l->width, rw = r->width;
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(3 * B * V) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *z = n->scratch, *g = z + B * V;
    for (int32_t k = 0; k < l->n_runs; k++) {
        const sigeo__run_t *run = &l->runs[k];
        sigeo__matmul_shape_t sh = {
            .m = B, .n = V, .k = run->len, .a_stride = { lw, 1 }, .b_stride = { 1, Vmax }, .c_stride = { V, 1 },
            .bias = k == 0, .accumulate = k > 0,
        };
        st = sigeo__matmul(&n->slots[3 * k], m->engine, &sh, l->out + run->active_offset, w->data + run->max_offset,
                           bias, z);
        if (st != SIGEO_OK)
            return st;
    }
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            const float s = (float)(1.0 / (1.0 + exp(-(double)z[i * V + j])));
            g[i * V + j] = s;
            n->out[i * V + j] = j < rw ? s * r->out[i * rw + j] : 0.0f;
        }
    return SIGEO_OK;
}

static sigeo_status_t gate_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    sigeo__param_t *w = &m->params[n->param[0]], *bp = &m->params[n->param[1]];
    const int64_t B = m->batch, V = n->width, Vmax = w->dims[1], lw = l->width, rw = r->width;
    float *z = n->scratch, *g = z + B * V, *dz = g + B * V;
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            const float s = g[i * V + j], rv = j < rw ? r->out[i * rw + j] : 0.0f;
            dz[i * V + j] = n->grad[i * V + j] * rv * s * (1.0f - s);
        }
    if (sigeo__wants_grad(m, r)) {
        bool acc;
        float *dr = sigeo__grad_target(r, &acc);
        for (int64_t i = 0; i < B; i++)
            for (int64_t j = 0; j < rw; j++) {
                const float v = n->grad[i * V + j] * g[i * V + j];
                dr[i * rw + j] = acc ? dr[i * rw + j] + v : v;
            }
    }
    const bool want_dl = sigeo__wants_grad(m, l);
    bool acc = false;
    float *dl = want_dl ? sigeo__grad_target(l, &acc) : NULL;
    for (int32_t k = 0; k < l->n_runs; k++) {
        const sigeo__run_t *run = &l->runs[k];
        sigeo_status_t st;
        if (want_dl) {
            sigeo__matmul_shape_t sh = {
                .m = B, .n = run->len, .k = V, .a_stride = { V, 1 }, .b_stride = { Vmax, 1 }, .c_stride = { lw, 1 },
                .accumulate = acc,
            };
            st = sigeo__matmul(&n->slots[3 * k + 1], m->engine, &sh, dz, w->data + run->max_offset, NULL,
                               dl + run->active_offset);
            if (st != SIGEO_OK)
                return st;
        }
        sigeo__matmul_shape_t dw = {
            .m = V, .n = run->len, .k = B, .a_stride = { 1, V }, .b_stride = { lw, 1 }, .c_stride = { Vmax, 1 },
        };
        st = sigeo__matmul(&n->slots[3 * k + 2], m->engine, &dw, dz, l->out + run->active_offset, NULL,
                           w->grad + run->max_offset);
        if (st != SIGEO_OK)
            return st;
    }
    for (int64_t j = 0; j < V; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < B; i++)
            s += dz[i * V + j];
        bp->grad[j] = (float)s;
    }
    w->grad_dirty = bp->grad_dirty = true;
    /* The parameters enter through z = L W^T + b, linear in (W, b); the gate
     * sigmoid(z) is not homogeneous, so the identity is taken at z:
     * theta . grad l_n = dz_n . z_n, exact per sample. */
    sigeo__add_directional(m, z, dz, B, V);
    return SIGEO_OK;
}

/* Forward-mode pass: zdot = Ldot W^T + (L W^T + b) = Ldot W^T + z (the
 * parameters enter through z only, linearly), then with g = sigmoid(z),
 * outdot = g (1 - g) zdot R + g Rdot on R's width, 0 past it. zdot lives in
 * the pass's scratch; the slots are used as in the linear layer. */
static sigeo_status_t gate_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const int64_t B = m->batch, V = n->width, Vmax = w->dims[1], lw = l->width, rw = r->width;
    sigeo_status_t st = sigeo__node_jvp_scratch(m, n, (size_t)(B * V) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    const float *z = n->scratch, *g = z + B * V;
    float *zd = n->jvp_scratch;
    memcpy(zd, z, (size_t)(B * V) * sizeof(float));
    for (int32_t k = 0; k < l->n_runs && l->kind != SIGEO__NODE_INPUT_DENSE; k++) {
        const sigeo__run_t *run = &l->runs[k];
        sigeo__matmul_shape_t sh = {
            .m = B, .n = V, .k = run->len, .a_stride = { lw, 1 }, .b_stride = { 1, Vmax }, .c_stride = { V, 1 },
            .accumulate = true,
        };
        sigeo__prim_slot_t **slot = k == 0 ? &n->slots[n->n_slots - 1] : &n->slots[3 * k];
        if ((st = sigeo__matmul(slot, m->engine, &sh, l->tangent + run->active_offset, w->data + run->max_offset,
                                NULL, zd)) != SIGEO_OK)
            return st;
    }
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            float *t = n->tangent + i * V + j;
            if (j >= rw) {
                *t = 0.0f;
                continue;
            }
            const double s = g[i * V + j];
            *t = (float)(s * (1.0 - s) * zd[i * V + j] * r->out[i * rw + j] + s * r->tangent[i * rw + j]);
        }
    return SIGEO_OK;
}

/* ------------------------------------------------ Hessian-vector rules
 * (hvp.c; directions v and products hv on W and b, each possibly NULL).
 * With s = sigmoid(z), s' = s (1 - s), s'' = s' (1 - 2 s):
 *   zdot  = Ldot W^T + L V^T + v_b,
 *   outdot = s' zdot R + s Rdot                       (R's width; 0 past it)
 * and, on the reverse sweep (grads swapped: n->grad = R{g}, n->r_grad = g),
 *   dz     = g R s',
 *   R{dz}  = R{g} R s' + g Rdot s' + g R s'' zdot,
 *   R{dR}  = R{g} s + g s' zdot,
 *   R{dL}  = R{dz} W + dz V,
 *   R{dW}  = R{dz}^T L + dz^T Ldot,   R{db} = sum_rows R{dz}.
 * The s'' term is the gate's own curvature, the cross terms those of the
 * product s * R and of z = L W^T (what autograd's double backward takes).
 * Plain loops (a GraSP pass, not a training step), contiguous innermost.
 * zdot and R{dz} live in the pass's scratch between the two sweeps; dz is
 * recomputed into the forward's scratch. */
sigeo_status_t sigeo__gating_r_forward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v)
{
    const sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]], *vb = v[n->param[1]];
    const int64_t B = m->batch, V = n->width, ld = w->dims[1], lw = l->width, rw = r->width;
    sigeo_status_t st = sigeo__node_jvp_scratch(m, n, (size_t)(2 * B * V) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    const float *g = (const float *)n->scratch + B * V;
    float *zd = n->jvp_scratch;
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            double sum = vb ? (double)vb[j] : 0.0;
            for (int32_t k = 0; k < l->n_runs; k++) {
                const sigeo__run_t *run = &l->runs[k];
                const float *lt = l->tangent + i * lw + run->active_offset, *wr = w->data + j * ld + run->max_offset;
                for (int64_t t = 0; t < run->len; t++)
                    sum += (double)lt[t] * (double)wr[t];
                if (vw) {
                    const float *lx = l->out + i * lw + run->active_offset, *vr = vw + j * ld + run->max_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        sum += (double)lx[t] * (double)vr[t];
                }
            }
            zd[i * V + j] = (float)sum;
        }
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            const double s = g[i * V + j];
            n->tangent[i * V + j] =
                j < rw ? (float)(s * (1.0 - s) * zd[i * V + j] * r->out[i * rw + j] + s * r->tangent[i * rw + j])
                       : 0.0f;
        }
    return SIGEO_OK;
}

sigeo_status_t sigeo__gating_r_backward(sigeo_model_t *m, sigeo__node_t *n, const float *const *v, float *const *hv)
{
    sigeo__node_t *l = sigeo__input(m, n, 0), *r = sigeo__input(m, n, 1);
    const sigeo__param_t *w = &m->params[n->param[0]];
    const float *vw = v[n->param[0]];
    float *hw = hv[n->param[0]], *hb = hv[n->param[1]];
    const int64_t B = m->batch, V = n->width, ld = w->dims[1], lw = l->width, rw = r->width;
    const float *rg = n->grad, *gg = n->r_grad;
    const float *g = (const float *)n->scratch + B * V;
    float *dz = (float *)n->scratch + 2 * B * V, *zd = n->jvp_scratch, *rdz = zd + B * V;
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < V; j++) {
            const double s = g[i * V + j], sp = s * (1.0 - s), spp = sp * (1.0 - 2.0 * s);
            const double rv = j < rw ? r->out[i * rw + j] : 0.0, rd = j < rw ? r->tangent[i * rw + j] : 0.0;
            const double g1 = gg[i * V + j], r1 = rg[i * V + j];
            dz[i * V + j] = (float)(g1 * rv * sp);
            rdz[i * V + j] = (float)(r1 * rv * sp + g1 * rd * sp + g1 * rv * spp * zd[i * V + j]);
        }
    if (sigeo__wants_grad(m, r)) {
        bool acc;
        float *dr = sigeo__grad_target(r, &acc);
        for (int64_t i = 0; i < B; i++)
            for (int64_t j = 0; j < rw; j++) {
                const double s = g[i * V + j];
                const float x = (float)(rg[i * V + j] * s + gg[i * V + j] * s * (1.0 - s) * zd[i * V + j]);
                dr[i * rw + j] = acc ? dr[i * rw + j] + x : x;
            }
    }
    if (sigeo__wants_grad(m, l)) {
        bool acc;
        float *dl = sigeo__grad_target(l, &acc);
        if (!acc)
            memset(dl, 0, (size_t)(B * lw) * sizeof(float));
        for (int64_t i = 0; i < B; i++)
            for (int64_t j = 0; j < V; j++) {
                const float a = rdz[i * V + j], c = dz[i * V + j];
                for (int32_t k = 0; k < l->n_runs; k++) {
                    const sigeo__run_t *run = &l->runs[k];
                    float *d = dl + i * lw + run->active_offset;
                    const float *wr = w->data + j * ld + run->max_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        d[t] += a * wr[t];
                    if (vw) {
                        const float *vr = vw + j * ld + run->max_offset;
                        for (int64_t t = 0; t < run->len; t++)
                            d[t] += c * vr[t];
                    }
                }
            }
    }
    if (hw)
        for (int64_t j = 0; j < V; j++)
            for (int64_t i = 0; i < B; i++) {
                const float a = rdz[i * V + j], c = dz[i * V + j];
                for (int32_t k = 0; k < l->n_runs; k++) {
                    const sigeo__run_t *run = &l->runs[k];
                    float *h = hw + j * ld + run->max_offset;
                    const float *lx = l->out + i * lw + run->active_offset, *lt = l->tangent + i * lw + run->active_offset;
                    for (int64_t t = 0; t < run->len; t++)
                        h[t] += a * lx[t] + c * lt[t];
                }
            }
    if (hb)
        for (int64_t j = 0; j < V; j++) {
            double sum = 0.0;
            for (int64_t i = 0; i < B; i++)
                sum += (double)rdz[i * V + j];
            hb[j] += (float)sum;
        }
    return SIGEO_OK;
}

static int64_t gate_active_numel(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p)
{
    if (p->kind == SIGEO_PARAM_BIAS)
        return n->width;
    return n->width * m->nodes[n->inputs[0]].width;
}

static int64_t gate_flops(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return n->width * m->nodes[n->inputs[0]].width + n->width;
}

/* The weight's active slice: the first `width` rows x input 0's runs. */
static void gate_param_slice(const sigeo_model_t *m, const sigeo__node_t *n, const sigeo__param_t *p,
                             sigeo__param_slice_t *out)
{
    (void)m;
    if (p->kind == SIGEO_PARAM_WEIGHT)
        *out = (sigeo__param_slice_t){ SIGEO__SLICE_INPUT_RUNS, n->width, 1 };
}

const sigeo__op_t sigeo__op_sigmoid_gating = {
    .name = "sigmoid gating", .configure = gate_configure, .infer = gate_infer, .forward = gate_forward,
    .backward = gate_backward, .flops = gate_flops, .active_numel = gate_active_numel, .jvp = gate_jvp,
    .param_slice = gate_param_slice,
};
