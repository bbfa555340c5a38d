/* JSON provenance blocks (see provenance.h). */
#include "provenance.h"

#include <stdio.h>

#include "interrupt.h"
#include "program.h"
#include "sigeo/sigeo.h"

void provenance_json_completed(json_out_t *j, const char *unit, int64_t done, int64_t of)
{
    char of_unit[64];
    snprintf(of_unit, sizeof of_unit, "of_%s", unit);
    json_out_key(j, "completed");
    json_out_begin_object(j);
    json_out_key_int(j, unit, done);
    json_out_key_int(j, of_unit, of);
    json_out_end_object(j);
}

const char *provenance_zico_variant_name(int32_t v)
{
    switch (v) {
    case SIGEO_ZICO_MODULE_WISE: return "module-wise";
    case SIGEO_ZICO_NEURON_WISE: return "neuron-wise";
    case SIGEO_ZICO_REFERENCE_RECSYS: return "reference-recsys";
    default: return "unknown";
    }
}

const char *provenance_fr_estimator_name(int32_t v)
{
    switch (v) {
    case SIGEO_FR_EXACT: return "exact";
    case SIGEO_FR_IDENTITY: return "identity";
    case SIGEO_FR_REFERENCE_RECSYS: return "reference-recsys";
    case SIGEO_FR_REFERENCE_CV: return "reference-cv";
    default: return "unknown";
    }
}

const char *provenance_loss_term_name(int32_t v)
{
    switch (v) {
    case SIGEO_LOSS_MEAN: return "mean";
    case SIGEO_LOSS_LAST: return "last";
    default: return "unknown";
    }
}

void provenance_json(json_out_t *j, const provenance_t *p)
{
    json_out_key(j, "schema");
    json_out_begin_object(j);
    json_out_key_string(j, "name", p->schema);
    json_out_key_int(j, "version", p->schema_version);
    json_out_end_object(j);
    json_out_key_string(j, "program", p->program);
    json_out_key_string(j, "program_version", program_version());
    json_out_key_string(j, "libsigeo_version", sigeo_version());
    if (p->argc > 0 && p->argv) {
        json_out_key(j, "command");
        json_out_begin_array(j);
        for (int i = 0; i < p->argc; i++)
            json_out_string(j, p->argv[i]);
        json_out_end_array(j);
    }
    if (p->threads >= 0)
        json_out_key_int(j, "threads", p->threads);
    if (p->n_seeds && p->seeds) {
        json_out_key(j, "seeds");
        json_out_begin_array(j);
        for (size_t i = 0; i < p->n_seeds; i++)
            json_out_int(j, p->seeds[i]);
        json_out_end_array(j);
    }
    json_out_key_bool(j, "interrupted", p->interrupted);
    if (p->interrupted && interrupt_signal_name())
        json_out_key_string(j, "signal", interrupt_signal_name());
}

static void flags_json(json_out_t *j, uint32_t flags)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        { SIGEO_STATS_HAS_FR, "has_fr" },
        { SIGEO_STATS_FR_ZERO, "fr_zero" },
        { SIGEO_STATS_ALL_SKIPPED, "all_skipped" },
        { SIGEO_STATS_HAS_THETA_DOT, "has_theta_dot" },
    };
    json_out_key_int(j, "flags", flags);
    json_out_key(j, "flag_names");
    json_out_begin_array(j);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit)
            json_out_string(j, names[i].name);
    json_out_end_array(j);
}

/* The SiGeo family's terms and how they were computed: shared by the
 * proxy and the statistics results. */
typedef struct terms {
    double zico, fr, log_fr, loss, lambda[3];
    int32_t zico_variant, fr_estimator, loss_term;
    uint32_t std_ddof;
} terms_t;

static void terms_json(json_out_t *j, const terms_t *t)
{
    json_out_key_number(j, "zico", t->zico);
    json_out_key_number(j, "fr", t->fr);
    json_out_key_number(j, "log_fr", t->log_fr);
    json_out_key_number(j, "loss", t->loss);
    json_out_key(j, "lambdas");
    json_out_begin_array(j);
    for (int i = 0; i < 3; i++)
        json_out_number(j, t->lambda[i]);
    json_out_end_array(j);
    json_out_key_string(j, "zico_variant", provenance_zico_variant_name(t->zico_variant));
    json_out_key_string(j, "fr_estimator", provenance_fr_estimator_name(t->fr_estimator));
    json_out_key_string(j, "loss_term", provenance_loss_term_name(t->loss_term));
    json_out_key_int(j, "std_ddof", t->std_ddof);
}

void provenance_json_proxy_result(json_out_t *j, const sigeo_proxy_result_t *r)
{
    const char *kind = sigeo_proxy_kind_name((sigeo_proxy_kind_t)r->kind);
    json_out_key_string(j, "proxy", kind ? kind : "unknown");
    json_out_key_number(j, "score", r->score);
    json_out_key_number(j, "raw_score", r->raw_score);
    const terms_t t = { r->zico, r->fr, r->log_fr, r->loss, { r->lambda1, r->lambda2, r->lambda3 },
                        r->zico_variant, r->fr_estimator, r->loss_term, r->std_ddof };
    terms_json(j, &t);
    json_out_key_int(j, "k", r->k);
    json_out_key_int(j, "n_samples", (int64_t)r->n_samples);
    json_out_key_int(j, "batch_size", r->batch_size);
    json_out_key_int(j, "n_modules", r->n_modules);
    json_out_key_int(j, "n_modules_skipped", r->n_modules_skipped);
    json_out_key_int(j, "seed", (int64_t)r->seed);
    json_out_key_int(j, "threads", r->threads);
    flags_json(j, r->flags);
    json_out_key_int(j, "libsigeo_version_number", r->library_version);
    json_out_key_number(j, "seconds", r->seconds);
}

void provenance_json_stats_result(json_out_t *j, const sigeo_stats_result_t *r)
{
    json_out_key_number(j, "score", r->score);
    const terms_t t = { r->zico, r->fr, r->log_fr, r->loss, { r->lambda1, r->lambda2, r->lambda3 },
                        r->zico_variant, r->fr_estimator, r->loss_term, r->std_ddof };
    terms_json(j, &t);
    json_out_key_int(j, "k", (int64_t)r->n_batches);
    json_out_key_int(j, "n_samples", (int64_t)r->n_samples);
    json_out_key_int(j, "n_params", (int64_t)r->n_params);
    json_out_key_int(j, "n_modules", r->n_modules);
    json_out_key_int(j, "n_modules_skipped", r->n_modules_skipped);
    flags_json(j, r->flags);
    json_out_key_int(j, "libsigeo_version_number", r->library_version);
}
