/* The training driver (sigeo_train): batches in order (or shuffled), a
 * sample budget or epochs, path sampling for supernets, the schedule, and
 * progress / validation reports. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "nn/probe.h"
#include "sigeo/train.h"
#include "train/train_internal.h"

SIGEO_API sigeo_status_t sigeo_train_options_init(sigeo_train_options_t *options, uint32_t struct_size)
{
    static const sigeo_train_options_t defaults = SIGEO_TRAIN_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_train_options");
}

SIGEO_API sigeo_status_t sigeo_train_progress_init(sigeo_train_progress_t *progress, uint32_t struct_size)
{
    static const sigeo_train_progress_t defaults = SIGEO_TRAIN_PROGRESS_INIT;
    return sigeo__struct_init(progress, struct_size, &defaults, sizeof defaults, "sigeo_train_progress");
}

SIGEO_API sigeo_status_t sigeo_grad_step_init(sigeo_grad_step_t *step, uint32_t struct_size)
{
    static const sigeo_grad_step_t defaults = SIGEO_GRAD_STEP_INIT;
    return sigeo__struct_init(step, struct_size, &defaults, sizeof defaults, "sigeo_grad_step");
}

SIGEO_API sigeo_status_t sigeo_train_result_init(sigeo_train_result_t *result, uint32_t struct_size)
{
    static const sigeo_train_result_t defaults = SIGEO_TRAIN_RESULT_INIT;
    return sigeo__struct_init(result, struct_size, &defaults, sizeof defaults, "sigeo_train_result");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sigeo_status_t validate(sigeo_train_result_t *r, sigeo_model_t *m, sigeo_dataset_t *val, int64_t batch,
                               bool binary)
{
    r->val_auc = 0.0;
    return sigeo_evaluate(&r->val_logloss, binary ? &r->val_auc : NULL, &r->val_accuracy, m, val, batch);
}

static const char fn[] = "sigeo_train";

/* One step with a gradient hook: this process's parts of the batch that
 * starts at row `first`, a forward_backward and a hook call each. The hook
 * sees failures too (so a data-parallel host can tell its peers). */
static sigeo_status_t hooked_step(double *loss, int64_t *step_rows, sigeo_model_t *m, sigeo_dataset_t *train,
                                  const sigeo_train_options_t *o, int64_t step, int64_t first, int32_t parts,
                                  int32_t first_part, int32_t n_parts)
{
    sigeo__errbuf_t *err = sigeo__probe_errbuf(m);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_status_t st = sigeo_dataset_get_info(&info, train);
    if (st != SIGEO_OK)
        return st;
    const int64_t len = info.n_rows - first < o->batch_size ? info.n_rows - first : o->batch_size;
    *step_rows = len;
    for (int32_t j = first_part; j < first_part + n_parts; j++) {
        const int64_t lo = len * j / parts, hi = len * (j + 1) / parts;
        sigeo_grad_step_t g = SIGEO_GRAD_STEP_INIT;
        g.step = step;
        g.part = j;
        g.last = j == first_part + n_parts - 1;
        g.rows = hi - lo;
        g.batch_rows = len;
        sigeo_batch_t batch = SIGEO_BATCH_INIT;
        if (hi <= lo)
            st = sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: step %lld: a batch of %lld rows cannot be cut into %d "
                                "non-empty parts", fn, (long long)step, (long long)len, (int)parts);
        else if ((st = sigeo_dataset_view(&batch, train, first + lo, hi - lo)) == SIGEO_OK &&
                 (st = sigeo_model_forward_backward(&g.loss, m, &batch)) == SIGEO_ERR_NONFINITE)
            st = sigeo__fail_wrap(err, st, "%s: training stopped at step %lld (part %d)", fn, (long long)step,
                                  (int)j);
        g.status = st;
        if (st != SIGEO_OK) {
            char message[SIGEO__ERRMSG_MAX];
            snprintf(message, sizeof message, "%s", sigeo_last_error());
            o->grad_hook(&g, m, o->grad_user); /* tells the peers; this failure is what training reports */
            return sigeo__fail_on(err, st, "%s", message);
        }
        if ((st = o->grad_hook(&g, m, o->grad_user)) != SIGEO_OK) {
            char message[SIGEO__ERRMSG_MAX];
            snprintf(message, sizeof message, "%s", sigeo_last_error());
            return sigeo__fail_on(err, st, "%s: the gradient hook failed at step %lld: %s", fn, (long long)step,
                                  message);
        }
        *loss = g.loss;
    }
    return SIGEO_OK;
}

static sigeo_status_t train_run(sigeo_train_result_t *result, sigeo_model_t *m, sigeo_optimizer_t *opt,
                                sigeo_dataset_t *train, sigeo_dataset_t *val, const sigeo_lr_schedule_t *schedule,
                                const sigeo_train_options_t *options, sigeo_progress_fn progress, void *user)
{
    sigeo__errbuf_t *err = sigeo__probe_errbuf(m);
    sigeo_train_options_t o = SIGEO_TRAIN_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_train_options", err);
    if (st != SIGEO_OK)
        return st;
    if (o.batch_size < 1 || o.max_samples < 0 || !isfinite(o.epochs) || o.epochs < 0 || o.report_every < 0 ||
        o.validate_every < 0 || o.sampling < -1 || o.sampling > SIGEO_SAMPLE_FULL_PATH || o.full_path_steps < 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: options out of range (batch_size %lld, max_samples %lld, epochs %g, sampling %d)", fn,
                              (long long)o.batch_size, (long long)o.max_samples, o.epochs, (int)o.sampling);
    /* Data parallelism: this process's parts of each batch. */
    const int32_t parts = o.shard_count > 0 ? o.shard_count : 1;
    const int32_t first_part = o.shard_count > 0 ? o.shard_first : 0, n_parts = o.shard_count > 0 ? o.shard_n : 1;
    if (o.shard_count < 0 || first_part < 0 || n_parts < 1 || first_part > parts - n_parts ||
        (n_parts > 1 && !o.grad_hook) || (int64_t)parts > o.batch_size)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: shards out of range (shard_count %d, shard_first %d, shard_n %d, batch_size %lld, "
                              "hook %s; several parts per process need a grad_hook)",
                              fn, (int)o.shard_count, (int)o.shard_first, (int)o.shard_n, (long long)o.batch_size,
                              o.grad_hook ? "set" : "NULL");
    /* Without a schedule: constant at the optimiser's lr. */
    sigeo_lr_schedule_t sched = SIGEO_LR_SCHEDULE_INIT;
    sched.lr = sigeo__optimizer_lr(opt);
    if (schedule && (st = sigeo__struct_in(&sched, sizeof sched, schedule, "sigeo_lr_schedule", err)) != SIGEO_OK)
        return st;
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&info, train)) != SIGEO_OK)
        return st;
    const sigeo_batch_last_t last = o.drop_last ? SIGEO_BATCH_DROP_LAST : SIGEO_BATCH_KEEP_LAST;
    int64_t per_epoch;
    if ((st = sigeo_dataset_batch_count(&per_epoch, train, o.batch_size, last)) != SIGEO_OK)
        return st;
    if (per_epoch < 1)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: %lld training rows give no batch of %lld", fn,
                              (long long)info.n_rows, (long long)o.batch_size);
    /* Steps: a sample budget (warm-up level) or epochs. The double is
     * checked before the cast (1e300 epochs would be undefined behaviour). */
    const double epoch_steps = ceil(o.epochs * (double)per_epoch);
    if (o.max_samples == 0 && !(epoch_steps < 0x1p62))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: epochs %g x %lld batches per epoch = %g steps, more than 2^62", fn, o.epochs,
                              (long long)per_epoch, epoch_steps);
    int64_t total = o.max_samples > 0 ? o.max_samples / o.batch_size + (o.max_samples % o.batch_size != 0)
                                      : (int64_t)epoch_steps;
    const bool binary = info.n_targets > 0 && !info.has_labels;
    int32_t n_choices = 0;
    sigeo_model_choices(&n_choices, NULL, 0, m);
    /* The architecture before training and the one drawn per step: sized by
     * the model (nasrec-full has 140 choice points at 7 blocks), once per call. */
    int32_t *arch_before = NULL, *arch = NULL;
    if (n_choices > 0) {
        arch_before = sigeo__calloc(2 * (size_t)n_choices, sizeof *arch_before);
        if (!arch_before)
            return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "%s: out of memory for %d choice points", fn,
                                  (int)n_choices);
        arch = arch_before + n_choices;
        if ((st = sigeo_model_active_arch(arch_before, n_choices, m)) != SIGEO_OK) {
            sigeo__free(arch_before);
            return st;
        }
    }

    sigeo_train_result_t r = SIGEO_TRAIN_RESULT_INIT;
    const double t0 = now_seconds();
    double window_loss = 0.0, window_t = t0;
    int64_t window_steps = 0, window_samples = 0, epoch = 0;
    for (int64_t step = 0; step < total && st == SIGEO_OK; step++) {
        int64_t b = step % per_epoch;
        if (b == 0 && o.shuffle_seed) {
            if ((st = sigeo_dataset_shuffle(train, o.shuffle_seed + (uint64_t)epoch)) != SIGEO_OK)
                break;
        }
        if (b == per_epoch - 1)
            epoch++;
        if (o.sampling >= 0 && n_choices > 0) {
            sigeo_sampling_t how = (sigeo_sampling_t)o.sampling;
            if (step < o.full_path_steps) {
                /* splitmix64 of (seed, step): a uniform draw independent of the model's stream */
                uint64_t z = o.seed + 0x9e3779b97f4a7c15ull * (uint64_t)(step + 1);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                z ^= z >> 31;
                double u = (double)(z >> 11) * 0x1.0p-53;
                if (u < 1.0 - (double)step / (double)o.full_path_steps)
                    how = SIGEO_SAMPLE_FULL_PATH;
            }
            if ((st = sigeo_model_sample_arch(arch, n_choices, m, how)) != SIGEO_OK ||
                (st = sigeo_model_activate(m, arch, n_choices)) != SIGEO_OK)
                break;
        }
        sigeo_batch_t batch = SIGEO_BATCH_INIT;
        double loss = 0.0;
        int64_t step_rows = 0;
        if (!o.grad_hook) {
            if ((st = sigeo_dataset_batch(&batch, train, b, o.batch_size, last)) != SIGEO_OK)
                break;
            step_rows = batch.batch_size;
            if ((st = sigeo_model_forward_backward(&loss, m, &batch)) != SIGEO_OK) {
                if (st == SIGEO_ERR_NONFINITE)
                    st = sigeo__fail_wrap(err, st, "%s: training stopped at step %lld", fn, (long long)step);
                break;
            }
        } else if ((st = hooked_step(&loss, &step_rows, m, train, &o, step, b * o.batch_size, parts, first_part,
                                     n_parts)) != SIGEO_OK) {
            break;
        }
        double lr;
        if ((st = sigeo_lr_at(&lr, &sched, step)) != SIGEO_OK)
            break;
        if ((st = sigeo_optimizer_step(opt, lr)) != SIGEO_OK)
            break;
        r.steps = step + 1;
        r.samples += step_rows;
        window_loss += loss;
        window_steps++;
        window_samples += step_rows;
        const bool report = o.report_every > 0 && (r.steps % o.report_every == 0 || r.steps == total);
        if (report) {
            double t = now_seconds();
            r.final_loss = window_loss / (double)window_steps;
            if (progress) {
                sigeo_train_progress_t p = { sizeof p, 0, r.steps, r.samples, total, r.final_loss,
                                             (double)window_samples / fmax(t - window_t, 1e-9), 0.0, 0.0 };
                if (progress(&p, user)) {
                    st = sigeo__fail_on(err, SIGEO_ERR_CANCELLED, "%s: cancelled by the progress callback at step %lld",
                                        fn, (long long)r.steps);
                    break;
                }
            }
            window_loss = 0.0;
            window_steps = window_samples = 0;
            window_t = t;
        }
        if (val && o.validate_every > 0 && r.steps % o.validate_every == 0 && r.steps < total) {
            if ((st = validate(&r, m, val, o.batch_size, binary)) != SIGEO_OK)
                break;
            if (progress) {
                sigeo_train_progress_t p = { sizeof p, 1, r.steps, r.samples, total, r.val_logloss, 0.0, r.val_auc,
                                             r.val_accuracy };
                if (progress(&p, user)) {
                    st = sigeo__fail_on(err, SIGEO_ERR_CANCELLED, "%s: cancelled at step %lld", fn, (long long)r.steps);
                    break;
                }
            }
        }
    }
    if (window_steps > 0)
        r.final_loss = window_loss / (double)window_steps;
    if (n_choices > 0 && o.sampling >= 0)
        sigeo_model_activate(m, arch_before, n_choices);
    sigeo__free(arch_before);
    if (st == SIGEO_OK && val)
        st = validate(&r, m, val, o.batch_size, binary);
    r.seconds = now_seconds() - t0;
    if (st != SIGEO_OK)
        return st;
    if (result)
        return sigeo__struct_out(result, &r, sizeof r, "sigeo_train_result", err);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_train(sigeo_train_result_t *result, sigeo_model_t *m, sigeo_optimizer_t *opt,
                                     sigeo_dataset_t *train, sigeo_dataset_t *val, const sigeo_lr_schedule_t *schedule,
                                     const sigeo_train_options_t *options, sigeo_progress_fn progress, void *user)
{
    if (!m || !opt || !train)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, !m ? "model" : !opt ? "optimizer" : "train");
    /* Every failure ends up in the model's message too: several come from
     * calls on the dataset, the schedule or the optimiser, which record
     * theirs on the thread (and their own handles) only. */
    sigeo_status_t st = train_run(result, m, opt, train, val, schedule, options, progress, user);
    return st == SIGEO_OK ? st : sigeo__propagate(sigeo__probe_errbuf(m), st);
}
