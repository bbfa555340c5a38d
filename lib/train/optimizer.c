/* SGD (momentum, weight decay), Adagrad and Adam over a model's parameters,
 * with row-sparse updates of embedding tables (train.h explains the
 * semantics) and optional global-norm clipping. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "nn/probe.h"
#include "sigeo/train.h"
#include "train/train_internal.h"

typedef struct slot {
    float *m1;         /* SGD momentum buffer / Adagrad accumulator / Adam first moment */
    float *m2;         /* Adam second moment */
    int32_t *stamp;    /* embedding tables: step stamp per row, to visit each dirty row once */
    int64_t *steps;    /* Adam: per-row step count for lazy bias correction (tables); [1] for dense */
} slot_t;

struct sigeo_optimizer {
    sigeo_model_t *model;
    sigeo_optimizer_options_t o;
    int32_t n_params;
    slot_t *slots;
    int32_t step_stamp;
    int64_t steps;
    bool *frozen;      /* [n_params] or NULL: parameters the step leaves alone (sigeo__optimizer_train_only) */
    sigeo__errbuf_t err;
};

#define FAIL(opt, status, ...) sigeo__fail_on(&(opt)->err, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_optimizer_options_init(sigeo_optimizer_options_t *options, uint32_t struct_size)
{
    static const sigeo_optimizer_options_t defaults = SIGEO_OPTIMIZER_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_optimizer_options");
}

static sigeo_status_t check_options(const sigeo_optimizer_options_t *o)
{
    static const char fn[] = "sigeo_optimizer_create";
    if (o->kind < SIGEO_OPT_SGD || o->kind > SIGEO_OPT_ADAM)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown optimiser kind %d", fn, (int)o->kind);
    const double v[] = { o->lr, o->momentum, o->weight_decay, o->beta1, o->beta2, o->eps, o->clip_norm };
    const char *names[] = { "lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "clip_norm" };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i]) || v[i] < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is %g (must be finite and >= 0)", fn, names[i], v[i]);
    if (o->nesterov != 0 && (o->nesterov != 1 || o->kind != SIGEO_OPT_SGD || o->momentum <= 0.0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: nesterov %d needs SGD with momentum > 0 (kind %d, momentum %g)",
                           fn, (int)o->nesterov, (int)o->kind, o->momentum);
    if (o->beta1 >= 1.0 || o->beta2 >= 1.0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: Adam betas must be < 1 (beta1 %g, beta2 %g)", fn, o->beta1,
                           o->beta2);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_optimizer_create(sigeo_optimizer_t **out, sigeo_model_t *model,
                                                const sigeo_optimizer_options_t *options)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_optimizer_create: out is NULL");
    *out = NULL;
    if (!model)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_optimizer_create: model is NULL");
    int32_t n;
    sigeo_status_t st = sigeo_model_param_count(&n, model);
    if (st != SIGEO_OK)
        return st;
    if ((st = sigeo__model_check_ready(model, "sigeo_optimizer_create")) != SIGEO_OK)
        return st;
    sigeo_optimizer_options_t o = SIGEO_OPTIMIZER_OPTIONS_INIT;
    if ((st = sigeo__struct_in(&o, sizeof o, options, "sigeo_optimizer_options", NULL)) != SIGEO_OK)
        return st;
    if ((st = check_options(&o)) != SIGEO_OK)
        return st;
    sigeo_optimizer_t *opt = sigeo__calloc(1, sizeof *opt);
    if (opt)
        opt->slots = sigeo__calloc((size_t)(n > 0 ? n : 1), sizeof *opt->slots);
    if (!opt || !opt->slots) {
        sigeo__free(opt);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_optimizer_create: out of memory");
    }
    opt->model = model;
    opt->o = o;
    opt->n_params = n;
    *out = opt;
    return SIGEO_OK;
}

static void free_slots(sigeo_optimizer_t *opt)
{
    for (int32_t i = 0; i < opt->n_params; i++) {
        sigeo__free(opt->slots[i].m1);
        sigeo__free(opt->slots[i].m2);
        sigeo__free(opt->slots[i].stamp);
        sigeo__free(opt->slots[i].steps);
        memset(&opt->slots[i], 0, sizeof opt->slots[i]);
    }
}

SIGEO_API void sigeo_optimizer_destroy(sigeo_optimizer_t *opt)
{
    if (!opt)
        return;
    free_slots(opt);
    sigeo__free(opt->slots);
    sigeo__free(opt->frozen);
    sigeo__free(opt);
}

SIGEO_API sigeo_status_t sigeo_optimizer_reset(sigeo_optimizer_t *opt)
{
    if (!opt)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_optimizer_reset: optimizer is NULL");
    free_slots(opt);
    opt->steps = 0;
    opt->step_stamp = 0;
    return SIGEO_OK;
}

SIGEO_API const char *sigeo_optimizer_last_error(const sigeo_optimizer_t *opt)
{
    return opt ? opt->err.msg : "";
}

static sigeo_status_t ensure_slot(sigeo_optimizer_t *opt, slot_t *s, const sigeo__probe_tensor_t *t)
{
    const bool table = t->dirty_rows != NULL || t->kind == SIGEO_PARAM_EMBEDDING;
    const bool need_m1 = opt->o.kind != SIGEO_OPT_SGD || opt->o.momentum != 0.0;
    if (need_m1 && !s->m1 && !(s->m1 = sigeo__calloc((size_t)t->numel, sizeof(float))))
        goto oom;
    if (opt->o.kind == SIGEO_OPT_ADAM && !s->m2 && !(s->m2 = sigeo__calloc((size_t)t->numel, sizeof(float))))
        goto oom;
    if (table && !s->stamp && !(s->stamp = sigeo__calloc((size_t)t->rows, sizeof(int32_t))))
        goto oom;
    if (opt->o.kind == SIGEO_OPT_ADAM && !s->steps &&
        !(s->steps = sigeo__calloc((size_t)(table ? t->rows : 1), sizeof(int64_t))))
        goto oom;
    return SIGEO_OK;
oom:
    return FAIL(opt, SIGEO_ERR_NO_MEMORY, "sigeo_optimizer_step: out of memory for the state of '%s'", t->name);
}

/* Applies the update to one row (or a whole dense tensor) of `n` elements. */
static void update(const sigeo_optimizer_options_t *o, float *theta, const float *g, float *m1, float *m2,
                   int64_t *steps, int64_t n, double lr, double scale, bool decay)
{
    const double wd = decay ? o->weight_decay : 0.0;
    switch (o->kind) {
    case SIGEO_OPT_SGD:
        for (int64_t j = 0; j < n; j++) {
            double d = scale * g[j] + wd * theta[j];
            if (m1) {
                const double v = o->momentum * m1[j] + d;
                m1[j] = (float)v;
                d = o->nesterov ? d + o->momentum * v : v;
            }
            theta[j] = (float)(theta[j] - lr * d);
        }
        break;
    case SIGEO_OPT_ADAGRAD:
        for (int64_t j = 0; j < n; j++) {
            double d = scale * g[j] + wd * theta[j];
            double acc = m1[j] + d * d;
            m1[j] = (float)acc;
            theta[j] = (float)(theta[j] - lr * d / (sqrt(acc) + o->eps));
        }
        break;
    case SIGEO_OPT_ADAM: {
        int64_t t = ++*steps;
        double c1 = 1.0 - pow(o->beta1, (double)t), c2 = 1.0 - pow(o->beta2, (double)t);
        for (int64_t j = 0; j < n; j++) {
            double d = scale * g[j] + wd * theta[j];
            double a = o->beta1 * m1[j] + (1 - o->beta1) * d;
            double b = o->beta2 * m2[j] + (1 - o->beta2) * d * d;
            m1[j] = (float)a;
            m2[j] = (float)b;
            theta[j] = (float)(theta[j] - lr * (a / c1) / (sqrt(b / c2) + o->eps));
        }
        break;
    }
    }
}

SIGEO_API sigeo_status_t sigeo_optimizer_step(sigeo_optimizer_t *opt, double lr)
{
    static const char fn[] = "sigeo_optimizer_step";
    if (!opt)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: optimizer is NULL", fn);
    if (!isfinite(lr) || lr < 0)
        return FAIL(opt, SIGEO_ERR_INVALID_ARG, "%s: lr is %g", fn, lr);
    sigeo_model_t *m = opt->model;
    /* New stamp: each dirty embedding row is visited once per step. */
    if (++opt->step_stamp == INT32_MAX) {
        opt->step_stamp = 1;
        for (int32_t i = 0; i < opt->n_params; i++)
            if (opt->slots[i].stamp) {
                sigeo__probe_tensor_t t;
                sigeo__probe_param(&t, m, i);
                memset(opt->slots[i].stamp, 0, (size_t)t.rows * sizeof(int32_t));
            }
    }
    /* Pass 1: validate (nothing is updated if a gradient is not finite),
     * allocate state, and the global norm for clipping. */
    double sq = 0.0;
    for (int32_t i = 0; i < opt->n_params; i++) {
        sigeo__probe_tensor_t t;
        sigeo__probe_param(&t, m, i);
        if (!t.active || (opt->frozen && opt->frozen[i]))
            continue;
        sigeo_status_t st = ensure_slot(opt, &opt->slots[i], &t);
        if (st != SIGEO_OK)
            return st;
        if (t.kind == SIGEO_PARAM_EMBEDDING && !t.dirty_rows)
            continue; /* a table no batch row has used yet */
        int32_t *stamp = opt->slots[i].stamp;
        const int64_t nrows = t.dirty_rows ? t.n_dirty_rows : 1;
        for (int64_t r = 0; r < nrows; r++) {
            int64_t row = t.dirty_rows ? t.dirty_rows[r] : 0;
            if (stamp) {
                if (stamp[row] == -opt->step_stamp)
                    continue;
                stamp[row] = -opt->step_stamp; /* negative: seen in pass 1 */
            }
            const float *g = t.grad + row * t.row_size;
            const int64_t n = t.dirty_rows ? t.row_size : t.numel;
            for (int64_t j = 0; j < n; j++) {
                if (!isfinite(g[j]))
                    return FAIL(opt, SIGEO_ERR_NONFINITE, "%s: gradient of '%s' element %lld is %g; nothing updated",
                                fn, t.name, (long long)(row * t.row_size + j), (double)g[j]);
                sq += (double)g[j] * g[j];
            }
        }
    }
    double scale = 1.0;
    const double norm = sqrt(sq);
    if (opt->o.clip_norm > 0 && norm > opt->o.clip_norm)
        scale = opt->o.clip_norm / (norm + 1e-6); /* PyTorch's clip_grad_norm_ */
    /* Pass 2: update. */
    for (int32_t i = 0; i < opt->n_params; i++) {
        sigeo__probe_tensor_t t;
        sigeo__probe_param(&t, m, i);
        if (!t.active || (opt->frozen && opt->frozen[i]))
            continue;
        slot_t *s = &opt->slots[i];
        const bool decay = t.kind != SIGEO_PARAM_EMBEDDING;
        if (!t.dirty_rows) {
            if (t.kind == SIGEO_PARAM_EMBEDDING)
                continue; /* a table no batch row used */
            update(&opt->o, t.data, t.grad, s->m1, s->m2, s->steps, t.numel, lr, scale, decay);
            continue;
        }
        for (int64_t r = 0; r < t.n_dirty_rows; r++) {
            int64_t row = t.dirty_rows[r];
            if (s->stamp[row] == opt->step_stamp)
                continue;
            s->stamp[row] = opt->step_stamp;
            const int64_t off = row * t.row_size;
            update(&opt->o, t.data + off, t.grad + off, s->m1 ? s->m1 + off : NULL, s->m2 ? s->m2 + off : NULL,
                   s->steps ? s->steps + row : NULL, t.row_size, lr, scale, decay);
        }
    }
    opt->steps++;
    return SIGEO_OK;
}

sigeo_status_t sigeo__optimizer_train_only(sigeo_optimizer_t *opt, int32_t module)
{
    if (module < 0) {
        sigeo__free(opt->frozen);
        opt->frozen = NULL;
        return SIGEO_OK;
    }
    if (!opt->frozen && !(opt->frozen = sigeo__calloc((size_t)(opt->n_params > 0 ? opt->n_params : 1), sizeof(bool))))
        return FAIL(opt, SIGEO_ERR_NO_MEMORY, "sigeo_optimizer: out of memory");
    sigeo__probe_module_t mod;
    sigeo__probe_module(&mod, opt->model, module);
    for (int32_t i = 0; i < opt->n_params; i++)
        opt->frozen[i] = i < mod.first_param || i >= mod.first_param + mod.n_params;
    return SIGEO_OK;
}

double sigeo__optimizer_lr(const sigeo_optimizer_t *opt)
{
    return opt->o.lr;
}
