/* The sigeo_dataset_t handle: creation from caller arrays, seeded
 * shuffling, batch views, subsets and train/val/test splits. Readers fill
 * the same structure through dataset.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"

#define FAIL(ds, status, ...) sigeo__fail_on((ds) ? &(ds)->err : NULL, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_dataset_info_init(sigeo_dataset_info_t *info, uint32_t struct_size)
{
    static const sigeo_dataset_info_t defaults = SIGEO_DATASET_INFO_INIT;
    return sigeo__struct_init(info, struct_size, &defaults, sizeof defaults, "sigeo_dataset_info");
}

SIGEO_API sigeo_status_t sigeo_split_options_init(sigeo_split_options_t *options, uint32_t struct_size)
{
    static const sigeo_split_options_t defaults = SIGEO_SPLIT_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_split_options");
}

/* ------------------------------------------------------------ allocation */

typedef struct layout {
    int64_t n_rows; /* rows to allocate room for */
    int64_t n_dense;
    uint32_t n_fields;
    bool has_labels;
    int64_t n_targets;
    bool one_id_per_bag;
    int64_t n_ids;
    bool wide_ids; /* int64 ids instead of int32 */
} layout_t;

static void free_view_buffers(sigeo_dataset_t *ds)
{
    sigeo__free(ds->order);
    sigeo__free(ds->view_dense);
    sigeo__free(ds->view_ids);
    sigeo__free(ds->view_offsets);
    sigeo__free(ds->view_labels);
    sigeo__free(ds->view_targets);
}

static void free_arrays(sigeo_dataset_t *ds)
{
    if (ds->lender) {
        free_view_buffers(ds); /* the rows are the lender's */
        return;
    }
    if (ds->mapping) {
        /* The row arrays belong to the mapping. */
        ds->dense = NULL;
        ds->ids32 = NULL;
        ds->labels = NULL;
        ds->targets = NULL;
        sigeo__mapping_release(ds->mapping);
        ds->mapping = NULL;
    }
    sigeo__free(ds->rowmap);
    sigeo__free(ds->rowbase);
    sigeo__free(ds->rowoff);
    sigeo__free(ds->dense);
    sigeo__free(ds->ids32);
    sigeo__free(ds->ids64);
    sigeo__free(ds->offsets);
    sigeo__free(ds->labels);
    sigeo__free(ds->targets);
    sigeo__free(ds->table_sizes);
    free_view_buffers(ds);
}

sigeo_status_t sigeo__dataset_borrow(sigeo_dataset_t **out, const sigeo_dataset_t *ds)
{
    *out = NULL;
    sigeo_dataset_t *c = sigeo__calloc(1, sizeof *c);
    int64_t *order = ds->order ? sigeo__calloc((size_t)ds->n_rows, sizeof *order) : NULL;
    if (!c || (ds->order && !order)) {
        sigeo__free(c);
        sigeo__free(order);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "borrowing a dataset of %lld rows: out of memory",
                           (long long)ds->n_rows);
    }
    *c = *ds; /* the row arrays, shapes and counts, shared */
    c->lender = ds->lender ? ds->lender : ds;
    c->order = order;
    if (order)
        memcpy(order, ds->order, (size_t)ds->n_rows * sizeof *order);
    c->view_cap_rows = c->view_cap_ids = 0;
    c->view_dense = c->view_targets = NULL;
    c->view_ids = c->view_offsets = NULL;
    c->view_labels = NULL;
    c->err = (sigeo__errbuf_t){ { 0 } };
    *out = c;
    return SIGEO_OK;
}

SIGEO_API void sigeo_dataset_destroy(sigeo_dataset_t *ds)
{
    if (!ds)
        return;
    free_arrays(ds);
    sigeo__free(ds);
}

/* Sizes are checked by the callers (products fit in size_t). NULL when out
 * of memory. */
static sigeo_dataset_t *alloc_dataset(const layout_t *l)
{
    sigeo_dataset_t *ds = sigeo__calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->cap_rows = l->n_rows;
    ds->n_dense = l->n_dense;
    ds->n_fields = l->n_fields;
    ds->has_labels = l->has_labels;
    ds->n_targets = l->n_targets;
    ds->one_id_per_bag = l->one_id_per_bag;
    ds->n_ids = l->n_ids;
    size_t rows = (size_t)l->n_rows;
    bool ok = true;
    if (l->n_dense > 0)
        ok = ok && (ds->dense = sigeo__calloc(rows * (size_t)l->n_dense, sizeof(float))) != NULL;
    if (l->n_fields > 0) {
        if (l->wide_ids)
            ok = ok && (ds->ids64 = sigeo__calloc((size_t)l->n_ids, sizeof(int64_t))) != NULL;
        else
            ok = ok && (ds->ids32 = sigeo__calloc((size_t)l->n_ids, sizeof(int32_t))) != NULL;
        if (!l->one_id_per_bag)
            ok = ok && (ds->offsets = sigeo__calloc(rows * l->n_fields + 1, sizeof(int64_t))) != NULL;
        ok = ok && (ds->table_sizes = sigeo__calloc(l->n_fields, sizeof(int64_t))) != NULL;
    }
    if (l->has_labels)
        ok = ok && (ds->labels = sigeo__calloc(rows, sizeof(int32_t))) != NULL;
    if (l->n_targets > 0)
        ok = ok && (ds->targets = sigeo__calloc(rows * (size_t)l->n_targets, sizeof(float))) != NULL;
    if (!ok) {
        sigeo_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}

sigeo_dataset_t *sigeo__dataset_new(const sigeo__dataset_shape_t *shape, int64_t cap_rows)
{
    size_t check;
    if (cap_rows < 0 || !sigeo__mul_size(&check, (size_t)cap_rows, (size_t)shape->n_dense + shape->n_fields +
                                                                           (size_t)shape->n_targets + 1) ||
        !sigeo__mul_size(&check, check, sizeof(int64_t)))
        return NULL;
    layout_t l = { cap_rows, shape->n_dense, shape->n_fields, shape->has_labels, shape->n_targets, true,
                   cap_rows * (int64_t)shape->n_fields, false };
    sigeo_dataset_t *ds = alloc_dataset(&l);
    if (ds)
        ds->n_ids = 0;
    return ds;
}

static bool grow(void **array, int64_t old_count, int64_t new_count, size_t elem)
{
    if (!*array)
        return true;
    void *p = sigeo__realloc_array(*array, (size_t)old_count, (size_t)new_count, elem);
    if (!p)
        return false;
    *array = p;
    return true;
}

bool sigeo__dataset_reserve(sigeo_dataset_t *ds, int64_t cap_rows)
{
    if (cap_rows <= ds->cap_rows)
        return true;
    size_t check;
    if (!sigeo__mul_size(&check, (size_t)cap_rows,
                         (size_t)ds->n_dense + ds->n_fields + (size_t)ds->n_targets + 1) ||
        !sigeo__mul_size(&check, check, sizeof(int64_t)))
        return false;
    /* Each array is swapped only once its copy exists, and arrays larger
     * than cap_rows are harmless, so a failure part-way leaves a valid
     * dataset with the old capacity. */
    int64_t old = ds->cap_rows;
    if (!grow((void **)&ds->dense, old * ds->n_dense, cap_rows * ds->n_dense, sizeof(float)) ||
        !grow((void **)&ds->ids32, old * ds->n_fields, cap_rows * ds->n_fields, sizeof(int32_t)) ||
        !grow((void **)&ds->labels, old, cap_rows, sizeof(int32_t)) ||
        !grow((void **)&ds->targets, old * ds->n_targets, cap_rows * ds->n_targets, sizeof(float)))
        return false;
    ds->cap_rows = cap_rows;
    return true;
}

static int32_t max_label_plus_one(const sigeo_dataset_t *ds)
{
    if (!ds->has_labels || ds->n_rows == 0)
        return 0;
    int32_t m = 0;
    for (int64_t r = 0; r < ds->n_rows; r++)
        if (ds->labels[sigeo__dataset_phys(ds, r)] > m)
            m = ds->labels[sigeo__dataset_phys(ds, r)];
    return m + 1;
}

void sigeo__dataset_finish(sigeo_dataset_t *ds)
{
    ds->n_ids = ds->n_rows * (int64_t)ds->n_fields;
    ds->n_classes = max_label_plus_one(ds);
}

/* ------------------------------------------------------------- row access */

static inline int64_t bag_begin(const sigeo_dataset_t *ds, int64_t row, uint32_t field)
{
    int64_t k = row * (int64_t)ds->n_fields + field;
    return ds->one_id_per_bag ? k : ds->offsets[k];
}

static inline int64_t row_ids_begin(const sigeo_dataset_t *ds, int64_t row)
{
    return bag_begin(ds, row, 0);
}

static inline int64_t row_ids_end(const sigeo_dataset_t *ds, int64_t row)
{
    return bag_begin(ds, row + 1, 0);
}

static inline int64_t id_at(const sigeo_dataset_t *ds, int64_t i)
{
    return ds->ids32 ? ds->ids32[i] : ds->ids64[i];
}

static inline int64_t storage_row(const sigeo_dataset_t *ds, int64_t position)
{
    return ds->order ? ds->order[position] : position;
}

/* ---------------------------------------------------------------- create */

SIGEO_API sigeo_status_t sigeo_dataset_create(sigeo_dataset_t **out, const sigeo_batch_t *rows)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: out is NULL");
    *out = NULL;
    if (!rows)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: rows is NULL");
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    sigeo_status_t st = sigeo__struct_in(&b, sizeof b, rows, "sigeo_batch", NULL);
    if (st != SIGEO_OK)
        return st;
    int64_t n = b.batch_size;
    uint32_t nf = b.n_sparse_fields;
    if (n < 0 || b.n_dense < 0 || b.n_targets < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "sigeo_dataset_create: negative size (rows %lld, n_dense %lld, n_targets %lld)",
                           (long long)n, (long long)b.n_dense, (long long)b.n_targets);
    if (b.n_dense > 0 && !b.dense)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: n_dense is %lld but dense is NULL",
                           (long long)b.n_dense);
    if (b.n_targets > 0 && !b.targets)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: n_targets is %lld but targets is NULL",
                           (long long)b.n_targets);
    size_t check;
    if (!sigeo__mul_size(&check, (size_t)n, (size_t)b.n_dense + nf + (size_t)b.n_targets + 2) ||
        !sigeo__mul_size(&check, check, sizeof(int64_t)) || (uint64_t)n > (uint64_t)INT64_MAX / 16)
        return sigeo__fail(SIGEO_ERR_SHAPE,
                           "sigeo_dataset_create: %lld rows of %lld dense + %u fields + %lld targets overflow "
                           "the address space",
                           (long long)n, (long long)b.n_dense, (unsigned)nf, (long long)b.n_targets);

    int64_t n_ids = 0;
    bool one_id = true, wide = false;
    if (nf > 0) {
        if (!b.sparse_offsets)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "sigeo_dataset_create: %u sparse fields but sparse_offsets is NULL", (unsigned)nf);
        const int64_t *off = b.sparse_offsets;
        int64_t n_bags = n * (int64_t)nf;
        if (off[0] != 0)
            return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_dataset_create: sparse_offsets[0] is %lld, must be 0",
                               (long long)off[0]);
        for (int64_t k = 0; k < n_bags; k++) {
            if (off[k + 1] < off[k])
                return sigeo__fail(SIGEO_ERR_SHAPE,
                                   "sigeo_dataset_create: sparse_offsets decrease at row %lld field %lld "
                                   "(%lld after %lld)",
                                   (long long)(k / nf), (long long)(k % nf), (long long)off[k + 1],
                                   (long long)off[k]);
            if (off[k + 1] != k + 1)
                one_id = false;
        }
        n_ids = off[n_bags];
        if (n_ids > 0 && !b.sparse_ids)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: %lld ids but sparse_ids is NULL",
                               (long long)n_ids);
        if (!sigeo__mul_size(&check, (size_t)n_ids, sizeof(int64_t)))
            return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_dataset_create: %lld ids overflow the address space",
                               (long long)n_ids);
        for (int64_t k = 0; k < n_bags; k++)
            for (int64_t i = off[k]; i < off[k + 1]; i++) {
                if (b.sparse_ids[i] < 0 || b.sparse_ids[i] == INT64_MAX)
                    return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                                       "sigeo_dataset_create: id %lld at row %lld field %lld is outside [0, 2^63-1)",
                                       (long long)b.sparse_ids[i], (long long)(k / nf), (long long)(k % nf));
                if (b.sparse_ids[i] > INT32_MAX)
                    wide = true;
            }
    }
    for (int64_t r = 0; r < n && b.n_dense > 0; r++)
        for (int64_t c = 0; c < b.n_dense; c++)
            if (!isfinite(b.dense[r * b.n_dense + c]))
                return sigeo__fail(SIGEO_ERR_NONFINITE, "sigeo_dataset_create: dense value at row %lld column %lld "
                                   "is %g", (long long)r, (long long)c, (double)b.dense[r * b.n_dense + c]);
    for (int64_t r = 0; r < n && b.n_targets > 0; r++)
        for (int64_t c = 0; c < b.n_targets; c++)
            if (!isfinite(b.targets[r * b.n_targets + c]))
                return sigeo__fail(SIGEO_ERR_NONFINITE, "sigeo_dataset_create: target at row %lld column %lld "
                                   "is %g", (long long)r, (long long)c, (double)b.targets[r * b.n_targets + c]);
    for (int64_t r = 0; r < n && b.labels; r++)
        if (b.labels[r] < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_create: label at row %lld is %d (must be >= 0)",
                               (long long)r, (int)b.labels[r]);

    layout_t l = { n, b.n_dense, nf, b.labels != NULL, b.n_targets, one_id, n_ids, wide };
    sigeo_dataset_t *ds = alloc_dataset(&l);
    if (!ds)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_dataset_create: out of memory for %lld rows", (long long)n);
    ds->n_rows = n;
    if (b.n_dense > 0)
        memcpy(ds->dense, b.dense, (size_t)n * (size_t)b.n_dense * sizeof(float));
    if (b.labels)
        memcpy(ds->labels, b.labels, (size_t)n * sizeof(int32_t));
    if (b.n_targets > 0)
        memcpy(ds->targets, b.targets, (size_t)n * (size_t)b.n_targets * sizeof(float));
    if (nf > 0) {
        if (!one_id)
            memcpy(ds->offsets, b.sparse_offsets, ((size_t)n * nf + 1) * sizeof(int64_t));
        for (int64_t i = 0; i < n_ids; i++) {
            if (wide)
                ds->ids64[i] = b.sparse_ids[i];
            else
                ds->ids32[i] = (int32_t)b.sparse_ids[i];
        }
        for (int64_t k = 0; k < n * (int64_t)nf; k++)
            for (int64_t i = b.sparse_offsets[k]; i < b.sparse_offsets[k + 1]; i++)
                if (b.sparse_ids[i] + 1 > ds->table_sizes[k % nf])
                    ds->table_sizes[k % nf] = b.sparse_ids[i] + 1;
    }
    ds->n_classes = max_label_plus_one(ds);
    *out = ds;
    return SIGEO_OK;
}

/* -------------------------------------------------------------- queries */

SIGEO_API sigeo_status_t sigeo_dataset_get_info(sigeo_dataset_info_t *out, const sigeo_dataset_t *ds)
{
    if (!out || !ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_get_info: %s is NULL", out ? "dataset" : "out");
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    info.n_sparse_fields = ds->n_fields;
    info.n_rows = ds->n_rows;
    info.n_dense = ds->n_dense;
    info.n_ids = ds->n_ids;
    info.n_targets = ds->n_targets;
    info.has_labels = ds->has_labels ? 1 : 0;
    info.n_classes = ds->n_classes;
    info.image_height = ds->image_height;
    info.image_width = ds->image_width;
    return sigeo__struct_out(out, &info, sizeof info, "sigeo_dataset_info", NULL);
}

/* The two-call pattern shared by the array getters. */
static sigeo_status_t copy_out(int64_t *buf, size_t *count, const int64_t *src, size_t n, const char *what)
{
    if (!count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: count is NULL", what);
    if (!buf) {
        *count = n;
        return SIGEO_OK;
    }
    if (*count < n) {
        size_t had = *count;
        *count = n;
        return sigeo__fail(SIGEO_ERR_SHAPE, "%s: buffer holds %zu values, %zu needed", what, had, n);
    }
    if (n > 0)
        memcpy(buf, src, n * sizeof *buf);
    *count = n;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_dataset_table_sizes(int64_t *buf, size_t *count, const sigeo_dataset_t *ds)
{
    if (!ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_table_sizes: dataset is NULL");
    return copy_out(buf, count, ds->table_sizes, ds->n_fields, "sigeo_dataset_table_sizes");
}

SIGEO_API sigeo_status_t sigeo_dataset_order(int64_t *buf, size_t *count, const sigeo_dataset_t *ds)
{
    if (!ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_order: dataset is NULL");
    if (ds->order || !buf)
        return copy_out(buf, count, ds->order, (size_t)ds->n_rows, "sigeo_dataset_order");
    if (!count)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_order: count is NULL");
    if (*count < (size_t)ds->n_rows) {
        size_t had = *count;
        *count = (size_t)ds->n_rows;
        return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_dataset_order: buffer holds %zu values, %lld needed", had,
                           (long long)ds->n_rows);
    }
    for (int64_t i = 0; i < ds->n_rows; i++)
        buf[i] = i;
    *count = (size_t)ds->n_rows;
    return SIGEO_OK;
}

SIGEO_API const char *sigeo_dataset_last_error(const sigeo_dataset_t *ds)
{
    return ds ? ds->err.msg : "no dataset";
}

/* ------------------------------------------------------------- shuffling */

/* Fisher-Yates over a[0..n). */
static void permute(int64_t *a, int64_t n, sigeo__rng_t *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sigeo__rng_below(rng, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

SIGEO_API sigeo_status_t sigeo_dataset_shuffle(sigeo_dataset_t *ds, uint64_t seed)
{
    if (!ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_shuffle: dataset is NULL");
    if (!ds->order) {
        ds->order = sigeo__calloc((size_t)ds->n_rows, sizeof(int64_t));
        if (!ds->order)
            return FAIL(ds, SIGEO_ERR_NO_MEMORY, "sigeo_dataset_shuffle: out of memory for the order of %lld rows",
                        (long long)ds->n_rows);
    }
    for (int64_t i = 0; i < ds->n_rows; i++)
        ds->order[i] = i;
    sigeo__rng_seed(&ds->rng, seed);
    permute(ds->order, ds->n_rows, &ds->rng);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_dataset_unshuffle(sigeo_dataset_t *ds)
{
    if (!ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_unshuffle: dataset is NULL");
    sigeo__free(ds->order);
    ds->order = NULL;
    return SIGEO_OK;
}

/* ------------------------------------------------------------ batch views */

/* Makes the view buffers hold `rows` rows and `ids` ids. Allocates the new
 * buffers before releasing the old ones, so a failure changes nothing. */
static bool reserve_view(sigeo_dataset_t *ds, int64_t rows, int64_t ids)
{
    if (rows > ds->view_cap_rows) {
        float *dense = NULL, *targets = NULL;
        int64_t *offsets = NULL;
        int32_t *labels = NULL;
        bool ok = true;
        if (ds->n_dense > 0)
            ok = ok && (dense = sigeo__calloc((size_t)rows * (size_t)ds->n_dense, sizeof(float))) != NULL;
        if (ds->n_fields > 0)
            ok = ok && (offsets = sigeo__calloc((size_t)rows * ds->n_fields + 1, sizeof(int64_t))) != NULL;
        if (ds->has_labels)
            ok = ok && (labels = sigeo__calloc((size_t)rows, sizeof(int32_t))) != NULL;
        if (ds->n_targets > 0)
            ok = ok && (targets = sigeo__calloc((size_t)rows * (size_t)ds->n_targets, sizeof(float))) != NULL;
        if (!ok) {
            sigeo__free(dense);
            sigeo__free(offsets);
            sigeo__free(labels);
            sigeo__free(targets);
            return false;
        }
        sigeo__free(ds->view_dense);
        sigeo__free(ds->view_offsets);
        sigeo__free(ds->view_labels);
        sigeo__free(ds->view_targets);
        ds->view_dense = dense;
        ds->view_offsets = offsets;
        ds->view_labels = labels;
        ds->view_targets = targets;
        ds->view_cap_rows = rows;
    }
    if (ds->n_fields > 0 && (ids > ds->view_cap_ids || !ds->view_ids)) {
        int64_t want = ids > ds->view_cap_ids + ds->view_cap_ids / 2 ? ids : ds->view_cap_ids + ds->view_cap_ids / 2;
        if (want < 1)
            want = 1;
        int64_t *p = sigeo__calloc((size_t)want, sizeof(int64_t));
        if (!p)
            return false;
        sigeo__free(ds->view_ids);
        ds->view_ids = p;
        ds->view_cap_ids = want;
    }
    return true;
}

SIGEO_API sigeo_status_t sigeo_dataset_view(sigeo_batch_t *out, sigeo_dataset_t *ds, int64_t first, int64_t n)
{
    if (!out || !ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_view: %s is NULL", out ? "dataset" : "out");
    if (n < 1 || first < 0 || first > ds->n_rows - n)
        return FAIL(ds, SIGEO_ERR_INVALID_ARG, "sigeo_dataset_view: rows [%lld, %lld + %lld) outside the %lld rows",
                    (long long)first, (long long)first, (long long)n, (long long)ds->n_rows);
    uint32_t size;
    memcpy(&size, out, sizeof size);
    if (size < sizeof(uint32_t) * 2)
        return FAIL(ds, SIGEO_ERR_INVALID_ARG, "sigeo_dataset_view: out->struct_size %u is too small",
                    (unsigned)size);
    int64_t nf = ds->n_fields, n_ids = 0;
    for (int64_t i = 0; i < n && nf > 0; i++) {
        int64_t r = sigeo__dataset_phys(ds, storage_row(ds, first + i));
        n_ids += row_ids_end(ds, r) - row_ids_begin(ds, r);
    }
    if (!reserve_view(ds, n, n_ids))
        return FAIL(ds, SIGEO_ERR_NO_MEMORY, "sigeo_dataset_view: out of memory for a view of %lld rows, %lld ids",
                    (long long)n, (long long)n_ids);
    int64_t next_id = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = sigeo__dataset_phys(ds, storage_row(ds, first + i));
        if (ds->n_dense > 0)
            memcpy(ds->view_dense + i * ds->n_dense, ds->dense + r * ds->n_dense, (size_t)ds->n_dense * sizeof(float));
        if (ds->has_labels)
            ds->view_labels[i] = ds->labels[r];
        if (ds->n_targets > 0)
            memcpy(ds->view_targets + i * ds->n_targets, ds->targets + r * ds->n_targets,
                   (size_t)ds->n_targets * sizeof(float));
        for (int64_t f = 0; f < nf; f++) {
            ds->view_offsets[i * nf + f] = next_id;
            int64_t end = f + 1 < nf ? bag_begin(ds, r, (uint32_t)f + 1) : row_ids_end(ds, r);
            for (int64_t k = bag_begin(ds, r, (uint32_t)f); k < end; k++)
                ds->view_ids[next_id++] = id_at(ds, k);
        }
    }
    if (nf > 0)
        ds->view_offsets[n * nf] = next_id;
    if (ds->mapping) {
        /* A row read at random maps one page of each of its parts: count
         * that (an upper bound; rows read in order share pages). */
        int64_t parts = (ds->n_dense > 0) + (nf > 0) + ds->has_labels + (ds->n_targets > 0);
        sigeo__mapping_touched(ds->mapping, n * parts * 4096);
    }

    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.n_sparse_fields = ds->n_fields;
    b.batch_size = n;
    b.dense = ds->n_dense > 0 ? ds->view_dense : NULL;
    b.n_dense = ds->n_dense;
    b.sparse_ids = nf > 0 ? ds->view_ids : NULL;
    b.sparse_offsets = nf > 0 ? ds->view_offsets : NULL;
    b.labels = ds->has_labels ? ds->view_labels : NULL;
    b.targets = ds->n_targets > 0 ? ds->view_targets : NULL;
    b.n_targets = ds->n_targets;
    return sigeo__struct_out(out, &b, sizeof b, "sigeo_batch", &ds->err);
}

static sigeo_status_t count_batches(int64_t *out, const sigeo_dataset_t *ds, int64_t batch_size,
                                    sigeo_batch_last_t last, const char *what)
{
    if (batch_size < 1)
        return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_INVALID_ARG, "%s: batch_size %lld (must be >= 1)", what,
                    (long long)batch_size);
    if (last != SIGEO_BATCH_KEEP_LAST && last != SIGEO_BATCH_DROP_LAST)
        return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_INVALID_ARG, "%s: unknown last-batch mode %d (0 keep, 1 drop)",
                    what, (int)last);
    int64_t full = ds->n_rows / batch_size;
    *out = full + (last == SIGEO_BATCH_KEEP_LAST && ds->n_rows % batch_size != 0 ? 1 : 0);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_dataset_batch_count(int64_t *out, const sigeo_dataset_t *ds, int64_t batch_size,
                                                   sigeo_batch_last_t last)
{
    if (!out || !ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_batch_count: %s is NULL", out ? "dataset" : "out");
    return count_batches(out, ds, batch_size, last, "sigeo_dataset_batch_count");
}

SIGEO_API sigeo_status_t sigeo_dataset_batch(sigeo_batch_t *out, sigeo_dataset_t *ds, int64_t index,
                                             int64_t batch_size, sigeo_batch_last_t last)
{
    if (!out || !ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_batch: %s is NULL", out ? "dataset" : "out");
    int64_t count;
    sigeo_status_t st = count_batches(&count, ds, batch_size, last, "sigeo_dataset_batch");
    if (st != SIGEO_OK)
        return st;
    if (index < 0 || index >= count)
        return FAIL(ds, SIGEO_ERR_INVALID_ARG, "sigeo_dataset_batch: batch %lld outside [0, %lld) (%lld rows, batch "
                    "size %lld, %s last)", (long long)index, (long long)count, (long long)ds->n_rows,
                    (long long)batch_size, last == SIGEO_BATCH_DROP_LAST ? "drop" : "keep");
    int64_t first = index * batch_size;
    int64_t n = ds->n_rows - first < batch_size ? ds->n_rows - first : batch_size;
    return sigeo_dataset_view(out, ds, first, n);
}

/* ------------------------------------------------------- subset and split */

/* The storage rows of a gather: rows[0..n), or (rows NULL) the rows i of
 * the source with part[i] == k, in order (a split, with no index array). */
typedef struct row_iter {
    const int64_t *rows;
    const uint8_t *part;
    uint8_t k;
    int64_t at;
} row_iter_t;

static inline int64_t iter_next(row_iter_t *it)
{
    if (it->rows)
        return it->rows[it->at++];
    while (it->part[it->at] != it->k)
        it->at++;
    return it->at++;
}

/* The index of c's n rows into the mapping (see rowmap in dataset.h): the
 * compact form when every block's rows are close enough, else rowmap.
 * Two passes over the rows, so only the index itself is allocated. */
static bool index_rows(sigeo_dataset_t *c, const sigeo_dataset_t *ds, const row_iter_t *rows, int64_t n)
{
    const int64_t blocks = (n + SIGEO__ROWBLOCK - 1) / SIGEO__ROWBLOCK;
    int64_t *base = sigeo__calloc(blocks > 0 ? (size_t)blocks : 1u, sizeof *base);
    if (!base)
        return false;
    bool compact = true;
    row_iter_t it = *rows;
    int64_t lo = 0, hi = 0;
    for (int64_t j = 0; j < n && compact; j++) {
        const int64_t p = sigeo__dataset_phys(ds, iter_next(&it));
        if (j % SIGEO__ROWBLOCK == 0)
            lo = hi = p;
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
        compact = hi - lo <= UINT16_MAX;
        base[j / SIGEO__ROWBLOCK] = lo;
    }
    it = *rows;
    if (compact) {
        uint16_t *off = sigeo__calloc(n > 0 ? (size_t)n : 1u, sizeof *off);
        if (!off) {
            sigeo__free(base);
            return false;
        }
        for (int64_t j = 0; j < n; j++)
            off[j] = (uint16_t)(sigeo__dataset_phys(ds, iter_next(&it)) - base[j / SIGEO__ROWBLOCK]);
        c->rowbase = base;
        c->rowoff = off;
        return true;
    }
    sigeo__free(base);
    int64_t *map = sigeo__calloc(n > 0 ? (size_t)n : 1u, sizeof *map);
    if (!map)
        return false;
    for (int64_t j = 0; j < n; j++)
        map[j] = sigeo__dataset_phys(ds, iter_next(&it));
    c->rowmap = map;
    return true;
}

/* A mapped dataset's rows (storage indices, `rows`) as a new dataset on
 * the same mapping: an index, no row is copied. */
static sigeo_status_t gather_mapped(sigeo_dataset_t **out, const sigeo_dataset_t *ds, const row_iter_t *rows,
                                    int64_t n, const char *what)
{
    sigeo_dataset_t *c = sigeo__calloc(1, sizeof *c);
    int64_t *tables = ds->n_fields > 0 ? sigeo__calloc(ds->n_fields, sizeof(int64_t)) : NULL;
    if (!c || (ds->n_fields > 0 && !tables) || !index_rows(c, ds, rows, n)) {
        if (c) {
            sigeo__free(c->rowmap);
            sigeo__free(c->rowbase);
            sigeo__free(c->rowoff);
        }
        sigeo__free(c);
        sigeo__free(tables);
        return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_NO_MEMORY, "%s: out of memory for the index of %lld rows", what,
                    (long long)n);
    }
    c->n_rows = n;
    c->n_dense = ds->n_dense;
    c->n_targets = ds->n_targets;
    c->n_fields = ds->n_fields;
    c->has_labels = ds->has_labels;
    c->one_id_per_bag = true;
    c->dense = ds->dense;
    c->ids32 = ds->ids32;
    c->labels = ds->labels;
    c->targets = ds->targets;
    c->image_height = ds->image_height;
    c->image_width = ds->image_width;
    if (tables)
        memcpy(tables, ds->table_sizes, ds->n_fields * sizeof(int64_t));
    c->table_sizes = tables;
    atomic_fetch_add(&ds->mapping->refs, 1);
    c->mapping = ds->mapping;
    sigeo__dataset_finish(c);
    *out = c;
    return SIGEO_OK;
}

/* Copies the rows at storage indices rows[0..n) into a new dataset (a
 * mapped dataset: indexes them, gather_mapped). */
static sigeo_status_t gather(sigeo_dataset_t **out, const sigeo_dataset_t *ds, const int64_t *rows, int64_t n,
                             const char *what)
{
    if (ds->mapping) {
        const row_iter_t it = { rows, NULL, 0, 0 };
        return gather_mapped(out, ds, &it, n, what);
    }
    int64_t n_ids = 0;
    for (int64_t i = 0; i < n && ds->n_fields > 0; i++)
        n_ids += row_ids_end(ds, rows[i]) - row_ids_begin(ds, rows[i]);
    layout_t l = { n, ds->n_dense, ds->n_fields, ds->has_labels, ds->n_targets, ds->one_id_per_bag, n_ids,
                   ds->ids64 != NULL };
    sigeo_dataset_t *c = alloc_dataset(&l);
    if (!c)
        return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld rows", what, (long long)n);
    c->n_rows = n;
    c->image_height = ds->image_height;
    c->image_width = ds->image_width;
    if (ds->n_fields > 0)
        memcpy(c->table_sizes, ds->table_sizes, ds->n_fields * sizeof(int64_t));
    int64_t nf = ds->n_fields, next_id = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rows[i];
        if (ds->n_dense > 0)
            memcpy(c->dense + i * ds->n_dense, ds->dense + r * ds->n_dense, (size_t)ds->n_dense * sizeof(float));
        if (ds->has_labels)
            c->labels[i] = ds->labels[r];
        if (ds->n_targets > 0)
            memcpy(c->targets + i * ds->n_targets, ds->targets + r * ds->n_targets,
                   (size_t)ds->n_targets * sizeof(float));
        if (nf == 0)
            continue;
        int64_t b = row_ids_begin(ds, r), e = row_ids_end(ds, r);
        if (!ds->one_id_per_bag)
            for (int64_t f = 0; f < nf; f++)
                c->offsets[i * nf + f] = next_id + (ds->offsets[r * nf + f] - b);
        if (ds->ids64)
            memcpy(c->ids64 + next_id, ds->ids64 + b, (size_t)(e - b) * sizeof(int64_t));
        else
            memcpy(c->ids32 + next_id, ds->ids32 + b, (size_t)(e - b) * sizeof(int32_t));
        next_id += e - b;
    }
    if (nf > 0 && !ds->one_id_per_bag)
        c->offsets[n * nf] = next_id;
    c->n_classes = max_label_plus_one(c);
    *out = c;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_dataset_subset(sigeo_dataset_t **out, const sigeo_dataset_t *ds, const int64_t *rows,
                                              int64_t count)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_subset: out is NULL");
    *out = NULL;
    if (!ds || (!rows && count > 0) || count < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_dataset_subset: %s",
                           !ds ? "dataset is NULL" : count < 0 ? "count is negative" : "rows is NULL");
    for (int64_t i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= ds->n_rows)
            return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_INVALID_ARG,
                        "sigeo_dataset_subset: rows[%lld] = %lld outside [0, %lld)", (long long)i, (long long)rows[i],
                        (long long)ds->n_rows);
    int64_t *storage = sigeo__calloc((size_t)count, sizeof(int64_t));
    if (!storage)
        return FAIL((sigeo_dataset_t *)ds, SIGEO_ERR_NO_MEMORY, "sigeo_dataset_subset: out of memory for %lld rows",
                    (long long)count);
    for (int64_t i = 0; i < count; i++)
        storage[i] = storage_row(ds, rows[i]);
    sigeo_status_t st = gather(out, ds, storage, count, "sigeo_dataset_subset");
    sigeo__free(storage);
    return st;
}

typedef struct keyed {
    int32_t label;
    int64_t row;
} keyed_t;

static int compare_keyed(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int64_t cut(int64_t n, double fraction)
{
    double v = floor((double)n * fraction + 0.5);
    if (v <= 0)
        return 0;
    if (v >= (double)n)
        return n;
    return (int64_t)v;
}

/* Writes the part (0 train, 1 val, 2 test) of each row of a permuted group. */
static void assign(uint8_t *part, const int64_t *perm, int64_t n, const sigeo_split_options_t *o)
{
    int64_t b1 = cut(n, o->train_fraction);
    int64_t b2 = cut(n, o->train_fraction + o->val_fraction);
    if (b2 < b1)
        b2 = b1;
    for (int64_t i = 0; i < n; i++)
        part[perm[i]] = (uint8_t)(i < b1 ? 0 : i < b2 ? 1 : 2);
}

SIGEO_API sigeo_status_t sigeo_dataset_split(sigeo_dataset_t **train_out, sigeo_dataset_t **val_out,
                                             sigeo_dataset_t **test_out, const sigeo_dataset_t *ds,
                                             const sigeo_split_options_t *options)
{
    static const char what[] = "sigeo_dataset_split";
    sigeo_dataset_t **outs[3] = { train_out, val_out, test_out };
    for (int k = 0; k < 3; k++)
        if (outs[k])
            *outs[k] = NULL;
    if (!ds)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: dataset is NULL", what);
    sigeo__errbuf_t *err = (sigeo__errbuf_t *)&ds->err;
    sigeo_split_options_t o = SIGEO_SPLIT_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_split_options", err);
    if (st != SIGEO_OK)
        return st;
    double fr[3] = { o.train_fraction, o.val_fraction, o.test_fraction };
    for (int k = 0; k < 3; k++)
        if (!(fr[k] >= 0.0 && fr[k] <= 1.0))
            return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: fraction %d is %g (must be in [0, 1])", what, k,
                                  fr[k]);
    if (fabs(fr[0] + fr[1] + fr[2] - 1.0) > 1e-9)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: fractions %g + %g + %g do not sum to 1", what, fr[0],
                              fr[1], fr[2]);
    int32_t mode = o.mode;
    if (mode == SIGEO_SPLIT_AUTO)
        mode = ds->has_labels ? SIGEO_SPLIT_STRATIFIED : SIGEO_SPLIT_PLAIN;
    if (mode != SIGEO_SPLIT_PLAIN && mode != SIGEO_SPLIT_STRATIFIED)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: unknown mode %d (0 auto, 1 plain, 2 stratified)", what,
                              (int)o.mode);
    if (mode == SIGEO_SPLIT_STRATIFIED && !ds->has_labels)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: stratified split of a dataset without labels", what);

    int64_t n = ds->n_rows;
    uint8_t *part = sigeo__calloc((size_t)n, 1);
    int64_t *perm = sigeo__calloc((size_t)n, sizeof(int64_t));
    /* Labels of a mapped dataset may be rows of another order (rowmap):
     * the counting path reads them through it; so does any dataset whose
     * classes are no more than its rows. */
    const bool counting = mode == SIGEO_SPLIT_STRATIFIED && (ds->n_classes <= n || ds->mapping);
    keyed_t *keyed = mode == SIGEO_SPLIT_STRATIFIED && !counting ? sigeo__calloc((size_t)n, sizeof(keyed_t)) : NULL;
    if (!part || !perm || (mode == SIGEO_SPLIT_STRATIFIED && !counting && !keyed)) {
        sigeo__free(part);
        sigeo__free(perm);
        sigeo__free(keyed);
        return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld rows", what, (long long)n);
    }
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, o.seed);
    if (mode == SIGEO_SPLIT_PLAIN) {
        for (int64_t i = 0; i < n; i++)
            perm[i] = i;
        permute(perm, n, &rng);
        assign(part, perm, n, &o);
    } else if (!keyed) {
        /* Few classes: the rows grouped by label, storage order inside a
         * group, by counting (the order the sort below gives, without its
         * 16 bytes per row). */
        int64_t *start = sigeo__calloc((size_t)ds->n_classes + 1, sizeof(int64_t));
        if (!start) {
            sigeo__free(part);
            sigeo__free(perm);
            return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %d classes", what,
                                  (int)ds->n_classes);
        }
        for (int64_t i = 0; i < n; i++)
            start[ds->labels[sigeo__dataset_phys(ds, i)] + 1]++;
        for (int32_t k = 0; k < ds->n_classes; k++)
            start[k + 1] += start[k];
        for (int64_t i = 0; i < n; i++)
            perm[start[ds->labels[sigeo__dataset_phys(ds, i)]]++] = i;
        /* start[k] is now the end of group k */
        for (int32_t k = 0; k < ds->n_classes; k++) {
            int64_t b = k == 0 ? 0 : start[k - 1], e = start[k];
            permute(perm + b, e - b, &rng);
            assign(part, perm + b, e - b, &o);
        }
        sigeo__free(start);
    } else {
        for (int64_t i = 0; i < n; i++)
            keyed[i] = (keyed_t){ ds->labels[i], i };
        qsort(keyed, (size_t)n, sizeof *keyed, compare_keyed);
        for (int64_t i = 0; i < n; i++)
            perm[i] = keyed[i].row;
        for (int64_t s = 0; s < n;) {
            int64_t e = s + 1;
            while (e < n && keyed[e].label == keyed[s].label)
                e++;
            permute(perm + s, e - s, &rng);
            assign(part, perm + s, e - s, &o);
            s = e;
        }
    }
    sigeo__free(keyed);

    sigeo_dataset_t *made[3] = { NULL, NULL, NULL };
    st = SIGEO_OK;
    if (ds->mapping) {
        /* Direct: each part's index straight from `part`, without the
         * permutation's 8 bytes a row alive next to it. */
        sigeo__free(perm);
        perm = NULL;
    }
    for (int k = 0; k < 3 && st == SIGEO_OK; k++) {
        if (!outs[k])
            continue;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (part[i] == k) {
                if (perm)
                    perm[m] = i;
                m++;
            }
        if (perm) {
            st = gather(&made[k], ds, perm, m, what);
        } else {
            const row_iter_t it = { NULL, part, (uint8_t)k, 0 };
            st = gather_mapped(&made[k], ds, &it, m, what);
        }
    }
    sigeo__free(part);
    sigeo__free(perm);
    if (st != SIGEO_OK) {
        for (int k = 0; k < 3; k++)
            sigeo_dataset_destroy(made[k]);
        return st;
    }
    for (int k = 0; k < 3; k++)
        if (outs[k])
            *outs[k] = made[k];
    return SIGEO_OK;
}
