/* Batch-norm buffers: state that is not a parameter (no gradient, not in
 * the parameter list) but belongs in a checkpoint. */
#ifndef SIGEO_NN_OP_BATCHNORM_H
#define SIGEO_NN_OP_BATCHNORM_H

#include "nn/graph.h"

/* The running statistics of batch-norm node `n`, each [n->units] (the max
 * channel count; an elastic subnet uses the entries of its active channels,
 * as it does for gamma/beta), and PyTorch's num_batches_tracked. They live
 * at the head of the node's scratch, created with the node; a forward may
 * move the scratch, so the pointers are valid until the next forward.
 *
 * NOTE for checkpoints and extract: save and load them as the extra named
 * tensors "<name>.running_mean", "<name>.running_var" (float32 [C]) and
 * "<name>.num_batches_tracked" (int64 scalar), PyTorch's buffer names, and
 * copy them when a standalone model inherits the supernet's weights.
 * Returns false when `n` is not a batch norm. */
bool sigeo__batch_norm_buffers(sigeo__node_t *n, float **running_mean, float **running_var,
                               int64_t **num_batches_tracked);

#endif
