/* sigeo_nas_run (nas.h): warm-up, search, top-k retrain, selection by
 * validation, with NASRec's recipes as the defaults (docs/nasrec.md §4-6,
 * §8). Every phase reports through one progress callback, whose non-zero
 * return cancels the run. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/parallel.h"
#include "io/borrow.h"
#include "nas/nas_internal.h"
#include "nn/probe.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

SIGEO_API sigeo_status_t sigeo_nas_options_init(sigeo_nas_options_t *options, uint32_t struct_size)
{
    static const sigeo_nas_options_t defaults = SIGEO_NAS_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_nas_options");
}

SIGEO_API sigeo_status_t sigeo_nas_progress_init(sigeo_nas_progress_t *progress, uint32_t struct_size)
{
    static const sigeo_nas_progress_t defaults = SIGEO_NAS_PROGRESS_INIT;
    return sigeo__struct_init(progress, struct_size, &defaults, sizeof defaults, "sigeo_nas_progress");
}

/* Everything one run needs, in one place, so one cleanup frees it. */
typedef struct run {
    sigeo_nas_options_t o;
    sigeo_model_t *model;
    sigeo_dataset_t *train, *valid, *test;
    sigeo_nas_result_t *r;
    int32_t n;
    bool binary;              /* BCE loss (AUC makes sense) */
    bool classifier;          /* softmax labels */
    int64_t rows;             /* training rows */
    double t0;
    /* progress bookkeeping */
    int32_t phase;
    int32_t candidate;
    int64_t step_offset, total;
    bool cancelled;
    /* search */
    uint64_t search_total;
    double best_score;
    sigeo_status_t record_status; /* first failure to record an evaluation (or to checkpoint) */
    sigeo_search_t *search;   /* for the checkpoints of the cycle callback */
    bool ensemble;            /* scores are aggregates: the best is read from the search, per cycle */
    bool resumed;             /* the search checkpoint was loaded: no warm-up */
    uint64_t rng;             /* the random scorer's stream */
} run_t;

static int report(run_t *u, int64_t step, double value)
{
    if (!u->o.progress)
        return 0;
    sigeo_nas_progress_t p = SIGEO_NAS_PROGRESS_INIT;
    p.phase = u->phase;
    p.step = step;
    p.total = u->total;
    p.elapsed = now_seconds() - u->t0;
    p.value = value;
    p.candidate = u->phase == SIGEO_NAS_PHASE_RETRAIN ? u->candidate : -1;
    if (u->o.progress(&p, u->o.progress_user)) {
        u->cancelled = true;
        return 1;
    }
    return 0;
}

static int on_train_progress(const sigeo_train_progress_t *p, void *user)
{
    run_t *u = user;
    return p->phase == 0 ? report(u, u->step_offset + p->step, p->loss) : 0;
}

static sigeo_status_t cancel_status(run_t *u, const char *where)
{
    return sigeo__fail(SIGEO_ERR_CANCELLED, "sigeo_nas_run: cancelled by the progress callback during %s (%.1f s in)",
                       where, now_seconds() - u->t0);
}

/* Range checks of the options, naming the field. */
static sigeo_status_t check_options(const sigeo_nas_options_t *o)
{
    static const char fn[] = "sigeo_nas_run";
    if (o->scorer < SIGEO_NAS_SCORE_PROXY || o->scorer > SIGEO_NAS_SCORE_RANDOM)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown scorer %d", fn, (int)o->scorer);
    if (o->batch_size < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: batch_size %lld (must be >= 1)", fn, (long long)o->batch_size);
    if (!(o->warmup_fraction >= 0 && o->warmup_fraction <= 1))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: warmup_fraction %g (must be in [0, 1])", fn, o->warmup_fraction);
    if (o->warmup_sampling < SIGEO_SAMPLE_UNIFORM || o->warmup_sampling > SIGEO_SAMPLE_FULL_PATH)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown warmup_sampling %d", fn, (int)o->warmup_sampling);
    if (!(o->full_path_fraction >= 0 && isfinite(o->full_path_fraction)))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: full_path_fraction %g (must be finite and >= 0)", fn,
                           o->full_path_fraction);
    if (o->scorer == SIGEO_NAS_SCORE_PROXY && o->k < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: k is 0 (the proxy needs batches)", fn);
    if (o->top_k < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: top_k %d (must be >= 1)", fn, (int)o->top_k);
    if (!(o->retrain_epochs > 0 && isfinite(o->retrain_epochs)))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: retrain_epochs %g (must be finite and > 0)", fn,
                           o->retrain_epochs);
    if (o->workers < 0 || o->workers > 1024)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: workers %d (must be in [0, 1024]; 0 = auto)", fn,
                           (int)o->workers);
    if (o->eval_batch < 1 || o->progress_every < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: eval_batch %lld (>= 1), progress_every %lld (>= 0)", fn,
                           (long long)o->eval_batch, (long long)o->progress_every);
    return SIGEO_OK;
}

/* NASRec's schedule for T steps: warm-up cosine, W = T/10, lr_min 1e-8. */
static sigeo_lr_schedule_t nasrec_schedule(double lr, int64_t total)
{
    sigeo_lr_schedule_t s = SIGEO_LR_SCHEDULE_INIT;
    s.kind = SIGEO_LR_WARMUP_COSINE;
    s.lr = lr;
    s.lr_min = 1e-8;
    s.total_steps = total;
    s.warmup_steps = total / 10;
    return s;
}

/* The optimiser options: the caller's, or NASRec's Adagrad (eps 1e-2, clip 5) at `lr`. */
static sigeo_status_t optimizer_options(sigeo_optimizer_options_t *oo, const sigeo_optimizer_options_t *given,
                                        double lr, const char *what)
{
    *oo = (sigeo_optimizer_options_t)SIGEO_OPTIMIZER_OPTIONS_INIT;
    if (given) {
        sigeo_status_t st = sigeo__struct_in(oo, sizeof *oo, given, what, NULL);
        return st;
    }
    oo->kind = SIGEO_OPT_ADAGRAD;
    oo->lr = lr;
    oo->eps = 1e-2;
    oo->clip_norm = 5.0;
    return SIGEO_OK;
}

/* Both optimisers' options are checked (by making one) before any work. */
static sigeo_status_t check_optimizers(run_t *u)
{
    const sigeo_optimizer_options_t *given[2] = { u->o.warmup_optimizer, u->o.retrain_optimizer };
    const char *names[2] = { "warmup_optimizer", "retrain_optimizer" };
    for (int i = 0; i < 2; i++) {
        sigeo_optimizer_options_t oo;
        sigeo_optimizer_t *opt = NULL;
        sigeo_status_t st = optimizer_options(&oo, given[i], 0.1, names[i]);
        if (st == SIGEO_OK && (st = sigeo_optimizer_create(&opt, u->model, &oo)) != SIGEO_OK)
            return sigeo__nas_wrap(NULL, st, names[i]);
        sigeo_optimizer_destroy(opt);
        if (st != SIGEO_OK)
            return st;
    }
    return SIGEO_OK;
}

/* ---------------------------------------------------------------- warm-up */

static sigeo_status_t warm_up(run_t *u)
{
    const int64_t samples = (int64_t)llround(u->o.warmup_fraction * (double)u->rows);
    const int64_t steps = samples / u->o.batch_size;
    u->r->summary.warmup_steps = steps;
    if (steps == 0 || u->resumed) /* resumed: the checkpoint's supernet is already loaded */
        return SIGEO_OK;
    sigeo_optimizer_options_t oo;
    sigeo_status_t st = optimizer_options(&oo, u->o.warmup_optimizer, 0.12, "warmup_optimizer");
    if (st != SIGEO_OK)
        return st;
    sigeo_optimizer_t *opt;
    if ((st = sigeo_optimizer_create(&opt, u->model, &oo)) != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: warm-up optimiser");
    sigeo_lr_schedule_t sch = nasrec_schedule(oo.lr, steps);
    sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
    to.sampling = u->o.warmup_sampling;
    /* NASRec's full-path warm-up window (docs/nasrec.md §3.4, §8.3): 21 % of an
     * epoch is the ratio of Criteo's 15000 steps */
    to.full_path_steps = (int64_t)(u->o.full_path_fraction * (double)(u->rows / u->o.batch_size));
    to.seed = u->o.seed;
    to.batch_size = u->o.batch_size;
    to.max_samples = steps * u->o.batch_size;
    to.drop_last = 1;
    to.report_every = u->o.progress ? u->o.progress_every : 0;
    to.shard_count = u->o.warmup_shard_count; /* data-parallel warm-up (SIGEO_1.1) */
    to.shard_first = u->o.warmup_shard_first;
    to.shard_n = u->o.warmup_shard_n;
    to.grad_hook = u->o.warmup_grad_hook;
    to.grad_user = u->o.warmup_grad_user;
    u->phase = SIGEO_NAS_PHASE_WARMUP;
    u->total = steps;
    u->step_offset = 0;
    st = sigeo_train(NULL, u->model, opt, u->train, NULL, &sch, &to, on_train_progress, u);
    sigeo_optimizer_destroy(opt);
    if (st == SIGEO_ERR_CANCELLED && u->cancelled)
        return cancel_status(u, "the warm-up");
    if (st != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: warm-up");
    return SIGEO_OK;
}

/* ----------------------------------------------------------------- search */

static void on_record(const sigeo_evaluation_t *e, void *user)
{
    run_t *u = user;
    if (u->record_status == SIGEO_OK)
        u->record_status = sigeo__nas_result_add_eval(u->r, e);
    /* an ensemble record's score is provisional (its aggregate among the
     * evaluations so far: each over another set), so their maximum is no
     * best score; on_cycle reads the search's own instead */
    if (!u->ensemble && e->status == SIGEO_OK && e->score > u->best_score)
        u->best_score = e->score;
    if (u->o.record)
        u->o.record(e, u->o.record_user);
}

/* Writes the records so far, then the search (checkpoint.c explains why
 * in this order). */
static sigeo_status_t checkpoint_search(run_t *u)
{
    char path[4096];
    sigeo_status_t st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "records.bin");
    if (st == SIGEO_OK)
        st = sigeo__nas_save_records(u->r, path);
    if (st == SIGEO_OK)
        st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "search.ckpt");
    if (st == SIGEO_OK && (st = sigeo_search_save(u->search, path)) != SIGEO_OK)
        st = sigeo__nas_wrap(NULL, st, "sigeo_nas_run: checkpoint");
    return st;
}

static void on_cycle(const sigeo_cycle_report_t *c, void *user)
{
    run_t *u = user;
    if (u->o.checkpoint_dir && !u->o.checkpoint_no_write && u->o.checkpoint_every > 0 && c->cycle >= 0 &&
        (c->cycle + 1) % u->o.checkpoint_every == 0 && u->record_status == SIGEO_OK)
        u->record_status = checkpoint_search(u); /* a failure stops the search (on_cancel) */
    if (u->ensemble) {
        sigeo_search_info_t info = SIGEO_SEARCH_INFO_INIT;
        if (sigeo_search_get_info(&info, u->search) == SIGEO_OK && info.evaluations > info.failed)
            u->best_score = info.best_score;
    }
    if (u->o.cycle)
        u->o.cycle(c, u->o.cycle_user);
}

/* Before each candidate: the progress report, and the way to stop (a
 * failure to record an evaluation also stops the search). */
static int on_cancel(void *user)
{
    run_t *u = user;
    if (u->record_status != SIGEO_OK)
        return 1;
    return report(u, (int64_t)u->r->n_evals, u->best_score);
}

/* The random-search baseline's scores: a 64-bit LCG from the seed. */
static sigeo_status_t score_random(double *score, const int32_t *arch, int32_t n, void *user)
{
    run_t *u = user;
    if (u->o.map) {
        /* Spread over processes, a shared stream's order would depend on how
         * the work was cut: the score is then a hash of (seed, architecture). */
        uint64_t z = (u->o.seed * 7919 + 1) ^ sigeo_arch_hash(arch, n);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        *score = (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
        return SIGEO_OK;
    }
    u->rng = u->rng * 6364136223846793005ull + 1442695040888963407ull;
    *score = (double)(u->rng >> 11) * 0x1.0p-53;
    return SIGEO_OK;
}

/* The search, its scorer and callbacks, made before the warm-up so that bad
 * options fail before any training. */
static sigeo_status_t prepare_search(run_t *u, sigeo_search_t **s_out, sigeo_one_shot_t **os_out)
{
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    if (u->o.search) {
        sigeo_status_t st = sigeo__struct_in(&so, sizeof so, u->o.search, "sigeo_search_options", NULL);
        if (st != SIGEO_OK)
            return st;
    } else {
        so.population = 32;
        so.sample_size = 16;
        so.children = 4;
        so.cycles = 40;
        so.seed = u->o.seed;
        so.mutation_schedule = SIGEO_MUTATE_NASREC;
    }
    sigeo_status_t st = sigeo_search_create(s_out, u->model, &so);
    if (st != SIGEO_OK)
        return st;
    sigeo_search_t *s = *s_out;
    u->search = s;
    u->ensemble = so.n_ensemble > 0;
    sigeo_search_callbacks_t cb = SIGEO_SEARCH_CALLBACKS_INIT;
    sigeo_nas_summary_t *sum = &u->r->summary;
    sum->search_kind = so.kind;
    sum->proxy_kind = -1;
    sum->lambda_preset = -1;
    if (u->o.scorer == SIGEO_NAS_SCORE_PROXY) {
        sigeo_proxy_options_t po = SIGEO_PROXY_OPTIONS_INIT;
        if (u->o.proxy && (st = sigeo__struct_in(&po, sizeof po, u->o.proxy, "sigeo_proxy_options", NULL)) != SIGEO_OK)
            return st;
        /* zero-shot lambdas without warm-up, the RecSys ones with (docs/proxies.md §1.3) */
        if (u->o.lambda_by_warmup)
            po.lambda_preset = u->o.warmup_fraction > 0 ? SIGEO_PRESET_RECSYS : SIGEO_PRESET_ZERO_SHOT;
        sum->proxy_kind = po.kind;
        sum->lambda_preset = po.lambda_preset;
        /* the first k training batches, the same for every candidate (docs/nasrec.md §1.4) */
        sigeo_batch_set_t *set;
        if ((st = sigeo_search_set_proxy(s, &po)) != SIGEO_OK)
            return st;
        if ((st = sigeo_batch_set_create(&set, u->train, 0, u->o.k, u->o.batch_size, SIGEO_BATCH_DROP_LAST)) !=
            SIGEO_OK)
            return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: the proxy's batches");
        st = sigeo_search_set_batch_set(s, set);
        sigeo_batch_set_destroy(set);
        if (st != SIGEO_OK)
            return st;
    } else if (u->o.scorer == SIGEO_NAS_SCORE_ONE_SHOT) {
        if ((st = sigeo_one_shot_create(os_out, u->model, u->train, u->valid, u->o.one_shot)) != SIGEO_OK)
            return st;
        sigeo_one_shot_options_t oso = SIGEO_ONE_SHOT_OPTIONS_INIT;
        if (u->o.one_shot)
            sigeo__struct_in(&oso, sizeof oso, u->o.one_shot, "sigeo_one_shot_options", NULL); /* checked by create */
        sum->finetune_steps = oso.finetune_steps;
        cb.score = sigeo_one_shot_score;
        cb.score_user = *os_out;
    } else {
        u->rng = u->o.seed * 7919 + 1;
        cb.score = score_random;
        cb.score_user = u;
    }
    cb.record = on_record;
    cb.record_user = u;
    cb.cycle = on_cycle;
    cb.cycle_user = u;
    cb.cancel = on_cancel;
    cb.cancel_user = u;
    cb.map = u->o.map;
    cb.map_user = u->o.map_user;
    if ((st = sigeo_search_set_callbacks(s, &cb)) != SIGEO_OK)
        return st;
    uint64_t planned = (uint64_t)so.population + (uint64_t)so.cycles * so.children;
    if (so.max_evaluations > 0 && so.max_evaluations < planned)
        planned = so.max_evaluations;
    u->search_total = planned;
    return SIGEO_OK;
}

static sigeo_status_t search(run_t *u, sigeo_search_t *s)
{
    static const char fn[] = "sigeo_nas_run";
    sigeo_nas_summary_t *sum = &u->r->summary;
    u->phase = SIGEO_NAS_PHASE_SEARCH;
    u->total = (int64_t)u->search_total;
    u->best_score = -INFINITY;
    for (uint64_t i = 0; i < u->r->n_evals && !u->ensemble; i++) /* resumed: the records so far */
        if (u->r->evals[i].status == SIGEO_OK && u->r->evals[i].score > u->best_score)
            u->best_score = u->r->evals[i].score;
    sigeo_status_t st = sigeo_search_run(s);
    if (u->record_status != SIGEO_OK)
        return u->record_status;
    if (st == SIGEO_ERR_CANCELLED && u->cancelled)
        return cancel_status(u, "the search");
    /* the search's own messages already start with "search: " */
    if (st != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, strncmp(sigeo_last_error(), "search: ", 8) ? "sigeo_nas_run: search" : "sigeo_nas_run");
    sigeo_search_info_t si = SIGEO_SEARCH_INFO_INIT;
    sigeo_search_get_info(&si, s);
    sum->evaluations = si.evaluations;
    sum->failed = si.failed;
    double *scores = sigeo__calloc((size_t)u->o.top_k, sizeof *scores);
    if (!scores)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    st = sigeo_search_top(u->r->cand_arch, scores, u->o.top_k, &sum->top_n, s);
    for (int32_t i = 0; st == SIGEO_OK && i < sum->top_n; i++) {
        u->r->cands[i] = (sigeo_nas_candidate_t)SIGEO_NAS_CANDIDATE_INIT;
        u->r->cands[i].rank = i;
        u->r->cands[i].score = scores[i];
    }
    sigeo__free(scores);
    if (st == SIGEO_OK && sum->top_n == 0)
        st = sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the search scored no architecture successfully (%llu failed)",
                         fn, (unsigned long long)si.failed);
    return st;
}

/* ---------------------------------------------------------------- retrain */

/* The threaded retrain's progress (sigeo__thread_map): the workers post
 * their steps here, the calling thread reports them (progress callbacks
 * run on the calling thread) and sets `stop` when the callback cancels. */
typedef struct retrain_progress {
    pthread_mutex_t lock;
    int64_t *steps;      /* [top_n] steps done by each candidate, under lock */
    double loss;         /* the latest report's running loss, under lock */
    int32_t latest;      /* the candidate that reported it, under lock */
    int64_t reported;    /* the step total last passed on (calling thread only) */
    atomic_bool stop;
} retrain_progress_t;

/* One candidate's retrain: which one, and the data it reads (the run's
 * datasets one by one; borrowed handles of them on a worker thread). */
typedef struct retrain_job {
    run_t *u;
    int32_t i;
    int64_t steps;
    sigeo_dataset_t *train, *valid, *test;
    retrain_progress_t *shared; /* non-NULL: on a worker thread */
} retrain_job_t;

static int on_job_progress(const sigeo_train_progress_t *p, void *user)
{
    retrain_job_t *j = user;
    if (!j->shared) {
        j->u->candidate = j->i;
        j->u->step_offset = (int64_t)j->i * j->steps;
        return on_train_progress(p, j->u);
    }
    if (p->phase != 0)
        return 0;
    retrain_progress_t *rp = j->shared;
    pthread_mutex_lock(&rp->lock);
    rp->steps[j->i] = p->step;
    rp->loss = p->loss;
    rp->latest = j->i;
    pthread_mutex_unlock(&rp->lock);
    return atomic_load(&rp->stop) ? 1 : 0;
}

/* Trains candidate j->i from scratch and evaluates it. A failure of the
 * candidate itself is recorded in its status; cancellation and running out
 * of memory stop the run (returned). */
static sigeo_status_t retrain_one(const retrain_job_t *j, sigeo_model_t *extracted)
{
    run_t *u = j->u;
    const int32_t i = j->i;
    sigeo_nas_candidate_t *c = &u->r->cands[i];
    const int32_t *arch = u->r->cand_arch + (size_t)i * (size_t)u->n;
    const double t = now_seconds();
    sigeo_model_t *x = extracted; /* the mapped retrain extracts every candidate first */
    sigeo_optimizer_t *opt = NULL;
    sigeo_optimizer_options_t oo;
    sigeo_status_t st = optimizer_options(&oo, u->o.retrain_optimizer, u->classifier ? 0.05 : 0.1,
                                          "retrain_optimizer");
    if (st == SIGEO_OK && !x)
        st = sigeo_model_extract(&x, u->model, arch, u->n, 0);
    if (st == SIGEO_OK)
        st = sigeo_optimizer_create(&opt, x, &oo);
    if (st == SIGEO_OK) {
        sigeo_lr_schedule_t sch = nasrec_schedule(oo.lr, j->steps);
        sigeo_train_options_t to = SIGEO_TRAIN_OPTIONS_INIT;
        to.batch_size = u->o.batch_size;
        to.epochs = u->o.retrain_epochs;
        to.drop_last = 1;
        to.report_every = u->o.progress ? u->o.progress_every : 0;
        sigeo_train_result_t tr = SIGEO_TRAIN_RESULT_INIT;
        st = sigeo_train(&tr, x, opt, j->train, j->valid, &sch, &to, on_job_progress, (void *)j);
        c->val_logloss = tr.val_logloss;
        c->val_auc = tr.val_auc;
        c->val_accuracy = tr.val_accuracy;
    }
    if (st == SIGEO_OK && j->test)
        st = sigeo_evaluate(&c->test_logloss, u->binary ? &c->test_auc : NULL, &c->test_accuracy, x, j->test,
                            u->o.eval_batch);
    if (st == SIGEO_OK)
        st = sigeo_model_count(&c->params, &c->flops, x, NULL, 0);
    sigeo_optimizer_destroy(opt);
    sigeo_model_destroy(x);
    c->seconds = now_seconds() - t;
    c->status = st;
    if (st != SIGEO_OK) {
        c->val_logloss = c->val_auc = c->val_accuracy = 0.0;
        c->test_logloss = c->test_auc = c->test_accuracy = 0.0;
        c->params = c->flops = 0;
    }
    const bool cancelled = j->shared ? atomic_load(&j->shared->stop) : u->cancelled;
    if (st == SIGEO_ERR_CANCELLED && cancelled)
        return j->shared ? sigeo__fail(st, "sigeo_nas_run: cancelled") : cancel_status(u, "the retraining");
    if (st == SIGEO_ERR_NO_MEMORY)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: retraining");
    return SIGEO_OK;
}

/* The top-k retrain as map tasks (SIGEO_1.1): one candidate's result and
 * failure message, as plain bytes. */
typedef struct retrained {
    sigeo_nas_candidate_t c;
    char message[SIGEO__ERRMSG_MAX];
} retrained_t;

typedef struct retrain_ctx {
    run_t *u;
    int64_t steps;
    sigeo_model_t **extracted; /* [top_n]: a task takes its own */
    retrain_progress_t *shared; /* the threaded map's (NULL: a host's map) */
} retrain_ctx_t;

/* A worker's own handles on the run's data (a dataset's batch views are
 * per handle); test may be valid. */
static sigeo_status_t borrow_data(retrain_job_t *j, const run_t *u)
{
    sigeo_status_t st = sigeo__dataset_borrow(&j->train, u->train);
    if (st == SIGEO_OK)
        st = sigeo__dataset_borrow(&j->valid, u->valid);
    if (st == SIGEO_OK && u->test && u->test != u->valid)
        st = sigeo__dataset_borrow(&j->test, u->test);
    else if (u->test)
        j->test = j->valid;
    return st;
}

static void return_data(retrain_job_t *j)
{
    if (j->test != j->valid)
        sigeo_dataset_destroy(j->test);
    sigeo_dataset_destroy(j->valid);
    sigeo_dataset_destroy(j->train);
}

static sigeo_status_t retrain_task(void *result, int64_t index, void *user)
{
    retrain_ctx_t *rc = user;
    retrained_t *out = result;
    run_t *u = rc->u;
    sigeo_model_t *x = rc->extracted[index];
    rc->extracted[index] = NULL; /* retrain_one destroys it */
    retrain_job_t j = { u, (int32_t)index, rc->steps, u->train, u->valid, u->test, rc->shared };
    sigeo_status_t st = SIGEO_OK;
    if (rc->shared) {
        j.train = j.valid = j.test = NULL;
        if ((st = borrow_data(&j, u)) != SIGEO_OK) {
            return_data(&j);
            sigeo_model_destroy(x);
            return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: retraining");
        }
    }
    st = retrain_one(&j, x);
    if (rc->shared)
        return_data(&j);
    memset(out, 0, sizeof *out);
    out->c = u->r->cands[index];
    if (out->c.status != SIGEO_OK)
        snprintf(out->message, sizeof out->message, "%s", sigeo_last_error());
    return st;
}

/* The calling thread's side of the threaded retrain: the workers' steps
 * as one progress report; a cancel stops them. */
static int poll_retrain(void *user)
{
    retrain_ctx_t *rc = user;
    retrain_progress_t *rp = rc->shared;
    run_t *u = rc->u;
    const int32_t top_n = u->r->summary.top_n;
    pthread_mutex_lock(&rp->lock);
    int64_t done = 0;
    for (int32_t i = 0; i < top_n; i++)
        done += rp->steps[i];
    const double loss = rp->loss;
    const int32_t latest = rp->latest;
    pthread_mutex_unlock(&rp->lock);
    if (done == rp->reported)
        return 0;
    rp->reported = done;
    u->candidate = latest;
    if (report(u, done, loss)) {
        atomic_store(&rp->stop, true);
        return 1;
    }
    return 0;
}

/* How many threads retrain at once: the option, or the context's threads;
 * never more than the candidates. 1: one by one. */
static int32_t retrain_workers(const run_t *u)
{
    int32_t w = u->o.workers;
    if (w == 0) {
        sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
        sigeo_context_get_options(&co, sigeo__probe_context(u->model));
        w = co.threads > 1024 ? 1024 : (int32_t)co.threads;
    }
    return w < u->r->summary.top_n ? w : u->r->summary.top_n;
}

/* The top-k through a map: a host's (u->o.map) or the threads'. */
static sigeo_status_t retrain_mapped(run_t *u, int64_t steps, int32_t workers, retrained_t *mapped)
{
    const int32_t top_n = u->r->summary.top_n;
    retrain_progress_t rp = { .latest = -1 };
    retrain_ctx_t rc = { u, steps, NULL, u->o.map ? NULL : &rp };
    bool locked = false;
    /* Fresh weights come from the context's stream in candidate order,
     * so every candidate is extracted here, in that order, whichever
     * process or thread then trains it: the same initial weights as one
     * by one. */
    rc.extracted = sigeo__calloc((size_t)top_n, sizeof *rc.extracted);
    sigeo_status_t st = rc.extracted ? SIGEO_OK : sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory");
    if (st == SIGEO_OK && rc.shared) {
        atomic_init(&rp.stop, false);
        rp.steps = sigeo__calloc((size_t)top_n, sizeof *rp.steps);
        if (!rp.steps)
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory");
        else if (pthread_mutex_init(&rp.lock, NULL) != 0)
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: cannot create a mutex");
        else
            locked = true;
    }
    for (int32_t i = 0; st == SIGEO_OK && i < top_n; i++)
        if (sigeo_model_extract(&rc.extracted[i], u->model, u->r->cand_arch + (size_t)i * (size_t)u->n, u->n, 0) ==
            SIGEO_ERR_NO_MEMORY)
            st = sigeo__nas_wrap(NULL, SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: retraining");
    /* (a candidate that cannot be extracted fails in its task, as one by one) */
    if (st == SIGEO_OK)
        st = u->o.map ? u->o.map(mapped, sizeof *mapped, top_n, retrain_task, &rc, u->o.map_user)
                      : sigeo__thread_map(mapped, sizeof *mapped, top_n, retrain_task, &rc, workers, poll_retrain, &rc);
    for (int32_t i = 0; rc.extracted && i < top_n; i++)
        sigeo_model_destroy(rc.extracted[i]);
    sigeo__free(rc.extracted);
    if (locked)
        pthread_mutex_destroy(&rp.lock);
    sigeo__free(rp.steps);
    for (int32_t i = 0; st == SIGEO_OK && i < top_n; i++)
        u->r->cands[i] = mapped[i].c;
    if (st == SIGEO_OK)
        return st;
    if (u->cancelled)
        return cancel_status(u, "the retraining");
    /* the threads' failure is a task's own message, already "sigeo_nas_run: ..." */
    return rc.shared ? st : sigeo__nas_wrap(NULL, st, "sigeo_nas_run: retraining");
}

static sigeo_status_t retrain(run_t *u)
{
    sigeo_nas_summary_t *sum = &u->r->summary;
    int64_t per_epoch;
    sigeo_status_t st = sigeo_dataset_batch_count(&per_epoch, u->train, u->o.batch_size, SIGEO_BATCH_DROP_LAST);
    if (st != SIGEO_OK)
        return st;
    const int64_t steps = (int64_t)ceil(u->o.retrain_epochs * (double)per_epoch);
    u->phase = SIGEO_NAS_PHASE_RETRAIN;
    u->total = steps * sum->top_n;
    int32_t best = -1, last_failed = -1;
    char last_message[SIGEO__ERRMSG_MAX] = "";
    retrained_t *mapped = NULL;
    const int32_t workers = u->o.map ? 0 : retrain_workers(u);
    if (u->o.map || workers > 1) {
        if (!(mapped = sigeo__calloc((size_t)sum->top_n, sizeof *mapped)))
            return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory");
        if ((st = retrain_mapped(u, steps, workers, mapped)) != SIGEO_OK) {
            sigeo__free(mapped);
            return st;
        }
    }
    for (int32_t i = 0; i < sum->top_n; i++) {
        const retrain_job_t j = { u, i, steps, u->train, u->valid, u->test, NULL };
        if (!mapped && (st = retrain_one(&j, NULL)) != SIGEO_OK)
            return st;
        const sigeo_nas_candidate_t *c = &u->r->cands[i];
        if (c->status != SIGEO_OK) {
            last_failed = i;
            snprintf(last_message, sizeof last_message, "%s", mapped ? mapped[i].message : sigeo_last_error());
        } else if (best < 0 || c->val_logloss < u->r->cands[best].val_logloss) {
            best = i;
        }
    }
    sigeo__free(mapped);
    if (best < 0)
        return sigeo__fail(u->r->cands[last_failed].status,
                           "sigeo_nas_run: none of the %d candidates could be retrained; the last failure: %s",
                           (int)sum->top_n, last_message);
    const sigeo_nas_candidate_t *b = &u->r->cands[best];
    sum->best = best;
    memcpy(u->r->best_arch, u->r->cand_arch + (size_t)best * (size_t)u->n, (size_t)u->n * sizeof(int32_t));
    sum->val_logloss = b->val_logloss;
    sum->val_auc = b->val_auc;
    sum->val_accuracy = b->val_accuracy;
    sum->test_logloss = b->test_logloss;
    sum->test_auc = b->test_auc;
    sum->test_accuracy = b->test_accuracy;
    sum->params = b->params;
    sum->flops = b->flops;
    return SIGEO_OK;
}

/* ------------------------------------------------------------ checkpoints */

/* After the warm-up: the supernet and the fresh search (whose checkpoint
 * holds the context's stream as the warm-up left it). */
static sigeo_status_t checkpoint_warm(run_t *u)
{
    char path[4096];
    sigeo_status_t st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "supernet.safetensors");
    if (st == SIGEO_OK && (st = sigeo_model_save(u->model, path)) != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: checkpoint");
    return st == SIGEO_OK ? checkpoint_search(u) : st;
}

/* A run that finds a search checkpoint continues from it. */
static sigeo_status_t resume(run_t *u, sigeo_search_t *s)
{
    char path[4096];
    sigeo_status_t st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "search.ckpt");
    if (st != SIGEO_OK || access(path, F_OK) != 0)
        return st; /* nothing to resume from: start at the beginning */
    if ((st = sigeo_search_load(s, path)) != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: resume");
    sigeo_search_info_t si = SIGEO_SEARCH_INFO_INIT;
    sigeo_search_get_info(&si, s);
    if ((st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "records.bin")) != SIGEO_OK ||
        (st = sigeo__nas_load_records(u->r, path, si.evaluations)) != SIGEO_OK)
        return st;
    if ((st = sigeo__nas_ckpt_path(path, sizeof path, u->o.checkpoint_dir, "supernet.safetensors")) != SIGEO_OK)
        return st;
    if ((st = sigeo_model_load(u->model, path, 0)) != SIGEO_OK)
        return sigeo__nas_wrap(NULL, st, "sigeo_nas_run: resume");
    u->resumed = true;
    return SIGEO_OK;
}

/* ------------------------------------------------------------------- run */

static sigeo_status_t run(sigeo_nas_result_t **out, sigeo_model_t *model, bool owns_model, sigeo_dataset_t *train,
                          sigeo_dataset_t *valid, sigeo_dataset_t *test, const sigeo_nas_options_t *options)
{
    static const char fn[] = "sigeo_nas_run";
    run_t u;
    memset(&u, 0, sizeof u);
    u.t0 = now_seconds();
    u.o = (sigeo_nas_options_t)SIGEO_NAS_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&u.o, sizeof u.o, options, "sigeo_nas_options", NULL);
    if (st != SIGEO_OK || (st = check_options(&u.o)) != SIGEO_OK)
        return st;
    if ((st = sigeo_model_choices(&u.n, NULL, 0, model)) != SIGEO_OK)
        return st;
    if (u.n < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the model has no choice points to search", fn);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&info, train)) != SIGEO_OK)
        return st;
    if (info.n_rows / u.o.batch_size < (u.o.scorer == SIGEO_NAS_SCORE_PROXY ? (int64_t)u.o.k : 1))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %lld training rows give fewer than %u batches of %lld", fn,
                           (long long)info.n_rows, u.o.scorer == SIGEO_NAS_SCORE_PROXY ? (unsigned)u.o.k : 1u,
                           (long long)u.o.batch_size);
    u.model = model;
    u.train = train;
    u.valid = valid;
    u.test = test;
    u.rows = info.n_rows;
    /* By the model's loss: CTR data carries 0/1 labels too (for stratified splits) */
    int32_t loss_kind = -1;
    sigeo__probe_loss_node(model, &loss_kind);
    u.binary = loss_kind == SIGEO_LOSS_BCE_WITH_LOGITS;
    u.classifier = loss_kind == SIGEO_LOSS_SOFTMAX_CE;
    u.candidate = -1;
    u.r = sigeo__nas_result_new(model, u.n, u.o.top_k);
    if (!u.r)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    sigeo_nas_summary_t *sum = &u.r->summary;
    sum->n_arch = u.n;
    sum->library_version = sigeo_version_number();
    sum->scorer = u.o.scorer;
    sum->k = u.o.scorer == SIGEO_NAS_SCORE_PROXY ? u.o.k : 0;
    sum->seed = u.o.seed;
    sum->warmup_fraction = u.o.warmup_fraction;
    sum->batch_size = u.o.batch_size;

    sigeo_search_t *s = NULL;
    sigeo_one_shot_t *os = NULL;
    double t = now_seconds();
    st = check_optimizers(&u);
    if (st == SIGEO_OK)
        st = prepare_search(&u, &s, &os);
    sum->search_seconds = now_seconds() - t;
    if (st == SIGEO_OK && u.o.checkpoint_dir && u.o.resume)
        st = resume(&u, s);
    if (st == SIGEO_OK) {
        t = now_seconds();
        st = warm_up(&u);
        sum->warmup_seconds = now_seconds() - t;
    }
    if (st == SIGEO_OK && u.o.checkpoint_dir && !u.o.checkpoint_no_write && !u.resumed)
        st = checkpoint_warm(&u);
    if (st == SIGEO_OK) {
        t = now_seconds();
        st = search(&u, s);
        sum->search_seconds += now_seconds() - t;
    }
    sigeo_search_destroy(s);
    sigeo_one_shot_destroy(os);
    if (st == SIGEO_OK) {
        t = now_seconds();
        st = retrain(&u);
        sum->retrain_seconds = now_seconds() - t;
    }
    if (st != SIGEO_OK) {
        sigeo_nas_result_destroy(u.r);
        return st;
    }
    u.r->owns_model = owns_model;
    *out = u.r;
    return SIGEO_OK;
}

static sigeo_status_t check_args(sigeo_nas_result_t **out, const void *model_or_ctx, const char *what,
                                 const sigeo_dataset_t *train, const sigeo_dataset_t *valid)
{
    static const char fn[] = "sigeo_nas_run";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!model_or_ctx || !train || !valid)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                           !model_or_ctx ? what : !train ? "train" : "valid");
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nas_run(sigeo_nas_result_t **out, sigeo_model_t *supernet, sigeo_dataset_t *train,
                                       sigeo_dataset_t *valid, sigeo_dataset_t *test,
                                       const sigeo_nas_options_t *options)
{
    sigeo_status_t st = check_args(out, supernet, "supernet", train, valid);
    return st != SIGEO_OK ? st : run(out, supernet, false, train, valid, test, options);
}

SIGEO_API sigeo_status_t sigeo_nas_run_space(sigeo_nas_result_t **out, sigeo_context_t *ctx, const char *space,
                                             const sigeo_space_options_t *space_options, sigeo_dataset_t *train,
                                             sigeo_dataset_t *valid, sigeo_dataset_t *test,
                                             const sigeo_nas_options_t *options)
{
    static const char fn[] = "sigeo_nas_run_space";
    sigeo_status_t st = check_args(out, ctx, "ctx", train, valid);
    if (st != SIGEO_OK)
        return st;
    if (!space)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: space is NULL", fn);
    sigeo_space_options_t so = SIGEO_SPACE_OPTIONS_INIT;
    if ((st = sigeo__struct_in(&so, sizeof so, space_options, "sigeo_space_options", NULL)) != SIGEO_OK)
        return st;
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    if ((st = sigeo_dataset_get_info(&info, train)) != SIGEO_OK)
        return st;
    /* Sizes the caller left at 0 come from the training data. */
    int64_t *tables = NULL;
    if (so.n_dense == 0 && so.n_sparse_fields == 0 && !so.table_rows) {
        so.n_dense = info.n_dense;
        so.n_sparse_fields = info.n_sparse_fields;
        if (info.n_sparse_fields > 0) {
            size_t nt = info.n_sparse_fields;
            if (!(tables = sigeo__calloc(nt, sizeof *tables)))
                return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
            if ((st = sigeo_dataset_table_sizes(tables, &nt, train)) != SIGEO_OK) {
                sigeo__free(tables);
                return st;
            }
            so.table_rows = tables;
        }
    }
    if (so.n_classes == 0 && info.has_labels && info.n_targets == 0) /* labels only: a classifier */
        so.n_classes = info.n_classes;
    sigeo_model_t *m = NULL;
    st = sigeo_space_build(&m, ctx, space, &so);
    sigeo__free(tables);
    if (st != SIGEO_OK)
        return st;
    if ((st = run(out, m, true, train, valid, test, options)) != SIGEO_OK)
        sigeo_model_destroy(m);
    return st;
}
