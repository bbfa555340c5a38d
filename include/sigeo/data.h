/*
 * libsigeo data: the batch view every model call takes, and (see below) the
 * in-memory dataset handle with seeded shuffling, batching and splits.
 */
#ifndef SIGEO_DATA_H
#define SIGEO_DATA_H

#include "sigeo/sigeo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One batch, as borrowed pointers into the caller's memory (nothing is
 * copied or kept past the call that takes it).
 *
 * - dense:   [batch_size, n_dense] float32, row-major (images flattened
 *            C,H,W per row). NULL when the model has no dense input.
 * - sparse:  categorical fields as bags of ids already hashed into table rows.
 *            Bag (row r, field f) is sparse_ids[sparse_offsets[r*F + f] ..
 *            sparse_offsets[r*F + f + 1]), F = n_sparse_fields; so
 *            sparse_offsets has batch_size*F + 1 non-decreasing entries
 *            starting at 0. An empty bag pools to zeros. NULL/0 when the model
 *            has no sparse input.
 * - labels:  [batch_size] class indices for softmax cross-entropy, or NULL.
 * - targets: [batch_size, n_targets] float targets for BCE (0/1) or MSE, or NULL.
 */
typedef struct sigeo_batch {
    uint32_t struct_size;
    uint32_t n_sparse_fields;
    int64_t batch_size;
    const float *dense;
    int64_t n_dense;
    const int64_t *sparse_ids;
    const int64_t *sparse_offsets;
    const int32_t *labels;
    const float *targets;
    int64_t n_targets;
} sigeo_batch_t;

#define SIGEO_BATCH_INIT { (uint32_t)sizeof(sigeo_batch_t), 0u, 0, NULL, 0, NULL, NULL, NULL, NULL, 0 }
SIGEO_API sigeo_status_t sigeo_batch_init(sigeo_batch_t *batch, uint32_t struct_size);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_DATA_H */
