/* The compute backend: the only interface to oneDNN. Everything that
 * touches dnnl.h lives in backend.c, so a move to oneDNN 3.x stays local.
 * Primitives are memoised per call site (one slot per op and direction):
 * a slot keeps the primitive of the last shape it ran and is rebuilt only
 * when the shape changes (oneDNN's own primitive cache makes that rebuild
 * cost a few microseconds for shapes seen before). */
#ifndef SIGEO_NN_BACKEND_H
#define SIGEO_NN_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

typedef struct sigeo__engine sigeo__engine_t;
typedef struct sigeo__prim_slot sigeo__prim_slot_t;

/* The context's engine, created on first use and owned by the context. */
sigeo_status_t sigeo__engine_get(sigeo__engine_t **out, sigeo_context_t *ctx);

/* C[M,N] = A[M,K] . B[K,N] (+ bias[N]) (+ C if accumulate), every operand
 * given by its row and column strides in elements, so transposed and
 * sub-block views (elastic widths) need no copies. */
typedef struct sigeo__matmul_shape {
    int64_t m, n, k;
    int64_t a_stride[2], b_stride[2], c_stride[2];
    bool bias;
    bool accumulate;
} sigeo__matmul_shape_t;

sigeo_status_t sigeo__matmul(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__matmul_shape_t *shape,
                             const float *a, const float *b, const float *bias, float *c);

typedef enum sigeo__eltwise_alg {
    SIGEO__ELT_RELU,
    SIGEO__ELT_SIGMOID,
    SIGEO__ELT_TANH,
    SIGEO__ELT_GELU_ERF
} sigeo__eltwise_alg_t;

/* dst[i] = f(src[i]) over n contiguous floats. */
sigeo_status_t sigeo__eltwise_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, sigeo__eltwise_alg_t alg,
                                      int64_t n, const float *src, float *dst);
/* diff_src = f'(src) * diff_dst over n contiguous floats. */
sigeo_status_t sigeo__eltwise_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, sigeo__eltwise_alg_t alg,
                                       int64_t n, const float *src, const float *diff_dst, float *diff_src);

void sigeo__prim_slot_free(sigeo__prim_slot_t *slot);

#endif
