/*
 * The block every JSON output of the example programs starts with, and the
 * complete provenance of a proxy or statistics result, so a results file
 * says what produced it and how:
 *
 *   "schema": {"name": "sigeo-fig3.result", "version": 1},
 *   "program": "sigeo-fig3", "program_version": "0.1.0", "libsigeo_version": "0.1.0",
 *   "command": ["sigeo-fig3", "--quick"], "threads": 0, "seeds": [0],
 *   "interrupted": false
 *
 * (and "signal": "SIGINT" when interrupted). A schema's version grows when
 * a key changes meaning or disappears; new keys do not change it.
 */
#ifndef SIGEO_EXAMPLES_PROVENANCE_H
#define SIGEO_EXAMPLES_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "json_out.h"
#include "sigeo/proxy.h"
#include "sigeo/stats.h"

typedef struct provenance {
    const char *schema;      /* e.g. "sigeo-fig3.result" */
    int schema_version;      /* >= 1 */
    const char *program;
    int argc;                /* the command line (argc 0: not written) */
    char **argv;
    int64_t threads;         /* requested; 0 = all cores; < 0 = not written */
    const int64_t *seeds;    /* n_seeds of them (n_seeds 0: not written) */
    size_t n_seeds;
    int interrupted;         /* 1: the run stopped on a signal, the file holds what was complete */
} provenance_t;

/* Writes the keys above into the object being written (between its
 * begin_object and its own keys). */
void provenance_json(json_out_t *j, const provenance_t *p);

/* The key that says how much of the run a file holds, after the block
 * above in every program that can be interrupted:
 *   "completed": {"<unit>": done, "of_<unit>": of}
 * (sigeo-nas: methods; sigeo-rank: archs), done == of when complete. */
void provenance_json_completed(json_out_t *j, const char *unit, int64_t done, int64_t of);

/* Every field of a proxy result as the members of the current object:
 * proxy (kind name), score, raw_score, zico, fr, log_fr, loss, lambdas,
 * zico_variant, fr_estimator, loss_term, std_ddof, k, n_samples,
 * batch_size, n_modules, n_modules_skipped, seed, threads, flags,
 * libsigeo_version_number, seconds. */
void provenance_json_proxy_result(json_out_t *j, const sigeo_proxy_result_t *r);

/* The same for sigeo_stats_compute's result (stats.h). */
void provenance_json_stats_result(json_out_t *j, const sigeo_stats_result_t *r);

/* Names of the provenance enums ("module-wise", "exact", "mean", ...);
 * "unknown" for other values. */
const char *provenance_zico_variant_name(int32_t v);
const char *provenance_fr_estimator_name(int32_t v);
const char *provenance_loss_term_name(int32_t v);

#endif
