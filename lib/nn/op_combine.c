/* Combining nodes: elementwise sum (narrower inputs zero-padded, as the
 * NASRec sum node), concatenation along features, and the op choice
 * (select). Inputs may be gated on/off by 2-option choice points. */
#include <string.h>

#include "nn/graph.h"

static sigeo_status_t select_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo_status_t st = SIGEO_OK;
    if ((st = sigeo__model_check_choice(m, d->choice, (int32_t)d->n_inputs, "choice", d->name)) != SIGEO_OK)
        return st;
    int64_t widest = 0;
    int32_t runs = 1;
    for (uint32_t i = 0; i < d->n_inputs; i++) {
        const sigeo__node_t *in = &m->nodes[d->inputs[i]];
        widest = in->max_width > widest ? in->max_width : widest;
        runs = in->max_runs > runs ? in->max_runs : runs;
    }
    n->choice = d->choice;
    n->max_width = widest;
    n->max_runs = runs;
    return SIGEO_OK;
}

static sigeo_status_t sum_concat_configure(sigeo_model_t *m, sigeo__node_t *n, const sigeo_layer_desc_t *d)
{
    sigeo_status_t st = SIGEO_OK;
    int64_t total = 0, widest = 0;
    int32_t runs = 0;
    for (uint32_t i = 0; i < d->n_inputs; i++) {
        const sigeo__node_t *in = &m->nodes[d->inputs[i]];
        if (!sigeo__add_elems(&total, total, in->max_width))
            total = INT64_MAX; /* refused by add_layer's limit (CONCAT only) */
        widest = in->max_width > widest ? in->max_width : widest;
        runs += in->max_runs;
        if (d->input_choices && d->input_choices[i] >= 0 &&
            (st = sigeo__model_check_choice(m, d->input_choices[i], 2, "input choice", d->name)) != SIGEO_OK)
            return st;
    }
    if (d->kind == SIGEO_LAYER_SUM) {
        n->max_width = widest; /* narrower inputs count as zero-padded, as NASRec's sum node */
    } else {
        n->max_width = total;
        n->max_runs = runs;
    }
    return SIGEO_OK;
}

/* Writes or adds a [B, w] block into columns [0, w) of a [B, ld] buffer. */
static void put_block(float *restrict dst, int64_t ld, const float *restrict src, int64_t src_ld, int64_t B,
                      int64_t w, bool add)
{
    for (int64_t r = 0; r < B; r++) {
        float *restrict d = dst + r * ld;
        const float *restrict s = src + r * src_ld;
        if (add) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                d[j] += s[j];
        } else {
            memcpy(d, s, (size_t)w * sizeof(float));
        }
    }
}

/* dst [B, W] = the sum of the active inputs' rows (values, or with
 * `tangents` their tangents), a narrower input zero-padded: the first input
 * of full width is copied rather than added to zeros (one pass less). */
static void sum_rows(float *dst, sigeo_model_t *m, const sigeo__node_t *n, int64_t B, bool tangents)
{
    const int64_t W = n->width;
    int32_t first = -1;
    for (int32_t i = 0; i < n->n_inputs && first < 0; i++)
        if (sigeo__input_on(m, n, i) && sigeo__input(m, n, i)->width == W)
            first = i;
    if (first >= 0) {
        const sigeo__node_t *in = sigeo__input(m, n, first);
        put_block(dst, W, tangents ? in->tangent : in->out, W, B, W, false);
    } else {
        memset(dst, 0, (size_t)(B * W) * sizeof(float));
    }
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (i != first && sigeo__input_on(m, n, i)) {
            const sigeo__node_t *in = sigeo__input(m, n, i);
            put_block(dst, W, tangents ? in->tangent : in->out, in->width, B, in->width, true);
        }
}

static sigeo_status_t sum_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    int64_t w = 0;
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (sigeo__input_on(m, n, i)) {
            const sigeo__node_t *in = sigeo__input(m, n, i);
            w = in->width > w ? in->width : w;
        }
    if (w == 0)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "sum '%s': no input is active under this architecture", n->name);
    n->width = w;
    n->runs[0] = (sigeo__run_t){ 0, 0, w };
    n->n_runs = 1;
    return SIGEO_OK;
}

static sigeo_status_t sum_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    sum_rows(n->out, m, n, b->batch_size, false);
    return SIGEO_OK;
}

static sigeo_status_t sum_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    for (int32_t i = 0; i < n->n_inputs; i++) {
        sigeo__node_t *in = sigeo__input(m, n, i);
        if (!sigeo__input_on(m, n, i) || !sigeo__wants_grad(m, in))
            continue;
        bool acc;
        float *dx = sigeo__grad_target(in, &acc);
        put_block(dx, in->width, n->grad, n->width, m->batch, in->width, acc);
    }
    return SIGEO_OK;
}

static sigeo_status_t concat_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    int64_t active = 0, max_offset = 0;
    int32_t runs = 0;
    for (int32_t i = 0; i < n->n_inputs; i++) {
        const sigeo__node_t *in = sigeo__input(m, n, i);
        if (sigeo__input_on(m, n, i)) {
            for (int32_t r = 0; r < in->n_runs; r++)
                n->runs[runs++] = (sigeo__run_t){ max_offset + in->runs[r].max_offset,
                                                  active + in->runs[r].active_offset, in->runs[r].len };
            active += in->width;
        }
        max_offset += in->max_width;
    }
    if (active == 0)
        return SIGEO__MODEL_FAIL(m, SIGEO_ERR_SHAPE, "concat '%s': no input is active under this architecture",
                                 n->name);
    n->width = active;
    n->n_runs = runs;
    return SIGEO_OK;
}

static sigeo_status_t concat_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    int64_t col = 0;
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (sigeo__input_on(m, n, i)) {
            const sigeo__node_t *in = sigeo__input(m, n, i);
            put_block(n->out + col, n->width, in->out, in->width, b->batch_size, in->width, false);
            col += in->width;
        }
    return SIGEO_OK;
}

static sigeo_status_t concat_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    int64_t col = 0;
    for (int32_t i = 0; i < n->n_inputs; i++) {
        if (!sigeo__input_on(m, n, i))
            continue;
        sigeo__node_t *in = sigeo__input(m, n, i);
        if (sigeo__wants_grad(m, in)) {
            bool acc;
            float *dx = sigeo__grad_target(in, &acc);
            put_block(dx, in->width, n->grad + col, n->width, m->batch, in->width, acc);
        }
        col += in->width;
    }
    return SIGEO_OK;
}

static sigeo_status_t select_infer(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, m->arch[n->choice]);
    n->width = in->width;
    n->n_runs = in->n_runs;
    memcpy(n->runs, in->runs, (size_t)in->n_runs * sizeof *in->runs);
    return SIGEO_OK;
}

static sigeo_status_t select_forward(sigeo_model_t *m, sigeo__node_t *n, const sigeo_batch_t *b)
{
    const sigeo__node_t *in = sigeo__input(m, n, m->arch[n->choice]);
    memcpy(n->out, in->out, (size_t)(b->batch_size * n->width) * sizeof(float));
    return SIGEO_OK;
}

static sigeo_status_t select_backward(sigeo_model_t *m, sigeo__node_t *n)
{
    sigeo__node_t *in = sigeo__input(m, n, m->arch[n->choice]);
    if (!sigeo__wants_grad(m, in))
        return SIGEO_OK;
    bool acc;
    float *dx = sigeo__grad_target(in, &acc);
    put_block(dx, n->width, n->grad, n->width, m->batch, n->width, acc);
    return SIGEO_OK;
}

/* Forward-mode pass: the three are linear in their inputs, so the tangents
 * move exactly as the values do. */
static sigeo_status_t sum_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    sum_rows(n->tangent, m, n, m->batch, true);
    return SIGEO_OK;
}

static sigeo_status_t concat_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    int64_t col = 0;
    for (int32_t i = 0; i < n->n_inputs; i++)
        if (sigeo__input_on(m, n, i)) {
            const sigeo__node_t *in = sigeo__input(m, n, i);
            put_block(n->tangent + col, n->width, in->tangent, in->width, m->batch, in->width, false);
            col += in->width;
        }
    return SIGEO_OK;
}

static sigeo_status_t select_jvp(sigeo_model_t *m, sigeo__node_t *n)
{
    const sigeo__node_t *in = sigeo__input(m, n, m->arch[n->choice]);
    memcpy(n->tangent, in->tangent, (size_t)(m->batch * n->width) * sizeof(float));
    return SIGEO_OK;
}

const sigeo__op_t sigeo__op_sum = {
    .name = "sum",
    .configure = sum_concat_configure,
    .infer = sum_infer,
    .forward = sum_forward,
    .backward = sum_backward,
    .jvp = sum_jvp,
};
const sigeo__op_t sigeo__op_concat = {
    .name = "concat",
    .configure = sum_concat_configure,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .jvp = concat_jvp,
};
/* Only the chosen branch reaches a select; a standalone model has no op
 * choice, so the select collapses to that branch. */
static bool select_input_on(const sigeo_model_t *m, const sigeo__node_t *n, int32_t i)
{
    return m->arch[n->choice] == i;
}

static int32_t select_standalone_alias(const sigeo_model_t *m, const sigeo__node_t *n)
{
    return m->arch[n->choice];
}

const sigeo__op_t sigeo__op_select = {
    .name = "select",
    .configure = select_configure,
    .infer = select_infer,
    .forward = select_forward,
    .backward = select_backward,
    .jvp = select_jvp,
    .standalone_alias = select_standalone_alias,
    .input_on = select_input_on,
};
