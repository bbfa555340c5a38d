/* The search loop with a map hook (search.h, SIGEO_1.1): the same draws as
 * evolution.c's one-by-one loop, but the candidates of one step (the C
 * children of a cycle; the missing members of the initial population) are
 * first all drawn, then scored together through cb.map, then applied in
 * candidate order. A drawn candidate counts as seen (memo or pending)
 * before it is scored, as in the one-by-one loop where it is scored before
 * the next draw; the scorer draws nothing from the model's stream, so the
 * sequence of draws, records and populations is the same. */
#include <stdio.h>
#include <string.h>

#include "nn/probe.h"
#include "search/search_internal.h"

#define FAIL(s, status, ...) sigeo__fail_on(&(s)->err, status, __VA_ARGS__)

typedef struct task_ctx {
    sigeo_search_t *s;
} task_ctx_t;

static sigeo_status_t score_task(void *result, int64_t index, void *user)
{
    sigeo_search_t *s = ((task_ctx_t *)user)->s;
    return sigeo__search_score(result, s, s->pending + (size_t)index * (size_t)s->n);
}

/* Scores the pending candidates through the map and applies them in order. */
static sigeo_status_t score_pending(sigeo_search_t *s, int64_t cycle)
{
    if (s->n_pending == 0)
        return SIGEO_OK;
    task_ctx_t tc = { s };
    sigeo_status_t st = s->cb.map(s->scored, sizeof *s->scored, s->n_pending, score_task, &tc, s->cb.map_user);
    if (st != SIGEO_OK) {
        char message[SIGEO__ERRMSG_MAX];
        snprintf(message, sizeof message, "%s", sigeo_last_error());
        s->n_pending = 0;
        return FAIL(s, st, "search: scoring %s candidates through the map failed: %s",
                    cycle < 0 ? "initial" : "a cycle's", message);
    }
    for (uint32_t i = 0; i < s->n_pending && st == SIGEO_OK; i++) {
        const int32_t *arch = s->pending + (size_t)i * (size_t)s->n;
        bool ok;
        double score;
        if ((st = sigeo__search_apply(&ok, &score, s, arch, cycle, &s->scored[i])) == SIGEO_OK && ok)
            sigeo__search_push(s, arch, score);
    }
    s->n_pending = 0;
    return st;
}

/* Evaluations still allowed by the budget, counting the pending ones. */
static bool budget_left(const sigeo_search_t *s, double t0)
{
    if (s->o.max_evaluations && s->evaluations + s->n_pending >= s->o.max_evaluations)
        return false;
    return !sigeo__search_out_of_budget(s, t0);
}

/* A valid unseen draw into the next pending slot; *found false when every
 * attempt landed on a seen or invalid architecture. */
static sigeo_status_t draw_pending(bool *found, sigeo_search_t *s, sigeo_sampling_t how)
{
    sigeo_status_t st = sigeo__search_draw_unseen(found, s, s->pending + (size_t)s->n_pending * (size_t)s->n, how);
    if (st == SIGEO_OK && *found)
        s->n_pending++;
    return st;
}

/* Draws stop at a cancel; what was drawn is still scored (as the one-by-one
 * loop scores every candidate before the cancel), then the cancel returns. */
static sigeo_status_t fill_population(sigeo_search_t *s, double t0)
{
    uint64_t tries = 0, max_tries = (uint64_t)s->o.population * 4 + 16;
    bool exhausted = false;
    sigeo_status_t stop = SIGEO_OK;
    while (s->pop_size < s->o.population && !exhausted && stop == SIGEO_OK && tries < max_tries &&
           !sigeo__search_out_of_budget(s, t0)) {
        const uint32_t want = s->o.population - s->pop_size;
        while (s->n_pending < want && tries < max_tries && budget_left(s, t0)) {
            if ((stop = sigeo__search_cancelled(s)) != SIGEO_OK)
                break;
            tries++;
            bool found;
            sigeo_status_t st = draw_pending(&found, s, (sigeo_sampling_t)s->o.init_sampling);
            if (st != SIGEO_OK)
                return st;
            if (!found) {
                exhausted = true; /* the space has fewer distinct valid architectures than P */
                break;
            }
        }
        if (s->n_pending == 0)
            break;
        sigeo_status_t st = score_pending(s, -1);
        if (st != SIGEO_OK)
            return st;
    }
    if (stop != SIGEO_OK)
        return stop;
    if (s->pop_size == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "search: no architecture could be scored for the initial population (%llu evaluations, %llu "
                    "failed, %llu draws rejected as invalid or over budget)",
                    (unsigned long long)s->evaluations, (unsigned long long)s->failed,
                    (unsigned long long)s->rejected);
    s->initialized = true;
    return SIGEO_OK;
}

/* The children of cycle g (evolution) or its uniform draws (random search),
 * drawn as evolution.c draws them, then scored together. */
static sigeo_status_t step(sigeo_search_t *s, int64_t g, double t0)
{
    const bool evolution = s->o.kind != SIGEO_SEARCH_RANDOM;
    int32_t *parent = s->scratch, *child = s->scratch + s->n;
    uint32_t nmut = 0;
    if (evolution) {
        memcpy(parent, s->pop_arch + (size_t)sigeo__search_tournament(s) * (size_t)s->n,
               (size_t)s->n * sizeof *parent);
        nmut = sigeo__search_mutations_at(s, g);
    }
    sigeo_status_t stop = SIGEO_OK;
    bool budget_hit = false;
    for (uint32_t c = 0; c < s->o.children; c++) {
        if ((stop = sigeo__search_cancelled(s)) != SIGEO_OK)
            break;
        if (!budget_left(s, t0)) {
            budget_hit = true;
            break;
        }
        sigeo_status_t st;
        if (!evolution) {
            bool found;
            if ((st = draw_pending(&found, s, SIGEO_SAMPLE_UNIFORM)) != SIGEO_OK)
                return st;
            continue;
        }
        bool found;
        if ((st = sigeo__search_make_child(&found, s, parent, child, nmut)) != SIGEO_OK)
            return st;
        if (found)
            memcpy(s->pending + (size_t)s->n_pending++ * (size_t)s->n, child, (size_t)s->n * sizeof *child);
    }
    sigeo_status_t st = score_pending(s, g);
    if (st != SIGEO_OK)
        return st;
    if (stop != SIGEO_OK)
        return stop;
    /* evolution.c ends a cycle cut by the budget without ageing; so does this */
    if (!budget_hit)
        sigeo__search_age(s);
    return SIGEO_OK;
}

sigeo_status_t sigeo__search_run_mapped(sigeo_search_t *s, double t0)
{
    if (!s->pending) {
        const uint32_t cap = s->o.population > s->o.children ? s->o.population : s->o.children;
        s->pending = sigeo__calloc((size_t)cap * (size_t)s->n, sizeof *s->pending);
        s->scored = sigeo__calloc(cap, sizeof *s->scored);
        if (!s->pending || !s->scored) {
            sigeo__free(s->pending);
            sigeo__free(s->scored);
            s->pending = NULL;
            s->scored = NULL;
            return FAIL(s, SIGEO_ERR_NO_MEMORY, "sigeo_search_run: out of memory for %u pending candidates",
                        (unsigned)cap);
        }
    }
    s->n_pending = 0;
    sigeo_status_t st = SIGEO_OK;
    if (!s->initialized)
        st = fill_population(s, t0);
    if (st == SIGEO_OK)
        st = sigeo__search_ensemble_population(s);
    if (st == SIGEO_OK && s->cycles_done == 0)
        st = sigeo__search_report_cycle(s, -1, t0);
    while (st == SIGEO_OK && s->cycles_done < (int64_t)s->o.cycles && !sigeo__search_out_of_budget(s, t0)) {
        int64_t g = s->cycles_done;
        st = step(s, g, t0);
        if (st == SIGEO_OK)
            st = sigeo__search_ensemble_population(s);
        if (st == SIGEO_OK) {
            s->cycles_done++;
            st = sigeo__search_report_cycle(s, g, t0);
        }
    }
    return st;
}
