#include <string.h>

#include "search/memo.h"

sigeo_status_t sigeo__memo_init(sigeo__memo_t *memo, int32_t n_arch)
{
    memset(memo, 0, sizeof *memo);
    memo->n_arch = n_arch;
    memo->cap = 256;
    memo->entries = sigeo__calloc((size_t)memo->cap, sizeof *memo->entries);
    memo->archs = sigeo__calloc((size_t)memo->cap * (size_t)n_arch, sizeof(int32_t));
    if (!memo->entries || !memo->archs) {
        sigeo__memo_free(memo);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "search: out of memory for the architecture table");
    }
    return SIGEO_OK;
}

void sigeo__memo_free(sigeo__memo_t *memo)
{
    sigeo__free(memo->entries);
    sigeo__free(memo->archs);
    memset(memo, 0, sizeof *memo);
}

static int64_t probe_slot(const sigeo__memo_entry_t *entries, const int32_t *archs, int64_t cap, int32_t n,
                          const int32_t *arch, uint64_t hash)
{
    int64_t i = (int64_t)(hash & (uint64_t)(cap - 1));
    while (entries[i].used) {
        if (entries[i].hash == hash && memcmp(archs + i * n, arch, (size_t)n * sizeof *arch) == 0)
            return i;
        i = (i + 1) & (cap - 1);
    }
    return i;
}

int64_t sigeo__memo_find(const sigeo__memo_t *memo, const int32_t *arch, uint64_t hash)
{
    int64_t i = probe_slot(memo->entries, memo->archs, memo->cap, memo->n_arch, arch, hash);
    return memo->entries[i].used ? i : -1;
}

static sigeo_status_t grow(sigeo__memo_t *memo)
{
    int64_t cap = memo->cap * 2;
    const int32_t n = memo->n_arch;
    sigeo__memo_entry_t *e = sigeo__calloc((size_t)cap, sizeof *e);
    int32_t *a = sigeo__calloc((size_t)cap * (size_t)n, sizeof(int32_t));
    if (!e || !a) {
        sigeo__free(e);
        sigeo__free(a);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "search: out of memory growing the architecture table to %lld",
                           (long long)cap);
    }
    for (int64_t i = 0; i < memo->cap; i++) {
        if (!memo->entries[i].used)
            continue;
        const int32_t *arch = memo->archs + i * n;
        int64_t j = probe_slot(e, a, cap, n, arch, memo->entries[i].hash);
        e[j] = memo->entries[i];
        memcpy(a + j * n, arch, (size_t)n * sizeof *arch);
    }
    sigeo__free(memo->entries);
    sigeo__free(memo->archs);
    memo->entries = e;
    memo->archs = a;
    memo->cap = cap;
    return SIGEO_OK;
}

sigeo_status_t sigeo__memo_insert(int64_t *index_out, sigeo__memo_t *memo, const int32_t *arch, uint64_t hash)
{
    if (2 * (memo->count + 1) > memo->cap) {
        sigeo_status_t st = grow(memo);
        if (st != SIGEO_OK)
            return st;
    }
    int64_t i = probe_slot(memo->entries, memo->archs, memo->cap, memo->n_arch, arch, hash);
    memo->entries[i].used = 1;
    memo->entries[i].hash = hash;
    memcpy(memo->archs + i * memo->n_arch, arch, (size_t)memo->n_arch * sizeof *arch);
    memo->count++;
    *index_out = i;
    return SIGEO_OK;
}
