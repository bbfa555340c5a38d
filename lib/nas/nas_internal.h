/* Shared by the files of lib/nas. Not installed. */
#ifndef SIGEO_NAS_INTERNAL_H
#define SIGEO_NAS_INTERNAL_H

#include <stdio.h>

#include "core/core.h"
#include "sigeo/nas.h"

/* One search evaluation as the result keeps it. */
typedef struct sigeo__nas_eval {
    int32_t status;
    bool has_proxy;
    uint64_t hash;
    int64_t cycle;
    double score, seconds;
    char *text;        /* canonical architecture text, owned */
    char *message;     /* owned, NULL = "" */
    sigeo_proxy_result_t proxy;
    /* an ensemble's (sigeo_evaluation_t, SIGEO_1.1): 0 members otherwise */
    uint32_t n_members;
    double members[SIGEO_SEARCH_ENSEMBLE_MAX];
    double aggregate;
    uint64_t aggregate_over;
} sigeo__nas_eval_t;

struct sigeo_nas_result {
    sigeo_model_t *model;
    bool owns_model;
    int32_t n;                       /* choice points */
    sigeo_nas_summary_t summary;
    int32_t *best_arch;              /* [n] */
    sigeo_nas_candidate_t *cands;    /* [top_k] */
    int32_t *cand_arch;              /* [top_k * n] */
    sigeo__nas_eval_t *evals;        /* [cap_evals] */
    int32_t *eval_arch;              /* [cap_evals * n] */
    uint64_t n_evals, cap_evals;
    sigeo__errbuf_t err;
};

/* Allocates an empty result for `model` (n choice points, room for top_k
 * candidates); NULL when out of memory. In result.c. */
sigeo_nas_result_t *sigeo__nas_result_new(sigeo_model_t *model, int32_t n, int32_t top_k);
/* Appends one evaluation (copies everything); SIGEO_ERR_NO_MEMORY. */
sigeo_status_t sigeo__nas_result_add_eval(sigeo_nas_result_t *r, const sigeo_evaluation_t *e);

/* The run's checkpoint files (checkpoint.c). */
sigeo_status_t sigeo__nas_ckpt_path(char *buf, size_t size, const char *dir, const char *name);
sigeo_status_t sigeo__nas_save_records(const sigeo_nas_result_t *r, const char *path);
/* Appends the first `keep` records of `path` to r. */
sigeo_status_t sigeo__nas_load_records(sigeo_nas_result_t *r, const char *path, uint64_t keep);

/* Prefixes the callee's message (this thread's) with what was being done:
 * "retraining candidate 2: <callee's message>" (core.h's sigeo__fail_wrap). */
static inline sigeo_status_t sigeo__nas_wrap(sigeo__errbuf_t *err, sigeo_status_t st, const char *what)
{
    return sigeo__fail_wrap(err, st, "%s", what);
}

#endif
