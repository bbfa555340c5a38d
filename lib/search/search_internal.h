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
    /* candidates scored together through cb.map (made at the first such run) */
    int32_t *pending;        /* [max(P, C) * n] */
    struct sigeo__scored *scored; /* [max(P, C)] */
    uint32_t n_pending;
    /* ensemble scoring (ensemble.c): every evaluation's member scores by
     * evaluation index ([evaluations * n_ensemble], NaN for a failed one),
     * and the aggregation's work space */
    double *ens_log;
    uint64_t ens_log_cap;    /* evaluations the log holds */
    uint64_t ens_rows;       /* evaluations logged */
    bool ens_stale;          /* the memo's scores (and best_ever) predate the last evaluation */
    double *ens_work;
    uint64_t ens_work_cap;   /* candidates the work space holds */
    sigeo__errbuf_t err;
};

/* One candidate's scoring, as a map task hands it back: plain bytes. */
typedef struct sigeo__scored {
    int32_t status;
    int32_t has_proxy;
    double score, seconds;
    double ens[SIGEO_SEARCH_ENSEMBLE_MAX]; /* the ensemble members' scores */
    sigeo_proxy_result_t proxy;
    char message[SIGEO__ERRMSG_MAX]; /* "" on success */
} sigeo__scored_t;

/* The search loop with cb.map (evolution_map.c). */
sigeo_status_t sigeo__search_run_mapped(sigeo_search_t *s, double t0);
/* Shared by both loops (evolution.c). */
sigeo_status_t sigeo__search_score(sigeo__scored_t *r, sigeo_search_t *s, const int32_t *arch);
sigeo_status_t sigeo__search_apply(bool *ok, double *score_out, sigeo_search_t *s, const int32_t *arch, int64_t cycle,
                                   const sigeo__scored_t *r);
sigeo_status_t sigeo__search_valid(bool *valid, sigeo_search_t *s, const int32_t *arch);
sigeo_status_t sigeo__search_draw_unseen(bool *found, sigeo_search_t *s, int32_t *arch, sigeo_sampling_t how);
sigeo_status_t sigeo__search_make_child(bool *found, sigeo_search_t *s, const int32_t *parent, int32_t *child,
                                        uint32_t nmut);
bool sigeo__search_out_of_budget(const sigeo_search_t *s, double t_start);
sigeo_status_t sigeo__search_cancelled(sigeo_search_t *s);
void sigeo__search_push(sigeo_search_t *s, const int32_t *arch, double score);
void sigeo__search_age(sigeo_search_t *s);
uint32_t sigeo__search_tournament(sigeo_search_t *s);
uint32_t sigeo__search_mutations_at(const sigeo_search_t *s, int64_t g);
sigeo_status_t sigeo__search_report_cycle(sigeo_search_t *s, int64_t cycle, double t0);

/* Ensemble scoring (ensemble.c; a no-op where n_ensemble is 0). */
sigeo_status_t sigeo__search_ensemble_check(const sigeo_search_options_t *o);
/* The members' scores of `arch` into r->ens (r->proxy: the first member's
 * result); the status of the first failure, with its message. */
sigeo_status_t sigeo__search_ensemble_score(sigeo__scored_t *r, sigeo_search_t *s, const int32_t *arch);
/* Grows the ensemble log to hold evaluation `order` and the work space to
 * `n_memo` candidates, before an evaluation enters the memo: an allocation
 * failure then leaves the search as it was (no memo entry without its log
 * row, which every later refresh would refuse). */
sigeo_status_t sigeo__search_ensemble_reserve(sigeo_search_t *s, uint64_t order, uint64_t n_memo);
/* Logs evaluation `order`'s member scores and marks the memo's aggregates
 * stale; *aggregate_out = its aggregate among the successful evaluations
 * 0..order (*count_out of them; NaN and 0 for a failure or no ensemble). */
sigeo_status_t sigeo__search_ensemble_apply(double *aggregate_out, uint64_t *count_out, sigeo_search_t *s,
                                            uint64_t order, const sigeo__scored_t *r);
/* When stale: every memo entry's score (and best_ever) aggregated again over
 * all successful evaluations. Allocates nothing once apply has run. */
sigeo_status_t sigeo__search_ensemble_refresh(sigeo_search_t *s);
/* The population's scores: its members' aggregate over the population. */
sigeo_status_t sigeo__search_ensemble_population(sigeo_search_t *s);

#endif
