/* The sigeo_stats_t handle: module registry, batch validation and
 * accumulation, and the assembly of the result from zico.c, fisher_rao.c
 * and score.c. Validation always runs to completion before any state is
 * touched, so a failed call leaves the accumulator as it was. */
#include <math.h>
#include <string.h>

#include "core/context.h"
#include "core/core.h"
#include "sigeo/stats.h"
#include "stats/fisher_rao.h"
#include "stats/score.h"
#include "stats/stats_internal.h"
#include "stats/welford.h"
#include "stats/welford_table.h"
#include "stats/zico.h"

typedef struct module {
    char *name;
    int64_t offset; /* into theta (every module's parameters, back to back) */
    int64_t count;
    /* A plain module's statistics: acc_offset into the handle's three dense
     * arrays. A table module's: its own compact store of the touched rows
     * (welford_table.h). */
    int64_t acc_offset;
    sigeo__welford_table_t tab;
    bool theta_set;
    double theta_dot_grad_sum; /* theta_m . sum_i g_i,m, filled by compute */
    sigeo__zico_block_t zico;  /* filled by compute */
    bool computed;
    /* table modules: rows x row_size; 0 rows = a plain module */
    int64_t rows, row_size;
    uint64_t fed;      /* fused batches: the batch number this module was last folded into */
    /* The declared last fused batch went straight into ZiCo's reduction
     * (sigeo__zico_fold_last): its result, compute takes it as it is. */
    bool zico_folded;
    sigeo__zico_block_t folded;
} module_t;

struct sigeo_stats {
    sigeo_stats_options_t options;
    const sigeo_context_t *ctx; /* the thread policy of the updates; may be NULL */
    double lambda[3];
    module_t *modules;
    int32_t n_modules;
    int32_t cap_modules;
    int64_t n_params;
    /* Accumulators, allocated at the first batch (the module list is frozen then). */
    sigeo__welford_t acc;
    float *theta;        /* copies of theta, allocated at the first set_params */
    uint64_t n_batches;
    uint64_t n_samples;
    uint64_t n_directional_batches; /* batches that carried d_n */
    double sum_sq_directional;      /* sum over all samples of d_n^2 */
    double loss_sum;
    double loss_last;
    /* sigeo__stats_promise_no_theta: no sigeo_stats_set_params will come, so
     * with lambda1 = 0 and an EXACT/IDENTITY estimator nothing per parameter
     * is needed (the Fisher-Rao-only path). */
    bool no_theta;
    /* A fused batch (sigeo__stats_fuse_*) is open, or one failed half-way:
     * the accumulators then hold part of a batch and only a reset clears it. */
    bool fusing, broken;
    /* sigeo__stats_fuse_is_last: the open fused batch is the last before
     * compute (fuse_last); after it closed, plain modules may hold stale
     * mean |g| and root M2 (their ZiCo already reduced), so no batch may
     * follow until a reset (sealed). */
    bool fuse_last, sealed;
    /* sigeo__stats_fuse_plan: the number of fused batches announced, 0 = none */
    uint64_t planned;
    sigeo__errbuf_t err;
};

#define FAIL(s, status, ...) sigeo__fail_on((s) ? &(s)->err : NULL, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_stats_options_init(sigeo_stats_options_t *options, uint32_t struct_size)
{
    static const sigeo_stats_options_t defaults = SIGEO_STATS_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_stats_options");
}

SIGEO_API sigeo_status_t sigeo_stats_batch_init(sigeo_stats_batch_t *batch, uint32_t struct_size)
{
    static const sigeo_stats_batch_t defaults = SIGEO_STATS_BATCH_INIT;
    return sigeo__struct_init(batch, struct_size, &defaults, sizeof defaults, "sigeo_stats_batch");
}

SIGEO_API sigeo_status_t sigeo_stats_result_init(sigeo_stats_result_t *result, uint32_t struct_size)
{
    static const sigeo_stats_result_t defaults = SIGEO_STATS_RESULT_INIT;
    return sigeo__struct_init(result, struct_size, &defaults, sizeof defaults, "sigeo_stats_result");
}

SIGEO_API sigeo_status_t sigeo_stats_module_info_init(sigeo_stats_module_info_t *info, uint32_t struct_size)
{
    static const sigeo_stats_module_info_t defaults = SIGEO_STATS_MODULE_INFO_INIT;
    return sigeo__struct_init(info, struct_size, &defaults, sizeof defaults, "sigeo_stats_module_info");
}

SIGEO_API sigeo_status_t sigeo_stats_preset_lambdas(double lambdas_out[3], sigeo_lambda_preset_t preset)
{
    if (!lambdas_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_preset_lambdas: lambdas_out is NULL");
    if (!sigeo__preset_lambdas(lambdas_out, (int32_t)preset))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "sigeo_stats_preset_lambdas: preset %d has no fixed lambdas (known: 1 zero-shot, "
                           "2 recsys, 3 vision)",
                           (int)preset);
    return SIGEO_OK;
}

static sigeo_status_t check_options(const sigeo_stats_options_t *o, double lambda[3])
{
    if (o->zico_variant < SIGEO_ZICO_MODULE_WISE || o->zico_variant > SIGEO_ZICO_REFERENCE_RECSYS)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: unknown zico_variant %d (0..2)",
                           (int)o->zico_variant);
    if (o->fr_estimator < SIGEO_FR_EXACT || o->fr_estimator > SIGEO_FR_REFERENCE_CV)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: unknown fr_estimator %d (0..3)",
                           (int)o->fr_estimator);
    if (o->loss_term != SIGEO_LOSS_MEAN && o->loss_term != SIGEO_LOSS_LAST)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: unknown loss_term %d (0 mean, 1 last)",
                           (int)o->loss_term);
    if (o->std_ddof > 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: std_ddof %u is not 0 or 1",
                           (unsigned)o->std_ddof);
    if (o->lambda_preset == SIGEO_PRESET_CUSTOM) {
        lambda[0] = o->lambda1;
        lambda[1] = o->lambda2;
        lambda[2] = o->lambda3;
        for (int i = 0; i < 3; i++)
            if (!isfinite(lambda[i]))
                return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: lambda%d is %g (must be finite)",
                                   i + 1, lambda[i]);
    } else if (!sigeo__preset_lambdas(lambda, o->lambda_preset)) {
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: unknown lambda_preset %d (0..3)",
                           (int)o->lambda_preset);
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_create(sigeo_stats_t **out, sigeo_context_t *ctx,
                                            const sigeo_stats_options_t *options)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_create: out is NULL");
    *out = NULL;
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_stats_options", NULL);
    if (st != SIGEO_OK)
        return st;
    double lambda[3];
    if ((st = check_options(&o, lambda)) != SIGEO_OK)
        return st;
    sigeo_stats_t *s = sigeo__calloc(1, sizeof *s);
    if (!s)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_stats_create: out of memory");
    s->options = o;
    s->ctx = ctx;
    memcpy(s->lambda, lambda, sizeof lambda);
    *out = s;
    return SIGEO_OK;
}

SIGEO_API void sigeo_stats_destroy(sigeo_stats_t *s)
{
    if (!s)
        return;
    for (int32_t m = 0; m < s->n_modules; m++) {
        sigeo__free(s->modules[m].name);
        sigeo__welford_table_free(&s->modules[m].tab);
    }
    sigeo__free(s->modules);
    sigeo__free(s->acc.mean_abs);
    sigeo__free(s->acc.mean);
    sigeo__free(s->acc.root_m2);
    sigeo__free(s->theta);
    sigeo__free(s);
}

SIGEO_API sigeo_status_t sigeo_stats_add_module(int32_t *index_out, sigeo_stats_t *s, const char *name,
                                                int64_t n_params)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: stats is NULL");
    if (!name || !name[0])
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: module %d has %s name", (int)s->n_modules,
                    name ? "an empty" : "a NULL");
    if (n_params < 1)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: module '%s' has %lld parameters (need >= 1)",
                    name, (long long)n_params);
    if (s->acc.mean || s->theta)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_add_module: module '%s' added after the first %s (register every module "
                    "first, or sigeo_stats_destroy and start over)",
                    name, s->acc.mean ? "batch" : "sigeo_stats_set_params");
    if (n_params > INT64_MAX / 4 - s->n_params)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: module '%s': total parameter count overflows",
                    name);
    if (s->n_modules == INT32_MAX)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: too many modules");
    for (int32_t m = 0; m < s->n_modules; m++)
        if (strcmp(s->modules[m].name, name) == 0)
            return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_module: module name '%s' already used by module %d",
                        name, (int)m);
    if (s->n_modules == s->cap_modules) {
        int32_t cap = s->cap_modules ? s->cap_modules * 2 : 16;
        if (cap < s->cap_modules)
            cap = INT32_MAX;
        module_t *grown = sigeo__realloc_array(s->modules, (size_t)s->n_modules, (size_t)cap, sizeof *grown);
        if (!grown)
            return FAIL(s, SIGEO_ERR_NO_MEMORY, "sigeo_stats_add_module: out of memory growing the module list");
        s->modules = grown;
        s->cap_modules = cap;
    }
    char *copy = sigeo__strdup(name);
    if (!copy)
        return FAIL(s, SIGEO_ERR_NO_MEMORY, "sigeo_stats_add_module: out of memory copying name '%s'", name);
    module_t *mod = &s->modules[s->n_modules];
    memset(mod, 0, sizeof *mod);
    mod->name = copy;
    mod->offset = s->n_params;
    mod->count = n_params;
    s->n_params += n_params;
    if (index_out)
        *index_out = s->n_modules;
    s->n_modules++;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_add_table_module(int32_t *index_out, sigeo_stats_t *s, const char *name,
                                                      int64_t n_rows, int64_t row_size)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_table_module: stats is NULL");
    if (n_rows < 1 || row_size < 1 || n_rows > INT64_MAX / 4 / row_size)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_table_module: table '%s' of %lld x %lld rows",
                    name ? name : "(null)", (long long)n_rows, (long long)row_size);
    if (n_rows > SIGEO__WELFORD_TABLE_MAX_ROWS)
        return FAIL(s, SIGEO_ERR_UNSUPPORTED, "sigeo_stats_add_table_module: table '%s' of %lld rows (at most %lld)",
                    name ? name : "(null)", (long long)n_rows, (long long)SIGEO__WELFORD_TABLE_MAX_ROWS);
    sigeo__welford_table_t tab;
    if (!sigeo__welford_table_init(&tab, n_rows, row_size)) {
        sigeo__welford_table_free(&tab);
        return FAIL(s, SIGEO_ERR_NO_MEMORY, "sigeo_stats_add_table_module: out of memory for %lld rows",
                    (long long)n_rows);
    }
    int32_t idx;
    sigeo_status_t st = sigeo_stats_add_module(&idx, s, name, n_rows * row_size);
    if (st != SIGEO_OK) {
        sigeo__welford_table_free(&tab);
        return st;
    }
    s->modules[idx].rows = n_rows;
    s->modules[idx].row_size = row_size;
    s->modules[idx].tab = tab;
    if (index_out)
        *index_out = idx;
    return SIGEO_OK;
}

static sigeo_status_t allocate_accumulators(sigeo_stats_t *s)
{
    int64_t dense = 0;
    for (int32_t m = 0; m < s->n_modules; m++) {
        module_t *mod = &s->modules[m];
        if (!mod->rows) { /* a table keeps its own store (welford_table.h) */
            mod->acc_offset = dense;
            dense += mod->count;
        }
    }
    size_t n = dense > 0 ? (size_t)dense : 1; /* acc.mean also says "allocated" */
    float *a = sigeo__calloc_scattered(n, sizeof(float));
    float *b = a ? sigeo__calloc_scattered(n, sizeof(float)) : NULL;
    float *c = b ? sigeo__calloc_scattered(n, sizeof(float)) : NULL;
    if (!c) {
        sigeo__free(a);
        sigeo__free(b);
        return FAIL(s, SIGEO_ERR_NO_MEMORY,
                    "sigeo_stats_add_batch: out of memory for the accumulators (3 x %lld floats)", (long long)dense);
    }
    s->acc.mean_abs = a;
    s->acc.mean = b;
    s->acc.root_m2 = c;
    return SIGEO_OK;
}

/* First non-finite element, or -1. A branch-free vector pass answers
 * "any?" (all exponent bits set = Inf or NaN); only then is it located. */
static int64_t find_nonfinite(const float *x, int64_t n)
{
    uint32_t any = 0;
#pragma omp simd reduction(| : any)
    for (int64_t j = 0; j < n; j++) {
        uint32_t bits;
        memcpy(&bits, &x[j], sizeof bits);
        any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (!any)
        return -1;
    for (int64_t j = 0; j < n; j++)
        if (!isfinite(x[j]))
            return j;
    return -1;
}

/* Whether the handle keeps per-parameter statistics: ZiCo needs all three,
 * the theta . G of the reference FR estimators (and the diagnostic) the
 * mean. Without either, a batch contributes its d_n and loss only. */
static bool keeps_gradients(const sigeo_stats_t *s)
{
    const int32_t e = s->options.fr_estimator;
    return !(s->no_theta && s->lambda[0] == 0.0 && (e == SIGEO_FR_EXACT || e == SIGEO_FR_IDENTITY));
}

/* One module's gradient of batch `bi`: its length, and every value (every
 * listed row's, for a table module) finite. */
/* The error for a table row with a non-finite element, or SIGEO_OK. */
static sigeo_status_t nonfinite_row_error(sigeo_stats_t *s, int32_t m, const float *grad, int64_t r,
                                          unsigned long long bi)
{
    const module_t *mod = &s->modules[m];
    const int64_t bad = find_nonfinite(grad + r * mod->row_size, mod->row_size);
    if (bad < 0)
        return SIGEO_OK;
    return FAIL(s, SIGEO_ERR_NONFINITE, "sigeo_stats_add_batch: batch %llu: table '%s' row %lld element %lld is %g",
                bi, mod->name, (long long)r, (long long)bad, (double)grad[r * mod->row_size + bad]);
}

/* The error for a plain module's gradient with a non-finite element. */
static sigeo_status_t nonfinite_error(sigeo_stats_t *s, int32_t m, const float *grad, unsigned long long bi)
{
    const module_t *mod = &s->modules[m];
    const int64_t bad = find_nonfinite(grad, mod->count);
    return FAIL(s, SIGEO_ERR_NONFINITE,
                "sigeo_stats_add_batch: batch %llu: module '%s' (index %d) gradient element %lld is %g", bi, mod->name,
                (int)m, (long long)bad, bad >= 0 ? (double)grad[bad] : 0.0);
}

/* scan: look for non-finite gradient elements here (the
 * fused path leaves that to the update, which reports them in the same
 * pass: sigeo__welford_update's return value). */
static sigeo_status_t validate_module(sigeo_stats_t *s, int32_t m, const float *grad, int64_t count,
                                      const int64_t *rows, int64_t n_rows, unsigned long long bi, bool scan)
{
    const module_t *mod = &s->modules[m];
    if (count != mod->count)
        return FAIL(s, SIGEO_ERR_SHAPE,
                    "sigeo_stats_add_batch: batch %llu: module '%s' (index %d) gradient has %lld elements, "
                    "registered with %lld",
                    bi, mod->name, (int)m, (long long)count, (long long)mod->count);
    if (!grad)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: batch %llu: module '%s' gradient is NULL", bi,
                    mod->name);
    if (rows) {
        if (n_rows < 0)
            return FAIL(s, SIGEO_ERR_INVALID_ARG,
                        "sigeo_stats_add_batch: batch %llu: table '%s': touched_counts is NULL or negative", bi,
                        mod->name);
        for (int64_t i = 0; i < n_rows; i++) {
            const int64_t r = rows[i];
            if (r < 0 || r >= mod->rows)
                return FAIL(s, SIGEO_ERR_INVALID_ARG,
                            "sigeo_stats_add_batch: batch %llu: table '%s': touched row %lld is outside 0..%lld", bi,
                            mod->name, (long long)r, (long long)mod->rows - 1);
            sigeo_status_t st;
            if (scan && (st = nonfinite_row_error(s, m, grad, r, bi)) != SIGEO_OK)
                return st;
        }
        return SIGEO_OK;
    }
    if (scan && find_nonfinite(grad, mod->count) >= 0)
        return nonfinite_error(s, m, grad, bi);
    return SIGEO_OK;
}

/* The per-batch fields: batch size, loss, d_n. */
static sigeo_status_t validate_scalars(sigeo_stats_t *s, const sigeo_stats_batch_t *b)
{
    const unsigned long long bi = (unsigned long long)s->n_batches;
    if (b->batch_size < 1)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: batch %llu: batch_size %lld (need >= 1)", bi,
                    (long long)b->batch_size);
    if (!isfinite(b->loss))
        return FAIL(s, SIGEO_ERR_NONFINITE, "sigeo_stats_add_batch: batch %llu: loss is %g", bi, b->loss);
    if (b->directional) {
        for (int64_t n = 0; n < b->batch_size; n++)
            if (!isfinite(b->directional[n]))
                return FAIL(s, SIGEO_ERR_NONFINITE,
                            "sigeo_stats_add_batch: batch %llu: directional derivative of sample %lld is %g", bi,
                            (long long)n, b->directional[n]);
    }
    return SIGEO_OK;
}

static sigeo_status_t validate_batch(sigeo_stats_t *s, const sigeo_stats_batch_t *b)
{
    const unsigned long long bi = (unsigned long long)s->n_batches;
    if (s->n_modules == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: no modules registered");
    if ((int64_t)b->n_modules != s->n_modules)
        return FAIL(s, SIGEO_ERR_SHAPE, "sigeo_stats_add_batch: batch %llu has %u modules, %d are registered", bi,
                    (unsigned)b->n_modules, (int)s->n_modules);
    if (!b->gradients || !b->gradient_counts)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: batch %llu: %s is NULL", bi,
                    b->gradients ? "gradient_counts" : "gradients");
    /* the batch's scalars first: a non-finite loss is the cause a host can
     * act on, its gradients are only where it spread to */
    sigeo_status_t st = validate_scalars(s, b);
    if (st != SIGEO_OK)
        return st;
    /* Statistics that keep nothing per parameter read no gradient: only the
     * shapes are checked (a non-finite gradient shows in its d_n anyway). */
    const bool values = keeps_gradients(s);
    for (int32_t m = 0; m < s->n_modules && st == SIGEO_OK; m++) {
        const module_t *mod = &s->modules[m];
        const int64_t *rows = mod->rows && b->touched_rows ? b->touched_rows[m] : NULL;
        const int64_t n_rows = rows ? (b->touched_counts ? b->touched_counts[m] : -1) : 0;
        if (values)
            st = validate_module(s, m, b->gradients[m], b->gradient_counts[m], rows, n_rows, bi, true);
        else if (b->gradient_counts[m] != mod->count || !b->gradients[m])
            st = validate_module(s, m, b->gradients[m], b->gradient_counts[m], NULL, 0, bi, true);
    }
    return st;
}

/* What every batch checks before it touches the state: the handle usable,
 * the counts in range; allocates the accumulators at the first batch. */
static sigeo_status_t begin_batch(sigeo_stats_t *s, int64_t batch_size, uint64_t *samples)
{
    if (s->broken || s->fusing)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_add_batch: a fused batch %s; sigeo_stats_reset first",
                    s->broken ? "failed half-way" : "is still open");
    if (s->sealed)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_add_batch: batch %llu was declared the last (its ZiCo already reduced); "
                    "sigeo_stats_reset first",
                    (unsigned long long)s->n_batches - 1);
    if (s->n_batches >= UINT32_MAX)
        return FAIL(s, SIGEO_ERR_UNSUPPORTED, "sigeo_stats_add_batch: more than %u batches", (unsigned)UINT32_MAX);
    if (!sigeo__add_u64(samples, s->n_samples, (uint64_t)(batch_size > 0 ? batch_size : 0)))
        return FAIL(s, SIGEO_ERR_UNSUPPORTED, "sigeo_stats_add_batch: batch_size %lld brings the sample count past 2^64",
                    (long long)batch_size);
    if (keeps_gradients(s) && !s->acc.mean)
        return allocate_accumulators(s);
    return SIGEO_OK;
}

/* Folds module m's gradient in as observation n (validated, but for the
 * non-finite scan on the fused path). Returns 1 if the gradient (a table: a
 * folded row) held a non-finite element (the state is then garbage). */
static uint32_t update_module(sigeo_stats_t *s, int32_t m, const float *grad, const int64_t *rows, int64_t n_rows,
                              uint64_t n)
{
    module_t *mod = &s->modules[m];
    if (!keeps_gradients(s))
        return 0;
    if (!mod->rows)
        return sigeo__welford_update(&s->acc, mod->acc_offset, grad, mod->count, n,
                                     sigeo__context_team(s->ctx, sigeo__welford_work(mod->count)));
    return sigeo__welford_table_fold(&mod->tab, grad, rows, rows ? n_rows : mod->rows, n);
}

/* Room in table module m's store for the rows a batch lists (rows NULL:
 * every row), before anything is folded: the one failure of a fold. */
static sigeo_status_t reserve_rows(sigeo_stats_t *s, int32_t m, const int64_t *rows, int64_t n_rows)
{
    module_t *mod = &s->modules[m];
    if (!mod->rows || !keeps_gradients(s) || sigeo__welford_table_reserve(&mod->tab, rows ? n_rows : mod->rows))
        return SIGEO_OK;
    return FAIL(s, SIGEO_ERR_NO_MEMORY,
                "sigeo_stats_add_batch: batch %llu: out of memory for the statistics of %lld more rows of table '%s' "
                "(%lld held)",
                (unsigned long long)s->n_batches, (long long)(rows ? n_rows : mod->rows), mod->name,
                (long long)mod->tab.n_slots);
}

static void end_batch(sigeo_stats_t *s, const sigeo_stats_batch_t *b, uint64_t samples)
{
    if (b->directional) {
        double sq = 0.0;
        for (int64_t i = 0; i < b->batch_size; i++)
            sq += b->directional[i] * b->directional[i];
        s->sum_sq_directional += sq;
        s->n_directional_batches++;
    }
    s->n_batches++;
    s->n_samples = samples;
    s->loss_sum += b->loss;
    s->loss_last = b->loss;
}

SIGEO_API sigeo_status_t sigeo_stats_add_batch(sigeo_stats_t *s, const sigeo_stats_batch_t *batch)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: stats is NULL");
    if (!batch)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: batch is NULL");
    sigeo_stats_batch_t b = SIGEO_STATS_BATCH_INIT;
    sigeo_status_t st = sigeo__struct_in(&b, sizeof b, batch, "sigeo_stats_batch", &s->err);
    if (st != SIGEO_OK)
        return st;
    if (s->planned)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_add_batch: %llu fused batches were planned (stats_internal.h); sigeo_stats_reset first",
                    (unsigned long long)s->planned);
    if ((st = validate_batch(s, &b)) != SIGEO_OK)
        return st;
    /* Room for the tables' new rows before anything else is allocated or
     * folded: a failure leaves the handle as it was (the first batch's
     * accumulators not allocated either; spare capacity is harmless). */
    for (int32_t m = 0; m < s->n_modules; m++) {
        const int64_t *rows = s->modules[m].rows && b.touched_rows ? b.touched_rows[m] : NULL;
        if ((st = reserve_rows(s, m, rows, rows && b.touched_counts ? b.touched_counts[m] : 0)) != SIGEO_OK)
            return st;
    }
    uint64_t samples = 0;
    if ((st = begin_batch(s, b.batch_size, &samples)) != SIGEO_OK)
        return st;
    const uint64_t n = s->n_batches + 1;
    for (int32_t m = 0; m < s->n_modules; m++) {
        const int64_t *rows = s->modules[m].rows && b.touched_rows ? b.touched_rows[m] : NULL;
        /* scanned before; without per-parameter statistics (no counts
         * validated) update_module folds nothing */
        (void)update_module(s, m, b.gradients[m], rows, rows && b.touched_counts ? b.touched_counts[m] : 0, n);
    }
    end_batch(s, &b, samples);
    return SIGEO_OK;
}

/* ------------------------------------------------ fused batches
 * (stats_internal.h): the same validation and the same updates, module by
 * module as a backward pass produces the gradients. */

sigeo_status_t sigeo__stats_fuse_begin(sigeo_stats_t *s, int64_t batch_size)
{
    uint64_t samples = 0;
    if (s->n_modules == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_add_batch: no modules registered");
    sigeo_status_t st = begin_batch(s, batch_size, &samples);
    if (st == SIGEO_OK)
        s->fusing = true;
    return st;
}

/* Whether plain modules are staged (stats_internal.h, sigeo__stats_fuse_plan):
 * a plan of 2..4 batches, every one of them fused from a fresh handle, and
 * ZiCo's statistics kept. */
static bool staged(const sigeo_stats_t *s)
{
    return s->planned >= 2 && s->planned <= 4 && s->planned > s->options.std_ddof && keeps_gradients(s);
}

bool sigeo__stats_fuse_wanted(const sigeo_stats_t *s)
{
    return keeps_gradients(s);
}

bool sigeo__stats_fuse_fed(const sigeo_stats_t *s, int32_t module)
{
    return s->fusing && module >= 0 && module < s->n_modules && s->modules[module].fed == s->n_batches + 1;
}

sigeo_status_t sigeo__stats_fuse_module(sigeo_stats_t *s, int32_t module, const float *grad, const int64_t *rows,
                                        int64_t n_rows)
{
    if (!s->fusing || module < 0 || module >= s->n_modules || s->modules[module].fed == s->n_batches + 1)
        return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_add_batch: fused module %d out of turn", (int)module);
    module_t *mod = &s->modules[module];
    if (!mod->rows)
        rows = NULL;
    sigeo_status_t st = SIGEO_OK;
    if (keeps_gradients(s))
        st = validate_module(s, module, grad, mod->count, rows, rows ? n_rows : 0, (unsigned long long)s->n_batches,
                             false);
    if (st == SIGEO_OK)
        st = reserve_rows(s, module, rows, n_rows);
    if (st != SIGEO_OK) {
        s->fusing = false;
        s->broken = true;
        return st;
    }
    const uint64_t n = s->n_batches + 1;
    uint32_t bad;
    if (staged(s) && !mod->rows && (n > s->planned || (n == s->planned) != s->fuse_last)) {
        s->fusing = false;
        s->broken = true;
        return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_add_batch: fused batch %llu of %llu planned%s",
                    (unsigned long long)n, (unsigned long long)s->planned,
                    s->fuse_last ? " declared the last" : " not declared the last");
    }
    /* The declared last batch of a plain block on one thread: update and
     * ZiCo's reduction in one pass (a team would change the reduction's
     * order, so it keeps the two passes). */
    if (staged(s) && !mod->rows) {
        /* staged: store, or replay the k batches into ZiCo's reduction */
        if (n < s->planned) {
            bad = sigeo__welford_stage(&s->acc, mod->acc_offset, grad, mod->count, n);
        } else {
            bad = sigeo__zico_fold_staged(&mod->folded, &s->acc, mod->acc_offset, grad, mod->count, n,
                                          s->options.std_ddof,
                                          sigeo__context_team(s->ctx, sigeo__welford_work(mod->count)));
            mod->zico_folded = true;
        }
    } else if (s->fuse_last && keeps_gradients(s) && !mod->rows && n >= 2 && n > s->options.std_ddof &&
               sigeo__context_team(s->ctx, sigeo__welford_work(mod->count)) <= 1) {
        bad = sigeo__zico_fold_last(&mod->folded, &s->acc, mod->acc_offset, grad, mod->count, n, s->options.std_ddof);
        mod->zico_folded = true;
    } else {
        bad = update_module(s, module, grad, rows, n_rows, n);
    }
    if (bad) {
        /* found by the update's own pass: the block is garbage now, and the
         * batch broken as for any fused failure */
        s->fusing = false;
        s->broken = true;
        const unsigned long long bi = (unsigned long long)s->n_batches;
        if (!mod->rows)
            return nonfinite_error(s, module, grad, bi);
        for (int64_t i = 0; i < (rows ? n_rows : mod->rows); i++) {
            sigeo_status_t row_st = nonfinite_row_error(s, module, grad, rows ? rows[i] : i, bi);
            if (row_st != SIGEO_OK)
                return row_st;
        }
        return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_add_batch: batch %llu: table '%s': a non-finite row vanished",
                    bi, mod->name);
    }
    mod->fed = n;
    return SIGEO_OK;
}

/* Staging pays where the plain modules' state (three floats a parameter)
 * is larger than the caches keep between batches: then each batch's bytes
 * decide its time, and staging moves a fraction of them. Below, the state
 * stays in cache, the arithmetic decides, and the replay's three roots per
 * element in one pass run slower than the updates' (0.94 against 0.4 +
 * 2 x 0.2 ns per element in L2, AVX-512; bench/README.md). 4 MiB is twice
 * the L2 of the 2-core machines measured. */
#define STAGE_MIN_STATE_BYTES (4.0 * 1024 * 1024)

void sigeo__stats_fuse_plan(sigeo_stats_t *s, uint64_t k)
{
    double plain = 0.0;
    for (int32_t m = 0; m < s->n_modules; m++)
        if (!s->modules[m].rows)
            plain += 3.0 * sizeof(float) * (double)s->modules[m].count;
    /* only a fresh handle can be staged */
    s->planned = s->n_batches == 0 && !s->fusing && plain >= STAGE_MIN_STATE_BYTES ? k : 0;
}

void sigeo__stats_fuse_is_last(sigeo_stats_t *s)
{
    if (s->fusing)
        s->fuse_last = true;
}

sigeo_status_t sigeo__stats_fuse_end(sigeo_stats_t *s, const sigeo_stats_batch_t *b)
{
    if (!s->fusing)
        return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_add_batch: no fused batch open");
    s->fusing = false;
    s->sealed = s->fuse_last;
    s->fuse_last = false;
    for (int32_t m = 0; m < s->n_modules; m++)
        if (s->modules[m].fed != s->n_batches + 1) {
            s->broken = true;
            return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_add_batch: fused batch %llu: module '%s' was not folded in",
                        (unsigned long long)s->n_batches, s->modules[m].name);
        }
    sigeo_status_t st = validate_scalars(s, b);
    uint64_t samples = 0;
    if (st == SIGEO_OK && !sigeo__add_u64(&samples, s->n_samples, (uint64_t)b->batch_size))
        st = FAIL(s, SIGEO_ERR_UNSUPPORTED, "sigeo_stats_add_batch: batch_size %lld brings the sample count past 2^64",
                  (long long)b->batch_size);
    if (st != SIGEO_OK) {
        s->broken = true;
        return st;
    }
    end_batch(s, b, samples);
    return SIGEO_OK;
}

void sigeo__stats_promise_no_theta(sigeo_stats_t *s, bool on)
{
    s->no_theta = on;
}

static sigeo_status_t check_module(sigeo_stats_t *s, int32_t module, const char *fn)
{
    if (module < 0 || module >= s->n_modules)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "%s: module index %d out of range (%d registered)", fn, (int)module,
                    (int)s->n_modules);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_set_params(sigeo_stats_t *s, int32_t module, const float *theta, int64_t count)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_set_params: stats is NULL");
    sigeo_status_t st = check_module(s, module, "sigeo_stats_set_params");
    if (st != SIGEO_OK)
        return st;
    module_t *mod = &s->modules[module];
    if (s->no_theta)
        return FAIL(s, SIGEO_ERR_INTERNAL, "sigeo_stats_set_params: module '%s': the handle was promised no theta",
                    mod->name);
    if (!theta)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_set_params: module '%s': theta is NULL", mod->name);
    if (count != mod->count)
        return FAIL(s, SIGEO_ERR_SHAPE, "sigeo_stats_set_params: module '%s' has %lld parameters, got %lld",
                    mod->name, (long long)mod->count, (long long)count);
    int64_t bad = find_nonfinite(theta, count);
    if (bad >= 0)
        return FAIL(s, SIGEO_ERR_NONFINITE, "sigeo_stats_set_params: module '%s' parameter %lld is %g", mod->name,
                    (long long)bad, (double)theta[bad]);
    if (!s->theta) {
        s->theta = sigeo__calloc((size_t)s->n_params, sizeof(float));
        if (!s->theta)
            return FAIL(s, SIGEO_ERR_NO_MEMORY, "sigeo_stats_set_params: out of memory for %lld parameters",
                        (long long)s->n_params);
    }
    memcpy(s->theta + mod->offset, theta, (size_t)count * sizeof(float));
    mod->theta_set = true;
    return SIGEO_OK;
}

/* theta_m . sum_i g_i,m = k * (theta_m . mean_m); a table slot holds the
 * sum of its seen[slot] observations as seen[slot] * mean. */
static double theta_dot_grad_sum(const sigeo_stats_t *s, const module_t *mod)
{
    if (mod->rows) {
        const sigeo__welford_table_t *tab = &mod->tab;
        double dot = 0.0;
        for (int64_t slot = 0; slot < tab->n_slots; slot++) {
            const float *t = s->theta + mod->offset + (int64_t)tab->row_of[slot] * mod->row_size;
            const float *mean = sigeo__welford_table_at(tab, slot) + mod->row_size;
            double row = 0.0;
            for (int64_t e = 0; e < mod->row_size; e++)
                row += (double)t[e] * (double)mean[e];
            dot += row * (double)tab->seen[slot];
        }
        return dot;
    }
    const float *t = s->theta + mod->offset;
    const float *mean = s->acc.mean + mod->acc_offset;
    double dot = 0.0;
    for (int64_t j = 0; j < mod->count; j++)
        dot += (double)t[j] * (double)mean[j];
    return dot * (double)s->n_batches;
}

SIGEO_API sigeo_status_t sigeo_stats_compute(sigeo_stats_result_t *out, sigeo_stats_t *s)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_compute: stats is NULL");
    if (!out)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_compute: out is NULL");
    if (out->struct_size < 2 * sizeof(uint32_t))
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_compute: result struct_size %u is too small (use SIGEO_STATS_RESULT_INIT)",
                    (unsigned)out->struct_size);
    const sigeo_stats_options_t *o = &s->options;
    if (s->broken || s->fusing)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_compute: a fused batch %s; sigeo_stats_reset first",
                    s->broken ? "failed half-way" : "is still open");
    if (s->n_batches == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "sigeo_stats_compute: no batch accumulated");
    /* One batch has no std: allowed where ZiCo does not enter the score. */
    if (s->n_batches < 2 && s->lambda[0] != 0.0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_compute: %llu batch(es) accumulated; the gradient std of ZiCo (lambda1 = %g) "
                    "needs at least 2 (one batch is enough with lambda1 = 0)",
                    (unsigned long long)s->n_batches, s->lambda[0]);
    /* No std from one batch; nothing at all on the Fisher-Rao-only path. */
    const bool no_zico = s->n_batches < 2 || !keeps_gradients(s);

    bool all_theta = true;
    for (int32_t m = 0; m < s->n_modules; m++)
        all_theta = all_theta && s->modules[m].theta_set;
    const bool wants_fr = s->lambda[1] != 0.0;
    const bool reference_fr = o->fr_estimator == SIGEO_FR_REFERENCE_RECSYS || o->fr_estimator == SIGEO_FR_REFERENCE_CV;
    if (wants_fr && reference_fr && !all_theta) {
        for (int32_t m = 0; m < s->n_modules; m++)
            if (!s->modules[m].theta_set)
                return FAIL(s, SIGEO_ERR_INVALID_ARG,
                            "sigeo_stats_compute: the reference FR estimator needs theta of every module; module "
                            "'%s' (index %d) was not set with sigeo_stats_set_params",
                            s->modules[m].name, (int)m);
    }
    const bool have_directional = s->n_directional_batches == s->n_batches;
    if (wants_fr && !reference_fr && !have_directional)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_stats_compute: the exact FR needs per-sample directional derivatives in every batch; "
                    "%llu of %llu batches carried them (set lambda2 = 0 or a reference estimator otherwise)",
                    (unsigned long long)s->n_directional_batches, (unsigned long long)s->n_batches);

    sigeo_stats_result_t r;
    memset(&r, 0, sizeof r);
    r.struct_size = (uint32_t)sizeof r;

    /* The tables' ZiCo reductions first, in parallel across tables on the
     * context's team (each table its own store and result: the same values
     * on any team; a DLRM has 26). The work for the thread policy: 64 per
     * element, a double root and division each (~1.6 ns measured on Zen 4,
     * as long as ~64 flops of a GEMM take). */
    if (!no_zico) {
        double work = 0.0;
        for (int32_t m = 0; m < s->n_modules; m++)
            if (s->modules[m].rows)
                work += 64.0 * (double)s->modules[m].tab.n_slots * (double)s->modules[m].row_size;
        const int team = sigeo__context_team(s->ctx, work);
#pragma omp parallel for schedule(dynamic, 1) num_threads(team) if (team > 1)
        for (int32_t m = 0; m < s->n_modules; m++)
            if (s->modules[m].rows)
                sigeo__zico_table(&s->modules[m].zico, &s->modules[m].tab, s->n_batches, o->std_ddof);
    }
    /* ZiCo per module, all three variants (they share the reduction). */
    double neuron_sum = 0.0, zico_mw = 0.0, zico_rr = 0.0, abs_dot_sum = 0.0, dot_sum = 0.0;
    uint32_t skipped = 0;
    for (int32_t m = 0; m < s->n_modules; m++) {
        module_t *mod = &s->modules[m];
        if (no_zico)
            mod->zico = (sigeo__zico_block_t){ 0, 0.0, 0.0 };
        else if (mod->rows)
            ; /* reduced above */
        else if (mod->zico_folded)
            mod->zico = mod->folded;
        else /* n_batches >= 2 (no_zico otherwise): every array stored (welford.h) */
            sigeo__zico_block(&mod->zico, &s->acc, mod->acc_offset, mod->count, s->n_batches, o->std_ddof);
        mod->computed = true;
        mod->theta_dot_grad_sum = mod->theta_set ? theta_dot_grad_sum(s, mod) : 0.0;
        if (mod->zico.n_nonzero_sigma == 0) {
            skipped++;
            continue;
        }
        neuron_sum += mod->zico.ratio_sum;
        zico_mw += log(mod->zico.ratio_sum);
        zico_rr += log(mod->zico.first_ratio);
        /* CV reference: modules ZiCo skipped do not enter the FR sum either. */
        abs_dot_sum += fabs(mod->theta_dot_grad_sum);
    }
    for (int32_t m = 0; m < s->n_modules; m++)
        dot_sum += s->modules[m].theta_dot_grad_sum;
    const double zico_nw = neuron_sum > 0.0 ? log(neuron_sum) : 0.0;
    if (skipped == (uint32_t)s->n_modules)
        r.flags |= SIGEO_STATS_ALL_SKIPPED;
    if (no_zico)
        r.flags |= SIGEO_STATS_NO_ZICO;
    r.zico_module_wise = zico_mw;
    r.zico_neuron_wise = zico_nw;
    r.zico_reference_recsys = zico_rr;
    r.zico = o->zico_variant == SIGEO_ZICO_MODULE_WISE ? zico_mw
             : o->zico_variant == SIGEO_ZICO_NEURON_WISE ? zico_nw
                                                         : zico_rr;
    if (all_theta) {
        r.flags |= SIGEO_STATS_HAS_THETA_DOT;
        r.theta_dot_grad_sum = dot_sum;
    }

    /* Fisher-Rao: every estimator the data allows, the chosen one in fr. */
    const sigeo__fr_value_t fr_x = have_directional ? sigeo__fr_exact(s->sum_sq_directional, s->n_samples)
                                                    : (sigeo__fr_value_t){ NAN, NAN };
    const sigeo__fr_value_t fr_rr = all_theta ? sigeo__fr_reference_recsys(dot_sum) : (sigeo__fr_value_t){ NAN, NAN };
    const sigeo__fr_value_t fr_cv = all_theta ? sigeo__fr_reference_cv(abs_dot_sum) : (sigeo__fr_value_t){ NAN, NAN };
    if (have_directional)
        r.flags |= SIGEO_STATS_HAS_DIRECTIONAL;
    r.fr_exact = fr_x.fr;
    r.log_fr_exact = fr_x.log_fr;
    r.fr_reference_recsys = fr_rr.fr;
    r.log_fr_reference_recsys = fr_rr.log_fr;
    r.fr_reference_cv = fr_cv.fr;
    r.log_fr_reference_cv = fr_cv.log_fr;
    sigeo__fr_value_t fr = { 0.0, 0.0 };
    bool has_fr = false;
    if (reference_fr && all_theta) {
        fr = o->fr_estimator == SIGEO_FR_REFERENCE_RECSYS ? fr_rr : fr_cv;
        has_fr = true;
    } else if (!reference_fr && have_directional) {
        fr = fr_x;
        has_fr = true;
        if (fr.fr == 0.0)
            r.flags |= SIGEO_STATS_FR_ZERO;
    }
    if (has_fr) {
        r.flags |= SIGEO_STATS_HAS_FR;
        r.fr = fr.fr;
        r.log_fr = fr.log_fr;
    }

    r.loss_mean = s->loss_sum / (double)s->n_batches;
    r.loss_last = s->loss_last;
    r.loss = o->loss_term == SIGEO_LOSS_LAST ? r.loss_last : r.loss_mean;
    r.score = sigeo__score_combine(s->lambda, r.zico, r.log_fr, r.loss);
    r.lambda1 = s->lambda[0];
    r.lambda2 = s->lambda[1];
    r.lambda3 = s->lambda[2];
    r.n_batches = s->n_batches;
    r.n_samples = s->n_samples;
    r.n_params = (uint64_t)s->n_params;
    r.n_modules = (uint32_t)s->n_modules;
    r.n_modules_skipped = skipped;
    r.zico_variant = o->zico_variant;
    r.fr_estimator = o->fr_estimator;
    r.loss_term = o->loss_term;
    r.std_ddof = o->std_ddof;
    r.library_version = SIGEO_VERSION_NUMBER;
    return sigeo__struct_out(out, &r, sizeof r, "sigeo_stats_result", &s->err);
}

SIGEO_API sigeo_status_t sigeo_stats_get_module_info(sigeo_stats_module_info_t *out, const sigeo_stats_t *s,
                                                     int32_t module)
{
    static const char fn[] = "sigeo_stats_get_module_info";
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: stats is NULL", fn);
    /* The handle's message buffer is bookkeeping, not state: writable through a const handle. */
    sigeo__errbuf_t *err = (sigeo__errbuf_t *)&s->err;
    if (!out)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if (module < 0 || module >= s->n_modules)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: module index %d out of range (%d registered)", fn,
                              (int)module, (int)s->n_modules);
    const module_t *mod = &s->modules[module];
    if (!mod->computed)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: module '%s': no sigeo_stats_compute since the last reset",
                              fn, mod->name);
    sigeo_stats_module_info_t info;
    memset(&info, 0, sizeof info);
    info.struct_size = (uint32_t)sizeof info;
    info.skipped = mod->zico.n_nonzero_sigma == 0;
    info.n_params = mod->count;
    info.n_nonzero_sigma = mod->zico.n_nonzero_sigma;
    info.ratio_sum = s->options.zico_variant == SIGEO_ZICO_REFERENCE_RECSYS ? mod->zico.first_ratio
                                                                            : mod->zico.ratio_sum;
    info.zico_term = info.skipped ? 0.0 : log(info.ratio_sum);
    info.theta_dot_grad_sum = mod->theta_dot_grad_sum;
    info.name = mod->name;
    return sigeo__struct_out(out, &info, sizeof info, "sigeo_stats_module_info", err);
}

SIGEO_API sigeo_status_t sigeo_stats_module_count(int32_t *out, const sigeo_stats_t *s)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_module_count: stats is NULL");
    if (!out)
        return sigeo__fail_on((sigeo__errbuf_t *)&s->err, SIGEO_ERR_INVALID_ARG, "sigeo_stats_module_count: out is NULL");
    *out = s->n_modules;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_stats_reset(sigeo_stats_t *s)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_stats_reset: stats is NULL");
    s->n_batches = 0;
    s->n_samples = 0;
    s->n_directional_batches = 0;
    s->sum_sq_directional = 0.0;
    s->loss_sum = 0.0;
    s->loss_last = 0.0;
    for (int32_t m = 0; m < s->n_modules; m++) {
        s->modules[m].theta_set = false;
        s->modules[m].computed = false;
        s->modules[m].theta_dot_grad_sum = 0.0;
        s->modules[m].fed = 0;
        s->modules[m].zico_folded = false;
        if (s->modules[m].rows)
            sigeo__welford_table_reset(&s->modules[m].tab);
    }
    s->fusing = false;
    s->broken = false;
    s->fuse_last = false;
    s->sealed = false;
    s->planned = 0;
    return SIGEO_OK;
}

SIGEO_API const char *sigeo_stats_last_error(const sigeo_stats_t *s)
{
    return s ? s->err.msg : "";
}

sigeo_status_t sigeo__stats_retune(sigeo_stats_t *s, const sigeo_stats_options_t *options)
{
    sigeo_stats_options_t o = SIGEO_STATS_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_stats_options", &s->err);
    double lambda[3];
    if (st == SIGEO_OK && (st = check_options(&o, lambda)) != SIGEO_OK)
        sigeo__propagate(&s->err, st);
    if (st != SIGEO_OK)
        return st;
    s->options = o;
    memcpy(s->lambda, lambda, sizeof lambda);
    return sigeo_stats_reset(s);
}

sigeo__errbuf_t *sigeo__stats_errbuf(sigeo_stats_t *s)
{
    return &s->err;
}
