/* The result handle of sigeo_nas_run (nas.h): the selected candidate, the
 * retrained top-k, every search evaluation, and the run's summary. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "nas/nas_internal.h"

SIGEO_API sigeo_status_t sigeo_nas_summary_init(sigeo_nas_summary_t *summary, uint32_t struct_size)
{
    static const sigeo_nas_summary_t defaults = SIGEO_NAS_SUMMARY_INIT;
    return sigeo__struct_init(summary, struct_size, &defaults, sizeof defaults, "sigeo_nas_summary");
}

SIGEO_API sigeo_status_t sigeo_nas_candidate_init(sigeo_nas_candidate_t *candidate, uint32_t struct_size)
{
    static const sigeo_nas_candidate_t defaults = SIGEO_NAS_CANDIDATE_INIT;
    return sigeo__struct_init(candidate, struct_size, &defaults, sizeof defaults, "sigeo_nas_candidate");
}

sigeo_nas_result_t *sigeo__nas_result_new(sigeo_model_t *model, int32_t n, int32_t top_k)
{
    sigeo_nas_result_t *r = sigeo__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->model = model;
    r->n = n;
    r->summary = (sigeo_nas_summary_t)SIGEO_NAS_SUMMARY_INIT;
    r->best_arch = sigeo__calloc((size_t)n, sizeof *r->best_arch);
    r->cands = sigeo__calloc((size_t)top_k, sizeof *r->cands);
    size_t cells;
    if (sigeo__mul_size(&cells, (size_t)top_k, (size_t)n))
        r->cand_arch = sigeo__calloc(cells, sizeof *r->cand_arch);
    if (!r->best_arch || !r->cands || !r->cand_arch) {
        sigeo_nas_result_destroy(r);
        return NULL;
    }
    return r;
}

SIGEO_API void sigeo_nas_result_destroy(sigeo_nas_result_t *r)
{
    if (!r)
        return;
    for (uint64_t i = 0; i < r->n_evals; i++) {
        sigeo__free(r->evals[i].text);
        sigeo__free(r->evals[i].message);
    }
    sigeo__free(r->evals);
    sigeo__free(r->eval_arch);
    sigeo__free(r->best_arch);
    sigeo__free(r->cands);
    sigeo__free(r->cand_arch);
    if (r->owns_model)
        sigeo_model_destroy(r->model);
    sigeo__free(r);
}

sigeo_status_t sigeo__nas_result_add_eval(sigeo_nas_result_t *r, const sigeo_evaluation_t *e)
{
    if (r->n_evals == r->cap_evals) {
        uint64_t cap = r->cap_evals ? 2 * r->cap_evals : 64;
        size_t cells;
        if (cap > SIZE_MAX / sizeof(sigeo__nas_eval_t) || !sigeo__mul_size(&cells, (size_t)cap, (size_t)r->n))
            return sigeo__fail_on(&r->err, SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: too many evaluations to record");
        sigeo__nas_eval_t *ev = sigeo__realloc_array(r->evals, (size_t)r->cap_evals, (size_t)cap, sizeof *ev);
        if (!ev)
            return sigeo__fail_on(&r->err, SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory recording evaluations");
        r->evals = ev;
        int32_t *ea = sigeo__realloc_array(r->eval_arch, (size_t)r->cap_evals * (size_t)r->n, cells, sizeof *ea);
        if (!ea)
            return sigeo__fail_on(&r->err, SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory recording evaluations");
        r->eval_arch = ea;
        r->cap_evals = cap;
    }
    sigeo__nas_eval_t *d = &r->evals[r->n_evals];
    memset(d, 0, sizeof *d);
    d->text = sigeo__strdup(e->arch_text ? e->arch_text : "");
    if (e->message && e->message[0])
        d->message = sigeo__strdup(e->message);
    if (!d->text || (e->message && e->message[0] && !d->message)) {
        sigeo__free(d->text);
        sigeo__free(d->message);
        return sigeo__fail_on(&r->err, SIGEO_ERR_NO_MEMORY, "sigeo_nas_run: out of memory recording evaluations");
    }
    d->status = e->status;
    d->hash = e->hash;
    d->cycle = e->cycle;
    d->score = e->score;
    d->seconds = e->seconds;
    if (e->proxy) {
        d->has_proxy = true;
        d->proxy = *e->proxy;
    }
    d->aggregate = NAN;
    /* the ensemble's fields, when the record's struct_size has them */
    if (e->struct_size >= offsetof(sigeo_evaluation_t, aggregate_over) + sizeof e->aggregate_over &&
        e->n_members > 0 && e->n_members <= SIGEO_SEARCH_ENSEMBLE_MAX && e->member_scores) {
        d->n_members = e->n_members;
        memcpy(d->members, e->member_scores, e->n_members * sizeof *d->members);
        d->aggregate = e->aggregate;
        d->aggregate_over = e->aggregate_over;
    }
    memcpy(r->eval_arch + r->n_evals * (uint64_t)r->n, e->arch, (size_t)r->n * sizeof(int32_t));
    r->n_evals++;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nas_result_get_summary(sigeo_nas_summary_t *out, const sigeo_nas_result_t *r)
{
    if (!out || !r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nas_result_get_summary: %s is NULL", out ? "result" : "out");
    return sigeo__struct_out(out, &r->summary, sizeof r->summary, "sigeo_nas_summary", NULL);
}

SIGEO_API sigeo_status_t sigeo_nas_result_best_arch(int32_t *arch, int32_t capacity, const sigeo_nas_result_t *r)
{
    if (!arch || !r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nas_result_best_arch: %s is NULL", arch ? "result" : "arch");
    if (capacity < r->n)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nas_result_best_arch: capacity %d, the architecture has %d "
                                                  "choices", (int)capacity, (int)r->n);
    memcpy(arch, r->best_arch, (size_t)r->n * sizeof *arch);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nas_result_candidate(sigeo_nas_candidate_t *out, int32_t *arch, int32_t capacity,
                                                    const sigeo_nas_result_t *r, int32_t index)
{
    static const char fn[] = "sigeo_nas_result_candidate";
    if (!out || !r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, out ? "result" : "out");
    if (index < 0 || index >= r->summary.top_n)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: index %d, the result has %d candidates", fn, (int)index,
                           (int)r->summary.top_n);
    if (arch && capacity < r->n)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: capacity %d, the architecture has %d choices", fn,
                           (int)capacity, (int)r->n);
    sigeo_status_t st = sigeo__struct_out(out, &r->cands[index], sizeof r->cands[index], "sigeo_nas_candidate", NULL);
    if (st == SIGEO_OK && arch)
        memcpy(arch, r->cand_arch + (size_t)index * (size_t)r->n, (size_t)r->n * sizeof *arch);
    return st;
}

SIGEO_API uint64_t sigeo_nas_result_evaluation_count(const sigeo_nas_result_t *r)
{
    return r ? r->n_evals : 0;
}

SIGEO_API sigeo_status_t sigeo_nas_result_evaluation(sigeo_evaluation_t *out, const sigeo_nas_result_t *r,
                                                     uint64_t index)
{
    static const char fn[] = "sigeo_nas_result_evaluation";
    if (!out || !r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, out ? "result" : "out");
    if (index >= r->n_evals)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: index %llu, the result has %llu evaluations", fn,
                           (unsigned long long)index, (unsigned long long)r->n_evals);
    const sigeo__nas_eval_t *d = &r->evals[index];
    sigeo_evaluation_t e = { sizeof e, d->status, index, d->hash, d->cycle, d->score, d->seconds,
                             r->eval_arch + index * (uint64_t)r->n, r->n, 0u, d->text,
                             d->message ? d->message : "", d->has_proxy ? &d->proxy : NULL,
                             d->n_members, 0u, d->n_members ? d->members : NULL, d->aggregate, d->aggregate_over };
    return sigeo__struct_out(out, &e, sizeof e, "sigeo_evaluation", NULL);
}

SIGEO_API sigeo_model_t *sigeo_nas_result_model(const sigeo_nas_result_t *r)
{
    return r ? r->model : NULL;
}
