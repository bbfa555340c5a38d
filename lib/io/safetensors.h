/* safetensors checkpoints: reading and writing the format of
 * huggingface/safetensors, so weights move between libsigeo and PyTorch,
 * JAX or anything else that speaks it.
 *
 * A file is: an unsigned 64-bit little-endian length N; N bytes of UTF-8
 * JSON (the header); the data section. The header is one object whose keys
 * are tensor names mapping to {"dtype": "F32", "shape": [2, 3],
 * "data_offsets": [begin, end]} (offsets in bytes, relative to the data
 * section), plus an optional "__metadata__" object of string -> string.
 * Tensor bytes are little-endian and row-major.
 *
 * Internal (hidden visibility): the model layer builds sigeo_model_save and
 * sigeo_model_load on it. Nothing here is thread-unsafe except
 * sigeo__st_set_io, which exists for tests.
 *
 * What the reader refuses (SIGEO_ERR_FORMAT, the message names the file, the
 * offending thing and its offset as "header byte N", counted from the first
 * byte of the JSON text, i.e. file offset N + 8):
 *  - files under 8 bytes; a header length above SIGEO__ST_MAX_HEADER or
 *    above what follows the length; a header not starting with '{';
 *  - ill-formed UTF-8 anywhere in the header; JSON that is not strict
 *    RFC 8259; anything but spaces after the closing '}';
 *  - anything off the schema: a value of the wrong type or nested deeper,
 *    unknown or duplicate keys in a tensor entry, a missing field, numbers
 *    that are not plain non-negative integers where sizes and offsets go,
 *    more than SIGEO__ST_MAX_DIMS dimensions, unknown dtypes;
 *  - empty or duplicate tensor names, duplicate metadata keys, a second
 *    "__metadata__", and strings containing U+0000 (names and metadata are
 *    C strings here);
 *  - shapes whose byte size overflows: the product of the dimensions (zeros
 *    counted as 1, so every stride fits too) times the dtype size must fit
 *    in size_t and int64_t;
 *  - data_offsets with begin > end or end - begin != element count * dtype
 *    size, and any gap or overlap: sorted by offset, the tensors must cover
 *    the data section exactly, from 0 to its last byte.
 * The reader never allocates more than a small multiple of the header size
 * on top of the file image, whatever the header claims.
 *
 * The writer emits a canonical header: "__metadata__" first (only if there
 * is metadata), then the tensors in the order given, each as
 * {"dtype":..,"shape":[..],"data_offsets":[b,e]} without spaces, data packed
 * contiguously from offset 0 in that order, and the JSON padded with spaces
 * to a multiple of 8 bytes so the data section starts 8-byte aligned. Reading
 * a file it wrote and writing the result again reproduces it byte for byte.
 */
#ifndef SIGEO_IO_SAFETENSORS_H
#define SIGEO_IO_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

#define SIGEO__ST_MAX_DIMS 8
/* The cap careful readers (the reference implementation among them) put on
 * the header, so a hostile length cannot make them buffer gigabytes of JSON. */
#define SIGEO__ST_MAX_HEADER 100000000u

/* Element types, as named in the header ("F32", "BF16", ...). */
typedef enum sigeo__st_dtype {
    SIGEO__ST_BOOL,
    SIGEO__ST_U8,
    SIGEO__ST_I8,
    SIGEO__ST_F8_E5M2,
    SIGEO__ST_F8_E4M3,
    SIGEO__ST_I16,
    SIGEO__ST_U16,
    SIGEO__ST_F16,
    SIGEO__ST_BF16,
    SIGEO__ST_I32,
    SIGEO__ST_U32,
    SIGEO__ST_F32,
    SIGEO__ST_F64,
    SIGEO__ST_I64,
    SIGEO__ST_U64,
    SIGEO__ST_DTYPE_COUNT
} sigeo__st_dtype_t;

/* The header's name of a dtype ("F32"), or NULL if out of range. */
const char *sigeo__st_dtype_name(sigeo__st_dtype_t dtype);
/* Bytes per element (1, 2, 4 or 8), or 0 if out of range. */
size_t sigeo__st_dtype_size(sigeo__st_dtype_t dtype);

/* ----------------------------------------------------------------- reading */

/* One tensor of a parsed file. Everything is owned by the file. */
typedef struct sigeo__st_tensor {
    const char *name; /* UTF-8, NUL-terminated, non-empty, unescaped */
    sigeo__st_dtype_t dtype;
    uint32_t ndim;                       /* 0 for a scalar */
    int64_t dims[SIGEO__ST_MAX_DIMS];    /* dims[ndim ..] are 0 */
    uint64_t numel;                      /* product of dims; 1 for a scalar */
    uint64_t begin, end;                 /* byte range in the data section */
    size_t nbytes;                       /* end - begin = numel * dtype size */
    /* The nbytes raw bytes in the data section: little-endian elements,
     * row-major, NOT necessarily aligned for the dtype (copy with memcpy). */
    const uint8_t *data;
    size_t header_pos; /* header byte where the tensor's name starts (for messages) */
} sigeo__st_tensor_t;

typedef struct sigeo__st_meta {
    const char *key;   /* UTF-8, NUL-terminated; owned by the file */
    const char *value; /* UTF-8, NUL-terminated; owned by the file */
    size_t header_pos; /* header byte where the key starts */
} sigeo__st_meta_t;

/* A parsed file. Fields are read-only for callers; release with
 * sigeo__st_free. A zeroed struct is a valid empty file for sigeo__st_free. */
typedef struct sigeo__st_file {
    sigeo__st_tensor_t *tensors; /* in header (file) order */
    size_t n_tensors;
    sigeo__st_meta_t *meta;      /* "__metadata__" pairs in header order */
    size_t n_meta;
    const uint8_t *data;         /* the data section */
    size_t data_size;
    size_t header_size;          /* N, the JSON length including padding */
    /* private */
    const sigeo__st_tensor_t **by_name; /* sorted by strcmp, for sigeo__st_find */
    char *strings;                      /* every decoded name, key and value */
    uint8_t *image;                     /* file bytes, when sigeo__st_read owns them */
} sigeo__st_file_t;

/* Parses a complete file image bytes[0 .. size). Names and metadata are
 * copied into *out; tensor data is BORROWED: out->data and every
 * tensor's `data` point into `bytes`, which must outlive *out and stay
 * unchanged. `what` names the image in messages (a path, or NULL for
 * "<memory>"). On failure *out is zeroed. Errors: SIGEO_ERR_FORMAT,
 * SIGEO_ERR_NO_MEMORY, SIGEO_ERR_INVALID_ARG (NULL out, or NULL bytes with
 * size > 0). The message also goes to `err` when it is not NULL. */
sigeo_status_t sigeo__st_parse(sigeo__st_file_t *out, const uint8_t *bytes, size_t size, const char *what,
                               sigeo__errbuf_t *err);

/* Reads the regular file at `path` whole into memory owned by *out, then
 * parses it as sigeo__st_parse does. Errors as sigeo__st_parse, plus
 * SIGEO_ERR_IO (cannot open, not a regular file, a read error with the
 * system's text, or the file changing size while being read). */
sigeo_status_t sigeo__st_read(sigeo__st_file_t *out, const char *path, sigeo__errbuf_t *err);

/* The tensor called `name`, or NULL. Borrowed from `file`. O(log n). */
const sigeo__st_tensor_t *sigeo__st_find(const sigeo__st_file_t *file, const char *name);

/* Releases what a parse or read gave *file and zeroes it. NULL and zeroed
 * files are no-ops. */
void sigeo__st_free(sigeo__st_file_t *file);

/* ----------------------------------------------------------------- writing */

/* One tensor to write; everything is borrowed for the call. */
typedef struct sigeo__st_tensor_in {
    const char *name;     /* UTF-8, non-empty, unique, not "__metadata__" */
    sigeo__st_dtype_t dtype;
    uint32_t ndim;        /* <= SIGEO__ST_MAX_DIMS */
    const int64_t *dims;  /* ndim entries >= 0; may be NULL when ndim == 0 */
    /* numel * dtype size bytes in HOST byte order (swapped to little-endian
     * on big-endian hosts); may be NULL when that is 0. A tensor of a file
     * read on a little-endian host can be passed back as it is. */
    const void *data;
} sigeo__st_tensor_in_t;

/* Writes tensors[0 .. n) and the metadata pairs (meta_keys[i] ->
 * meta_values[i], UTF-8, keys unique; both may be NULL when n_meta == 0) to
 * `path`, atomically: the bytes go to "<path>.tmp.<pid>" in the same
 * directory, are flushed and fsync'ed, and the temporary file is renamed
 * over `path` (then the directory is fsync'ed, best effort). On any failure
 * the temporary file is removed and a previous file at `path` is untouched.
 * Two threads of one process must not write the same path at once.
 * Errors: SIGEO_ERR_INVALID_ARG (bad names, shapes, dtypes or NULLs),
 * SIGEO_ERR_UNSUPPORTED (header over SIGEO__ST_MAX_HEADER), SIGEO_ERR_IO
 * (with the stage and the system's text), SIGEO_ERR_NO_MEMORY. */
sigeo_status_t sigeo__st_write(const char *path, const sigeo__st_tensor_in_t *tensors, size_t n,
                               const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                               sigeo__errbuf_t *err);

/* The same bytes sigeo__st_write would write, into a buffer allocated with
 * sigeo__alloc (release with sigeo__free) returned through *out and
 * *out_size. On failure *out is NULL and *out_size 0. Errors as
 * sigeo__st_write, without SIGEO_ERR_IO. */
sigeo_status_t sigeo__st_write_mem(uint8_t **out, size_t *out_size, const sigeo__st_tensor_in_t *tensors, size_t n,
                                   const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                   sigeo__errbuf_t *err);

/* ----------------------------------------------------- I/O hook for tests */

/* The system calls sigeo__st_read and sigeo__st_write go through. Each
 * returns 0 or an errno value. `read` and `write` may move fewer than `size`
 * bytes (reported in *got / *put) without an error; the callers loop, and
 * take *got == 0 as end of file and *put == 0 as a failed write. `sync`
 * flushes stdio buffers and fsyncs. */
typedef struct sigeo__st_io {
    int (*open)(FILE **out, const char *path, const char *mode);
    int (*read)(FILE *f, void *buf, size_t size, size_t *got);
    int (*write)(FILE *f, const void *buf, size_t size, size_t *put);
    int (*sync)(FILE *f);
    int (*close)(FILE *f);
    int (*rename)(const char *from, const char *to);
    int (*remove)(const char *path);
} sigeo__st_io_t;

/* The default operations (stdio + fsync), for hooks that wrap them. */
const sigeo__st_io_t *sigeo__st_io_default(void);

/* Replaces the operations for every later read and write of the process
 * (the table is copied; NULL restores the defaults). For tests that inject
 * failures: not thread-safe, never called by the library itself. */
void sigeo__st_set_io(const sigeo__st_io_t *io);

#endif
