/* Per-row shapes of nodes (model.h "Per-row shapes") and small helpers the
 * op files share. A shape is at most 3 dims; only the first may be elastic
 * (channels of an image, tokens of a sequence), so the active shape follows
 * from the active width. */
#ifndef SIGEO_NN_OP_SHAPE_H
#define SIGEO_NN_OP_SHAPE_H

#include "nn/graph.h"

typedef struct sigeo__shape {
    int32_t ndim; /* 0 = flat, else 2 or 3 */
    int64_t d[3];
} sigeo__shape_t;

/* The static (max-width) shape of `n`. Pass-through ops (activation, layer
 * norm, select, sum of equal shapes) take their input's; a concat whose
 * inputs agree on the trailing dims adds the first dims. Resolved once per
 * node and remembered on it. */
sigeo__shape_t sigeo__node_shape(sigeo_model_t *m, sigeo__node_t *n);

/* Records the static shape an op's configure() gives its node (ndim 0 = flat). */
void sigeo__node_set_shape(sigeo__node_t *n, int32_t ndim, const int64_t *d);

/* Product of the dims after the first (1 for a flat shape). */
int64_t sigeo__shape_inner(const sigeo__shape_t *s);

/* The active shape of `n` under the active architecture: the static shape
 * with the first dim = n->width / inner. Fails (SIGEO_ERR_SHAPE, naming the
 * node `who` that needs it, and `n`) when the width is not a whole number
 * of slabs. */
sigeo_status_t sigeo__node_active_shape(sigeo__shape_t *out, sigeo_model_t *m, sigeo__node_t *n,
                                        const sigeo__node_t *who);

/* Gives `n` its own primitive slots (finalize's default is 3 per input run
 * plus 2); call last in configure(), after everything that can fail. */
sigeo_status_t sigeo__node_own_slots(sigeo_model_t *m, sigeo__node_t *n, int32_t count);

/* Writes (or, with add, adds) a [B, w] block with row strides ld_dst/ld_src. */
void sigeo__put_rows(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows, int64_t w, bool add);

/* Uniform U(-bound, bound) draws from the model's stream, in order. */
void sigeo__init_uniform(sigeo_model_t *m, sigeo__param_t *p, double bound);

#endif
