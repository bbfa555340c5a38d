/* The one-shot scorer (nas.h; docs/nasrec.md §5.2): minus the validation
 * log loss of the inherited subnet, after an optional fine-tune of the head
 * with the rest of the supernet frozen. The head's weights are saved before
 * and put back after each score, which is NASRec's "fresh copy of the
 * warmed-up supernet per candidate" at the cost of one head. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "nas/nas_internal.h"
#include "nn/probe.h"
#include "sigeo/nas.h"
#include "train/train_internal.h"

struct sigeo_one_shot {
    sigeo_model_t *model;
    sigeo_dataset_t *train;
    sigeo_dataset_t *valid;      /* what is scored: the caller's, or own_valid */
    sigeo_dataset_t *own_valid;  /* the first max_eval_rows rows, copied */
    sigeo_one_shot_options_t o;
    int32_t n;                   /* choice points */
    int32_t *before;             /* [n] the active architecture on entry */
    int32_t head;                /* the head's module (fine-tune only) */
    float *saved;                /* [head numel] its weights on entry */
    int64_t head_numel;
    sigeo_optimizer_t *opt;      /* head-only Adagrad, reset per candidate */
    sigeo__errbuf_t err;
};

SIGEO_API sigeo_status_t sigeo_one_shot_options_init(sigeo_one_shot_options_t *options, uint32_t struct_size)
{
    static const sigeo_one_shot_options_t defaults = SIGEO_ONE_SHOT_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_one_shot_options");
}

static sigeo_status_t check_options(const sigeo_one_shot_options_t *o, const sigeo_dataset_t *train)
{
    static const char fn[] = "sigeo_one_shot_create";
    if (o->finetune_steps < 0 || o->finetune_batch < 1 || o->eval_batch < 1 || o->max_eval_rows < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "%s: finetune_steps %lld (>= 0), finetune_batch %lld (>= 1), eval_batch %lld (>= 1), "
                           "max_eval_rows %lld (>= 0)",
                           fn, (long long)o->finetune_steps, (long long)o->finetune_batch, (long long)o->eval_batch,
                           (long long)o->max_eval_rows);
    if (!isfinite(o->lr) || o->lr <= 0 || !isfinite(o->eps) || o->eps < 0 || !isfinite(o->clip_norm) ||
        o->clip_norm < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: lr %g (> 0), eps %g and clip_norm %g (>= 0) must be finite",
                           fn, o->lr, o->eps, o->clip_norm);
    if (o->finetune_steps > 0 && !train)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: a head fine-tune (finetune_steps %lld) needs a training set",
                           fn, (long long)o->finetune_steps);
    return SIGEO_OK;
}

SIGEO_API void sigeo_one_shot_destroy(sigeo_one_shot_t *s)
{
    if (!s)
        return;
    sigeo_optimizer_destroy(s->opt);
    sigeo_dataset_destroy(s->own_valid);
    sigeo__free(s->before);
    sigeo__free(s->saved);
    sigeo__free(s);
}

/* The first `rows` rows of `valid`, copied. */
static sigeo_status_t first_rows(sigeo_dataset_t **out, const sigeo_dataset_t *valid, int64_t rows)
{
    int64_t *idx = sigeo__calloc((size_t)rows, sizeof *idx);
    if (!idx)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_one_shot_create: out of memory for %lld rows", (long long)rows);
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    sigeo_status_t st = sigeo_dataset_subset(out, valid, idx, rows);
    sigeo__free(idx);
    return st;
}

SIGEO_API sigeo_status_t sigeo_one_shot_create(sigeo_one_shot_t **out, sigeo_model_t *model, sigeo_dataset_t *train,
                                               sigeo_dataset_t *valid, const sigeo_one_shot_options_t *options)
{
    static const char fn[] = "sigeo_one_shot_create";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!model || !valid)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, !model ? "model" : "valid");
    sigeo_one_shot_options_t o = SIGEO_ONE_SHOT_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_one_shot_options", NULL);
    if (st != SIGEO_OK || (st = check_options(&o, train)) != SIGEO_OK)
        return st;
    int32_t n;
    if ((st = sigeo_model_choices(&n, NULL, 0, model)) != SIGEO_OK)
        return st;
    sigeo_one_shot_t *s = sigeo__calloc(1, sizeof *s);
    if (!s || !(s->before = sigeo__calloc((size_t)(n > 0 ? n : 1), sizeof *s->before))) {
        sigeo_one_shot_destroy(s);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    s->model = model;
    s->train = train;
    s->valid = valid;
    s->o = o;
    s->n = n;
    s->head = -1;
    sigeo_dataset_info_t vi = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&vi, valid)) != SIGEO_OK)
        goto fail;
    if (vi.n_rows < 1) {
        st = sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the validation set has no rows", fn);
        goto fail;
    }
    if (o.max_eval_rows > 0 && o.max_eval_rows < vi.n_rows) {
        if ((st = first_rows(&s->own_valid, valid, o.max_eval_rows)) != SIGEO_OK)
            goto fail;
        s->valid = s->own_valid;
    }
    if (o.finetune_steps > 0) {
        s->head = sigeo__probe_head_module(model);
        if (s->head < 0) {
            st = sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the layer the loss reads has no parameters: no head to "
                                                    "fine-tune", fn);
            goto fail;
        }
        sigeo__probe_module_t mod;
        sigeo__probe_module(&mod, model, s->head);
        s->head_numel = mod.numel;
        sigeo_optimizer_options_t oo = SIGEO_OPTIMIZER_OPTIONS_INIT;
        oo.kind = SIGEO_OPT_ADAGRAD;
        oo.lr = o.lr;
        oo.eps = o.eps;
        oo.clip_norm = o.clip_norm;
        if (!(s->saved = sigeo__calloc((size_t)mod.numel, sizeof *s->saved))) {
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
            goto fail;
        }
        if ((st = sigeo_optimizer_create(&s->opt, model, &oo)) != SIGEO_OK ||
            (st = sigeo__optimizer_train_only(s->opt, s->head)) != SIGEO_OK)
            goto fail;
    }
    *out = s;
    return SIGEO_OK;
fail:
    sigeo_one_shot_destroy(s);
    return st;
}

/* The head fine-tune: NASRec's schedule (warm-up cosine, W = T/10, lr_min
 * 1e-8) over the first T training batches, in order, head only. */
static sigeo_status_t finetune(sigeo_one_shot_t *s)
{
    sigeo_status_t st = sigeo_optimizer_reset(s->opt);
    if (st != SIGEO_OK)
        return st;
    sigeo_lr_schedule_t sch = SIGEO_LR_SCHEDULE_INIT;
    sch.kind = SIGEO_LR_WARMUP_COSINE;
    sch.lr = s->o.lr;
    sch.lr_min = 1e-8;
    sch.total_steps = s->o.finetune_steps;
    sch.warmup_steps = s->o.finetune_steps / 10;
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = -1; /* the candidate stays active */
    to.batch_size = s->o.finetune_batch;
    to.max_samples = s->o.finetune_steps * s->o.finetune_batch;
    to.drop_last = 1;
    return sigeo_train(NULL, s->model, s->opt, s->train, NULL, &sch, &to, NULL, NULL);
}

SIGEO_API sigeo_status_t sigeo_one_shot_score(double *score_out, const int32_t *arch, int32_t n, void *scorer)
{
    static const char fn[] = "sigeo_one_shot_score";
    sigeo_one_shot_t *s = scorer;
    if (!s || !score_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, s ? "score_out" : "scorer");
    if (n != s->n)
        return sigeo__fail_on(&s->err, SIGEO_ERR_INVALID_ARG, "%s: architecture of %d choices, the model has %d", fn,
                              (int)n, (int)s->n);
    sigeo_status_t st = SIGEO_OK;
    if (s->n > 0 && ((st = sigeo_model_active_arch(s->before, s->n, s->model)) != SIGEO_OK ||
                     (st = sigeo_model_activate(s->model, arch, n)) != SIGEO_OK))
        return sigeo__propagate(&s->err, st);
    float *head = NULL;
    if (s->o.finetune_steps > 0) {
        head = sigeo__probe_module_data(s->model, s->head);
        memcpy(s->saved, head, (size_t)s->head_numel * sizeof *head);
        st = finetune(s);
        if (st != SIGEO_OK)
            st = sigeo__nas_wrap(&s->err, st, "sigeo_one_shot_score: head fine-tune");
    }
    double ll = 0.0;
    if (st == SIGEO_OK && (st = sigeo_evaluate(&ll, NULL, NULL, s->model, s->valid, s->o.eval_batch)) != SIGEO_OK)
        st = sigeo__nas_wrap(&s->err, st, "sigeo_one_shot_score: validation");
    if (head)
        memcpy(head, s->saved, (size_t)s->head_numel * sizeof *head);
    if (s->n > 0)
        sigeo_model_activate(s->model, s->before, s->n); /* was active: cannot fail */
    if (st == SIGEO_OK)
        *score_out = -ll;
    return st;
}

SIGEO_API const char *sigeo_one_shot_last_error(const sigeo_one_shot_t *s)
{
    return s ? s->err.msg : "no one-shot scorer";
}
