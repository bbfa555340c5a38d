/*
 * libsigeo data: the batch view every model call takes, and (see below) the
 * in-memory dataset handle with seeded shuffling, batching and splits.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
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

/* ================================================================ dataset
 *
 * An in-memory dataset of n_rows rows. Each row has up to four parts, all
 * copied into memory the dataset owns:
 *   - dense features  [n_rows, n_dense] float32;
 *   - sparse bags     n_sparse_fields bags of ids per row, in the
 *                     sigeo_batch_t layout (ids + per-(row, field) offsets);
 *   - labels          [n_rows] int32 class indices (>= 0);
 *   - targets         [n_rows, n_targets] float32.
 * Readers (sigeo/io.h) create datasets; a host creates one from its own
 * arrays with sigeo_dataset_create.
 *
 * Row order: every dataset has a storage order (the order the rows were
 * created in) and a current order that sigeo_dataset_shuffle replaces with a
 * seeded permutation. Row indices taken by sigeo_dataset_view,
 * sigeo_dataset_batch and sigeo_dataset_subset are positions in the current
 * order; sigeo_dataset_split always works on the storage order, so a split
 * depends only on the rows, the seed and the fractions.
 *
 * Batches: sigeo_dataset_view / sigeo_dataset_batch fill a sigeo_batch_t
 * whose pointers point into buffers the dataset owns (the rows are gathered
 * there, so a shuffled dataset still yields contiguous arrays). Those
 * pointers stay valid until the next view/batch call on the same dataset,
 * sigeo_dataset_destroy, or any call that changes the dataset
 * (shuffle/unshuffle), whichever comes first.
 *
 * Threads: a dataset is used by one thread at a time. Calls taking a
 * `const sigeo_dataset_t *` do not modify its rows or order and may run
 * concurrently with each other (not with a view/batch/shuffle call on the
 * same dataset); only a failing one writes the dataset's last-error text.
 */
typedef struct sigeo_dataset sigeo_dataset_t;

/* Sizes of a dataset (sigeo_dataset_get_info). */
typedef struct sigeo_dataset_info {
    uint32_t struct_size;
    uint32_t n_sparse_fields; /* sparse bags per row; 0 without sparse data */
    int64_t n_rows;
    int64_t n_dense;      /* dense floats per row; 0 without dense data */
    int64_t n_ids;        /* ids over all bags of all rows */
    int64_t n_targets;    /* float targets per row; 0 without targets */
    int32_t has_labels;   /* 1 if the rows carry int32 labels */
    int32_t n_classes;    /* largest label + 1 (0 without labels or rows) */
    int64_t image_height; /* image rows when the dense part is a flattened image (IDX), else 0 */
    int64_t image_width;  /* image columns, likewise */
} sigeo_dataset_info_t;

#define SIGEO_DATASET_INFO_INIT { (uint32_t)sizeof(sigeo_dataset_info_t), 0u, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Fills `info` with the defaults (all zero) and sets struct_size, for hosts
 * that cannot expand SIGEO_DATASET_INFO_INIT. Errors: SIGEO_ERR_INVALID_ARG
 * (NULL, struct_size smaller than two uint32_t). Thread-safe. */
SIGEO_API sigeo_status_t sigeo_dataset_info_init(sigeo_dataset_info_t *info, uint32_t struct_size);

/* What to do with the last batch when batch_size does not divide the row count. */
typedef enum sigeo_batch_last {
    SIGEO_BATCH_KEEP_LAST = 0, /* the last batch is smaller */
    SIGEO_BATCH_DROP_LAST = 1  /* the incomplete last batch is left out (NASRec's training loader) */
} sigeo_batch_last_t;

/* How sigeo_dataset_split assigns rows. */
typedef enum sigeo_split_mode {
    /* STRATIFIED when the dataset has labels, otherwise PLAIN. */
    SIGEO_SPLIT_AUTO = 0,
    /* One seeded permutation of all rows, cut at the fractions. */
    SIGEO_SPLIT_PLAIN = 1,
    /* One seeded permutation per label value (ascending), each cut at the
     * fractions (the AutoCTR protocol of docs/nasrec.md §1.4). Needs labels. */
    SIGEO_SPLIT_STRATIFIED = 2
} sigeo_split_mode_t;

/* Options of sigeo_dataset_split. Defaults: the paper's 80/10/10, AUTO, seed 2018
 * (the seed of the reference split tool). */
typedef struct sigeo_split_options {
    uint32_t struct_size;
    int32_t mode; /* a sigeo_split_mode_t value */
    uint64_t seed;
    double train_fraction; /* each in [0, 1]; the three sum to 1 (within 1e-9) */
    double val_fraction;
    double test_fraction;
} sigeo_split_options_t;

#define SIGEO_SPLIT_OPTIONS_INIT { (uint32_t)sizeof(sigeo_split_options_t), SIGEO_SPLIT_AUTO, 2018u, 0.8, 0.1, 0.1 }

/* Fills `options` with the defaults and sets struct_size (for hosts that
 * cannot expand SIGEO_SPLIT_OPTIONS_INIT). Errors: SIGEO_ERR_INVALID_ARG.
 * Thread-safe. */
SIGEO_API sigeo_status_t sigeo_split_options_init(sigeo_split_options_t *options, uint32_t struct_size);

/* Creates a dataset from the caller's arrays, described by `rows` in the
 * sigeo_batch_t layout (batch_size = number of rows, which may be 0). Every
 * array is copied: the caller may free them when the call returns. Parts
 * whose pointer is NULL are absent (dense NULL needs n_dense 0, targets NULL
 * needs n_targets 0; sparse_ids may be NULL only if there are no ids).
 * Checked: sizes >= 0 and not overflowing, offsets starting at 0 and
 * non-decreasing, ids >= 0, labels >= 0, dense and targets finite. The table
 * size of field f (sigeo_dataset_table_sizes) is its largest id + 1, or 0 if
 * it holds no id. On failure *out is NULL. Errors: SIGEO_ERR_INVALID_ARG,
 * SIGEO_ERR_SHAPE (inconsistent sizes or offsets), SIGEO_ERR_NONFINITE
 * (naming row and column), SIGEO_ERR_NO_MEMORY. Thread-safe. */
SIGEO_API sigeo_status_t sigeo_dataset_create(sigeo_dataset_t **out, const sigeo_batch_t *rows);

/* Destroys a dataset and every buffer it handed out; NULL is a no-op. */
SIGEO_API void sigeo_dataset_destroy(sigeo_dataset_t *dataset);

/* Writes the dataset's sizes into `out` (min(out->struct_size, sizeof)
 * bytes). Errors: SIGEO_ERR_INVALID_ARG (NULL, struct_size too small). */
SIGEO_API sigeo_status_t sigeo_dataset_get_info(sigeo_dataset_info_t *out, const sigeo_dataset_t *dataset);

/* Embedding-table rows of each sparse field (n_sparse_fields values): for
 * Criteo data the configured N_f (ids are < N_f), for a dataset created from
 * arrays the largest id + 1. Two-call pattern: with buf NULL, sets *count to
 * the number of values; otherwise *count is the capacity of buf on entry
 * and the number written on return. Errors: SIGEO_ERR_INVALID_ARG (NULL
 * count or dataset), SIGEO_ERR_SHAPE (buffer too small; *count is set to the
 * size needed). */
SIGEO_API sigeo_status_t sigeo_dataset_table_sizes(int64_t *buf, size_t *count, const sigeo_dataset_t *dataset);

/* Replaces the current row order by a permutation drawn from a generator
 * seeded with `seed` alone (the previous order does not matter), so
 * shuffle(seed + epoch) gives a reproducible order per epoch. O(n_rows); no
 * row data moves. Invalidates batch views. Errors: SIGEO_ERR_INVALID_ARG,
 * SIGEO_ERR_NO_MEMORY (the first shuffle allocates the order; the dataset
 * is unchanged then). */
SIGEO_API sigeo_status_t sigeo_dataset_shuffle(sigeo_dataset_t *dataset, uint64_t seed);

/* Restores the storage order. Invalidates batch views. Errors:
 * SIGEO_ERR_INVALID_ARG (NULL). */
SIGEO_API sigeo_status_t sigeo_dataset_unshuffle(sigeo_dataset_t *dataset);

/* The current order as storage row numbers: buf[i] is the storage index of
 * the row at position i. Two-call pattern as in sigeo_dataset_table_sizes
 * (n_rows values). Errors: SIGEO_ERR_INVALID_ARG, SIGEO_ERR_SHAPE. */
SIGEO_API sigeo_status_t sigeo_dataset_order(int64_t *buf, size_t *count, const sigeo_dataset_t *dataset);

/* Fills `out` with rows [first_row, first_row + n_rows) of the current
 * order. The pointers in `out` point into buffers the dataset owns: valid
 * until the next view/batch/shuffle/unshuffle call on this dataset or its
 * destruction. Parts the dataset lacks are NULL/0; sparse offsets start at
 * 0; out->struct_size is kept and only that many bytes are written.
 * Errors: SIGEO_ERR_INVALID_ARG (NULL, range outside the dataset, n_rows
 * < 1, struct_size too small), SIGEO_ERR_NO_MEMORY (growing the buffers;
 * the dataset is unchanged). */
SIGEO_API sigeo_status_t sigeo_dataset_view(sigeo_batch_t *out, sigeo_dataset_t *dataset, int64_t first_row,
                                            int64_t n_rows);

/* Number of batches of `batch_size` rows: ceil(n_rows / batch_size) with
 * SIGEO_BATCH_KEEP_LAST, floor with SIGEO_BATCH_DROP_LAST. Errors:
 * SIGEO_ERR_INVALID_ARG (NULL, batch_size < 1, unknown `last`). */
SIGEO_API sigeo_status_t sigeo_dataset_batch_count(int64_t *out, const sigeo_dataset_t *dataset, int64_t batch_size,
                                                   sigeo_batch_last_t last);

/* Fills `out` with batch number `index` (0-based) of the current order:
 * rows [index * batch_size, min(n_rows, (index + 1) * batch_size)). Same
 * lifetime rule as sigeo_dataset_view. Errors: SIGEO_ERR_INVALID_ARG (index
 * outside [0, sigeo_dataset_batch_count), batch_size < 1, unknown `last`),
 * SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_dataset_batch(sigeo_batch_t *out, sigeo_dataset_t *dataset, int64_t index,
                                             int64_t batch_size, sigeo_batch_last_t last);

/* Creates a new dataset (owned by the caller) holding copies of the rows at
 * positions rows[0..count) of the current order (of a memory-mapped
 * dataset: an index into the same mapping, no copy), in that sequence
 * (repetitions allowed, count may be 0). Table sizes and image shape are
 * inherited; the new dataset starts in storage order. `rows` is borrowed for
 * the call. Errors: SIGEO_ERR_INVALID_ARG (NULL, an index outside
 * [0, n_rows), naming it), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_dataset_subset(sigeo_dataset_t **out, const sigeo_dataset_t *dataset,
                                              const int64_t *rows, int64_t count);

/* Splits the rows (storage order, any shuffle ignored) into train,
 * validation and test datasets: copies the caller owns (of a memory-mapped
 * dataset: indexes into the same mapping). Deterministic for
 * (rows, options). Within a group (all rows, or one label value when
 * stratified) of n rows, a seeded permutation is cut at
 * round(n * train_fraction) and round(n * (train_fraction + val_fraction));
 * inside each part the rows keep their storage order (as the AutoCTR split
 * tool writes them). The parts are disjoint and together cover every row.
 * Any of the three outputs may be NULL to skip building that part.
 * `options` may be NULL (80/10/10, AUTO, seed 2018). On failure every
 * non-NULL output is NULL. Errors: SIGEO_ERR_INVALID_ARG (fractions outside
 * [0,1] or not summing to 1, STRATIFIED without labels, unknown mode),
 * SIGEO_ERR_UNSUPPORTED (options from a newer libsigeo), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_dataset_split(sigeo_dataset_t **train_out, sigeo_dataset_t **val_out,
                                             sigeo_dataset_t **test_out, const sigeo_dataset_t *dataset,
                                             const sigeo_split_options_t *options);

/* ===================================================== on-disk dataset cache
 *
 * A dataset written once into one binary file and memory-mapped read-only
 * afterwards, so a run's memory does not grow with its row count: rows are
 * paged in from the file as batches touch them (they count as the
 * process's memory only while resident, and the kernel may drop them), and
 * sigeo_dataset_shuffle / _split / _subset of a mapped dataset keep an index
 * array (8 bytes per row) instead of copying rows; the results share the
 * mapping, which lives until the last of them is destroyed. Batch views
 * gather rows into the dataset's own buffers, as for any dataset.
 *
 * The file (version 1): a 256-byte header (sizes, the offset, size and
 * checksum of each section, the file's size, its own checksum), then the
 * dense, id, label, target and table-size arrays, each 64-byte aligned.
 * Native byte order. Only datasets with one int32 id per (row, field) bag
 * (the Criteo layout, and datasets without sparse fields) can be cached.
 * Writers for Criteo TSV files stream: sigeo_criteo_write_cache (sigeo/io.h). */

/* sigeo_dataset_cache_open flags. */
typedef enum sigeo_cache_flags {
    /* Skip the checksums and value checks of the rows (the header and the
     * sizes are always checked): opening is then O(1) instead of one
     * sequential read of the file. Only for files this host wrote itself. */
    SIGEO_CACHE_TRUST_DATA = 1
} sigeo_cache_flags_t;

/* Writes every row of `dataset` (storage order; shuffling is ignored) to
 * `path` atomically: into `path.XXXXXX` in the same folder, fsynced, then
 * renamed over `path`, so a failure leaves any previous file untouched.
 * Temporary section files are created in the same folder and unlinked at
 * once. Errors: SIGEO_ERR_INVALID_ARG (NULL), SIGEO_ERR_UNSUPPORTED (bags
 * of other than one id, ids above 2^31-1, more than 2^20 fields),
 * SIGEO_ERR_IO (naming the file and the system's reason),
 * SIGEO_ERR_NO_MEMORY. The dataset is unchanged. */
SIGEO_API sigeo_status_t sigeo_dataset_cache_write(const sigeo_dataset_t *dataset, const char *path);

/* Opens a cache file as a new read-only, memory-mapped dataset (owned by
 * the caller; it starts in storage order). Validated before anything is
 * mapped: the magic and version, the header checksum, every size (checked
 * arithmetic) against the sections and the file's real size, and, unless
 * flags has SIGEO_CACHE_TRUST_DATA, each section's checksum and every value
 * (ids below their table size, labels below the class count, finite dense
 * values and targets), read with one sequential pass. The file must not be
 * changed while a dataset maps it (replace it by rename, as the writer
 * does). Errors: SIGEO_ERR_INVALID_ARG (NULL, unknown flags), SIGEO_ERR_IO
 * (cannot open, read or map), SIGEO_ERR_FORMAT (not a cache, damaged or
 * truncated; the message says what and where), SIGEO_ERR_UNSUPPORTED (a
 * newer format version, the other byte order), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_dataset_cache_open(sigeo_dataset_t **out, const char *path, uint32_t flags);

/* The message of the latest failed call on this dataset, readable from any
 * thread. Borrowed: valid until the next failing call on the dataset or its
 * destruction. Never NULL ("" if nothing failed; "no dataset" for NULL). */
SIGEO_API const char *sigeo_dataset_last_error(const sigeo_dataset_t *dataset);

/* ============================================================ batch sets
 *
 * k batches that stay valid together: sigeo_proxy_compute and the search's
 * default scorer need all k at once, and a dataset's batch views die at the
 * next view call. A batch set holds its own copies (one block per batch),
 * so it stays valid after the dataset it came from is reshuffled or
 * destroyed. Accepted by sigeo_proxy_compute_set (proxy.h) and
 * sigeo_search_set_batch_set (search.h).
 *
 * Threads: a set is read-only once filled; calls taking a const set may
 * run concurrently with each other.
 */
typedef struct sigeo_batch_set sigeo_batch_set_t;

/* Creates a set holding copies of batches first, first + 1, ...,
 * first + count - 1 of `dataset` (its current order, `batch_size` rows,
 * `last` rule as sigeo_dataset_batch). count 0 (dataset may then be NULL)
 * gives an empty set to fill with sigeo_batch_set_append. On failure *out
 * is NULL. Errors: SIGEO_ERR_INVALID_ARG (NULL, a batch index outside the
 * dataset, naming it), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_batch_set_create(sigeo_batch_set_t **out, sigeo_dataset_t *dataset, int64_t first,
                                                uint32_t count, int64_t batch_size, sigeo_batch_last_t last);

/* Appends a copy of `batch` (any batch: a dataset view or the host's own
 * arrays, read by its struct_size). Checked: batch_size >= 1, sizes that do
 * not overflow, sparse offsets present when there are sparse fields and
 * non-decreasing from 0. On error the set is unchanged. Errors:
 * SIGEO_ERR_INVALID_ARG, SIGEO_ERR_SHAPE, SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_batch_set_append(sigeo_batch_set_t *set, const sigeo_batch_t *batch);

/* Destroys the set and its copies; NULL is a no-op. */
SIGEO_API void sigeo_batch_set_destroy(sigeo_batch_set_t *set);

/* Number of batches held (0 for NULL). */
SIGEO_API uint32_t sigeo_batch_set_count(const sigeo_batch_set_t *set);

/* Fills `out` (out->struct_size kept, only that many bytes written) with
 * batch `index`, pointing into the set's copies: valid until the set is
 * destroyed. Errors: SIGEO_ERR_INVALID_ARG (NULL, index >= count). */
SIGEO_API sigeo_status_t sigeo_batch_set_get(sigeo_batch_t *out, const sigeo_batch_set_t *set, uint32_t index);

/* The message of the latest failed call on this set; never NULL. */
SIGEO_API const char *sigeo_batch_set_last_error(const sigeo_batch_set_t *set);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_DATA_H */
