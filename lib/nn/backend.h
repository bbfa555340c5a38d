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

/* A model's backend handle: the context's engine (created on first use,
 * under the context's lock, owned by the context) and a stream of its own.
 * Close it with the model. */
sigeo_status_t sigeo__engine_open(sigeo__engine_t **out, sigeo_context_t *ctx);
void sigeo__engine_close(sigeo__engine_t *engine);

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

/* Batched C[i][j] = A[i][j] . B[i][j] (+ bias[N]) (+ C if accumulate) over two
 * batch dims (i < batch[0], j < batch[1]); strides are (batch0, batch1, row,
 * column) in elements. An operand whose two batch strides are both 0 is
 * shared by every batch entry (broadcast); C cannot be. Attention heads and
 * token mixing are views of their [B, T, E] rows this way, with no copies. */
typedef struct sigeo__bmm_shape {
    int64_t batch[2];
    int64_t m, n, k;
    int64_t a_stride[4], b_stride[4], c_stride[4];
    bool bias;
    bool accumulate;
    float scale; /* C = scale A.B (+ C); 0 means 1 */
} sigeo__bmm_shape_t;

sigeo_status_t sigeo__matmul_batched(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__bmm_shape_t *shape,
                                     const float *a, const float *b, const float *bias, float *c);

/* 2-D convolution on plain layouts: src [batch, in_c, in_h, in_w] (NCHW, i.e.
 * the row-major [B, C*H*W] rows), weights [out_c, in_c, kh, kw] (PyTorch's
 * OIHW), bias [out_c], dst [batch, out_c, out_h, out_w]. Padding is applied
 * on both sides; out sizes are floor((in + 2 pad - kernel) / stride) + 1. */
typedef struct sigeo__conv_shape {
    int64_t batch, in_c, in_h, in_w, out_c, out_h, out_w;
    int64_t kernel[2], stride[2], padding[2];
    bool bias;
} sigeo__conv_shape_t;

sigeo_status_t sigeo__conv_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__conv_shape_t *shape,
                                   const float *src, const float *weights, const float *bias, float *dst);
/* The conv may run on other layouts than these plain ones (channels-last or
 * blocked, where oneDNN has direct kernels); the backend then converts
 * each argument on every call with a cached reorder (backend.c,
 * conv_layout). `share` (may be NULL) saves one of those: the slot of a
 * call that converted the same input moments ago -- the forward's slot for
 * backward-weights' src, the backward-weights' slot for backward-data's
 * diff_dst. Pass it only when the data at that pointer is unchanged since
 * that call (a backward right after its forward and its weights pass); its
 * copy is used when the layouts agree and it was made from the same pointer.
 *
 * diff_src is overwritten, or with `accumulate` added to. */
sigeo_status_t sigeo__conv_backward_data(sigeo__prim_slot_t **slot, sigeo__engine_t *e,
                                         const sigeo__conv_shape_t *shape, const float *diff_dst,
                                         const float *weights, float *diff_src, bool accumulate,
                                         const sigeo__prim_slot_t *share);
/* diff_weights (and diff_bias when shape->bias) are overwritten. */
sigeo_status_t sigeo__conv_backward_weights(sigeo__prim_slot_t **slot, sigeo__engine_t *e,
                                            const sigeo__conv_shape_t *shape, const float *src,
                                            const float *diff_dst, float *diff_weights, float *diff_bias,
                                            const sigeo__prim_slot_t *share);

/* Tests only, not thread-safe (set it before building models): with `on`,
 * convolutions built afterwards stay on the plain layouts (no staging), so
 * a test can compare the two paths. */
void sigeo__conv_force_plain(bool on);

/* 2-D pooling on NCHW rows: max, or average with the padding counted in the
 * divisor (PyTorch's count_include_pad=True) or, with exclude_pad, divided
 * by the in-image pixels of each window (count_include_pad=False). The max forward keeps its
 * argmax workspace in its slot; the backward reads it from there, so pass
 * the slot of the forward that produced dst (same shape). */
typedef struct sigeo__pool_shape {
    int64_t batch, channels, in_h, in_w, out_h, out_w;
    int64_t kernel[2], stride[2], padding[2];
    bool max;
    bool exclude_pad;
} sigeo__pool_shape_t;

sigeo_status_t sigeo__pool_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__pool_shape_t *shape,
                                   const float *src, float *dst);
/* diff_src is overwritten. */
sigeo_status_t sigeo__pool_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, const sigeo__pool_shape_t *shape,
                                    const sigeo__prim_slot_t *forward_slot, const float *diff_dst, float *diff_src);

/* Softmax over each of `rows` contiguous rows of `cols` floats (dst may be src). */
sigeo_status_t sigeo__softmax_forward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, int64_t rows, int64_t cols,
                                      const float *src, float *dst);
/* diff_src = dst * (diff_dst - sum(diff_dst * dst)) per row, from the
 * forward's output dst; diff_src is overwritten and must not alias. */
sigeo_status_t sigeo__softmax_backward(sigeo__prim_slot_t **slot, sigeo__engine_t *e, int64_t rows, int64_t cols,
                                       const float *dst, const float *diff_dst, float *diff_src);

void sigeo__prim_slot_free(sigeo__prim_slot_t *slot);

#endif
