/* What the layers above io see of a batch set: its batches as an array in
 * this library's own sigeo_batch_t layout (sigeo_proxy_compute_set and
 * sigeo_search_set_batch_set pass it on). Not installed. */
#ifndef SIGEO_IO_BATCH_SET_H
#define SIGEO_IO_BATCH_SET_H

#include "sigeo/data.h"

/* The set's batches (*n_out of them); NULL when empty. Borrowed: valid
 * until the next append or the set's destruction. */
const sigeo_batch_t *sigeo__batch_set_array(const sigeo_batch_set_t *set, uint32_t *n_out);

#endif
