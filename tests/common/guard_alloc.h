/* A host allocator for tests: counts every call, can fail the n-th
 * allocation (once, or persistently from n on), puts canaries behind every
 * block to catch overruns, and returns blocks aligned to exactly the
 * requested alignment (never more) so a library that silently relies on
 * stronger alignment shows up. Helpers only: no expectations live here. */
#ifndef SIGEO_TEST_GUARD_ALLOC_H
#define SIGEO_TEST_GUARD_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigeo/sigeo.h"

typedef struct guard_stats {
    uint64_t alloc_calls;     /* attempts, failed ones included */
    uint64_t alloc_failed;    /* attempts the hook refused */
    uint64_t release_calls;
    uint64_t live;            /* blocks handed out and not yet released */
    uint64_t bad_alignment;   /* requests whose alignment was not a power of two in [1, 4096] */
    uint64_t corruptions;     /* releases that found a damaged header or canary */
    uint64_t foreign_release; /* releases of a pointer this allocator never returned */
    size_t min_alignment;     /* smallest alignment requested so far (0 if none) */
} guard_stats_t;

/* Zeroes the counters and clears any failure rule. */
void guard_reset(void);
/* Fails allocation number n (1-based, counted from the last guard_reset);
 * from n on when `persistent`. n = 0 never fails. */
void guard_fail_at(uint64_t n, bool persistent);
guard_stats_t guard_stats(void);
/* The allocator struct to pass to sigeo_set_allocator. */
sigeo_allocator_t guard_allocator(void);

#endif
