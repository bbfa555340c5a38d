/* Model-building shorthands shared by the engine tests: a failing builder
 * call fails the current Check test with the library's message. */
#ifndef SIGEO_TEST_BUILD_H
#define SIGEO_TEST_BUILD_H

#include <check.h>

#include "sigeo/model.h"

/* A one-input layer description (other fields at their defaults). */
static inline sigeo_layer_desc_t desc(sigeo_layer_kind_t kind, const char *name, const int32_t *in)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = in;
    d.n_inputs = 1;
    return d;
}

static inline int32_t add(sigeo_model_t *m, const sigeo_layer_desc_t *d)
{
    int32_t id;
    ck_assert_msg(sigeo_model_add_layer(&id, m, d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

/* A flat dense input of `features` per row. */
static inline int32_t flat_input(sigeo_model_t *m, const char *name, int64_t features)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.kind = SIGEO_INPUT_DENSE;
    d.name = name;
    d.features = features;
    int32_t id;
    ck_assert_msg(sigeo_model_add_input(&id, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

/* A linear layer of max width `units` on `in`, elastic by `width_choice` (-1 = fixed). */
static inline int32_t linear_on(sigeo_model_t *m, const char *name, int32_t in, int64_t units, int32_t width_choice)
{
    sigeo_layer_desc_t d = desc(SIGEO_LAYER_LINEAR, name, &in);
    d.units = units;
    d.width_choice = width_choice;
    return add(m, &d);
}

/* A layer of `kind` on inputs in[0..n) with `units`, width choice `wc` (-1
 * = fixed) and activation `act`; a conv2d is 3 x 3 with padding 1. */
static inline int32_t layer_on(sigeo_model_t *m, sigeo_layer_kind_t kind, const char *name, const int32_t *in,
                               uint32_t n, int64_t units, int32_t wc, int32_t act)
{
    sigeo_layer_desc_t d = desc(kind, name, in);
    d.n_inputs = n;
    d.units = units;
    d.width_choice = wc;
    d.activation = act;
    if (kind == SIGEO_LAYER_CONV2D) {
        d.kernel[0] = d.kernel[1] = 3;
        d.padding[0] = d.padding[1] = 1;
    }
    return add(m, &d);
}

/* The dense input "x" of `features` per row, of per-row shape `shape`
 * (3 dims, (C, H, W); NULL = flat). */
static inline int32_t shaped_input(sigeo_model_t *m, int64_t features, const int64_t *shape)
{
    sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
    d.kind = SIGEO_INPUT_DENSE;
    d.name = "x";
    d.features = features;
    for (int k = 0; shape && k < 3; k++)
        d.shape[k] = shape[k];
    int32_t id;
    ck_assert_msg(sigeo_model_add_input(&id, m, &d) == SIGEO_OK, "%s", sigeo_last_error());
    return id;
}

/* The dense input "x" of c channels of h x w pixels (per-row shape (c, h,
 * w)), or with h = 0 of c flat features. */
static inline int32_t chw_input(sigeo_model_t *m, int64_t c, int64_t h, int64_t w)
{
    const int64_t shape[3] = { c, h, w };
    return shaped_input(m, c * (h ? h : 1) * (w ? w : 1), h ? shape : NULL);
}

#endif
