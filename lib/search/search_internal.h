/* The search handle's layout, shared by search.c and evolution.c. */
#ifndef SIGEO_SEARCH_INTERNAL_H
#define SIGEO_SEARCH_INTERNAL_H

#include "core/core.h"
#include "core/rng.h"
#include "search/memo.h"
#include "sigeo/search.h"

struct sigeo_search {
    sigeo_model_t *model;
    sigeo_search_options_t o;
    sigeo_search_callbacks_t cb;
    sigeo_proxy_options_t proxy;
    int32_t n;               /* choice points */
    sigeo__rng_t rng;        /* tournament draws */
    /* the default scorer's batches (owned copies) */
    sigeo_batch_t *batches;
    void **batch_mem;
    uint32_t n_batches;
    int64_t max_params, max_flops;
    /* the population: a FIFO of up to P + C members, oldest at pop_head */
    int32_t *pop_arch;       /* [(P + C) * n] */
    double *pop_score;       /* [P + C] */
    uint32_t pop_head, pop_size;
    bool initialized;
    /* everything ever seen */
    sigeo__memo_t memo;
    uint64_t evaluations, failed, rejected, revisits;
    int64_t cycles_done;
    double best_ever;
    double seconds;          /* spent in runs so far */
    /* scratch */
    int32_t *scratch;        /* [4 n] */
    uint32_t *pick;          /* [P + C] tournament indices */
    double *sorted;          /* [P + C] population scores, sorted for the cycle report */
    char *text;              /* canonical text of one architecture */
    sigeo__errbuf_t err;
};

#endif
