/*
 * libsigeo training: optimisers over a model's parameters, learning-rate
 * schedules, and a training driver (epochs or a sample budget — the warm-up
 * level of sub-one-shot NAS — with path sampling for supernets, validation
 * and a progress callback).
 *
 * Sparse updates: an embedding table's gradient is row-sparse (only the rows
 * a batch used are non-zero), and the optimisers update only those rows, as
 * PyTorch's sparse Adagrad / SGD do. For Adagrad and plain SGD this equals
 * the dense update exactly (a zero gradient leaves the row unchanged); for
 * SGD momentum and Adam it is the "lazy" variant (moments of untouched rows
 * are not decayed) — documented, and what large CTR models use.
 * Parameters of layers the active architecture does not use are skipped
 * entirely (as PyTorch skips parameters whose .grad is None).
 *
 * Threads: an optimiser belongs to its model; one thread at a time.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_TRAIN_H
#define SIGEO_TRAIN_H

#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/sigeo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sigeo_optimizer sigeo_optimizer_t;

/* Optimizers of sigeo_optimizer_create. */
typedef enum sigeo_optimizer_kind {
    /* d = g + wd theta; v = momentum v + d (v = d at the first step);
     * theta -= lr v, or with nesterov theta -= lr (d + momentum v)
     * (PyTorch SGD, dampening 0) */
    SIGEO_OPT_SGD = 0,
    /* acc += g^2; theta -= lr g / (sqrt(acc) + eps)  (PyTorch Adagrad; NASRec: lr 0.12, eps 1e-2) */
    SIGEO_OPT_ADAGRAD = 1,
    /* PyTorch Adam with bias correction; weight decay added to g (L2, not AdamW) */
    SIGEO_OPT_ADAM = 2
} sigeo_optimizer_kind_t;

/* Options of sigeo_optimizer_create. */
typedef struct sigeo_optimizer_options {
    uint32_t struct_size;
    int32_t kind;        /* sigeo_optimizer_kind_t */
    double lr;
    double momentum;     /* SGD */
    double weight_decay; /* L2 added to the gradient (dense parameters only) */
    double beta1, beta2; /* Adam */
    double eps;          /* Adagrad (default 1e-10 as PyTorch; NASRec uses 1e-2), Adam (1e-8) */
    double clip_norm;    /* clip the global gradient L2 norm to this before the step; 0 = off (NASRec: 5) */
    int32_t nesterov;    /* SGD: 1 = Nesterov momentum (needs momentum > 0), as PyTorch's nesterov=True */
    uint32_t reserved0;  /* 0 */
} sigeo_optimizer_options_t;

#define SIGEO_OPTIMIZER_OPTIONS_INIT \
    { (uint32_t)sizeof(sigeo_optimizer_options_t), SIGEO_OPT_SGD, 0.01, 0.0, 0.0, 0.9, 0.999, 1e-10, 0.0, 0, 0u }
SIGEO_API sigeo_status_t sigeo_optimizer_options_init(sigeo_optimizer_options_t *options, uint32_t struct_size);

/* Creates an optimiser for every parameter of `model` (state allocated
 * lazily per parameter at its first update). The model must outlive it.
 * Errors: SIGEO_ERR_INVALID_ARG (non-finite or negative hyper-parameters,
 * unknown kind, model not finalised), SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_optimizer_create(sigeo_optimizer_t **out, sigeo_model_t *model,
                                                const sigeo_optimizer_options_t *options);
SIGEO_API void sigeo_optimizer_destroy(sigeo_optimizer_t *optimizer);

/* One update from the gradients of the model's last forward_backward, at
 * learning rate `lr` (the schedule's value; pass the options' lr for a
 * constant one). Errors: SIGEO_ERR_NONFINITE (a gradient, naming the
 * parameter and element; nothing is updated), SIGEO_ERR_INVALID_ARG. */
SIGEO_API sigeo_status_t sigeo_optimizer_step(sigeo_optimizer_t *optimizer, double lr);

/* Forgets the state (moments, accumulators, step count). */
SIGEO_API sigeo_status_t sigeo_optimizer_reset(sigeo_optimizer_t *optimizer);
SIGEO_API const char *sigeo_optimizer_last_error(const sigeo_optimizer_t *optimizer);

/* ------------------------------------------------------------ schedules */

/* Learning-rate schedule shapes (s = step, total = the schedule's steps). */
typedef enum sigeo_lr_kind {
    SIGEO_LR_CONSTANT = 0,
    /* lr_min + (lr - lr_min) (1 + cos(pi s / total)) / 2 */
    SIGEO_LR_COSINE = 1,
    /* lr * gamma^floor(s / step_size) */
    SIGEO_LR_STEP = 2,
    /* linear from lr_min to lr over warmup steps, then cosine to lr_min over
     * the rest (docs/nasrec.md §4: warmup = total / 10, lr_min = 1e-8) */
    SIGEO_LR_WARMUP_COSINE = 3
} sigeo_lr_kind_t;

/* A learning-rate schedule (sigeo_lr_at). */
typedef struct sigeo_lr_schedule {
    uint32_t struct_size;
    int32_t kind;          /* sigeo_lr_kind_t */
    double lr;             /* peak / base */
    double lr_min;
    int64_t total_steps;   /* COSINE, WARMUP_COSINE */
    int64_t warmup_steps;  /* WARMUP_COSINE */
    int64_t step_size;     /* STEP */
    double gamma;          /* STEP */
} sigeo_lr_schedule_t;

#define SIGEO_LR_SCHEDULE_INIT \
    { (uint32_t)sizeof(sigeo_lr_schedule_t), SIGEO_LR_CONSTANT, 0.01, 0.0, 0, 0, 1, 0.1 }
SIGEO_API sigeo_status_t sigeo_lr_schedule_init(sigeo_lr_schedule_t *schedule, uint32_t struct_size);

/* The learning rate at step s (s = number of steps already taken).
 * Errors: SIGEO_ERR_INVALID_ARG (unknown kind, step < 0, total_steps < 1
 * where needed, warmup_steps > total_steps). */
SIGEO_API sigeo_status_t sigeo_lr_at(double *lr_out, const sigeo_lr_schedule_t *schedule, int64_t step);

/* --------------------------------------------------------------- driver */

/* What the progress callback of sigeo_train sees after each epoch or step. */
typedef struct sigeo_train_progress {
    uint32_t struct_size;
    uint32_t phase;        /* 0 training step, 1 validation */
    int64_t step;          /* steps taken */
    int64_t samples;       /* training samples seen */
    int64_t total_steps;   /* planned */
    double loss;           /* training: running mean loss since the last report; validation: log loss */
    double samples_per_second;
    double val_auc;        /* validation only (binary targets) */
    double val_accuracy;   /* validation only */
} sigeo_train_progress_t;

/* For hosts that build progress records themselves (e.g. to replay them). */
#define SIGEO_TRAIN_PROGRESS_INIT { (uint32_t)sizeof(sigeo_train_progress_t), 0u, 0, 0, 0, 0.0, 0.0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_train_progress_init(sigeo_train_progress_t *progress, uint32_t struct_size);

/* Called on the calling thread; return non-zero to stop (the driver then
 * returns SIGEO_ERR_CANCELLED). */
typedef int (*sigeo_progress_fn)(const sigeo_train_progress_t *progress, void *user);

/* One part of one training step, handed to the gradient hook (SIGEO_1.1).
 * When `status` is not SIGEO_OK this process's forward/backward of the part
 * failed (training then stops with that status whatever the hook returns):
 * the hook is still called so that a data-parallel host can tell its peers
 * instead of leaving them waiting. */
typedef struct sigeo_grad_step {
    uint32_t struct_size;
    int32_t status;         /* SIGEO_OK, or why this part failed */
    int64_t step;           /* 0-based training step */
    int32_t part;           /* in [0, shard_count) (0 without sharding) */
    int32_t last;           /* 1 on this process's last part of the step */
    int64_t rows;           /* rows of this part */
    int64_t batch_rows;     /* rows of the whole batch, every part together */
    double loss;            /* mean loss of the part; on the last part the hook may replace it by the step's loss */
} sigeo_grad_step_t;

#define SIGEO_GRAD_STEP_INIT { (uint32_t)sizeof(sigeo_grad_step_t), 0, 0, 0, 0, 0, 0, 0.0 }
SIGEO_API sigeo_status_t sigeo_grad_step_init(sigeo_grad_step_t *step, uint32_t struct_size);

/* Called after each part's backward, before the optimiser step, on the
 * training thread. A status other than SIGEO_OK stops training with it. */
typedef sigeo_status_t (*sigeo_grad_hook_fn)(sigeo_grad_step_t *step, sigeo_model_t *model, void *user);

/* Options of sigeo_train. */
typedef struct sigeo_train_options {
    uint32_t struct_size;
    int32_t sampling;         /* sigeo_sampling_t drawn per step for supernets; -1 = keep the active arch */
    int64_t batch_size;
    int64_t max_samples;      /* sample budget (warm-up level x train rows); 0 = epochs decide */
    double epochs;            /* passes over the data when max_samples is 0 (fractions allowed) */
    uint64_t shuffle_seed;    /* 0 = keep the dataset's order (NASRec: no shuffling); else reorders `train`, see sigeo_train */
    int64_t report_every;     /* steps between progress calls (0 = never) */
    int64_t validate_every;   /* steps between validations (0 = only at the end if a validation set is given) */
    int32_t drop_last;        /* 1: skip the incomplete last batch (NASRec) */
    uint32_t reserved0;
    /* NASRec's full-path warm-up (docs/nasrec.md §3.4): at step c < full_path_steps
     * the step uses the full path with probability 1 - c / full_path_steps,
     * else `sampling`. 0 = off. Draws come from a stream seeded by `seed`. */
    int64_t full_path_steps;
    uint64_t seed;
    /* Data parallelism (SIGEO_1.1). Every batch is cut into shard_count
     * contiguous parts (part j: rows [len j / K, len (j+1) / K) of the
     * batch's len rows, K = shard_count); this process computes the parts
     * [shard_first, shard_first + shard_n), one forward_backward each, and
     * calls grad_hook after each of them (see sigeo_grad_step_t) and before
     * the optimiser step. The hook combines the parts' gradients (its own and
     * other processes') with sigeo_model_set_grad / _set_grad_rows; every
     * process draws the same path per step from its own context stream, so
     * all processes must start from the same weights and seeds. shard_count
     * 0 = one part, the whole batch (the hook, if set, is still called once
     * per step). Several parts per process need a hook (each backward
     * overwrites the gradients). Every part must have at least one row. */
    int32_t shard_count;
    int32_t shard_first;
    int32_t shard_n;
    uint32_t reserved1;
    sigeo_grad_hook_fn grad_hook;
    void *grad_user;
} sigeo_train_options_t;

#define SIGEO_TRAIN_OPTIONS_INIT \
    { (uint32_t)sizeof(sigeo_train_options_t), -1, 128, 0, 1.0, 0u, 0, 0, 1, 0u, 0, 0u, 0, 0, 0, 0u, NULL, NULL }
SIGEO_API sigeo_status_t sigeo_train_options_init(sigeo_train_options_t *options, uint32_t struct_size);

/* What sigeo_train returns. */
typedef struct sigeo_train_result {
    uint32_t struct_size;
    uint32_t reserved0;
    int64_t steps;
    int64_t samples;
    double final_loss;        /* mean training loss over the last report window (or all steps) */
    double seconds;
    double val_logloss;       /* last validation (0 if none) */
    double val_auc;
    double val_accuracy;
} sigeo_train_result_t;

#define SIGEO_TRAIN_RESULT_INIT { (uint32_t)sizeof(sigeo_train_result_t), 0u, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0 }
SIGEO_API sigeo_status_t sigeo_train_result_init(sigeo_train_result_t *result, uint32_t struct_size);

/* Trains `model` with `optimizer` on `train` following `schedule` (NULL =
 * constant at the optimiser's lr). `val` (may be NULL) is evaluated every
 * validate_every steps and at the end. For a supernet with sampling >= 0 a
 * fresh architecture is drawn each step from the model's stream; the
 * previously active architecture is restored at the end. A non-finite loss
 * stops training with SIGEO_ERR_NONFINITE naming the step. Every failure's
 * message is also the model's (sigeo_model_last_error).
 *
 * The dataset `train` is changed in place when options->shuffle_seed is not
 * 0: epoch e (from 0) runs in the order sigeo_dataset_shuffle(train,
 * shuffle_seed + e) gives, and `train` keeps the order of the last epoch
 * started when the call returns (also after a failure). Views and batches
 * taken from `train` before the call are invalid after it; call
 * sigeo_dataset_unshuffle(train) for the storage order again, or pass a
 * dataset the caller does not share. With shuffle_seed 0 `train` is only
 * read. (Copying the order of a Criteo-size dataset per call would cost more
 * than the reorder saves, hence in place.) */
SIGEO_API sigeo_status_t sigeo_train(sigeo_train_result_t *result, sigeo_model_t *model, sigeo_optimizer_t *optimizer,
                                     sigeo_dataset_t *train, sigeo_dataset_t *val, const sigeo_lr_schedule_t *schedule,
                                     const sigeo_train_options_t *options, sigeo_progress_fn progress, void *user);

/* Metrics of `model` (active architecture) on a dataset, in batches:
 * mean log loss, AUC (binary targets; exact, from sorted scores with ties
 * averaged) and accuracy (argmax for classes, p > 0.5 for binary).
 * Any output may be NULL; on failure every non-NULL output is NaN. */
SIGEO_API sigeo_status_t sigeo_evaluate(double *logloss_out, double *auc_out, double *accuracy_out,
                                        sigeo_model_t *model, sigeo_dataset_t *data, int64_t batch_size);

/* Exact AUC of scores vs binary labels (ties count 1/2). Errors:
 * SIGEO_ERR_INVALID_ARG when a class is absent, SIGEO_ERR_NONFINITE; on
 * failure *auc_out (if not NULL) is NaN. */
SIGEO_API sigeo_status_t sigeo_auc(double *auc_out, const float *scores, const float *labels, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_TRAIN_H */
