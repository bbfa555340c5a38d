/* IDX (MNIST-family) reader and the Fashion-MNIST locator. io/zin.h reads
 * gzip and plain files alike, with a budget on what gzip may expand to. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/dataset.h"
#include "io/zin.h"
#include "sigeo/io.h"

#define IDX_UBYTE 0x08
#define STAGE_BYTES 65536
#define FIRST_GROW ((size_t)1 << 20) /* elements allocated before any data is seen */

typedef struct idx_file {
    sigeo__zin_t *z;
    const char *path;
    const char *kind; /* "images" or "labels" */
    char what[16];    /* "idx images" */
    uint64_t offset;  /* decompressed bytes consumed */
    uint32_t dims[3];
} idx_file_t;

/* Until the header is known, a gzip file may yield its header only. */
#define HEADER_BUDGET 16u

static sigeo_status_t open_idx(idx_file_t *f, const char *path, const char *kind)
{
    f->path = path;
    f->kind = kind;
    f->offset = 0;
    snprintf(f->what, sizeof f->what, "idx %s", kind);
    return sigeo__zin_open(&f->z, path, f->what, HEADER_BUDGET);
}

static void close_idx(idx_file_t *f)
{
    sigeo__zin_close(f->z);
    f->z = NULL;
}

/* Reads up to n bytes; *got is what arrived (less only at the end of the
 * data). Fails on read errors, corrupt or cut gzip streams, bytes after
 * the last gzip member and gzip data beyond the budget (zin.h). */
static sigeo_status_t read_bytes(idx_file_t *f, unsigned char *dst, size_t n, size_t *got)
{
    sigeo_status_t st = sigeo__zin_read(f->z, dst, n, got);
    f->offset += *got;
    return st;
}

static const char *offset_note(const idx_file_t *f)
{
    return sigeo__zin_compressed(f->z) ? " (decompressed)" : "";
}

/* Header: 0x00 0x00 type ndim, then ndim big-endian uint32 sizes. */
static sigeo_status_t read_header(idx_file_t *f, uint32_t want_ndim, uint32_t want_magic)
{
    unsigned char h[4 + 4 * 3];
    size_t got;
    sigeo_status_t st = read_bytes(f, h, 4, &got);
    if (st != SIGEO_OK)
        return st;
    if (got < 4)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': truncated header: file ends at byte offset %zu%s, the "
                           "magic needs 4 bytes", f->kind, f->path, got, offset_note(f));
    uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (h[0] != 0 || h[1] != 0)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': magic 0x%08x at byte offset 0 is not IDX (expected "
                           "0x%08x)", f->kind, f->path, (unsigned)magic, (unsigned)want_magic);
    if (h[2] != IDX_UBYTE)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': type code 0x%02x at byte offset 2 is not supported "
                           "(only 0x08, unsigned byte; expected magic 0x%08x)", f->kind, f->path, (unsigned)h[2],
                           (unsigned)want_magic);
    if (h[3] != want_ndim)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': %u dimensions at byte offset 3, %s files have %u "
                           "(magic 0x%08x, expected 0x%08x)", f->kind, f->path, (unsigned)h[3], f->kind,
                           (unsigned)want_ndim, (unsigned)magic, (unsigned)want_magic);
    if ((st = read_bytes(f, h + 4, 4 * want_ndim, &got)) != SIGEO_OK)
        return st;
    if (got < 4 * want_ndim)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': truncated header: file ends at byte offset %llu%s, the "
                           "%u sizes need %u bytes", f->kind, f->path, (unsigned long long)f->offset,
                           offset_note(f), (unsigned)want_ndim, 4 + 4 * (unsigned)want_ndim);
    for (uint32_t d = 0; d < want_ndim; d++) {
        const unsigned char *p = h + 4 + 4 * d;
        f->dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    return SIGEO_OK;
}

/* Grows a float or int32 buffer geometrically, never beyond `limit`
 * elements (4-byte elements both). */
static bool grow4(void **buf, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap)
        return true;
    size_t next = *cap ? *cap * 2 : FIRST_GROW;
    if (next < need)
        next = need;
    if (next > limit)
        next = limit;
    void *p = sigeo__realloc_array(*buf, *cap, next, 4);
    if (!p)
        return false;
    *buf = p;
    *cap = next;
    return true;
}

/* Streams `total` pixel bytes into floats in [0, 1]. */
static sigeo_status_t read_pixels(float **out, idx_file_t *f, size_t total, size_t row_bytes)
{
    unsigned char *stage = sigeo__alloc(STAGE_BYTES);
    float *dense = NULL;
    size_t cap = 0, done = 0;
    sigeo_status_t st = SIGEO_OK;
    if (!stage)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx images '%s': out of memory", f->path);
    while (done < total) {
        size_t want = total - done < STAGE_BYTES ? total - done : STAGE_BYTES, got;
        if ((st = read_bytes(f, stage, want, &got)) != SIGEO_OK)
            break;
        if (got < want) {
            size_t have = done + got;
            st = sigeo__fail(SIGEO_ERR_FORMAT, "idx images '%s': truncated: data ends at byte offset %llu%s inside "
                             "image %zu, expected %zu pixel bytes", f->path, (unsigned long long)f->offset,
                             offset_note(f), have / row_bytes, total);
            break;
        }
        if (!grow4((void **)&dense, &cap, done + got, total)) {
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx images '%s': out of memory for %zu pixels", f->path, total);
            break;
        }
        for (size_t i = 0; i < got; i++)
            dense[done + i] = (float)stage[i] / 255.0f;
        done += got;
    }
    sigeo__free(stage);
    if (st != SIGEO_OK) {
        sigeo__free(dense);
        return st;
    }
    if (!dense && (dense = sigeo__alloc(sizeof(float))) == NULL) /* zero images: still a valid buffer */
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx images '%s': out of memory", f->path);
    *out = dense;
    return SIGEO_OK;
}

static sigeo_status_t read_labels(int32_t **out, idx_file_t *f, size_t n, int32_t n_classes)
{
    unsigned char *stage = sigeo__alloc(STAGE_BYTES);
    int32_t *labels = NULL;
    size_t cap = 0, done = 0;
    sigeo_status_t st = SIGEO_OK;
    if (!stage)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx labels '%s': out of memory", f->path);
    while (done < n && st == SIGEO_OK) {
        size_t want = n - done < STAGE_BYTES ? n - done : STAGE_BYTES, got;
        uint64_t at = f->offset;
        if ((st = read_bytes(f, stage, want, &got)) != SIGEO_OK)
            break;
        if (got < want) {
            st = sigeo__fail(SIGEO_ERR_FORMAT, "idx labels '%s': truncated: data ends at byte offset %llu%s after "
                             "%zu of %zu labels", f->path, (unsigned long long)f->offset, offset_note(f), done + got,
                             n);
            break;
        }
        if (!grow4((void **)&labels, &cap, done + got, n)) {
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx labels '%s': out of memory for %zu labels", f->path, n);
            break;
        }
        for (size_t i = 0; i < got; i++) {
            if (n_classes > 0 && stage[i] >= n_classes) {
                st = sigeo__fail(SIGEO_ERR_FORMAT, "idx labels '%s': label %u of image %zu at byte offset %llu is "
                                 "not below n_classes %d", f->path, (unsigned)stage[i], done + i,
                                 (unsigned long long)(at + i), (int)n_classes);
                break;
            }
            labels[done + i] = stage[i];
        }
        done += got;
    }
    sigeo__free(stage);
    if (st == SIGEO_OK && !labels && (labels = sigeo__alloc(sizeof(int32_t))) == NULL)
        st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "idx labels '%s': out of memory", f->path);
    if (st != SIGEO_OK) {
        sigeo__free(labels);
        return st;
    }
    *out = labels;
    return SIGEO_OK;
}

/* A complete read must end exactly at the end of the data. */
static sigeo_status_t check_end(idx_file_t *f)
{
    unsigned char extra;
    size_t got;
    uint64_t at = f->offset;
    sigeo_status_t st = read_bytes(f, &extra, 1, &got);
    if (st != SIGEO_OK)
        return st;
    if (got != 0)
        return sigeo__fail(SIGEO_ERR_FORMAT, "idx %s '%s': unexpected bytes after the data at byte offset %llu%s",
                           f->kind, f->path, (unsigned long long)at, offset_note(f));
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_idx_load(sigeo_dataset_t **out, const char *images_path, const char *labels_path,
                                        int64_t max_rows, int32_t n_classes)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_idx_load: out is NULL");
    *out = NULL;
    if (!images_path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_idx_load: images_path is NULL");
    if (max_rows < 0 || n_classes < 0 || n_classes > 256)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_idx_load: %s",
                           max_rows < 0 ? "max_rows is negative (0 = all)" : "n_classes outside 0..256");

    idx_file_t img = { 0 }, lab = { 0 };
    float *dense = NULL;
    int32_t *labels = NULL;
    sigeo_status_t st = open_idx(&img, images_path, "images");
    if (st == SIGEO_OK)
        st = read_header(&img, 3, 0x00000803u);
    if (st == SIGEO_OK && labels_path) {
        if ((st = open_idx(&lab, labels_path, "labels")) == SIGEO_OK)
            st = read_header(&lab, 1, 0x00000801u);
    }
    uint64_t count = img.dims[0], h = img.dims[1], w = img.dims[2];
    size_t row_bytes = 0, total = 0, n = 0;
    if (st == SIGEO_OK && (h == 0 || w == 0))
        st = sigeo__fail(SIGEO_ERR_FORMAT, "idx images '%s': image size %llu x %llu (byte offsets 8..15) is empty",
                         images_path, (unsigned long long)h, (unsigned long long)w);
    if (st == SIGEO_OK && labels_path && lab.dims[0] != count)
        st = sigeo__fail(SIGEO_ERR_SHAPE, "idx: '%s' holds %llu images but '%s' holds %u labels", images_path,
                         (unsigned long long)count, labels_path, (unsigned)lab.dims[0]);
    if (st == SIGEO_OK) {
        n = (size_t)count;
        if (max_rows > 0 && (uint64_t)max_rows < count)
            n = (size_t)max_rows;
        size_t all;
        if (!sigeo__mul_size(&row_bytes, (size_t)h, (size_t)w) || !sigeo__mul_size(&all, (size_t)count, row_bytes) ||
            !sigeo__mul_size(&all, all, sizeof(float)) || all > (size_t)INT64_MAX)
            st = sigeo__fail(SIGEO_ERR_FORMAT, "idx images '%s': dimensions %llu x %llu x %llu (byte offsets 4..15) "
                             "overflow the address space", images_path, (unsigned long long)count,
                             (unsigned long long)h, (unsigned long long)w);
        else
            total = n * row_bytes;
    }
    /* Check the header's claim against the budget before allocating, then
     * hold gzip to it (io.h: SIGEO_IDX_MAX_GZIP_BYTES). */
    if (st == SIGEO_OK && max_rows == 0 && sigeo__zin_compressed(img.z) && total > (size_t)SIGEO_IDX_MAX_GZIP_BYTES)
        st = sigeo__fail(SIGEO_ERR_UNSUPPORTED,
                         "idx images '%s': the gzip file's header claims %llu images of %llu x %llu (%zu bytes), more "
                         "than the %lld bytes sigeo_idx_load expands with max_rows = 0 (pass max_rows to accept more)",
                         images_path, (unsigned long long)count, (unsigned long long)h, (unsigned long long)w, total,
                         (long long)SIGEO_IDX_MAX_GZIP_BYTES);
    if (st == SIGEO_OK) {
        sigeo__zin_set_budget(img.z, 16 + (uint64_t)total + 1); /* + 1: check_end's look past the data */
        if (labels_path)
            sigeo__zin_set_budget(lab.z, 8 + (uint64_t)n + 1);
    }
    if (st == SIGEO_OK)
        st = read_pixels(&dense, &img, total, row_bytes);
    if (st == SIGEO_OK && n == count)
        st = check_end(&img);
    if (st == SIGEO_OK && labels_path) {
        st = read_labels(&labels, &lab, n, n_classes);
        if (st == SIGEO_OK && n == count)
            st = check_end(&lab);
    }
    close_idx(&img);
    close_idx(&lab);

    sigeo_dataset_t *ds = NULL;
    if (st == SIGEO_OK) {
        sigeo__dataset_shape_t shape = { (int64_t)row_bytes, 0, labels_path != NULL, 0 };
        ds = sigeo__dataset_new(&shape, 0);
        if (!ds)
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_idx_load: out of memory");
    }
    if (st != SIGEO_OK) {
        sigeo__free(dense);
        sigeo__free(labels);
        return st;
    }
    /* Hand the buffers over to the dataset. */
    sigeo__free(ds->dense);
    sigeo__free(ds->labels);
    ds->dense = dense;
    ds->labels = labels;
    ds->n_rows = ds->cap_rows = (int64_t)n;
    ds->image_height = (int64_t)h;
    ds->image_width = (int64_t)w;
    sigeo__dataset_finish(ds);
    *out = ds;
    return SIGEO_OK;
}

/* --------------------------------------------------------- Fashion-MNIST */

static const char *const fmnist_files[4] = {
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
};

/* Writes dir/name or dir/name.gz (the readable one, plain first) into buf. */
static bool find_file(char *buf, size_t size, const char *dir, const char *name)
{
    static const char *const suffix[2] = { "", ".gz" };
    for (int k = 0; k < 2; k++) {
        int n = snprintf(buf, size, "%s/%s%s", dir, name, suffix[k]);
        if (n > 0 && (size_t)n < size && access(buf, R_OK) == 0)
            return true;
    }
    return false;
}

/* NULL if `dir` holds every file, else the first missing name. */
static const char *missing_in(const char *dir)
{
    char path[4096];
    for (int i = 0; i < 4; i++)
        if (!find_file(path, sizeof path, dir, fmnist_files[i]))
            return fmnist_files[i];
    return NULL;
}

static void note(char *msg, size_t size, const char *what, const char *dir, const char *missing)
{
    size_t used = strlen(msg);
    if (used + 1 >= size)
        return;
    /* A long path may cut the note short: the message stays readable. */
    int n = dir ? snprintf(msg + used, size - used, "%s%s '%s' (no %s[.gz])", used ? "; " : "", what, dir, missing)
                : snprintf(msg + used, size - used, "%s%s", used ? "; " : "", what);
    if (n < 0)
        msg[used] = '\0';
}

/* The directory found, as a pointer into `store` (capacity store_size). */
static sigeo_status_t locate(char *store, size_t store_size, const char *dir)
{
    char tried[400] = "";
    const char *miss;
    if (dir) {
        if (!(miss = missing_in(dir))) {
            snprintf(store, store_size, "%s", dir);
            return SIGEO_OK;
        }
        note(tried, sizeof tried, "dir argument", dir, miss);
    } else {
        note(tried, sizeof tried, "no dir argument", NULL, NULL);
    }
    const char *env = getenv("SIGEO_DATA_DIR");
    if (env && env[0]) {
        char sub[4096];
        if (!(miss = missing_in(env))) {
            snprintf(store, store_size, "%s", env);
            return SIGEO_OK;
        }
        note(tried, sizeof tried, "SIGEO_DATA_DIR", env, miss);
        if (snprintf(sub, sizeof sub, "%s/fashion-mnist", env) >= (int)sizeof sub)
            sub[0] = '\0';
        if (sub[0] && !(miss = missing_in(sub))) {
            snprintf(store, store_size, "%s", sub);
            return SIGEO_OK;
        }
        note(tried, sizeof tried, "SIGEO_DATA_DIR subdirectory", sub, miss);
    } else {
        note(tried, sizeof tried, "SIGEO_DATA_DIR not set", NULL, NULL);
    }
    if (!(miss = missing_in(SIGEO_FASHION_MNIST_DEFAULT_DIR))) {
        snprintf(store, store_size, "%s", SIGEO_FASHION_MNIST_DEFAULT_DIR);
        return SIGEO_OK;
    }
    note(tried, sizeof tried, "default", SIGEO_FASHION_MNIST_DEFAULT_DIR, miss);
    return sigeo__fail(SIGEO_ERR_IO, "Fashion-MNIST not found (install dataset-fashion-mnist or set SIGEO_DATA_DIR); "
                       "tried: %s", tried);
}

SIGEO_API sigeo_status_t sigeo_fashion_mnist_locate(char *buf, size_t *size, const char *dir)
{
    if (!size)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_fashion_mnist_locate: size is NULL");
    char found[4096];
    sigeo_status_t st = locate(found, sizeof found, dir);
    if (st != SIGEO_OK)
        return st;
    size_t need = strlen(found) + 1;
    if (!buf) {
        *size = need;
        return SIGEO_OK;
    }
    if (*size < need) {
        size_t had = *size;
        *size = need;
        return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_fashion_mnist_locate: buffer of %zu bytes, %zu needed", had, need);
    }
    memcpy(buf, found, need);
    *size = need;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_fashion_mnist_load(sigeo_dataset_t **out, const char *dir,
                                                  sigeo_fashion_mnist_split_t split, int64_t max_rows)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_fashion_mnist_load: out is NULL");
    *out = NULL;
    if (split != SIGEO_FASHION_MNIST_TRAIN && split != SIGEO_FASHION_MNIST_TEST)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_fashion_mnist_load: unknown split %d (0 train, 1 test)",
                           (int)split);
    char found[4096], images[4096 + 64], labels[4096 + 64];
    sigeo_status_t st = locate(found, sizeof found, dir);
    if (st != SIGEO_OK)
        return st;
    int base = split == SIGEO_FASHION_MNIST_TRAIN ? 0 : 2;
    if (!find_file(images, sizeof images, found, fmnist_files[base]) ||
        !find_file(labels, sizeof labels, found, fmnist_files[base + 1]))
        return sigeo__fail(SIGEO_ERR_IO, "sigeo_fashion_mnist_load: files vanished from '%s'", found);
    return sigeo_idx_load(out, images, labels, max_rows, 10);
}
