/* The map from public layer kinds to their ops. A new layer kind gets a
 * file op_<name>.c with its sigeo__op_t and one line here.
 *
 * A switch, not an array: public enums carry no COUNT sentinel (sigeo.h),
 * so an array's size cannot be checked against the enum, while a switch on
 * the enum type with no default is checked by the compiler: with -Wswitch
 * an error here, a kind added to sigeo_layer_kind_t without its line below
 * does not compile (tests/abi/test-enum-tables.sh proves it). */
#include "nn/graph.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wswitch"
#endif
static const sigeo__op_t *op_of(sigeo_layer_kind_t kind)
{
    switch (kind) {
    case SIGEO_LAYER_LINEAR: return &sigeo__op_linear;
    case SIGEO_LAYER_ACTIVATION: return &sigeo__op_activation;
    case SIGEO_LAYER_EMBEDDING_BAG: return &sigeo__op_embedding_bag;
    case SIGEO_LAYER_SUM: return &sigeo__op_sum;
    case SIGEO_LAYER_CONCAT: return &sigeo__op_concat;
    case SIGEO_LAYER_SELECT: return &sigeo__op_select;
    case SIGEO_LAYER_DOT_INTERACTION: return &sigeo__op_dot_interaction;
    case SIGEO_LAYER_LAYER_NORM: return &sigeo__op_layer_norm;
    case SIGEO_LAYER_CONV2D: return &sigeo__op_conv2d;
    case SIGEO_LAYER_BATCH_NORM: return &sigeo__op_batch_norm;
    case SIGEO_LAYER_POOL2D: return &sigeo__op_pool2d;
    case SIGEO_LAYER_GLOBAL_AVG_POOL: return &sigeo__op_global_avg_pool;
    case SIGEO_LAYER_TOKEN_LINEAR: return &sigeo__op_token_linear;
    case SIGEO_LAYER_ATTENTION: return &sigeo__op_attention;
    case SIGEO_LAYER_FM: return &sigeo__op_fm;
    case SIGEO_LAYER_SIGMOID_GATING: return &sigeo__op_sigmoid_gating;
    case SIGEO_LAYER_SLICE: return &sigeo__op_slice;
    case SIGEO_LAYER_RESHAPE: return &sigeo__op_reshape;
    case SIGEO_LAYER_ZERO: return &sigeo__op_zero;
    }
    return NULL; /* a number no enumerator has */
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

const sigeo__op_t *sigeo__layer_op(int32_t kind)
{
    return op_of((sigeo_layer_kind_t)kind);
}
