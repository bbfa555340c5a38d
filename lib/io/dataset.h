/* Internal layout of sigeo_dataset_t, shared with the readers that fill a
 * dataset in place (idx.c, criteo.c, synthetic.c). Not installed. */
#ifndef SIGEO_IO_DATASET_H
#define SIGEO_IO_DATASET_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/core.h"
#include "core/rng.h"
#include "io/borrow.h"
#include "sigeo/data.h"

/* Storage, in storage order:
 *   dense    [cap_rows * n_dense]
 *   ids32 or ids64: the ids of every bag, concatenated. Readers whose ids all
 *            fit in int32 (Criteo tables are < 2^31 rows) use ids32, which
 *            halves the biggest array; batch views widen to int64.
 *   offsets  [n_rows * n_fields + 1], or NULL when every bag holds exactly
 *            one id (bag (r, f) is id r * n_fields + f): the Criteo layout,
 *            where storing offsets would cost more than the ids.
 *   labels   [cap_rows], targets [cap_rows * n_targets]
 * Arrays sized by rows are allocated for cap_rows, so a reader can grow the
 * dataset as it parses (sigeo__dataset_reserve). */
/* A read-only file mapping (the on-disk cache, cache.c) shared by a
 * dataset and the subsets/splits made from it, which index into it instead
 * of copying rows. Unmapped when the last of them is destroyed. */
typedef struct sigeo__mapping {
    void *addr;
    size_t length;
    _Atomic int64_t refs;
    _Atomic int64_t since_trim; /* bytes of rows gathered since the last trim */
} sigeo__mapping_t;

struct sigeo_dataset {
    int64_t n_rows;
    int64_t cap_rows;
    int64_t n_dense;
    int64_t n_targets;
    uint32_t n_fields;
    bool has_labels;
    bool one_id_per_bag;
    int64_t n_ids;
    float *dense;
    int32_t *ids32;
    int64_t *ids64;
    int64_t *offsets;
    int32_t *labels;
    float *targets;
    int64_t *table_sizes; /* [n_fields] */
    int32_t n_classes;
    int64_t image_height;
    int64_t image_width;

    /* Mapped datasets (cache.c): dense, ids32, labels and targets point into
     * `mapping` (never freed here; one id per bag, int32 ids). Storage row r
     * is row sigeo__dataset_phys(ds, r) of the mapping, so a subset or
     * split of a mapped dataset is an index, not a copy: rowmap[r] (8 bytes
     * a row, any order), or, when every block of SIGEO__ROWBLOCK
     * consecutive rows lies within 65535 rows of the mapping (a split's
     * rows, increasing, unless a part is very sparse), rowbase[r /
     * SIGEO__ROWBLOCK] + rowoff[r]: 2.125 bytes a row, so that a run's
     * memory hardly grows with the row count. All NULL: row r. NULL
     * mapping: the dataset owns its arrays and has no index. */
    sigeo__mapping_t *mapping;
    int64_t *rowmap;
    int64_t *rowbase;
    uint16_t *rowoff;

    int64_t *order; /* current order (storage indices), NULL = storage order */
    sigeo__rng_t rng;

    /* Buffers behind the batch views. */
    int64_t view_cap_rows;
    int64_t view_cap_ids;
    float *view_dense;
    int64_t *view_ids;
    int64_t *view_offsets;
    int32_t *view_labels;
    float *view_targets;

    sigeo__errbuf_t err;

    /* A borrowed view (sigeo__dataset_borrow): every array above `order`
     * belongs to `lender`; this one owns only its order and view buffers. */
    const struct sigeo_dataset *lender;
};

/* Shape of a dataset made by a reader: fixed-width parts and one id per
 * (row, field) bag, stored as int32. */
typedef struct sigeo__dataset_shape {
    int64_t n_dense;
    uint32_t n_fields;
    bool has_labels;
    int64_t n_targets;
} sigeo__dataset_shape_t;

/* Allocates an empty dataset (n_rows 0) with room for `cap_rows` rows.
 * Returns NULL when out of memory (no message set). */
sigeo_dataset_t *sigeo__dataset_new(const sigeo__dataset_shape_t *shape, int64_t cap_rows);

/* Grows the row capacity to at least `cap_rows` (reader datasets only:
 * one id per bag). False when out of memory; the dataset is unchanged. */
bool sigeo__dataset_reserve(sigeo_dataset_t *ds, int64_t cap_rows);

/* Drops one reference to a mapping, unmapping it with the last (cache.c). */
void sigeo__mapping_release(sigeo__mapping_t *mapping);

/* Records that up to `bytes` of the file were mapped in by reading rows
 * (dataset.c counts a page per row and part, the bound for rows read at
 * random); every 64 MiB
 * it drops the process's page mappings of the file (MADV_DONTNEED: the
 * pages stay in the page cache, a later read maps them again), so the
 * resident memory of a run that reads every row once stays bounded
 * instead of reaching the file's size (cache.c). */
void sigeo__mapping_touched(sigeo__mapping_t *mapping, int64_t bytes);

#define SIGEO__ROWBLOCK 64

/* The row of the arrays behind storage row `r` (see rowmap). */
static inline int64_t sigeo__dataset_phys(const sigeo_dataset_t *ds, int64_t r)
{
    if (ds->rowoff)
        return ds->rowbase[r / SIGEO__ROWBLOCK] + ds->rowoff[r];
    return ds->rowmap ? ds->rowmap[r] : r;
}

/* After a reader has filled n_rows rows: counts ids and classes. */
void sigeo__dataset_finish(sigeo_dataset_t *ds);

#endif
