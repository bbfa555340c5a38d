/* The on-disk dataset cache: a dataset written once (from memory, or
 * streamed from a Criteo TSV) into one binary file, then memory-mapped
 * read-only, so a run's memory does not grow with the row count: pages are
 * read from the file (the page cache) as batches touch them, and subsets and
 * splits are index arrays into the mapping (dataset.c, gather_mapped).
 *
 * File layout (native byte order, refused when the reader's differs):
 *   header (cache_header_t, 256 bytes, ending in its own checksum)
 *   sections, each starting at a multiple of 64 bytes, zero padding between:
 *     0 dense    [n_rows * n_dense] float32
 *     1 ids      [n_rows * n_fields] int32 (one id per bag)
 *     2 labels   [n_rows] int32 (size 0 without labels)
 *     3 targets  [n_rows * n_targets] float32
 *     4 tables   [n_fields] int64 table sizes
 * The file size must equal the end of the last section rounded up to 64.
 * Every section has a checksum (hash64 below) in the header; opening
 * validates header, sizes (checked arithmetic), file size, checksums and the
 * rows' values (ids < table size, labels < n_classes, finite floats).
 *
 * Writing: the sections are written to anonymous temporary files (created in
 * the destination folder and unlinked at once) as rows arrive, because a
 * streamed source does not know its row count; finishing copies them behind
 * the header into `path.XXXXXX`, fsyncs and renames it over `path`. A
 * failure or a crash leaves `path` as it was. */
/* madvise(MADV_DONTNEED) is not POSIX (posix_madvise's DONTNEED is a no-op in glibc). */
#define _DEFAULT_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/criteo.h"
#include "io/dataset.h"
#include "sigeo/io.h"

#define CACHE_MAGIC "SIGEODS\0"
#define CACHE_VERSION 1u
#define CACHE_ENDIAN 0x01020304u
#define CACHE_ALIGN 64u
#define N_SECTIONS 5
#define MAX_FIELDS (1u << 20)
#define MAX_WIDTH (INT64_C(1) << 31)

enum { SEC_DENSE, SEC_IDS, SEC_LABELS, SEC_TARGETS, SEC_TABLES };
static const char *const section_name[N_SECTIONS] = { "dense", "ids", "labels", "targets", "table sizes" };

typedef struct cache_section {
    uint64_t offset, size, checksum;
} cache_section_t;

typedef struct cache_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint32_t endian;
    uint32_t n_fields;
    int64_t n_rows;
    int64_t n_dense;
    int64_t n_targets;
    uint32_t has_labels;
    int32_t n_classes;
    int64_t image_height;
    int64_t image_width;
    cache_section_t sections[N_SECTIONS];
    uint64_t file_size;
    uint8_t reserved[256 - 8 - 4 * 4 - 8 * 3 - 4 * 2 - 8 * 2 - 24 * N_SECTIONS - 8 - 8]; /* zero */
    uint64_t header_checksum; /* hash64 of every byte before it */
} cache_header_t;

_Static_assert(sizeof(cache_header_t) == 256, "the cache header is 256 bytes");

/* ------------------------------------------------------------ checksum */

/* A streaming 64-bit hash over 8-byte words (a multiply-rotate mix, like
 * one lane of xxHash64): catches truncation, bit rot and stray writes; not
 * a defence against a forger, which the value checks on open are. */
typedef struct hash64 {
    uint64_t h;
    uint64_t length;
    uint8_t tail[8];
    unsigned n_tail;
} hash64_t;

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w * UINT64_C(0x9E3779B97F4A7C15);
    h = (h << 27) | (h >> 37);
    return h * UINT64_C(0xC2B2AE3D27D4EB4F) + UINT64_C(0x165667B19E3779F9);
}

static void hash_init(hash64_t *s)
{
    *s = (hash64_t){ UINT64_C(0x27D4EB2F165667C5), 0, { 0 }, 0 };
}

static void hash_update(hash64_t *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->length += n;
    while (n > 0 && s->n_tail > 0) {
        s->tail[s->n_tail++] = *p++;
        n--;
        if (s->n_tail == 8) {
            uint64_t w;
            memcpy(&w, s->tail, 8);
            s->h = mix(s->h, w);
            s->n_tail = 0;
        }
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        s->h = mix(s->h, w);
    }
    for (; n > 0; n--)
        s->tail[s->n_tail++] = *p++;
}

static uint64_t hash_final(const hash64_t *s)
{
    uint64_t h = s->h;
    if (s->n_tail > 0) {
        uint8_t last[8] = { 0 };
        memcpy(last, s->tail, s->n_tail);
        uint64_t w;
        memcpy(&w, last, 8);
        h = mix(h, w);
    }
    return mix(h, s->length);
}

static uint64_t header_hash(const cache_header_t *h)
{
    hash64_t s;
    hash_init(&s);
    hash_update(&s, h, offsetof(cache_header_t, header_checksum));
    return hash_final(&s);
}

/* -------------------------------------------------------------- writer */

typedef struct cache_writer {
    const char *path;
    int fd[N_SECTIONS];
    FILE *f[N_SECTIONS];
    hash64_t hash[N_SECTIONS];
    uint64_t size[N_SECTIONS];
    int64_t n_rows, n_dense, n_targets;
    uint32_t n_fields;
    bool has_labels;
    int32_t max_label;
    int64_t image_height, image_width;
    int64_t *tables;
    sigeo__errbuf_t *err;
    const char *what;
} cache_writer_t;

static const char *os_error(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    return buf;
}

#define WFAIL(w, status, ...) sigeo__fail_on((w)->err, status, __VA_ARGS__)

static void writer_abort(cache_writer_t *w)
{
    for (int k = 0; k < N_SECTIONS; k++) {
        if (w->f[k])
            fclose(w->f[k]);
        w->f[k] = NULL;
        w->fd[k] = -1;
    }
    sigeo__free(w->tables);
    w->tables = NULL;
}

/* The folder of `path` (for the temporary files), in buf. */
static void folder_of(char *buf, size_t size, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

static sigeo_status_t writer_open(cache_writer_t *w, const char *path, const sigeo_dataset_t *shape,
                                  sigeo__errbuf_t *err, const char *what)
{
    *w = (cache_writer_t){ 0 };
    for (int k = 0; k < N_SECTIONS; k++)
        w->fd[k] = -1;
    w->path = path;
    w->err = err;
    w->what = what;
    w->n_dense = shape->n_dense;
    w->n_targets = shape->n_targets;
    w->n_fields = shape->n_fields;
    w->has_labels = shape->has_labels;
    w->max_label = -1;
    w->image_height = shape->image_height;
    w->image_width = shape->image_width;
    if (shape->n_fields > 0 && (!shape->one_id_per_bag || !shape->ids32))
        return WFAIL(w, SIGEO_ERR_UNSUPPORTED,
                     "%s: the cache holds one int32 id per bag; this dataset has bags of other sizes or ids "
                     "above 2^31-1", what);
    if (shape->n_fields > MAX_FIELDS)
        return WFAIL(w, SIGEO_ERR_UNSUPPORTED, "%s: %u sparse fields (the cache holds at most %u)", what,
                     (unsigned)shape->n_fields, (unsigned)MAX_FIELDS);
    if (shape->n_fields > 0) {
        w->tables = sigeo__calloc(shape->n_fields, sizeof(int64_t));
        if (!w->tables)
            return WFAIL(w, SIGEO_ERR_NO_MEMORY, "%s: out of memory", what);
        memcpy(w->tables, shape->table_sizes, shape->n_fields * sizeof(int64_t));
    }
    char dir[4096], tmpl[4200], ebuf[128];
    folder_of(dir, sizeof dir, path);
    for (int k = 0; k < N_SECTIONS; k++) {
        snprintf(tmpl, sizeof tmpl, "%s/.sigeo-cache-section-XXXXXX", dir);
        int fd = mkstemp(tmpl);
        if (fd < 0) {
            int e = errno;
            writer_abort(w);
            return WFAIL(w, SIGEO_ERR_IO, "%s: cannot create a temporary file in '%s': %s", what, dir,
                         os_error(e, ebuf, sizeof ebuf));
        }
        unlink(tmpl); /* anonymous: nothing is left behind, whatever happens */
        w->fd[k] = fd;
        w->f[k] = fdopen(fd, "w+b");
        if (!w->f[k]) {
            close(fd);
            w->fd[k] = -1;
            writer_abort(w);
            return WFAIL(w, SIGEO_ERR_NO_MEMORY, "%s: out of memory for a file buffer", what);
        }
        hash_init(&w->hash[k]);
    }
    return SIGEO_OK;
}

static bool put(cache_writer_t *w, int k, const void *data, size_t bytes)
{
    if (bytes == 0)
        return true;
    hash_update(&w->hash[k], data, bytes);
    w->size[k] += bytes;
    return fwrite(data, 1, bytes, w->f[k]) == bytes;
}

/* Appends every row of `ds` (storage order) to the sections. */
static sigeo_status_t writer_append(cache_writer_t *w, const sigeo_dataset_t *ds)
{
    char ebuf[128];
    bool ok = true;
    const bool direct = !ds->rowmap && !ds->rowoff; /* rows contiguous: whole arrays at once */
    const size_t nd = (size_t)ds->n_dense, nf = ds->n_fields, nt = (size_t)ds->n_targets;
    if (direct) {
        const size_t n = (size_t)ds->n_rows;
        ok = ok && put(w, SEC_DENSE, ds->dense, n * nd * sizeof(float));
        ok = ok && (nf == 0 || put(w, SEC_IDS, ds->ids32, n * nf * sizeof(int32_t)));
        ok = ok && (!ds->has_labels || put(w, SEC_LABELS, ds->labels, n * sizeof(int32_t)));
        ok = ok && put(w, SEC_TARGETS, ds->targets, n * nt * sizeof(float));
    } else {
        for (int64_t i = 0; ok && i < ds->n_rows; i++) {
            const size_t r = (size_t)sigeo__dataset_phys(ds, i);
            ok = ok && (nd == 0 || put(w, SEC_DENSE, ds->dense + r * nd, nd * sizeof(float)));
            ok = ok && (nf == 0 || put(w, SEC_IDS, ds->ids32 + r * nf, nf * sizeof(int32_t)));
            ok = ok && (!ds->has_labels || put(w, SEC_LABELS, ds->labels + r, sizeof(int32_t)));
            ok = ok && (nt == 0 || put(w, SEC_TARGETS, ds->targets + r * nt, nt * sizeof(float)));
        }
    }
    if (!ok) {
        int e = errno;
        return WFAIL(w, SIGEO_ERR_IO, "%s: writing a temporary file next to '%s' failed: %s", w->what, w->path,
                     os_error(e, ebuf, sizeof ebuf));
    }
    for (int64_t i = 0; ds->has_labels && i < ds->n_rows; i++) {
        int32_t l = ds->labels[sigeo__dataset_phys(ds, i)];
        if (l > w->max_label)
            w->max_label = l;
    }
    w->n_rows += ds->n_rows;
    return SIGEO_OK;
}

static bool write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Copies `size` bytes of section file `from` to the end of `to`. */
static bool copy_section(int to, int from, uint64_t size)
{
    static const size_t chunk = (size_t)1 << 20;
    char *buf = sigeo__alloc(chunk);
    if (!buf)
        return false;
    bool ok = true;
    for (uint64_t at = 0; ok && at < size;) {
        size_t want = size - at < chunk ? (size_t)(size - at) : chunk;
        ssize_t k = pread(from, buf, want, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        ok = k > 0 && write_all(to, buf, (size_t)k);
        at += k > 0 ? (uint64_t)k : 0;
    }
    sigeo__free(buf);
    return ok;
}

static uint64_t align_up(uint64_t x)
{
    return (x + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN;
}

static sigeo_status_t writer_finish(cache_writer_t *w)
{
    char ebuf[128];
    const char *what = w->what;
    if (w->n_fields > 0 && !put(w, SEC_TABLES, w->tables, w->n_fields * sizeof(int64_t)))
        return WFAIL(w, SIGEO_ERR_IO, "%s: writing a temporary file failed", what);
    cache_header_t h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.header_size = (uint32_t)sizeof h;
    h.endian = CACHE_ENDIAN;
    h.n_fields = w->n_fields;
    h.n_rows = w->n_rows;
    h.n_dense = w->n_dense;
    h.n_targets = w->n_targets;
    h.has_labels = w->has_labels ? 1u : 0u;
    h.n_classes = w->has_labels && w->n_rows > 0 ? w->max_label + 1 : 0;
    h.image_height = w->image_height;
    h.image_width = w->image_width;
    uint64_t at = sizeof h;
    for (int k = 0; k < N_SECTIONS; k++) {
        if (fflush(w->f[k]) != 0)
            return WFAIL(w, SIGEO_ERR_IO, "%s: writing a temporary file failed: %s", what,
                         os_error(errno, ebuf, sizeof ebuf));
        at = align_up(at);
        h.sections[k] = (cache_section_t){ at, w->size[k], hash_final(&w->hash[k]) };
        at += w->size[k];
    }
    h.file_size = align_up(at);
    h.header_checksum = header_hash(&h);

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", w->path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return WFAIL(w, SIGEO_ERR_IO, "%s: cannot create '%s': %s", what, tmp, os_error(errno, ebuf, sizeof ebuf));
    static const char zeros[CACHE_ALIGN] = { 0 };
    bool ok = write_all(fd, &h, sizeof h);
    uint64_t pos = sizeof h;
    for (int k = 0; ok && k < N_SECTIONS; k++) {
        ok = write_all(fd, zeros, (size_t)(h.sections[k].offset - pos)) && copy_section(fd, w->fd[k], w->size[k]);
        pos = h.sections[k].offset + w->size[k];
    }
    ok = ok && write_all(fd, zeros, (size_t)(h.file_size - pos));
    /* The mode mkstemp gives (0600) would surprise: a cache is data. */
    ok = ok && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    int e = errno;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, w->path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return WFAIL(w, SIGEO_ERR_IO, "%s: writing '%s' failed: %s", what, w->path, os_error(e, ebuf, sizeof ebuf));
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_dataset_cache_write(const sigeo_dataset_t *dataset, const char *path)
{
    static const char what[] = "sigeo_dataset_cache_write";
    if (!dataset || !path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", what, dataset ? "path" : "dataset");
    sigeo__errbuf_t *err = (sigeo__errbuf_t *)&dataset->err;
    cache_writer_t w;
    sigeo_status_t st = writer_open(&w, path, dataset, err, what);
    if (st == SIGEO_OK)
        st = writer_append(&w, dataset);
    if (st == SIGEO_OK)
        st = writer_finish(&w);
    writer_abort(&w);
    return st;
}

SIGEO_API sigeo_status_t sigeo_criteo_write_cache(sigeo_criteo_stats_t *stats_out, const char *tsv_path,
                                                  const char *cache_path, const sigeo_criteo_options_t *options,
                                                  int64_t max_rows, sigeo_cache_progress_fn progress, void *user)
{
    static const char what[] = "sigeo_criteo_write_cache";
    if (!tsv_path || !cache_path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", what, tsv_path ? "cache_path" : "tsv_path");
    if (max_rows < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: max_rows %lld is negative", what, (long long)max_rows);
    sigeo_criteo_reader_t *r;
    sigeo_status_t st = sigeo_criteo_reader_create(&r, tsv_path, options);
    if (st != SIGEO_OK)
        return st;
    /* The shape (and table sizes) of the output, from an empty chunk. */
    int64_t tables[SIGEO_CRITEO_N_SPARSE];
    sigeo_criteo_options_t resolved;
    st = sigeo__criteo_resolve(&resolved, tables, options, NULL, what);
    sigeo_dataset_t *shape = NULL;
    cache_writer_t w = { 0 };
    for (int k = 0; k < N_SECTIONS; k++)
        w.fd[k] = -1;
    if (st == SIGEO_OK && !(shape = sigeo__criteo_dataset_new(1, tables)))
        st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", what);
    if (st == SIGEO_OK)
        st = writer_open(&w, cache_path, shape, NULL, what);
    /* Chunks of 64 k rows: ~10 MB of parsed rows in memory at a time. */
    const int64_t chunk = 65536;
    int64_t rows = 0;
    while (st == SIGEO_OK && (max_rows == 0 || rows < max_rows)) {
        sigeo_dataset_t *part = NULL;
        int64_t want = max_rows == 0 || max_rows - rows > chunk ? chunk : max_rows - rows;
        st = sigeo_criteo_reader_next(&part, r, want);
        if (st != SIGEO_OK || !part)
            break;
        st = writer_append(&w, part);
        rows += part->n_rows;
        sigeo_dataset_destroy(part);
        if (st == SIGEO_OK && progress) {
            sigeo_criteo_stats_t now = SIGEO_CRITEO_STATS_INIT;
            sigeo_criteo_reader_get_stats(&now, r);
            if (progress(rows, now.lines, user) != 0)
                st = sigeo__fail(SIGEO_ERR_CANCELLED, "%s: cancelled by the progress callback after %lld rows",
                                 what, (long long)rows);
        }
    }
    if (st == SIGEO_OK)
        st = writer_finish(&w);
    writer_abort(&w);
    if (stats_out) {
        sigeo_criteo_stats_t s = SIGEO_CRITEO_STATS_INIT;
        sigeo_criteo_reader_get_stats(&s, r);
        sigeo__struct_out(stats_out, &s, sizeof s, "sigeo_criteo_stats", NULL);
    }
    sigeo_criteo_reader_destroy(r);
    sigeo_dataset_destroy(shape);
    return st;
}

/* -------------------------------------------------------------- reader */

void sigeo__mapping_release(sigeo__mapping_t *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
        munmap(m->addr, m->length);
        sigeo__free(m);
    }
}

#define TRIM_BYTES (INT64_C(64) << 20)

void sigeo__mapping_touched(sigeo__mapping_t *m, int64_t bytes)
{
    if (atomic_fetch_add(&m->since_trim, bytes) + bytes < TRIM_BYTES)
        return;
    atomic_store(&m->since_trim, 0);
    /* Read-only shared file pages: dropping them loses nothing. */
    (void)madvise(m->addr, m->length, MADV_DONTNEED);
}

/* Expected size in bytes of `count` elements of `elem` bytes; false on overflow. */
static bool bytes_of(uint64_t *out, int64_t a, int64_t b, size_t elem)
{
    size_t x;
    if (a < 0 || b < 0 || !sigeo__mul_size(&x, (size_t)a, (size_t)b) || !sigeo__mul_size(&x, x, elem))
        return false;
    *out = x;
    return true;
}

#define RFAIL(status, ...) sigeo__fail(status, __VA_ARGS__)

static sigeo_status_t check_header(const cache_header_t *h, uint64_t file_size, const char *path)
{
    static const char what[] = "sigeo_dataset_cache_open";
    if (memcmp(h->magic, CACHE_MAGIC, 8) != 0)
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s' is not a libsigeo dataset cache (bad magic)", what, path);
    if (h->endian != CACHE_ENDIAN)
        return RFAIL(SIGEO_ERR_UNSUPPORTED, "%s: '%s' was written on a machine of the other byte order", what, path);
    if (h->version != CACHE_VERSION)
        return RFAIL(h->version > CACHE_VERSION ? SIGEO_ERR_UNSUPPORTED : SIGEO_ERR_FORMAT,
                     "%s: '%s' has cache format version %u (this libsigeo reads version %u)", what, path,
                     (unsigned)h->version, CACHE_VERSION);
    if (h->header_size != sizeof *h)
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': header size %u (expected %zu)", what, path,
                     (unsigned)h->header_size, sizeof *h);
    if (header_hash(h) != h->header_checksum)
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': header checksum mismatch (the file is damaged)", what, path);
    if (h->file_size != file_size)
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s' is %llu bytes, its header says %llu (truncated or appended to)",
                     what, path, (unsigned long long)file_size, (unsigned long long)h->file_size);
    if (h->n_rows < 0 || h->n_dense < 0 || h->n_dense >= MAX_WIDTH || h->n_targets < 0 ||
        h->n_targets >= MAX_WIDTH || h->n_fields > MAX_FIELDS || h->has_labels > 1 || h->n_classes < 0 ||
        (!h->has_labels && h->n_classes != 0) || h->image_height < 0 || h->image_width < 0)
        return RFAIL(SIGEO_ERR_FORMAT,
                     "%s: '%s': impossible sizes in the header (rows %lld, dense %lld, fields %u, targets %lld, "
                     "classes %d)",
                     what, path, (long long)h->n_rows, (long long)h->n_dense, (unsigned)h->n_fields,
                     (long long)h->n_targets, (int)h->n_classes);
    uint64_t want[N_SECTIONS];
    if (!bytes_of(&want[SEC_DENSE], h->n_rows, h->n_dense, sizeof(float)) ||
        !bytes_of(&want[SEC_IDS], h->n_rows, (int64_t)h->n_fields, sizeof(int32_t)) ||
        !bytes_of(&want[SEC_LABELS], h->n_rows, h->has_labels ? 1 : 0, sizeof(int32_t)) ||
        !bytes_of(&want[SEC_TARGETS], h->n_rows, h->n_targets, sizeof(float)) ||
        !bytes_of(&want[SEC_TABLES], (int64_t)h->n_fields, 1, sizeof(int64_t)))
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': %lld rows of these widths overflow the address space", what, path,
                     (long long)h->n_rows);
    uint64_t end = sizeof *h;
    for (int k = 0; k < N_SECTIONS; k++) {
        const cache_section_t *s = &h->sections[k];
        if (s->size != want[k])
            return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': section '%s' is %llu bytes, the sizes in the header need %llu",
                         what, path, section_name[k], (unsigned long long)s->size, (unsigned long long)want[k]);
        if (s->offset % CACHE_ALIGN != 0 || s->offset < end || s->offset > file_size ||
            s->size > file_size - s->offset)
            return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': section '%s' at [%llu, +%llu) is misplaced in a %llu-byte file",
                         what, path, section_name[k], (unsigned long long)s->offset, (unsigned long long)s->size,
                         (unsigned long long)file_size);
        end = s->offset + s->size;
    }
    if (align_up(end) != file_size)
        return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': %llu bytes after the last section", what, path,
                     (unsigned long long)(file_size - end));
    for (size_t i = 0; i < sizeof h->reserved; i++)
        if (h->reserved[i] != 0)
            return RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': reserved header byte %zu is not zero", what, path, i);
    return SIGEO_OK;
}

/* Checksums and values of the rows, read with pread (not through the
 * mapping: pages read here do not count as this process's memory). */
static sigeo_status_t check_data(int fd, const cache_header_t *h, const int64_t *tables, const char *path)
{
    static const char what[] = "sigeo_dataset_cache_open";
    const size_t chunk = (size_t)1 << 20; /* a multiple of every element size */
    uint8_t *buf = sigeo__alloc(chunk);
    if (!buf)
        return RFAIL(SIGEO_ERR_NO_MEMORY, "%s: out of memory", what);
    sigeo_status_t st = SIGEO_OK;
    for (int k = 0; st == SIGEO_OK && k < N_SECTIONS; k++) {
        const cache_section_t *s = &h->sections[k];
        hash64_t hs;
        hash_init(&hs);
        for (uint64_t at = 0; st == SIGEO_OK && at < s->size;) {
            size_t want = s->size - at < chunk ? (size_t)(s->size - at) : chunk;
            ssize_t got = pread(fd, buf, want, (off_t)(s->offset + at));
            if (got < 0 && errno == EINTR)
                continue;
            if (got != (ssize_t)want) {
                st = RFAIL(SIGEO_ERR_IO, "%s: reading '%s' failed at byte %llu", what, path,
                           (unsigned long long)(s->offset + at));
                break;
            }
            hash_update(&hs, buf, want);
            /* element index of buf[0] within the section */
            if (k == SEC_DENSE || k == SEC_TARGETS) {
                const int64_t width = k == SEC_DENSE ? h->n_dense : h->n_targets;
                for (size_t i = 0; i < want / sizeof(float); i++) {
                    float v;
                    memcpy(&v, buf + i * sizeof v, sizeof v);
                    if (!isfinite(v)) {
                        int64_t e = (int64_t)(at / sizeof v + i);
                        st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': %s value at row %lld column %lld is %g", what, path,
                                   section_name[k], (long long)(e / width), (long long)(e % width), (double)v);
                        break;
                    }
                }
            } else if (k == SEC_IDS) {
                for (size_t i = 0; i < want / sizeof(int32_t); i++) {
                    int32_t v;
                    memcpy(&v, buf + i * sizeof v, sizeof v);
                    int64_t e = (int64_t)(at / sizeof v + i), f = e % h->n_fields;
                    if (v < 0 || v >= tables[f]) {
                        st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': id %d at row %lld field %lld is outside [0, %lld)",
                                   what, path, (int)v, (long long)(e / h->n_fields), (long long)f,
                                   (long long)tables[f]);
                        break;
                    }
                }
            } else if (k == SEC_LABELS) {
                for (size_t i = 0; i < want / sizeof(int32_t); i++) {
                    int32_t v;
                    memcpy(&v, buf + i * sizeof v, sizeof v);
                    if (v < 0 || v >= h->n_classes) {
                        st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': label %d at row %lld is outside [0, %d)", what,
                                   path, (int)v, (long long)(at / sizeof v + i), (int)h->n_classes);
                        break;
                    }
                }
            }
            at += want;
        }
        if (st == SIGEO_OK && hash_final(&hs) != s->checksum)
            st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': checksum mismatch in section '%s' (the file is damaged)", what,
                       path, section_name[k]);
    }
    sigeo__free(buf);
    return st;
}

SIGEO_API sigeo_status_t sigeo_dataset_cache_open(sigeo_dataset_t **out, const char *path, uint32_t flags)
{
    static const char what[] = "sigeo_dataset_cache_open";
    if (!out)
        return RFAIL(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", what);
    *out = NULL;
    if (!path)
        return RFAIL(SIGEO_ERR_INVALID_ARG, "%s: path is NULL", what);
    if (flags & ~(uint32_t)SIGEO_CACHE_TRUST_DATA)
        return RFAIL(SIGEO_ERR_INVALID_ARG, "%s: unknown flags 0x%x", what, (unsigned)flags);
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return RFAIL(SIGEO_ERR_IO, "%s: cannot open '%s': %s", what, path, os_error(errno, ebuf, sizeof ebuf));
    struct stat sb;
    cache_header_t h;
    sigeo_status_t st = SIGEO_OK;
    if (fstat(fd, &sb) != 0)
        st = RFAIL(SIGEO_ERR_IO, "%s: cannot stat '%s': %s", what, path, os_error(errno, ebuf, sizeof ebuf));
    else if (!S_ISREG(sb.st_mode))
        st = RFAIL(SIGEO_ERR_IO, "%s: '%s' is not a regular file", what, path);
    else if ((uint64_t)sb.st_size < sizeof h)
        st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s' is %lld bytes, shorter than the %zu-byte cache header", what, path,
                   (long long)sb.st_size, sizeof h);
    else if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        st = RFAIL(SIGEO_ERR_IO, "%s: cannot read the header of '%s'", what, path);
    else
        st = check_header(&h, (uint64_t)sb.st_size, path);
    int64_t *tables = NULL;
    if (st == SIGEO_OK && h.n_fields > 0) {
        tables = sigeo__calloc(h.n_fields, sizeof(int64_t));
        if (!tables)
            st = RFAIL(SIGEO_ERR_NO_MEMORY, "%s: out of memory", what);
        else if (pread(fd, tables, h.n_fields * sizeof(int64_t), (off_t)h.sections[SEC_TABLES].offset) !=
                 (ssize_t)(h.n_fields * sizeof(int64_t)))
            st = RFAIL(SIGEO_ERR_IO, "%s: cannot read the table sizes of '%s'", what, path);
        for (uint32_t f = 0; st == SIGEO_OK && f < h.n_fields; f++)
            if (tables[f] < 0 || tables[f] > (int64_t)INT32_MAX + 1)
                st = RFAIL(SIGEO_ERR_FORMAT, "%s: '%s': table size %lld of field %u is outside [0, 2^31]", what,
                           path, (long long)tables[f], (unsigned)f);
    }
    if (st == SIGEO_OK && !(flags & SIGEO_CACHE_TRUST_DATA))
        st = check_data(fd, &h, tables, path);
    sigeo__mapping_t *m = NULL;
    sigeo_dataset_t *ds = NULL;
    if (st == SIGEO_OK) {
        m = sigeo__calloc(1, sizeof *m);
        ds = sigeo__calloc(1, sizeof *ds);
        if (!m || !ds)
            st = RFAIL(SIGEO_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    if (st == SIGEO_OK) {
        m->length = (size_t)sb.st_size;
        m->addr = mmap(NULL, m->length, PROT_READ, MAP_SHARED, fd, 0);
        if (m->addr == MAP_FAILED)
            st = RFAIL(errno == ENOMEM ? SIGEO_ERR_NO_MEMORY : SIGEO_ERR_IO, "%s: cannot map '%s': %s", what, path,
                       os_error(errno, ebuf, sizeof ebuf));
    }
    close(fd); /* the mapping stays valid */
    if (st != SIGEO_OK) {
        sigeo__free(m);
        sigeo__free(ds);
        sigeo__free(tables);
        return st;
    }
    atomic_store(&m->refs, 1);
    const char *base = m->addr;
    ds->n_rows = h.n_rows;
    ds->n_dense = h.n_dense;
    ds->n_targets = h.n_targets;
    ds->n_fields = h.n_fields;
    ds->has_labels = h.has_labels != 0;
    ds->one_id_per_bag = true;
    ds->n_ids = h.n_rows * (int64_t)h.n_fields;
    /* Sections are 64-byte aligned in a page-aligned mapping. */
    ds->dense = h.n_dense > 0 ? (float *)(uintptr_t)(base + h.sections[SEC_DENSE].offset) : NULL;
    ds->ids32 = h.n_fields > 0 ? (int32_t *)(uintptr_t)(base + h.sections[SEC_IDS].offset) : NULL;
    ds->labels = h.has_labels ? (int32_t *)(uintptr_t)(base + h.sections[SEC_LABELS].offset) : NULL;
    ds->targets = h.n_targets > 0 ? (float *)(uintptr_t)(base + h.sections[SEC_TARGETS].offset) : NULL;
    ds->table_sizes = tables;
    ds->n_classes = h.n_classes;
    ds->image_height = h.image_height;
    ds->image_width = h.image_width;
    ds->mapping = m;
    *out = ds;
    return SIGEO_OK;
}
