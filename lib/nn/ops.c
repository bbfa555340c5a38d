/* The table from public layer kinds to their ops. A new layer kind gets a
 * file op_<name>.c with its sigeo__op_t and one line here. */
#include "nn/graph.h"

static const sigeo__op_t *const layer_ops[] = {
    [SIGEO_LAYER_LINEAR] = &sigeo__op_linear,
    [SIGEO_LAYER_ACTIVATION] = &sigeo__op_activation,
    [SIGEO_LAYER_EMBEDDING_BAG] = &sigeo__op_embedding_bag,
    [SIGEO_LAYER_SUM] = &sigeo__op_sum,
    [SIGEO_LAYER_CONCAT] = &sigeo__op_concat,
    [SIGEO_LAYER_SELECT] = &sigeo__op_select,
    [SIGEO_LAYER_DOT_INTERACTION] = &sigeo__op_dot_interaction,
    [SIGEO_LAYER_LAYER_NORM] = &sigeo__op_layer_norm,
    [SIGEO_LAYER_CONV2D] = &sigeo__op_conv2d,
    [SIGEO_LAYER_BATCH_NORM] = &sigeo__op_batch_norm,
    [SIGEO_LAYER_POOL2D] = &sigeo__op_pool2d,
    [SIGEO_LAYER_GLOBAL_AVG_POOL] = &sigeo__op_global_avg_pool,
    [SIGEO_LAYER_TOKEN_LINEAR] = &sigeo__op_token_linear,
    [SIGEO_LAYER_ATTENTION] = &sigeo__op_attention,
    [SIGEO_LAYER_FM] = &sigeo__op_fm,
    [SIGEO_LAYER_SIGMOID_GATING] = &sigeo__op_sigmoid_gating,
    [SIGEO_LAYER_SLICE] = &sigeo__op_slice,
    [SIGEO_LAYER_RESHAPE] = &sigeo__op_reshape,
    [SIGEO_LAYER_ZERO] = &sigeo__op_zero,
};
_Static_assert(sizeof layer_ops / sizeof layer_ops[0] == SIGEO_LAYER_ZERO + 1, "a layer kind without an op");

const sigeo__op_t *sigeo__layer_op(int32_t kind)
{
    if (kind < 0 || (size_t)kind >= sizeof layer_ops / sizeof layer_ops[0])
        return NULL;
    return layer_ops[kind];
}
