/*
 * libsigeo search: regularized (aging) evolution and random search over the
 * choice points of a model (Real et al.; docs/nasrec.md §5), scored by SiGeo on
 * the warmed-up supernet by default, or by any host callback.
 *
 *   sigeo_search_t *s;
 *   sigeo_search_options_t o = SIGEO_SEARCH_OPTIONS_INIT;     P 128, S 64, C 8, G 240
 *   sigeo_search_create(&s, supernet, &o);
 *   sigeo_search_set_batches(s, batches, 4);                   the proxy's k batches (copied)
 *   sigeo_search_run(s);
 *   sigeo_search_top(archs, scores, 15, &n, s);                best distinct architectures
 *
 * Scores are "higher is better". An architecture is scored at most once
 * (memoised by its canonical text, "3,0,1,..."); a candidate whose scoring
 * fails (a non-finite loss, say) is recorded with its status and never
 * enters the population. The search always ends: after G cycles, or at the
 * evaluation / time budget, or when the cancel callback asks.
 * Deterministic for a seed (with a deterministic scorer).
 *
 * Threads: a search uses its model; one thread at a time for both.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_SEARCH_H
#define SIGEO_SEARCH_H

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/proxy.h"
#include "sigeo/sigeo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sigeo_search sigeo_search_t;

/* Search strategies. */
typedef enum sigeo_search_kind {
    SIGEO_SEARCH_EVOLUTION = 0, /* regularized evolution with aging */
    SIGEO_SEARCH_RANDOM = 1     /* as many uniformly sampled valid architectures as evolution would evaluate */
} sigeo_search_kind_t;

/* How many mutations regularized evolution applies per child. */
typedef enum sigeo_mutation_schedule {
    SIGEO_MUTATE_ONE = 0,    /* one elementary mutation per child */
    SIGEO_MUTATE_NASREC = 1  /* (G - g) / max(20, G / 5) + 1 mutations at cycle g (docs/nasrec.md §5.1) */
} sigeo_mutation_schedule_t;

/* The most proxies an ensemble (sigeo_search_options_t.n_ensemble) combines. */
#define SIGEO_SEARCH_ENSEMBLE_MAX 8

/* Options of sigeo_search_create. */
typedef struct sigeo_search_options {
    uint32_t struct_size;
    int32_t kind;               /* sigeo_search_kind_t */
    uint32_t population;        /* P */
    uint32_t sample_size;       /* S: tournament size */
    uint32_t children;          /* C: children per cycle */
    uint32_t cycles;            /* G */
    uint64_t seed;              /* drives every draw of the search: initial samples, tournaments, mutations
                                 * (not the model's own stream: other uses of the model do not change it) */
    uint64_t max_evaluations;   /* 0 = no budget beyond P + G C */
    double max_seconds;         /* 0 = no time budget */
    int32_t init_sampling;      /* sigeo_sampling_t of the initial population (NASRec: ANY_PATH counts) */
    int32_t mutation_schedule;  /* sigeo_mutation_schedule_t */
    uint32_t max_attempts;      /* draws per wanted unseen valid architecture before giving up (default 64) */
    uint32_t reserved0;
    /* Since 1.1. Ensemble scoring (docs/proxies-zoo.md section 5), for the
     * default (proxy) scorer: n_ensemble > 0 scores every candidate with the
     * options of sigeo_search_set_proxy under each kind ensemble_kinds[0 ..
     * n_ensemble) (sigeo_proxy_kind_t) and ranks candidates by the
     * aggregate of those scores (ensemble_aggregate, a
     * sigeo_rank_aggregation_t of stats.h; ensemble_weights, all 0 = unit
     * weights) over a set: the tournament over the current population,
     * sigeo_search_top and the best score over every candidate scored so
     * far (aggregated lazily, when read: see sigeo_evaluation_t for what a
     * record holds). An evaluation's score (record callback) is its
     * provisional aggregate over the candidates scored up to it, its `proxy`
     * the first member's result. A member's NaN score fails the candidate;
     * an infinite one is ranked at its end (z-score: that infinity is the
     * aggregate, stats.h). Not with a score callback.
     * sigeo_search_save keeps the member scores (checkpoint version 2). */
    uint32_t n_ensemble;
    int32_t ensemble_aggregate;
    int32_t ensemble_kinds[SIGEO_SEARCH_ENSEMBLE_MAX];
    double ensemble_weights[SIGEO_SEARCH_ENSEMBLE_MAX];
} sigeo_search_options_t;

#define SIGEO_SEARCH_OPTIONS_INIT                                                                            \
    { (uint32_t)sizeof(sigeo_search_options_t), SIGEO_SEARCH_EVOLUTION, 128u, 64u, 8u, 240u, 0u, 0u, 0.0, \
      SIGEO_SAMPLE_ANY_PATH, SIGEO_MUTATE_ONE, 64u, 0u, 0u, 0, { 0 }, { 0.0 } }
SIGEO_API sigeo_status_t sigeo_search_options_init(sigeo_search_options_t *options, uint32_t struct_size);

/* One scored (or failed) candidate, as handed to the record callback. */
typedef struct sigeo_evaluation {
    uint32_t struct_size;
    int32_t status;          /* SIGEO_OK, or why scoring failed (then score is 0 and unused) */
    uint64_t index;          /* 0, 1, ... in evaluation order */
    uint64_t hash;           /* 64-bit FNV-1a of the canonical text */
    int64_t cycle;           /* -1 for the initial population */
    double score;
    double seconds;          /* time spent scoring it */
    const int32_t *arch;     /* borrowed for the callback */
    int32_t n_arch;
    uint32_t reserved0;
    const char *arch_text;   /* borrowed for the callback */
    const char *message;     /* the failure's message, "" on success; borrowed */
    const sigeo_proxy_result_t *proxy; /* components when the default (proxy) scorer ran, else NULL; borrowed
                                        * (an ensemble: its first member's) */
    /* SIGEO_1.1, an ensemble search (n_ensemble > 0); without one n_members
     * is 0, member_scores NULL, aggregate NaN and aggregate_over 0. Read them
     * only when struct_size covers them. */
    uint32_t n_members;           /* n_ensemble */
    uint32_t reserved1;
    const double *member_scores;  /* [n_members] each member proxy's raw score, in ensemble_kinds order;
                                   * NaN for the members not scored when scoring failed; borrowed */
    double aggregate;             /* = score: the aggregate over aggregate_over candidates (NaN on failure) */
    uint64_t aggregate_over;      /* the set it is over: the successful evaluations 0..index, this one included */
} sigeo_evaluation_t;

/* When an ensemble's aggregate is final. A record's `aggregate` (and score)
 * is provisional: it is this candidate's aggregate among the candidates
 * scored up to and including it, as the record callback runs, and it
 * changes as later candidates join the set (a rank or z-score depends on
 * the set). The search does not call the callback again when it does: the
 * final aggregates, over every successful evaluation of the search, are
 * those sigeo_search_top returns after the run (and sigeo_search_get_info's
 * best_score); the raw member scores never change. */

#define SIGEO_EVALUATION_INIT                                                                               \
    { (uint32_t)sizeof(sigeo_evaluation_t), 0, 0u, 0u, 0, 0.0, 0.0, NULL, 0, 0u, NULL, NULL, NULL, 0u, 0u, \
      NULL, 0.0, 0u }
SIGEO_API sigeo_status_t sigeo_evaluation_init(sigeo_evaluation_t *evaluation, uint32_t struct_size);

/* Once per cycle, for progress lines and plots. */
typedef struct sigeo_cycle_report {
    uint32_t struct_size;
    uint32_t population;     /* current population size */
    int64_t cycle;
    uint64_t evaluations;    /* so far (failed ones included) */
    uint64_t failed;
    double best_score;       /* best in the population */
    double median_score;     /* median of the population */
    double best_ever;        /* best of every evaluation */
    double seconds;          /* since the start of the run */
} sigeo_cycle_report_t;

#define SIGEO_CYCLE_REPORT_INIT { (uint32_t)sizeof(sigeo_cycle_report_t), 0u, 0, 0u, 0u, 0.0, 0.0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_cycle_report_init(sigeo_cycle_report_t *report, uint32_t struct_size);

/* A host scorer: writes the score (higher is better) of `arch`. Any status
 * other than SIGEO_OK marks the candidate failed (recorded, not scored). */
typedef sigeo_status_t (*sigeo_score_fn)(double *score_out, const int32_t *arch, int32_t n, void *user);
/* Validity / budget rule (the paper's R(a) <= r): *valid_out = 1 to accept. */
typedef sigeo_status_t (*sigeo_valid_fn)(int *valid_out, const int32_t *arch, int32_t n, void *user);
typedef void (*sigeo_record_fn)(const sigeo_evaluation_t *evaluation, void *user);
typedef void (*sigeo_cycle_fn)(const sigeo_cycle_report_t *report, void *user);
/* Return non-zero to stop; the run then returns SIGEO_ERR_CANCELLED. */
typedef int (*sigeo_cancel_fn)(void *user);

/* A parallel map (SIGEO_1.1), the one hook a host needs to spread
 * independent work over processes or threads: fill results[i] (each
 * result_size bytes) for every i in [0, count) by calling
 * task(results + i * result_size, i, task_user), in any order and on any
 * process. Each process computes its share with its own copy of the state
 * the task reads (the search, the model), then the results are exchanged,
 * so that on SIGEO_OK every process holds all `count` results. Results are
 * plain bytes (no pointers) and a task's result depends only on its index
 * and that state, so the outcome does not depend on how the work was
 * spread. A task's non-OK status is fatal (the map returns a failure);
 * per-item failures travel inside the results. Without a map the caller
 * runs the tasks in order itself. libsigeo-mpi's sigeo_mpi_map is one. */
typedef sigeo_status_t (*sigeo_task_fn)(void *result, int64_t index, void *task_user);
typedef sigeo_status_t (*sigeo_map_fn)(void *results, size_t result_size, int64_t count, sigeo_task_fn task,
                                       void *task_user, void *user);

/* Every callback runs on the calling thread; each gets its own user pointer.
 * Any may be NULL. With `map` (SIGEO_1.1) the search scores the candidates
 * of one step together through it: the C children of a cycle, and the
 * initial population in rounds of the P - size members still missing. The
 * candidates are drawn exactly as without a map (a drawn candidate counts
 * as seen before it is scored) and the results are applied in candidate
 * order, so for a scorer whose value depends only on the architecture the
 * search and its records are the same with or without a map, whichever
 * way the map spreads the work. The scorer (score, or the default proxy)
 * runs inside the map's tasks; record, cycle, valid and cancel run on the
 * calling thread. */
typedef struct sigeo_search_callbacks {
    uint32_t struct_size;
    uint32_t reserved0;
    sigeo_score_fn score;    /* NULL: sigeo_proxy_compute on the model with the batches and proxy options */
    void *score_user;
    sigeo_valid_fn valid;
    void *valid_user;
    sigeo_record_fn record;
    void *record_user;
    sigeo_cycle_fn cycle;
    void *cycle_user;
    sigeo_cancel_fn cancel;
    void *cancel_user;
    sigeo_map_fn map;        /* SIGEO_1.1: score a step's candidates together (NULL: one by one) */
    void *map_user;
} sigeo_search_callbacks_t;

#define SIGEO_SEARCH_CALLBACKS_INIT                                                                                 \
    { (uint32_t)sizeof(sigeo_search_callbacks_t), 0u, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
      NULL, NULL }
SIGEO_API sigeo_status_t sigeo_search_callbacks_init(sigeo_search_callbacks_t *callbacks, uint32_t struct_size);

/* Creates a search over `model`'s choice points (the model must be
 * finalised and outlive the search). Errors: SIGEO_ERR_INVALID_ARG (P < 2,
 * S < 1 or S > P, C < 1, a model without choice points), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_search_create(sigeo_search_t **out, sigeo_model_t *model,
                                             const sigeo_search_options_t *options);
SIGEO_API void sigeo_search_destroy(sigeo_search_t *search);

/* Installs the host callbacks (copied; NULL members keep the defaults). */
SIGEO_API sigeo_status_t sigeo_search_set_callbacks(sigeo_search_t *search, const sigeo_search_callbacks_t *callbacks);
/* Options of the default scorer (sigeo_proxy_compute). */
SIGEO_API sigeo_status_t sigeo_search_set_proxy(sigeo_search_t *search, const sigeo_proxy_options_t *options);
/* The default scorer's batches: copied (the search keeps no caller pointer). */
SIGEO_API sigeo_status_t sigeo_search_set_batches(sigeo_search_t *search, const sigeo_batch_t *batches, uint32_t n);
/* The same from a batch set (data.h): its batches are copied, the set may
 * be destroyed afterwards. Errors: SIGEO_ERR_INVALID_ARG (NULL or empty set). */
SIGEO_API sigeo_status_t sigeo_search_set_batch_set(sigeo_search_t *search, const sigeo_batch_set_t *batches);
/* Built-in budget: reject architectures with more parameters / FLOPs
 * (sigeo_model_count) than these; 0 = no limit. */
SIGEO_API sigeo_status_t sigeo_search_set_budget(sigeo_search_t *search, int64_t max_params, int64_t max_flops);

/* Runs the whole search. Errors: SIGEO_ERR_CANCELLED, SIGEO_ERR_INVALID_ARG
 * (no valid architecture could be drawn at all; no scorer and no batches),
 * errors of callbacks other than the scorer. A second run continues from
 * where the first stopped (e.g. after a cancel). */
SIGEO_API sigeo_status_t sigeo_search_run(sigeo_search_t *search);

/* The best `capacity` distinct successfully scored architectures, best
 * first: archs [capacity * n_choices] row-major, scores [capacity] (may be
 * NULL); *count_out = how many were written. */
SIGEO_API sigeo_status_t sigeo_search_top(int32_t *archs, double *scores, int32_t capacity, int32_t *count_out,
                                          const sigeo_search_t *search);

/* Progress and totals of a search (sigeo_search_get_info). */
typedef struct sigeo_search_info {
    uint32_t struct_size;
    uint32_t population;
    uint64_t evaluations;    /* scored + failed */
    uint64_t failed;
    uint64_t distinct;       /* distinct architectures seen */
    uint64_t rejected;       /* draws refused by validity / budget */
    uint64_t revisits;       /* mutations that landed on an already seen architecture */
    int64_t cycles_done;
    double seconds;
    double best_score;
} sigeo_search_info_t;

#define SIGEO_SEARCH_INFO_INIT { (uint32_t)sizeof(sigeo_search_info_t), 0u, 0u, 0u, 0u, 0u, 0u, 0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_search_info_init(sigeo_search_info_t *info, uint32_t struct_size);
/* The search's progress and totals (writes min(out->struct_size, sizeof) bytes). */
SIGEO_API sigeo_status_t sigeo_search_get_info(sigeo_search_info_t *out, const sigeo_search_t *search);
/* Last failure of a call on this search, from any thread; never NULL. */
SIGEO_API const char *sigeo_search_last_error(const sigeo_search_t *search);

/* Search checkpoints (SIGEO_1.1): the whole state of a search — every
 * evaluation so far, the population, the counters, the tournament stream
 * and the model context's stream (where draws and mutations come from) —
 * to `path`, written to a temporary file and renamed over it (a crash
 * leaves the previous checkpoint whole). Call it from the cycle callback:
 * at a cycle boundary the state is complete, and a new search (same model
 * with the same weights, options, scorer and callbacks) that loads it
 * continues to exactly the records and result of an uninterrupted run.
 * The supernet's weights are not part of it (sigeo_model_save). The file is
 * native-endian, for the machines of one job. Version 2 adds an ensemble
 * search's member scores, kinds, aggregation and weights; version-1 files
 * load into a search without an ensemble. Load errors:
 * SIGEO_ERR_INVALID_ARG (a search that has already run; a checkpoint of
 * other options, another ensemble or another space), SIGEO_ERR_FORMAT (not a checkpoint,
 * truncated, inconsistent), SIGEO_ERR_UNSUPPORTED (another version),
 * SIGEO_ERR_IO; on failure the search is left fresh. */
SIGEO_API sigeo_status_t sigeo_search_save(const sigeo_search_t *search, const char *path);
SIGEO_API sigeo_status_t sigeo_search_load(sigeo_search_t *search, const char *path);

/* ---------------------------------------------------------------- spaces */

/* Built-in search spaces, built as supernets with choice points:
 *  "mlp"          depth, per-layer width and activation (the Fashion-MNIST side)
 *  "nasrec-small" NASRec-Small (autoctr): blocks of linear-2d / dot-product /
 *                 linear-3d nodes with dense connectivity (docs/nasrec.md §2)
 *  "nasrec-full"  NASRec-Full (xlarge): + sigmoid-gating, sum, transformer
 *  "nb201-fmnist" the NAS-Bench-201 cell space at C = 8 on 1x28x28 images,
 *                 10 classes (docs/cellspace.md; fixed sizes, presets ignored):
 *                 the weight-sharing supernet, 6 choice points of 5 ops
 *                 (the NB201 op indices, see sigeo_nb201_*)
 * The others have the paper's sizes (preset FULL) and a scaled-down preset that
 * runs on a 2-core machine in minutes (preset SCALED, docs/nasrec.md §8). */
typedef enum sigeo_space_preset {
    SIGEO_SPACE_SCALED = 0,
    SIGEO_SPACE_FULL = 1,
    SIGEO_SPACE_TINY = 2 /* smallest sizes that still exercise every mechanism: tests */
} sigeo_space_preset_t;

/* Options of sigeo_space_build. */
typedef struct sigeo_space_options {
    uint32_t struct_size;
    int32_t preset;              /* sigeo_space_preset_t */
    int64_t n_dense;             /* dense features per row (Criteo 13, Fashion-MNIST 784) */
    uint32_t n_sparse_fields;    /* categorical fields (Criteo 26); 0 for the mlp space */
    int32_t n_classes;           /* mlp: classes (softmax CE); 0 = one logit with BCE */
    const int64_t *table_rows;   /* [n_sparse_fields] embedding table sizes (borrowed for the call) */
    int32_t max_depth;           /* mlp: 0 = the preset's */
    int32_t blocks;              /* nasrec: 0 = the preset's (7 full, 4 scaled) */
} sigeo_space_options_t;

#define SIGEO_SPACE_OPTIONS_INIT \
    { (uint32_t)sizeof(sigeo_space_options_t), SIGEO_SPACE_SCALED, 0, 0u, 0, NULL, 0, 0 }
SIGEO_API sigeo_status_t sigeo_space_options_init(sigeo_space_options_t *options, uint32_t struct_size);

/* Builds and finalises the supernet of space `name` (see above). Errors:
 * SIGEO_ERR_INVALID_ARG (unknown name, listing the known ones; sizes that
 * do not fit the space), errors of the model builder. */
SIGEO_API sigeo_status_t sigeo_space_build(sigeo_model_t **out, sigeo_context_t *ctx, const char *name,
                                           const sigeo_space_options_t *options);

/* ------------------------------------------------- NB201 cell space */

/* An NB201 architecture is 6 op indices, one per edge in NB201 string order
 * (0->1), (0->2), (1->2), (0->3), (1->3), (2->3); ops 0 none, 1 skip_connect,
 * 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3. It is also the
 * architecture vector of the "nb201-fmnist" supernet. */
#define SIGEO_NB201_EDGES 6
#define SIGEO_NB201_OPS 5
#define SIGEO_NB201_ARCHS 15625

/* id = sum_e ops[e] * 5^e (0 <= id < 15625) and back. Errors:
 * SIGEO_ERR_INVALID_ARG (an op outside 0..4 naming the edge; an id out of range). */
SIGEO_API sigeo_status_t sigeo_nb201_to_id(int64_t *id_out, const int32_t *ops);
SIGEO_API sigeo_status_t sigeo_nb201_from_id(int32_t *ops, int64_t id);
/* NB201 string "|o~0|+|o~0|o~1|+|o~0|o~1|o~2|": to_string writes at most
 * `size` bytes with the NUL, *len_out (may be NULL) the length without it
 * (two-call: buf NULL, size 0); from_string reads exactly that form and
 * says at which offset a malformed one goes wrong (ops unchanged then). */
SIGEO_API sigeo_status_t sigeo_nb201_to_string(char *buf, size_t size, size_t *len_out, const int32_t *ops);
SIGEO_API sigeo_status_t sigeo_nb201_from_string(int32_t *ops, const char *text);
/* *out = 1 when no path of non-none edges joins node 0 to node 3: the cell
 * outputs are 0 and the logits do not depend on the input (341 archs). */
SIGEO_API sigeo_status_t sigeo_nb201_is_degenerate(int *out, const int32_t *ops);
/* The standalone network of one architecture (docs/cellspace.md §1): only its
 * ops, each with its own weights, initialised from ctx's seed (PyTorch's
 * defaults), FLOPs convention SIGEO_FLOPS_NB201; node and parameter names
 * as in the supernet, so it equals the supernet's extraction of `ops`. */
SIGEO_API sigeo_status_t sigeo_nb201_build(sigeo_model_t **out, sigeo_context_t *ctx, const int32_t *ops);

/* 64-bit FNV-1a hash of an architecture's canonical text: stable across
 * runs, machines and library versions. */
SIGEO_API uint64_t sigeo_arch_hash(const int32_t *arch, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_SEARCH_H */
