/*
 * libsigeo I/O: readers that turn files into sigeo_dataset_t handles.
 *
 *   IDX (MNIST family)  sigeo_idx_load, sigeo_fashion_mnist_locate/_load
 *   Criteo TSV          sigeo_criteo_reader_* (streaming), sigeo_criteo_load
 *   synthetic CTR data  sigeo_synth_write_tsv, sigeo_synth_generate
 *
 * Every reader validates what it reads and reports the place of a problem:
 * the file, and the byte offset (IDX; offsets count decompressed bytes for
 * gzip files) or the line and field (Criteo). Files may be gzip-compressed
 * or plain: the gzip magic is detected, so both read the same way. Paths are
 * borrowed for the call; the library keeps no pointer to caller memory.
 *
 * Threads: the free functions are thread-safe (they share no state); a
 * reader handle is used by one thread at a time.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_IO_H
#define SIGEO_IO_H

#include "sigeo/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =================================================================== IDX
 *
 * IDX files (the MNIST family): a big-endian header, magic 0x00000803 for
 * images ([count, rows, cols] unsigned bytes) or 0x00000801 for labels
 * ([count] unsigned bytes), then the raw bytes. Only the unsigned-byte type
 * (0x08) is read.
 */

/* Loads an images file and, optionally, its labels file into a new dataset
 * owned by the caller: dense = pixels / 255 as float32 in [0, 1] (row-major
 * rows*cols per image; info.image_height/width give the shape), labels =
 * int32. `labels_path` may be NULL (no labels). At most `max_rows` images
 * are read (0 = all). If `n_classes` > 0 every label must be below it
 * (Fashion-MNIST: 10); 0 accepts any byte value. Errors (with file and byte
 * offset in the message): SIGEO_ERR_IO (cannot open or read), SIGEO_ERR_FORMAT
 * (wrong magic, other type code or dimension count, a zero image size,
 * dimension product overflowing, truncated data, trailing bytes after a
 * complete read, corrupt gzip stream, label out of range), SIGEO_ERR_SHAPE
 * (image and label counts differ), SIGEO_ERR_INVALID_ARG, SIGEO_ERR_NO_MEMORY.
 * Memory grows with the bytes actually read, so a header claiming more data
 * than the file holds costs nothing before the truncation is found. A gzip
 * file yields at most what its header claims (SIGEO_ERR_UNSUPPORTED past
 * it) and, with max_rows = 0, its header may claim at most
 * SIGEO_IDX_MAX_GZIP_BYTES of pixels (checked before anything is
 * allocated; pass max_rows to accept a larger one): a small gzip file can
 * otherwise expand a thousandfold. Bytes after the last gzip member are
 * SIGEO_ERR_FORMAT. A path that is not a regular file (FIFO, device,
 * directory) is SIGEO_ERR_IO, without blocking. */
#define SIGEO_IDX_MAX_GZIP_BYTES ((int64_t)1 << 28)
SIGEO_API sigeo_status_t sigeo_idx_load(sigeo_dataset_t **out, const char *images_path, const char *labels_path,
                                        int64_t max_rows, int32_t n_classes);

/* The two halves of Fashion-MNIST. */
typedef enum sigeo_fashion_mnist_split {
    SIGEO_FASHION_MNIST_TRAIN = 0, /* train-{images-idx3,labels-idx1}-ubyte: 60000 images */
    SIGEO_FASHION_MNIST_TEST = 1   /* t10k-{images-idx3,labels-idx1}-ubyte: 10000 images */
} sigeo_fashion_mnist_split_t;

/* Where Debian's dataset-fashion-mnist package puts the files. */
#define SIGEO_FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Finds a directory holding the four Fashion-MNIST files (each either plain
 * or with a .gz suffix). Tried in order, the first complete one wins: `dir`
 * (if not NULL), then the environment variable SIGEO_DATA_DIR and its
 * subdirectory fashion-mnist (if set), then SIGEO_FASHION_MNIST_DEFAULT_DIR.
 * Two-call pattern: with buf NULL, sets *size to the bytes needed (with the
 * terminating NUL); otherwise *size is the capacity of buf and the path is
 * written NUL-terminated. Errors: SIGEO_ERR_IO (nothing found: the message
 * names every place tried and what was missing there), SIGEO_ERR_SHAPE
 * (buf too small; *size set to the size needed), SIGEO_ERR_INVALID_ARG.
 * Thread-safe as long as no thread changes the environment meanwhile. */
SIGEO_API sigeo_status_t sigeo_fashion_mnist_locate(char *buf, size_t *size, const char *dir);

/* Locates Fashion-MNIST as sigeo_fashion_mnist_locate does and loads one
 * split with sigeo_idx_load (labels checked to be 0..9). `max_rows` 0 = all.
 * Errors: those of the two calls. */
SIGEO_API sigeo_status_t sigeo_fashion_mnist_load(sigeo_dataset_t **out, const char *dir,
                                                  sigeo_fashion_mnist_split_t split, int64_t max_rows);

/* ================================================================ Criteo
 *
 * Criteo Kaggle TSV (docs/nasrec.md §1): one example per line, 40 tab-separated
 * fields: label (0 or 1), I1..I13 (decimal integers, may be negative),
 * C1..C26 (hexadecimal strings, 1..16 digits, either case). An empty field
 * is a missing value. Lines end in LF or CRLF; the last line may lack its
 * newline.
 *
 * A dataset from Criteo data has n_dense = 13, n_sparse_fields = 26 with
 * exactly one id per bag, labels (0/1, int32) AND targets (n_targets = 1,
 * float 0/1), so both softmax and BCE losses can read it:
 *   dense  x' = ln(1 + max(x, 0)), missing -> 0
 *   id     = v mod (N_f - 1) + 1 for a present value v (the hex parsed as an
 *            unsigned 64-bit integer), 0 for a missing one; N_f = rows of
 *            field f's table. For v < 2^53 this equals the reference's
 *            fmod(v, N_f - 1) + 1 in double; above, the exact integer
 *            remainder is used (the reference would round v first).
 */
#define SIGEO_CRITEO_N_DENSE 13
#define SIGEO_CRITEO_N_SPARSE 26

/* Table sizes N_f of the 26 categorical fields. */
typedef enum sigeo_criteo_tables {
    SIGEO_CRITEO_TABLES_SCALED = 0, /* min(N_f of Criteo Kaggle, 4096): docs/nasrec.md §8.2 scaled-down recipe (default) */
    SIGEO_CRITEO_TABLES_FULL = 1,   /* the Criteo Kaggle sizes of docs/nasrec.md §1.3 (up to 10,131,227) */
    SIGEO_CRITEO_TABLES_SEARCH = 2, /* min(N_f, 500000): the cap the reference used during search */
    SIGEO_CRITEO_TABLES_UNIFORM = 3, /* options.table_size for every field */
    SIGEO_CRITEO_TABLES_CUSTOM = 4   /* options.table_sizes[f] per field */
} sigeo_criteo_tables_t;

/* What a malformed line does. */
typedef enum sigeo_criteo_bad_line {
    /* The call fails with SIGEO_ERR_FORMAT naming the line and field (default:
     * a format mix-up then cannot pass as a data set with a few rows). */
    SIGEO_CRITEO_BAD_LINE_FAIL = 0,
    /* The line is skipped and counted in sigeo_criteo_stats_t. */
    SIGEO_CRITEO_BAD_LINE_SKIP = 1
} sigeo_criteo_bad_line_t;

/* Kinds of malformed lines. */
typedef enum sigeo_criteo_problem {
    SIGEO_CRITEO_PROBLEM_NONE = 0,
    SIGEO_CRITEO_PROBLEM_FIELD_COUNT = 1, /* not 40 fields (extra or missing tabs, blank line) */
    SIGEO_CRITEO_PROBLEM_LABEL = 2,       /* label other than "0" or "1" */
    SIGEO_CRITEO_PROBLEM_INTEGER = 3,     /* I-field not a decimal int64 */
    SIGEO_CRITEO_PROBLEM_HEX = 4,         /* C-field not 1..16 hex digits */
    SIGEO_CRITEO_PROBLEM_TOO_LONG = 5     /* line longer than max_line_bytes */
} sigeo_criteo_problem_t;

/* Options of the Criteo readers (sigeo_criteo_reader_create, sigeo_criteo_load). */
typedef struct sigeo_criteo_options {
    uint32_t struct_size;
    int32_t on_bad_line;    /* a sigeo_criteo_bad_line_t value */
    int32_t tables;         /* a sigeo_criteo_tables_t value */
    uint32_t reserved0;     /* must be 0 */
    int64_t table_size;     /* UNIFORM: rows of every table, 2 .. 2^31 */
    int64_t max_line_bytes; /* longest accepted line without its line ending (default 65536, 1 .. 2^30) */
    int64_t table_sizes[SIGEO_CRITEO_N_SPARSE]; /* CUSTOM: rows of table f, 2 .. 2^31 */
} sigeo_criteo_options_t;

#define SIGEO_CRITEO_OPTIONS_INIT                                                                                      \
    { (uint32_t)sizeof(sigeo_criteo_options_t), SIGEO_CRITEO_BAD_LINE_FAIL, SIGEO_CRITEO_TABLES_SCALED, 0u, 0, 65536, \
      { 0 } }

/* Fills `options` with the defaults and sets struct_size (for hosts that
 * cannot expand SIGEO_CRITEO_OPTIONS_INIT). Errors: SIGEO_ERR_INVALID_ARG.
 * Thread-safe. */
SIGEO_API sigeo_status_t sigeo_criteo_options_init(sigeo_criteo_options_t *options, uint32_t struct_size);

/* Counts of what a reader consumed. Lines are physical lines, numbered from 1. */
typedef struct sigeo_criteo_stats {
    uint32_t struct_size;
    int32_t first_bad_problem; /* a sigeo_criteo_problem_t value, NONE if no bad line */
    int64_t lines;             /* lines consumed */
    int64_t rows;              /* rows delivered (good lines) */
    int64_t bad_lines;         /* lines rejected (all kinds) */
    int64_t first_bad_line;    /* number of the first rejected line, 0 if none */
    int32_t first_bad_field;   /* its 1-based field (1 label, 2..14 I1..I13, 15..40 C1..C26), 0 = whole line */
    uint32_t reserved0;
    int64_t bad_field_count;
    int64_t bad_label;
    int64_t bad_integer;
    int64_t bad_hex;
    int64_t too_long;
} sigeo_criteo_stats_t;

#define SIGEO_CRITEO_STATS_INIT { (uint32_t)sizeof(sigeo_criteo_stats_t), 0, 0, 0, 0, 0, 0, 0u, 0, 0, 0, 0, 0 }

/* Fills `stats` with zeros and sets struct_size. Errors: SIGEO_ERR_INVALID_ARG. */
SIGEO_API sigeo_status_t sigeo_criteo_stats_init(sigeo_criteo_stats_t *stats, uint32_t struct_size);

/* Resolves the table sizes `options` select (NULL = defaults) into
 * sizes_out[0..26). Errors: SIGEO_ERR_INVALID_ARG (unknown preset, size
 * outside 2 .. 2^31, reserved0 set), SIGEO_ERR_UNSUPPORTED. Thread-safe. */
SIGEO_API sigeo_status_t sigeo_criteo_table_sizes(int64_t sizes_out[SIGEO_CRITEO_N_SPARSE],
                                                  const sigeo_criteo_options_t *options);

/* Hashes one categorical field's text (`length` bytes, no NUL needed) into
 * a table of `table_rows` rows exactly as the reader does: 0 for an empty
 * text (missing), else v mod (table_rows - 1) + 1. Errors: SIGEO_ERR_FORMAT
 * (not 1..16 hex digits), SIGEO_ERR_INVALID_ARG (table_rows outside
 * 2 .. 2^31, NULL). Thread-safe. */
SIGEO_API sigeo_status_t sigeo_criteo_hash_id(int64_t *out, const char *text, size_t length, int64_t table_rows);

/* A streaming reader: reads a Criteo file chunk by chunk, so files larger
 * than memory can be processed. */
typedef struct sigeo_criteo_reader sigeo_criteo_reader_t;

/* Opens `path` (plain or gzip) for reading. `options` may be NULL (defaults)
 * and is copied. On failure *out is NULL. Errors: SIGEO_ERR_IO (cannot
 * open; not a regular file — a FIFO, device or directory is refused
 * without blocking), SIGEO_ERR_INVALID_ARG (bad options),
 * SIGEO_ERR_UNSUPPORTED, SIGEO_ERR_NO_MEMORY. Bytes after the last gzip
 * member are a SIGEO_ERR_FORMAT of the read that reaches them. Memory is
 * one chunk whatever the file expands to; sigeo_criteo_load's is bounded by
 * max_rows (0 = all the file holds: pass a limit for untrusted gzip). */
SIGEO_API sigeo_status_t sigeo_criteo_reader_create(sigeo_criteo_reader_t **out, const char *path,
                                                    const sigeo_criteo_options_t *options);

/* Closes the file and frees the reader; NULL is a no-op. Datasets it
 * produced are independent of it. */
SIGEO_API void sigeo_criteo_reader_destroy(sigeo_criteo_reader_t *reader);

/* Reads the next up to `max_rows` (>= 1) good rows into a new dataset owned
 * by the caller. At the end of the file *out is NULL and the status is
 * SIGEO_OK. The chunks of one file, concatenated, equal sigeo_criteo_load of
 * the whole file. Errors: SIGEO_ERR_FORMAT (strict mode: a bad line; the
 * message names line and field), SIGEO_ERR_IO, SIGEO_ERR_NO_MEMORY,
 * SIGEO_ERR_INVALID_ARG (max_rows < 1; the reader stays usable). After a
 * FORMAT, IO or NO_MEMORY failure the reader is finished: the rows of the
 * failed chunk are lost and every later call returns the same status and
 * message (destroy it). *out is NULL after any failure. */
SIGEO_API sigeo_status_t sigeo_criteo_reader_next(sigeo_dataset_t **out, sigeo_criteo_reader_t *reader,
                                                  int64_t max_rows);

/* Writes the reader's counts so far (min(out->struct_size, sizeof) bytes).
 * Errors: SIGEO_ERR_INVALID_ARG. */
SIGEO_API sigeo_status_t sigeo_criteo_reader_get_stats(sigeo_criteo_stats_t *out,
                                                       const sigeo_criteo_reader_t *reader);

/* The message of the latest failed call on this reader, from any thread.
 * Borrowed: valid until the next failing call on the reader or its
 * destruction. Never NULL. */
SIGEO_API const char *sigeo_criteo_reader_last_error(const sigeo_criteo_reader_t *reader);

/* Loads the first `max_rows` good rows of a Criteo file (0 = all) into a new
 * dataset owned by the caller (0 rows for an empty file). `stats_out` may be
 * NULL; if given, it receives the counts also when the load fails. Errors:
 * those of sigeo_criteo_reader_create and sigeo_criteo_reader_next. */
SIGEO_API sigeo_status_t sigeo_criteo_load(sigeo_dataset_t **out, sigeo_criteo_stats_t *stats_out, const char *path,
                                           const sigeo_criteo_options_t *options, int64_t max_rows);

/* Progress of a long conversion: `rows` written so far, `lines` of input
 * consumed. Return 0 to go on, anything else to stop (the call then fails
 * with SIGEO_ERR_CANCELLED and writes nothing). */
typedef int (*sigeo_cache_progress_fn)(int64_t rows, int64_t lines, void *user);

/* Streams the first `max_rows` good rows of a Criteo file (0 = all) into a
 * dataset cache file (sigeo/data.h, sigeo_dataset_cache_write): 64 k rows
 * are parsed at a time, so memory does not grow with the file. The output
 * appears atomically at `cache_path` only when the whole input was read.
 * `progress` (may be NULL) is called after every chunk. `stats_out` may be
 * NULL; if given it receives the reader's counts, also on failure. Errors:
 * those of sigeo_criteo_reader_create / _next, SIGEO_ERR_IO (writing),
 * SIGEO_ERR_CANCELLED, SIGEO_ERR_INVALID_ARG (NULL path, max_rows < 0). */
SIGEO_API sigeo_status_t sigeo_criteo_write_cache(sigeo_criteo_stats_t *stats_out, const char *tsv_path,
                                                  const char *cache_path, const sigeo_criteo_options_t *options,
                                                  int64_t max_rows, sigeo_cache_progress_fn progress, void *user);

/* ======================================================= synthetic CTR data
 *
 * Criteo-format click data from a hidden "teacher" whose signal sits largely
 * in feature interactions, following docs/nasrec.md §8.1. Everything is drawn
 * from xoshiro256** streams seeded by options.seed, so a seed gives the same
 * bytes on every run (the teacher and the rows use separate streams; row i
 * does not depend on n_rows, so a shorter file is a prefix of a longer one).
 *
 * Rows. Categorical field f (0-based) has latent categories u = 1..c_f,
 * c_f = min(N_f of Criteo Kaggle, max_cardinality), drawn from Zipf(1.2)
 * (P(u) proportional to u^-1.2); the emitted value is 8 hex digits of a
 * 32-bit mix of (f, u); missing with probability 0.3 for f in
 * {2,3,11,15,18,20,21,22,24,25}, else 0.02. Dense feature j (0-based) is
 * floor(exp(N(0.5 + 0.25 j, 1))) - 1; feature 1 is -1 with probability 0.05;
 * missing with probability 0.2.
 *
 * Teacher, with x'_j = ln(1 + max(x_j, 0)) (0 when missing) and terms of a
 * missing field left out:
 *   z = beta                                                    bias
 *     + sum_f w_f[u_f]                          w ~ N(0, 0.3^2)  first order
 *     + sum_{(f,g) in P} ( <v_f[u_f], v_g[u_g]>  v in R^4 ~ N(0, 0.5^2)
 *                          + T_fg[h(u_f, u_g)] ) T: 1024 entries ~ N(0, 0.5^2)
 *                                               per pair, h a hash of the pair
 *     + sum_{k < n_gates} s_k[u_{f_k}] * tanh(x'_{j_k} - (0.5 + 0.25 j_k))
 *                                               s ~ N(0, 1)      dense-sparse gates
 *     + sum_j a_j x'_j + 0.5 tanh(sum_j r_j x'_j)  a, r ~ N(0, 0.1^2)
 * P = n_cross_pairs distinct random field pairs; gates pair a random dense
 * feature with a random field. The factorised part rewards dot-product / FM
 * interactions, the hashed pair tables reward deeper crosses. With the
 * defaults the crosses carry about 60% of Var(z) and the gates another
 * 10-15%, the first-order terms about 25% and the dense terms under 5%
 * (result.share_* report the split for a seed).
 * beta is found by bisection so that the mean of sigmoid(z) over a fixed
 * 50,000-row pilot sample (its own stream) equals base_rate; the label is
 * y ~ Bernoulli(sigmoid(z)).
 */
typedef struct sigeo_synth_options {
    uint32_t struct_size;
    uint32_t n_cross_pairs; /* field pairs with cross terms, 0..325 (default 12) */
    uint64_t seed;
    int64_t n_rows;           /* rows to generate, >= 0 (default 100000: the recipe's quick preset) */
    double base_rate;         /* target mean click probability, in (0, 1) (default 0.25) */
    uint32_t n_gates;         /* dense-sparse gates, 0..64 (default 4) */
    uint32_t max_cardinality; /* cap on the latent categories per field, >= 1 (default 2000) */
} sigeo_synth_options_t;

#define SIGEO_SYNTH_OPTIONS_INIT { (uint32_t)sizeof(sigeo_synth_options_t), 12u, 0u, 100000, 0.25, 4u, 2000u }

/* Fills `options` with the defaults and sets struct_size. Errors:
 * SIGEO_ERR_INVALID_ARG. Thread-safe. */
SIGEO_API sigeo_status_t sigeo_synth_options_init(sigeo_synth_options_t *options, uint32_t struct_size);

/* What a generation produced. The shares are Var(part) / sum of the four
 * parts' variances over the pilot sample (covariances ignored). */
typedef struct sigeo_synth_result {
    uint32_t struct_size;
    uint32_t reserved0;
    int64_t n_rows;
    int64_t n_positives;
    double bias;             /* the calibrated beta */
    double mean_probability; /* mean sigmoid(z) over the generated rows */
    double bayes_log_loss;   /* mean BCE of the true sigmoid(z) against the drawn labels: the floor */
    double share_first_order;
    double share_cross;
    double share_gates;
    double share_dense;
} sigeo_synth_result_t;

#define SIGEO_SYNTH_RESULT_INIT { (uint32_t)sizeof(sigeo_synth_result_t), 0u, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0 }

/* Fills `result` with zeros and sets struct_size. Errors: SIGEO_ERR_INVALID_ARG. */
SIGEO_API sigeo_status_t sigeo_synth_result_init(sigeo_synth_result_t *result, uint32_t struct_size);

/* Writes options->n_rows synthetic rows as Criteo TSV (LF line endings,
 * 8 lowercase hex digits per present categorical value) to `path`,
 * replacing the file atomically, as sigeo_model_save does (model.h): a
 * temporary beside it, then rename, so on failure the old file is intact
 * and no temporary is left; a symbolic link, FIFO, device or directory at
 * `path` is refused and left alone. `result_out` may be NULL; `options` may
 * be NULL (defaults). Errors:
 * SIGEO_ERR_INVALID_ARG, SIGEO_ERR_UNSUPPORTED, SIGEO_ERR_IO (naming the
 * path), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_synth_write_tsv(sigeo_synth_result_t *result_out, const char *path,
                                               const sigeo_synth_options_t *options);

/* Generates the same rows directly into a new dataset owned by the caller,
 * exactly as sigeo_criteo_load would read the file sigeo_synth_write_tsv
 * writes with the same options (`criteo` selects the table sizes; NULL =
 * defaults; its on_bad_line and max_line_bytes do not matter here).
 * `result_out` may be NULL. Errors: SIGEO_ERR_INVALID_ARG,
 * SIGEO_ERR_UNSUPPORTED, SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_synth_generate(sigeo_dataset_t **out, sigeo_synth_result_t *result_out,
                                              const sigeo_synth_options_t *options,
                                              const sigeo_criteo_options_t *criteo);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_IO_H */
