/* DLRM dot-product interaction: for vectors z_0..z_{n-1} of equal width E,
 * out = [z_i . z_j for i = 1..n-1, j = 0..i-1] (row-major lower triangle).
 * The vectors are either n separate inputs, or the T tokens of one input
 * shaped (T, E) — then T may be elastic: the pairs of the first T' tokens
 * are a prefix of those of T, so the active output is a prefix too. */
#include <string.h>

#include "nn/op_shape.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static bool token_mode(const sigeo__node_t *n)
{
    return n->n_inputs == 1;
}

static sigeo_status_t dot_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    static const char fn[] = "sigeo_model_add_layer";
    sigeo__node_t *in0 = &m->nodes[d->inputs[0]];
    if (d->n_inputs == 1) {
        sigeo__shape_t s = sigeo__node_shape(m, in0);
        if (s.ndim != 2 || s.d[0] < 2)
            return FAIL(m, SIGEO_ERR_SHAPE,
                        "%s: dot interaction '%s' with one input needs (T, E) tokens, T >= 2; '%s' is not shaped so",
                        fn, d->name, in0->name);
        n->units = s.d[1]; /* E */
        if (!sigeo__mul_i64(&n->max_width, s.d[0], s.d[0] - 1))
            n->max_width = INT64_MAX; /* refused by add_layer's limit */
        n->max_width /= 2;
        return SIGEO_OK;
    }
    for (uint32_t i = 0; i < d->n_inputs; i++)
        if (m->nodes[d->inputs[i]].max_width != in0->max_width)
            return FAIL(m, SIGEO_ERR_SHAPE, "%s: dot interaction '%s': input %u has width %lld, input 0 has %lld", fn,
                        d->name, (unsigned)i, (long long)m->nodes[d->inputs[i]].max_width, (long long)in0->max_width);
    n->units = in0->max_width;
    if (!sigeo__mul_i64(&n->max_width, (int64_t)d->n_inputs, (int64_t)d->n_inputs - 1))
        n->max_width = INT64_MAX; /* refused by add_layer's limit */
    n->max_width /= 2;
    return SIGEO_OK;
}

/* Number of vectors and their width under the active architecture. */
static void vectors(const sigeo_model_t *m, const sigeo__node_t *n, int64_t *count, int64_t *width)
{
    const sigeo__node_t *in0 = &m->nodes[n->inputs[0]];
    if (token_mode(n)) {
        *width = n->units;
        *count = in0->width / n->units;
    } else {
        *width = in0->width;
        *count = n->n_inputs;
    }
}

static sigeo_status_t dot_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in0 = sigeo__input(m, n, 0);
    if (token_mode(n)) {
        if (in0->width % n->units || in0->width / n->units < 2)
            return FAIL(m, SIGEO_ERR_SHAPE, "dot interaction '%s': input '%s' has %lld active features, not >= 2 tokens of %lld",
                        n->name, in0->name, (long long)in0->width, (long long)n->units);
    } else {
        for (int32_t i = 1; i < n->n_inputs; i++)
            if (sigeo__input(m, n, i)->width != in0->width)
                return FAIL(m, SIGEO_ERR_SHAPE,
                            "dot interaction '%s': input %d is %lld wide under this architecture, input 0 %lld",
                            n->name, (int)i, (long long)sigeo__input(m, n, i)->width, (long long)in0->width);
    }
    int64_t count, width;
    vectors(m, n, &count, &width);
    n->width = count * (count - 1) / 2;
    n->runs[0] = (sigeo__run_t){ 0, 0, n->width };
    n->n_runs = 1;
    return SIGEO_OK;
}

/* Vector i of row r. */
static const float *vec(sigeo_model_t *m, const sigeo__node_t *n, int64_t i, int64_t r, int64_t E)
{
    if (token_mode(n)) {
        const sigeo__node_t *in = sigeo__input(m, n, 0);
        return in->out + r * in->width + i * E;
    }
    return sigeo__input(m, n, (int32_t)i)->out + r * E;
}

/* acc[j] += a * row[j] for j < count: the dots of one vector with all the
 * earlier ones advance by one k together (vector lanes across j). */
static inline void dots_step(double *restrict acc, double a, const double *restrict row, int64_t count)
{
#pragma omp simd
    for (int64_t j = 0; j < count; j++)
        acc[j] += a * row[j];
}

/* Each row's vectors are first copied, as doubles, k-major (t[k][i]), so
 * that vector i's dots with every j < i run side by side in vector lanes
 * instead of one 16-long dependent chain of additions per pair. Every dot
 * is still summed over k in order from 0.0, and a float-by-float product
 * is exact in double, so the outputs are the bits of the pair-by-pair loop
 * (z_i . z_j in double, rounded once to float). */
static sigeo_status_t dot_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    int64_t N, E;
    vectors(m, n, &N, &E);
    const int64_t B = b->batch_size, W = n->width;
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(N * E + N) * sizeof(double));
    if (st != SIGEO_OK)
        return st;
    double *t = n->scratch, *acc = t + N * E;
    for (int64_t r = 0; r < B; r++) {
        for (int64_t i = 0; i < N; i++) {
            const float *zi = vec(m, n, i, r, E);
            for (int64_t k = 0; k < E; k++)
                t[k * N + i] = zi[k];
        }
        float *out = n->out + r * W;
        for (int64_t i = 1; i < N; i++) {
            memset(acc, 0, (size_t)i * sizeof *acc);
            for (int64_t k = 0; k < E; k++)
                dots_step(acc, t[k * N + i], t + k * N, i);
            for (int64_t j = 0; j < i; j++)
                *out++ = (float)acc[j];
        }
    }
    return SIGEO_OK;
}

static const float *vec_tangent(sigeo_model_t *m, const sigeo__node_t *n, int64_t i, int64_t r, int64_t E);

/* One pair's share: a += g * x, b += g * y. The two gradient rows are
 * distinct (i != j) and neither is an input, so the element loop runs in
 * vector lanes; each element's sum keeps its order over the pairs. */
static inline void pair_grad(float *restrict a, float *restrict b, float g, const float *restrict x,
                             const float *restrict y, int64_t E)
{
#pragma omp simd
    for (int64_t k = 0; k < E; k++) {
        a[k] += g * x[k];
        b[k] += g * y[k];
    }
}

/* dz_i = sum_j g_ij z_j over the pairs, and with g2 non-NULL (the
 * Hessian-vector pass) also sum_j g2_ij zdot_j, the tangents' term. */
static sigeo_status_t dot_backward_with(sigeo_model_t *m, sigeo__node_t *n, const float *g2)
{
    int64_t N, E;
    vectors(m, n, &N, &E);
    const int64_t B = m->batch, W = n->width;
    /* Gradients of all vectors in scratch first ([N][B][E]): an input may
     * appear twice, and token mode writes one input. */
    sigeo_status_t st = sigeo__node_scratch(m, n, (size_t)(N * B * E) * sizeof(float));
    if (st != SIGEO_OK)
        return st;
    float *dz = n->scratch;
    memset(dz, 0, (size_t)(N * B * E) * sizeof(float));
    for (int64_t r = 0; r < B; r++) {
        int64_t p = 0;
        for (int64_t i = 1; i < N; i++) {
            const float *zi = vec(m, n, i, r, E);
            for (int64_t j = 0; j < i; j++) {
                const float *zj = vec(m, n, j, r, E);
                const float g = n->grad[r * W + p++];
                float *dzi = dz + (i * B + r) * E, *dzj = dz + (j * B + r) * E;
                pair_grad(dzi, dzj, g, zj, zi, E);
                if (!g2)
                    continue;
                const float h = g2[r * W + p - 1];
                pair_grad(dzi, dzj, h, vec_tangent(m, n, j, r, E), vec_tangent(m, n, i, r, E), E);
            }
        }
    }
    if (token_mode(n)) {
        sigeo__node_t *in = sigeo__input(m, n, 0);
        if (!sigeo__wants_grad(m, in))
            return SIGEO_OK;
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        for (int64_t r = 0; r < B; r++)
            for (int64_t i = 0; i < N; i++) {
                float *o = dx + r * in->width + i * E;
                const float *src = dz + (i * B + r) * E;
                for (int64_t k = 0; k < E; k++)
                    o[k] = acc ? o[k] + src[k] : src[k];
            }
        return SIGEO_OK;
    }
    for (int64_t i = 0; i < N; i++) {
        sigeo__node_t *in = sigeo__input(m, n, (int32_t)i);
        if (!sigeo__wants_grad(m, in))
            continue;
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        const float *src = dz + i * B * E;
        if (acc)
            for (int64_t k = 0; k < B * E; k++)
                dx[k] += src[k];
        else
            memcpy(dx, src, (size_t)(B * E) * sizeof(float));
    }
    return SIGEO_OK;
}

static sigeo_status_t dot_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    return dot_backward_with(m, n, NULL);
}

/* Hessian-vector pass (hvp.c swaps the grads: n->grad = R{g}, n->r_grad =
 * g): R{dz_i} = sum_j R{g_ij} z_j + g_ij zdot_j -- the product is bilinear,
 * its second derivative the cross term. The forward rule is dot_jvp (no
 * parameters). */
sigeo_status_t sigeo__dot_r_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    return dot_backward_with(m, n, n->r_grad);
}

/* The tangent of vector i of row r (as vec()). */
static const float *vec_tangent(sigeo_model_t *m, const sigeo__node_t *n, int64_t i, int64_t r, int64_t E)
{
    if (token_mode(n)) {
        const sigeo__node_t *in = sigeo__input(m, n, 0);
        return in->tangent + r * in->width + i * E;
    }
    return sigeo__input(m, n, (int32_t)i)->tangent + r * E;
}

/* Forward-mode pass: (z_i . z_j)' = zdot_i . z_j + z_i . zdot_j. No parameters. */
static sigeo_status_t dot_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    int64_t N, E;
    vectors(m, n, &N, &E);
    const int64_t W = n->width;
    for (int64_t r = 0; r < m->batch; r++) {
        int64_t p = 0;
        for (int64_t i = 1; i < N; i++) {
            const float *zi = vec(m, n, i, r, E), *di = vec_tangent(m, n, i, r, E);
            for (int64_t j = 0; j < i; j++) {
                const float *zj = vec(m, n, j, r, E), *dj = vec_tangent(m, n, j, r, E);
                double s = 0.0;
                for (int64_t k = 0; k < E; k++)
                    s += (double)di[k] * zj[k] + (double)zi[k] * dj[k];
                n->tangent[r * W + p++] = (float)s;
            }
        }
    }
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_dot_interaction = {
    .name = "dot interaction",
    .configure = dot_configure,
    .infer = dot_infer,
    .forward = dot_forward,
    .backward = dot_backward,
    .jvp = dot_jvp,
};
