/* Borrowed dataset handles, for callers above lib/io that must not see
 * the dataset's layout (dataset.h): a file that defines public functions
 * taking a sigeo_dataset_t must keep it opaque, or the ABI dump (tests/abi)
 * records the private body in place of the public handle. Not installed. */
#ifndef SIGEO_IO_BORROW_H
#define SIGEO_IO_BORROW_H

#include "core/core.h"
#include "sigeo/data.h"

/* A second handle on `ds`'s rows for another thread: it shares every
 * row array (no row is copied) and has its own batch-view buffers, order
 * (a copy of ds's) and message, so two threads can read batches of the
 * same data at once (a dataset's views are per handle). `ds` must outlive
 * it and must not change (shuffle, append) while it lives; destroyed with
 * sigeo_dataset_destroy. SIGEO_ERR_NO_MEMORY. */
sigeo_status_t sigeo__dataset_borrow(sigeo_dataset_t **out, const sigeo_dataset_t *ds);

#endif
