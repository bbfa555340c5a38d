/* The set of architectures a search has seen, with their outcome: an open
 * addressing table keyed by the architecture's FNV-1a hash, compared
 * exactly, so each architecture is scored at most once. */
#ifndef SIGEO_SEARCH_MEMO_H
#define SIGEO_SEARCH_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

typedef struct sigeo__memo_entry {
    uint64_t hash;
    int32_t status; /* sigeo_status_t of the scoring */
    int32_t used;
    double score;
    int64_t order; /* evaluation index (for stable tie-breaking) */
} sigeo__memo_entry_t;

typedef struct sigeo__memo {
    int32_t n_arch;
    int64_t cap, count;
    sigeo__memo_entry_t *entries; /* [cap] */
    int32_t *archs;               /* [cap * n_arch], entry i's architecture */
} sigeo__memo_t;

sigeo_status_t sigeo__memo_init(sigeo__memo_t *memo, int32_t n_arch);
void sigeo__memo_free(sigeo__memo_t *memo);
/* The entry of `arch`, or -1. */
int64_t sigeo__memo_find(const sigeo__memo_t *memo, const int32_t *arch, uint64_t hash);
/* Inserts (arch must be absent); the entry index in *index_out. May grow the
 * table, which rehashes: every earlier index and pointer is then invalid
 * (callers keep architectures, not indices). */
sigeo_status_t sigeo__memo_insert(int64_t *index_out, sigeo__memo_t *memo, const int32_t *arch, uint64_t hash);
static inline const int32_t *sigeo__memo_arch(const sigeo__memo_t *memo, int64_t index)
{
    return memo->archs + index * memo->n_arch;
}

#endif
