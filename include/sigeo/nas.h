/*
 * libsigeo NAS: the whole sub-one-shot pipeline as one call
 * (docs/nasrec.md §4-6, docs/design.md §6):
 *
 *   1. warm-up   the supernet trained on a fraction of one epoch of `train`
 *                (1 % = sub-one-shot, 0 % = zero-shot, 100 % = one-shot),
 *                path sampling per step, an optimiser recipe
 *   2. search    regularized evolution or random search over the choice
 *                points, scored by a proxy on k training batches, by one-shot
 *                validation loss, or at random; a budget
 *   3. retrain   the top-k from scratch on `train`, validated on `valid`
 *   4. select    the candidate with the lowest validation log loss; its
 *                test metrics on `test`
 *
 *   sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;           NASRec's recipe, SiGeo, 1 % warm-up
 *   sigeo_nas_result_t *r;
 *   sigeo_nas_run_space(&r, ctx, "nasrec-small", NULL, train, valid, test, &o);
 *   sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
 *   sigeo_nas_result_get_summary(&s, r);                        best metrics, seconds per phase
 *   sigeo_nas_result_best_arch(arch, s.n_arch, r);
 *   sigeo_nas_result_destroy(r);
 *
 * The one-shot scorer is also a handle of its own (sigeo_one_shot_t) whose
 * score function plugs into any sigeo_search_t as a host scorer.
 *
 * Datasets: `train` is read in its current order and never shuffled by the
 * pipeline (NASRec: no shuffling); the warm-up, the proxy batches and the
 * fine-tune all start at its first batch. The datasets must not change
 * during the call. Threads: the call uses its model, datasets and context;
 * one thread at a time for each.
 */
#ifndef SIGEO_NAS_H
#define SIGEO_NAS_H

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/sigeo.h"
#include "sigeo/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ one-shot scorer */

/* Options of the one-shot scorer (docs/nasrec.md §5.2, NASRec's evaluator):
 * per candidate, the inherited subnet's head is optionally fine-tuned on the
 * first finetune_steps training batches with everything else frozen, then
 * scored by minus its validation log loss (higher is better). The supernet
 * is left as it was after every score (the head's weights are restored bit
 * for bit; batch-norm running statistics, if the model has any, are not). */
typedef struct sigeo_one_shot_options {
    uint32_t struct_size;
    uint32_t reserved0;
    int64_t finetune_steps;   /* head fine-tune steps; 0 = none (NASRec's "no fine-tune" ablation); NASRec: 500 */
    int64_t finetune_batch;   /* rows per fine-tune batch (NASRec 512) */
    double lr;                /* Adagrad peak lr (NASRec 0.04), warm-up cosine W = T/10, lr_min 1e-8 */
    double eps;               /* Adagrad eps (1e-2) */
    double clip_norm;         /* head gradient norm clip (5) */
    int64_t eval_batch;       /* rows per validation batch (evaluation only; 2048) */
    int64_t max_eval_rows;    /* the first rows of `valid` scored; 0 = all (NASRec: 150 batches of 8192) */
} sigeo_one_shot_options_t;

#define SIGEO_ONE_SHOT_OPTIONS_INIT \
    { (uint32_t)sizeof(sigeo_one_shot_options_t), 0u, 0, 512, 0.04, 1e-2, 5.0, 2048, 0 }
SIGEO_API sigeo_status_t sigeo_one_shot_options_init(sigeo_one_shot_options_t *options, uint32_t struct_size);

typedef struct sigeo_one_shot sigeo_one_shot_t;

/* Creates a one-shot scorer of supernet `model` (finalised, with choice
 * points). `train` is needed only with finetune_steps > 0; `valid` always.
 * The model and `train` are borrowed and must outlive the scorer; the
 * scored validation rows are copied (max_eval_rows > 0) or borrowed (0).
 * Errors: SIGEO_ERR_INVALID_ARG (NULL, options out of range, naming them;
 * fine-tune without `train` or on a model whose loss input has no
 * parameters), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_one_shot_create(sigeo_one_shot_t **out, sigeo_model_t *model, sigeo_dataset_t *train,
                                               sigeo_dataset_t *valid, const sigeo_one_shot_options_t *options);
SIGEO_API void sigeo_one_shot_destroy(sigeo_one_shot_t *scorer);

/* Scores `arch` (n entries): minus the validation log loss of the inherited
 * subnet after the optional head fine-tune. The signature of sigeo_score_fn:
 * pass sigeo_one_shot_score as callbacks.score and the scorer as score_user.
 * The model's active architecture and weights are restored on return.
 * Errors: those of activation, training and evaluation, with the message
 * on the scorer (sigeo_one_shot_last_error) and the thread. */
SIGEO_API sigeo_status_t sigeo_one_shot_score(double *score_out, const int32_t *arch, int32_t n, void *scorer);
SIGEO_API const char *sigeo_one_shot_last_error(const sigeo_one_shot_t *scorer);

/* ------------------------------------------------------------ pipeline */

/* How the search scores a candidate (sigeo_nas_options_t.scorer). */
typedef enum sigeo_nas_scorer {
    SIGEO_NAS_SCORE_PROXY = 0,    /* sigeo_proxy_compute (options.proxy) on the first k training batches */
    SIGEO_NAS_SCORE_ONE_SHOT = 1, /* sigeo_one_shot_score (options.one_shot) */
    SIGEO_NAS_SCORE_RANDOM = 2    /* a uniform score in [0, 1) from the seed: the random-search baseline
                                   * (with a map: a hash of the seed and the architecture) */
} sigeo_nas_scorer_t;

/* The pipeline's phases, as reported to the progress callback. */
typedef enum sigeo_nas_phase {
    SIGEO_NAS_PHASE_WARMUP = 0,
    SIGEO_NAS_PHASE_SEARCH = 1,
    SIGEO_NAS_PHASE_RETRAIN = 2
} sigeo_nas_phase_t;

/* One progress report. Warm-up: step/total = training steps; search:
 * evaluations so far / the planned count; retrain: steps over all
 * candidates together (candidate = which one, 0-based; with several
 * workers, the one that reported last). */
typedef struct sigeo_nas_progress {
    uint32_t struct_size;
    int32_t phase;           /* sigeo_nas_phase_t */
    int64_t step;
    int64_t total;
    double elapsed;          /* seconds since the start of the run */
    double value;            /* warm-up / retrain: running training loss; search: best score so far */
    int32_t candidate;       /* retrain: index into the top-k; else -1 */
    uint32_t reserved0;
} sigeo_nas_progress_t;

#define SIGEO_NAS_PROGRESS_INIT { (uint32_t)sizeof(sigeo_nas_progress_t), 0, 0, 0, 0.0, 0.0, -1, 0u }
SIGEO_API sigeo_status_t sigeo_nas_progress_init(sigeo_nas_progress_t *progress, uint32_t struct_size);

/* Called on the calling thread; return non-zero to cancel: the run then
 * returns SIGEO_ERR_CANCELLED, frees everything it made and writes no result. */
typedef int (*sigeo_nas_progress_fn)(const sigeo_nas_progress_t *progress, void *user);

/* Defaults: NASRec's recipe as sigeo-nas runs it (docs/nasrec.md §4, §6, §8):
 * warm-up 1 % of an epoch with binomial any-path sampling and the full path
 * with decaying probability over the first 21 % of an epoch, Adagrad lr 0.12
 * eps 1e-2 clip 5, warm-up cosine (W = T/10, lr_min 1e-8); SiGeo on k = 4
 * batches with the lambda preset chosen by the warm-up level (zero-shot
 * without warm-up, RecSys with); evolution P 32 S 16 C 4 G 40 with NASRec's
 * mutation schedule; the top 5 retrained for one epoch with Adagrad lr 0.1
 * (0.05 for a softmax classifier) eps 1e-2 clip 5 and the same schedule. */
typedef struct sigeo_nas_options {
    uint32_t struct_size;
    int32_t scorer;            /* sigeo_nas_scorer_t */
    uint64_t seed;             /* warm-up path draws, search, random scorer */
    int64_t batch_size;        /* warm-up, proxy batches, retrain (256) */
    double warmup_fraction;    /* of one epoch of `train`, in [0, 1] (0.01) */
    int32_t warmup_sampling;   /* sigeo_sampling_t per warm-up step (ANY_PATH_BINOMIAL) */
    int32_t lambda_by_warmup;  /* 1: proxy lambda preset = RECSYS if warmup_fraction > 0, else ZERO_SHOT (1) */
    double full_path_fraction; /* full-path warm-up window, in epochs (0.21); 0 = off */
    const sigeo_optimizer_options_t *warmup_optimizer;  /* NULL: Adagrad 0.12 / 1e-2 / clip 5 */
    const sigeo_search_options_t *search;               /* NULL: P 32 S 16 C 4 G 40, NASRec mutations, seed */
    const sigeo_proxy_options_t *proxy;                 /* NULL: SiGeo defaults (SCORE_PROXY) */
    const sigeo_one_shot_options_t *one_shot;           /* NULL: its defaults (SCORE_ONE_SHOT) */
    uint32_t k;                /* proxy batches (4) */
    int32_t top_k;             /* candidates retrained (5; the paper 15) */
    double retrain_epochs;     /* epochs of each from-scratch training (1) */
    const sigeo_optimizer_options_t *retrain_optimizer; /* NULL: Adagrad 0.1 (softmax 0.05) / 1e-2 / clip 5 */
    int64_t eval_batch;        /* rows per batch of validation / test evaluation (2048) */
    sigeo_nas_progress_fn progress;
    void *progress_user;
    int64_t progress_every;    /* training steps between warm-up / retrain reports (10); search: every evaluation */
    sigeo_record_fn record;    /* every evaluation as it happens (may be NULL) */
    void *record_user;
    sigeo_cycle_fn cycle;      /* every search cycle (may be NULL) */
    void *cycle_user;
    /* Parallel execution (SIGEO_1.1; libsigeo-mpi sets these, every process
     * running the same call on the same data): `map` (search.h) scores each
     * search step's candidates together and retrains the top-k as one map
     * (each candidate wherever the map runs it, results in candidate
     * order); the warm-up cuts every batch into warmup_shard_count parts,
     * computes [warmup_shard_first, + warmup_shard_n) here and hands each
     * part to warmup_grad_hook (sigeo_train_options_t). All 0/NULL: one
     * process, as before. */
    sigeo_map_fn map;
    void *map_user;
    int32_t warmup_shard_count;
    int32_t warmup_shard_first;
    int32_t warmup_shard_n;
    uint32_t reserved0;
    sigeo_grad_hook_fn warmup_grad_hook;
    void *warmup_grad_user;
    /* Resumable runs (SIGEO_1.1). With checkpoint_dir (an existing
     * directory) the run writes there, atomically: the warmed-up supernet
     * (supernet.safetensors) and a fresh search checkpoint after the
     * warm-up, then the records so far and the search (records.bin,
     * search.ckpt, sigeo_search_save) every checkpoint_every cycles (0: only
     * after the warm-up). With resume = 1 a run that finds search.ckpt there
     * loads the supernet, the records and the search instead of warming up,
     * and continues: the same options and data then give the same records
     * and result as a run never interrupted (timings aside). Without
     * search.ckpt it starts from the beginning. checkpoint_no_write = 1:
     * read only (every rank but one of a parallel job). */
    const char *checkpoint_dir;
    uint32_t checkpoint_every;
    int32_t resume;
    int32_t checkpoint_no_write;
    uint32_t reserved1;
    /* In-process parallelism across independent work (SIGEO_1.1): without
     * `map`, the top-k retrain runs its candidates on `workers` threads at
     * once, each candidate on one thread (one compute thread per backend
     * call, whatever the context's `threads`; a last round of t < workers
     * candidates gets workers / t compute threads each, the cores the
     * finished workers leave), handed out in candidate order. 0 = auto: the context's `threads` (itself 0 = the online
     * cores), so a context of threads = 1 runs one by one as before; 1 =
     * one by one; at most top_k and 1024 are used. The candidates'
     * initial weights are drawn before any starts, in candidate order, so
     * the result is the same for every worker count >= 2, and equal bit
     * for bit to the one-by-one run of a context with threads = 1 (a
     * context with more threads rounds its larger calls differently,
     * sigeo_thread_policy_t). Progress reports still come on the calling
     * thread (step: the candidates' steps together; candidate: the latest
     * to report), and a cancel stops every candidate. The search's scoring
     * stays on the calling thread (it reads the shared supernet). */
    int32_t workers;
    uint32_t reserved2;
} sigeo_nas_options_t;

#define SIGEO_NAS_OPTIONS_INIT                                                                                 \
    { (uint32_t)sizeof(sigeo_nas_options_t), SIGEO_NAS_SCORE_PROXY, 1u, 256, 0.01, SIGEO_SAMPLE_ANY_PATH_BINOMIAL, \
      1, 0.21, NULL, NULL, NULL, NULL, 4u, 5, 1.0, NULL, 2048, NULL, NULL, 10, NULL, NULL, NULL, NULL, NULL, NULL, \
      0, 0, 0, 0u, NULL, NULL, NULL, 0u, 0, 0, 0u, 0, 0u }
SIGEO_API sigeo_status_t sigeo_nas_options_init(sigeo_nas_options_t *options, uint32_t struct_size);

typedef struct sigeo_nas_result sigeo_nas_result_t;

/* Runs the pipeline on supernet `supernet` (finalised, with choice points;
 * warmed up in place, so its weights change; the candidates are extracted
 * from it with fresh weights from its context's seed). `valid` and `test`
 * may be the same dataset; `test` may be NULL (no test metrics). On success
 * *out is a result the caller destroys; on failure *out is NULL. Errors:
 * SIGEO_ERR_INVALID_ARG (NULL, options out of range, naming the field;
 * too few training rows for k batches), SIGEO_ERR_CANCELLED (the progress
 * callback), the errors of training, search and evaluation (with what
 * failed in the message), SIGEO_ERR_NONFINITE when no candidate could be
 * retrained. */
SIGEO_API sigeo_status_t sigeo_nas_run(sigeo_nas_result_t **out, sigeo_model_t *supernet, sigeo_dataset_t *train,
                                       sigeo_dataset_t *valid, sigeo_dataset_t *test,
                                       const sigeo_nas_options_t *options);

/* The same on a built-in space (sigeo_space_build) built in `ctx`. Sizes the
 * space options leave at 0 (n_dense, n_sparse_fields with table_rows NULL,
 * n_classes) come from `train`: its dense width, sparse fields and table
 * sizes, and its class count when it has labels and no targets. The
 * supernet belongs to the result (sigeo_nas_result_model); `ctx` must
 * outlive the result. */
SIGEO_API sigeo_status_t sigeo_nas_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                             const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                             sigeo_dataset_t *valid, sigeo_dataset_t *test,
                                             const sigeo_nas_options_t *options);

/* Frees a result and what it owns (for sigeo_nas_run_space, the supernet it built); NULL is fine. */
SIGEO_API void sigeo_nas_result_destroy(sigeo_nas_result_t *result);

/* The run at a glance: the selected candidate's metrics, the cost of each
 * phase, and what produced it (provenance). */
typedef struct sigeo_nas_summary {
    uint32_t struct_size;
    int32_t n_arch;            /* choice points: the length of every architecture */
    int32_t top_n;             /* candidates retrained (<= top_k: fewer distinct scored ones) */
    int32_t best;              /* index of the selected candidate in the top-k */
    uint64_t evaluations;      /* search evaluations, failed ones included */
    uint64_t failed;
    int64_t warmup_steps;
    double warmup_seconds, search_seconds, retrain_seconds;
    double val_logloss, val_auc, val_accuracy;    /* of the selected candidate */
    double test_logloss, test_auc, test_accuracy; /* 0 without a test set (AUC: 0 for classifiers) */
    int64_t params, flops;     /* of the selected candidate (sigeo_model_count) */
    /* provenance */
    uint32_t library_version;  /* sigeo_version_number() */
    int32_t scorer;            /* sigeo_nas_scorer_t */
    int32_t proxy_kind;        /* SCORE_PROXY: sigeo_proxy_kind_t, else -1 */
    int32_t lambda_preset;     /* SCORE_PROXY: the preset used, else -1 */
    int32_t search_kind;       /* sigeo_search_kind_t */
    uint32_t k;                /* proxy batches */
    uint64_t seed;
    double warmup_fraction;
    int64_t batch_size;
    int64_t finetune_steps;    /* SCORE_ONE_SHOT: head fine-tune steps, else 0 */
} sigeo_nas_summary_t;

#define SIGEO_NAS_SUMMARY_INIT                                                                                   \
    { (uint32_t)sizeof(sigeo_nas_summary_t), 0, 0, 0, 0u, 0u, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, \
      0, 0u, 0, 0, 0, 0, 0u, 0u, 0.0, 0, 0 }
SIGEO_API sigeo_status_t sigeo_nas_summary_init(sigeo_nas_summary_t *summary, uint32_t struct_size);

/* Copies the summary into *out (read by out->struct_size). */
SIGEO_API sigeo_status_t sigeo_nas_result_get_summary(sigeo_nas_summary_t *out, const sigeo_nas_result_t *result);

/* The selected architecture into arch[0..n_arch) (capacity >= n_arch). */
SIGEO_API sigeo_status_t sigeo_nas_result_best_arch(int32_t *arch, int32_t capacity, const sigeo_nas_result_t *result);

/* One retrained candidate (rank = its place in the search's top-k). */
typedef struct sigeo_nas_candidate {
    uint32_t struct_size;
    int32_t status;            /* SIGEO_OK, or why its training failed (metrics then 0) */
    int32_t rank;
    uint32_t reserved0;
    double score;              /* its search score */
    double val_logloss, val_auc, val_accuracy;
    double test_logloss, test_auc, test_accuracy;
    int64_t params, flops;
    double seconds;            /* its training and evaluation */
} sigeo_nas_candidate_t;

#define SIGEO_NAS_CANDIDATE_INIT \
    { (uint32_t)sizeof(sigeo_nas_candidate_t), 0, 0, 0u, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0 }
SIGEO_API sigeo_status_t sigeo_nas_candidate_init(sigeo_nas_candidate_t *candidate, uint32_t struct_size);

/* Candidate `index` (< summary.top_n) into `out`, its architecture into
 * arch[0..n_arch) (arch may be NULL). */
SIGEO_API sigeo_status_t sigeo_nas_result_candidate(sigeo_nas_candidate_t *out, int32_t *arch, int32_t capacity,
                                                    const sigeo_nas_result_t *result, int32_t index);

/* Every search evaluation, in order (== summary.evaluations of them).
 * `out` gets the record the search handed its record callback; its arch,
 * arch_text, message and proxy pointers are borrowed from the result
 * (valid until it is destroyed). */
SIGEO_API uint64_t sigeo_nas_result_evaluation_count(const sigeo_nas_result_t *result);
SIGEO_API sigeo_status_t sigeo_nas_result_evaluation(sigeo_evaluation_t *out, const sigeo_nas_result_t *result,
                                                     uint64_t index);

/* The warmed-up supernet the search ran on (borrowed: the caller's for
 * sigeo_nas_run, the result's own for sigeo_nas_run_space). */
SIGEO_API sigeo_model_t *sigeo_nas_result_model(const sigeo_nas_result_t *result);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_NAS_H */
