/* Batch sets (data.h): k batches copied out of a dataset (or a host's
 * arrays) into memory the set owns, so they outlive the dataset's views. */
#include <string.h>

#include "core/core.h"
#include "io/batch_set.h"
#include "sigeo/data.h"

struct sigeo_batch_set {
    sigeo_batch_t *batches; /* [cap], pointers into mem[i] */
    void **mem;             /* [cap], one block per batch */
    uint32_t count, cap;
    sigeo__errbuf_t err;
};

#define FAIL(set, status, ...) sigeo__fail_on((set) ? &(set)->err : NULL, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_batch_set_create(sigeo_batch_set_t **out, sigeo_dataset_t *dataset, int64_t first,
                                                uint32_t count, int64_t batch_size, sigeo_batch_last_t last)
{
    static const char fn[] = "sigeo_batch_set_create";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (count > 0 && !dataset)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: dataset is NULL", fn);
    sigeo_batch_set_t *set = sigeo__calloc(1, sizeof *set);
    if (!set)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    if (count > 0) {
        int64_t n_batches;
        sigeo_status_t st = sigeo_dataset_batch_count(&n_batches, dataset, batch_size, last);
        if (st == SIGEO_OK && (first < 0 || first > n_batches || (int64_t)count > n_batches - first))
            st = sigeo__fail(SIGEO_ERR_INVALID_ARG,
                             "%s: batches %lld..%lld of %lld rows each: the dataset has %lld such batches", fn,
                             (long long)first, (long long)first + count - 1, (long long)batch_size,
                             (long long)n_batches);
        for (uint32_t i = 0; i < count && st == SIGEO_OK; i++) {
            sigeo_batch_t b = SIGEO_BATCH_INIT;
            st = sigeo_dataset_batch(&b, dataset, first + i, batch_size, last);
            if (st == SIGEO_OK)
                st = sigeo_batch_set_append(set, &b);
        }
        if (st != SIGEO_OK) {
            sigeo_batch_set_destroy(set);
            return st;
        }
    }
    *out = set;
    return SIGEO_OK;
}

SIGEO_API void sigeo_batch_set_destroy(sigeo_batch_set_t *set)
{
    if (!set)
        return;
    for (uint32_t i = 0; i < set->count; i++)
        sigeo__free(set->mem[i]);
    sigeo__free(set->mem);
    sigeo__free(set->batches);
    sigeo__free(set);
}

/* Bytes of one part, overflow-checked; false on overflow. */
static bool part_bytes(size_t *out, int64_t a, int64_t b, size_t elem)
{
    size_t n;
    if (a < 0 || b < 0 || !sigeo__mul_size(&n, (size_t)a, (size_t)b) || !sigeo__mul_size(out, n, elem))
        return false;
    *out = (*out + 7) & ~(size_t)7; /* keep every part 8-byte aligned in the block */
    return *out >= n * elem;
}

SIGEO_API sigeo_status_t sigeo_batch_set_append(sigeo_batch_set_t *set, const sigeo_batch_t *batch)
{
    static const char fn[] = "sigeo_batch_set_append";
    if (!set || !batch)
        return FAIL(set, SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, set ? "batch" : "set");
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    sigeo_status_t st = sigeo__struct_in(&b, sizeof b, batch, "sigeo_batch", &set->err);
    if (st != SIGEO_OK)
        return st;
    const int64_t B = b.batch_size, F = b.n_sparse_fields;
    if (B < 1)
        return FAIL(set, SIGEO_ERR_INVALID_ARG, "%s: batch %u has batch_size %lld", fn, (unsigned)set->count,
                    (long long)B);
    if ((b.dense == NULL) != (b.n_dense == 0) || b.n_dense < 0 || (b.targets == NULL) != (b.n_targets == 0) ||
        b.n_targets < 0)
        return FAIL(set, SIGEO_ERR_SHAPE, "%s: batch %u: dense/targets pointers and sizes disagree (n_dense %lld, "
                                          "n_targets %lld)",
                    fn, (unsigned)set->count, (long long)b.n_dense, (long long)b.n_targets);
    if (F > 0 && B > (INT64_MAX - 1) / F)
        return FAIL(set, SIGEO_ERR_INVALID_ARG, "%s: batch %u: %lld rows of %lld sparse fields overflow", fn,
                    (unsigned)set->count, (long long)B, (long long)F);
    if (F > 0 && !b.sparse_offsets)
        return FAIL(set, SIGEO_ERR_SHAPE, "%s: batch %u has %lld sparse fields but no offsets", fn,
                    (unsigned)set->count, (long long)F);
    int64_t n_ids = 0;
    if (F > 0) {
        if (b.sparse_offsets[0] != 0)
            return FAIL(set, SIGEO_ERR_SHAPE, "%s: batch %u: sparse_offsets[0] is %lld, not 0", fn,
                        (unsigned)set->count, (long long)b.sparse_offsets[0]);
        for (int64_t i = 0; i < B * F; i++)
            if (b.sparse_offsets[i + 1] < b.sparse_offsets[i])
                return FAIL(set, SIGEO_ERR_SHAPE, "%s: batch %u: sparse_offsets decrease at %lld", fn,
                            (unsigned)set->count, (long long)i + 1);
        n_ids = b.sparse_offsets[B * F];
        if (n_ids > 0 && !b.sparse_ids)
            return FAIL(set, SIGEO_ERR_SHAPE, "%s: batch %u: %lld ids but sparse_ids is NULL", fn,
                        (unsigned)set->count, (long long)n_ids);
    }
    size_t dense = 0, ids = 0, offs = 0, labels = 0, targets = 0, total;
    if (!part_bytes(&dense, b.dense ? B : 0, b.n_dense, sizeof(float)) ||
        !part_bytes(&ids, n_ids > 0 ? n_ids : 0, 1, sizeof(int64_t)) ||
        !part_bytes(&offs, F > 0 ? B * F + 1 : 0, 1, sizeof(int64_t)) ||
        !part_bytes(&labels, b.labels ? B : 0, 1, sizeof(int32_t)) ||
        !part_bytes(&targets, b.targets ? B : 0, b.n_targets, sizeof(float)) ||
        (total = dense + ids + offs + labels + targets) < dense)
        return FAIL(set, SIGEO_ERR_INVALID_ARG, "%s: batch %u is too large to copy", fn, (unsigned)set->count);
    if (set->count == set->cap) {
        uint32_t cap = set->cap ? 2 * set->cap : 4;
        if (cap < set->cap)
            return FAIL(set, SIGEO_ERR_INVALID_ARG, "%s: too many batches", fn);
        sigeo_batch_t *nb = sigeo__realloc_array(set->batches, set->cap, cap, sizeof *nb);
        if (!nb)
            return FAIL(set, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        set->batches = nb;
        void **nm = sigeo__realloc_array(set->mem, set->cap, cap, sizeof *nm);
        if (!nm)
            return FAIL(set, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
        set->mem = nm;
        set->cap = cap;
    }
    char *p = sigeo__alloc(total ? total : 1);
    if (!p)
        return FAIL(set, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", fn, total);
    set->mem[set->count] = p;
    sigeo_batch_t c = b;
    c.dense = NULL;
    c.sparse_ids = NULL;
    c.sparse_offsets = NULL;
    c.labels = NULL;
    c.targets = NULL;
    /* Exact byte counts are copied; the rounded sizes only place the parts. */
    if (dense) {
        memcpy(p, b.dense, (size_t)(B * b.n_dense) * sizeof(float));
        c.dense = (const float *)(void *)p;
        p += dense;
    }
    if (ids) {
        memcpy(p, b.sparse_ids, (size_t)n_ids * sizeof(int64_t));
        c.sparse_ids = (const int64_t *)(void *)p;
        p += ids;
    }
    if (offs) {
        memcpy(p, b.sparse_offsets, (size_t)(B * F + 1) * sizeof(int64_t));
        c.sparse_offsets = (const int64_t *)(void *)p;
        p += offs;
    }
    if (labels) {
        memcpy(p, b.labels, (size_t)B * sizeof(int32_t));
        c.labels = (const int32_t *)(void *)p;
        p += labels;
    }
    if (targets) {
        memcpy(p, b.targets, (size_t)(B * b.n_targets) * sizeof(float));
        c.targets = (const float *)(void *)p;
    }
    set->batches[set->count++] = c;
    return SIGEO_OK;
}

SIGEO_API uint32_t sigeo_batch_set_count(const sigeo_batch_set_t *set)
{
    return set ? set->count : 0;
}

SIGEO_API sigeo_status_t sigeo_batch_set_get(sigeo_batch_t *out, const sigeo_batch_set_t *set, uint32_t index)
{
    static const char fn[] = "sigeo_batch_set_get";
    sigeo__errbuf_t *err = set ? (sigeo__errbuf_t *)&set->err : NULL;
    if (!out || !set)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, out ? "set" : "out");
    if (index >= set->count)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: index %u, the set holds %u batches", fn,
                              (unsigned)index, (unsigned)set->count);
    return sigeo__struct_out(out, &set->batches[index], sizeof set->batches[index], "sigeo_batch", err);
}

SIGEO_API const char *sigeo_batch_set_last_error(const sigeo_batch_set_t *set)
{
    return set ? set->err.msg : "no batch set";
}

const sigeo_batch_t *sigeo__batch_set_array(const sigeo_batch_set_t *set, uint32_t *n_out)
{
    *n_out = set ? set->count : 0;
    return set && set->count ? set->batches : NULL;
}
