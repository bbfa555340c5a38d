/* The search loop: the initial population, regularized evolution with
 * aging (Real et al.; docs/nasrec.md §5.1) and the random-search baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/probe.h"
#include "search/search_internal.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define FAIL(s, status, ...) sigeo__fail_on(&(s)->err, status, __VA_ARGS__)

/* A host callback returned `st`. If a library call inside it failed (the
 * thread's failure count moved since `failures`), that message says what
 * went wrong and is kept, with the callback named in front; otherwise only
 * the status is known (an older message on the thread is not the
 * callback's and is not repeated). */
static sigeo_status_t callback_failed(sigeo__errbuf_t *err, sigeo_status_t st, uint64_t failures, const char *who)
{
    if (sigeo__failure_count() != failures)
        return sigeo__fail_wrap(err, st, "%s returned '%s'", who, sigeo_status_string(st));
    return sigeo__fail_on(err, st, "%s returned '%s'", who, sigeo_status_string(st));
}

/* Validity: routing and groups (the model), the built-in budget, the host rule. */
static sigeo_status_t is_valid(bool *valid, sigeo_search_t *s, const int32_t *arch)
{
    *valid = false;
    if (sigeo_model_check_arch(s->model, arch, s->n) != SIGEO_OK)
        return SIGEO_OK;
    if (s->max_params > 0 || s->max_flops > 0) {
        int64_t p, f;
        sigeo_status_t st = sigeo_model_count(&p, &f, s->model, arch, s->n);
        if (st != SIGEO_OK)
            return st;
        if ((s->max_params > 0 && p > s->max_params) || (s->max_flops > 0 && f > s->max_flops))
            return SIGEO_OK;
    }
    if (s->cb.valid) {
        int ok = 0;
        const uint64_t failures = sigeo__failure_count();
        sigeo_status_t st = s->cb.valid(&ok, arch, s->n, s->cb.valid_user);
        if (st != SIGEO_OK)
            return callback_failed(&s->err, st, failures, "search: the validity callback");
        if (!ok)
            return SIGEO_OK;
    }
    *valid = true;
    return SIGEO_OK;
}

static bool out_of_budget(const sigeo_search_t *s, double t_start)
{
    if (s->o.max_evaluations && s->evaluations >= s->o.max_evaluations)
        return true;
    if (s->o.max_seconds > 0 && s->seconds + (now_seconds() - t_start) >= s->o.max_seconds)
        return true;
    return false;
}

/* Scores `arch` into *r (the part a map task runs). Only running out of
 * memory is returned: it says nothing about the candidate, and the search
 * stops with it (the candidate stays unseen, so a retry scores it). */
sigeo_status_t sigeo__search_score(sigeo__scored_t *r, sigeo_search_t *s, const int32_t *arch)
{
    double t0 = now_seconds(), score = 0.0;
    memset(r, 0, sizeof *r);
    sigeo_proxy_result_t pr = SIGEO_PROXY_RESULT_INIT;
    sigeo_status_t st;
    if (s->cb.score) {
        const uint64_t failures = sigeo__failure_count();
        st = s->cb.score(&score, arch, s->n, s->cb.score_user);
        if (st != SIGEO_OK)
            callback_failed(NULL, st, failures, "the score callback"); /* the candidate's record, not the search's */
        else if (!isfinite(score))
            st = sigeo__fail(SIGEO_ERR_NONFINITE, "the score callback returned the score %g", score);
    } else if (s->o.n_ensemble > 0) {
        st = sigeo__search_ensemble_score(r, s, arch);
        pr = r->proxy;
    } else {
        st = sigeo_proxy_compute(s->model, arch, s->n, s->batches, s->n_batches, &s->proxy, &pr);
        score = pr.score;
        if (st == SIGEO_OK && !isfinite(score))
            st = sigeo__fail(SIGEO_ERR_NONFINITE, "the proxy score is %g (fr %g, zico %g, loss %g)", score, pr.fr,
                             pr.zico, pr.loss);
    }
    if (st == SIGEO_ERR_NO_MEMORY)
        return sigeo__propagate(&s->err, st);

    r->status = st;
    r->has_proxy = !s->cb.score;
    r->score = st == SIGEO_OK ? score : 0.0;
    r->seconds = now_seconds() - t0;
    r->proxy = pr;
    if (st != SIGEO_OK)
        snprintf(r->message, sizeof r->message, "%s", sigeo_last_error());
    return SIGEO_OK;
}

/* Records a scored `arch` (memo, record callback, counters); *ok tells
 * whether its scoring succeeded. */
sigeo_status_t sigeo__search_apply(bool *ok, double *score_out, sigeo_search_t *s, const int32_t *arch, int64_t cycle,
                                   const sigeo__scored_t *r)
{
    const uint64_t hash = sigeo_arch_hash(arch, s->n);
    const sigeo_status_t st = r->status;
    int64_t idx;
    sigeo_status_t mst = sigeo__search_ensemble_reserve(s, s->evaluations, (uint64_t)s->memo.count + 1);
    if (mst != SIGEO_OK)
        return mst;
    mst = sigeo__memo_insert(&idx, &s->memo, arch, hash);
    if (mst != SIGEO_OK)
        return sigeo__propagate(&s->err, mst);
    s->memo.entries[idx].status = st;
    s->memo.entries[idx].score = r->score;
    s->memo.entries[idx].order = (int64_t)s->evaluations;
    /* An ensemble's score: the aggregate among everything scored so far,
     * provisional (the memo's aggregates go stale and are redone when read). */
    double aggregate;
    uint64_t over;
    if ((mst = sigeo__search_ensemble_apply(&aggregate, &over, s, s->evaluations, r)) != SIGEO_OK)
        return mst;
    const bool ensemble = s->o.n_ensemble > 0;
    if (ensemble && st == SIGEO_OK)
        s->memo.entries[idx].score = aggregate;
    const double score = s->memo.entries[idx].score;
    if (s->cb.record) {
        sigeo_arch_format(s->text, (size_t)s->n * 12 + 1, NULL, arch, s->n);
        double members[SIGEO_SEARCH_ENSEMBLE_MAX];
        for (uint32_t k = 0; k < s->o.n_ensemble; k++)
            members[k] = r->ens[k];
        sigeo_evaluation_t e = { sizeof e, st, s->evaluations, hash, cycle, score, r->seconds, arch,
                                 s->n, 0u, s->text, r->message, r->has_proxy ? &r->proxy : NULL,
                                 s->o.n_ensemble, 0u, ensemble ? members : NULL, aggregate, over };
        s->cb.record(&e, s->cb.record_user);
    }
    s->evaluations++;
    *ok = st == SIGEO_OK;
    if (*ok) {
        *score_out = score;
        if (!ensemble && score > s->best_ever) /* an ensemble's best_ever comes with the refresh */
            s->best_ever = score;
    } else {
        s->failed++;
    }
    return SIGEO_OK;
}

/* Scores `arch` (unseen) and records it; *ok tells whether it succeeded. */
static sigeo_status_t evaluate(bool *ok, double *score_out, sigeo_search_t *s, const int32_t *arch, int64_t cycle)
{
    sigeo__scored_t r;
    sigeo_status_t st = sigeo__search_score(&r, s, arch);
    return st != SIGEO_OK ? st : sigeo__search_apply(ok, score_out, s, arch, cycle, &r);
}

static void push(sigeo_search_t *s, const int32_t *arch, double score)
{
    const uint32_t cap = s->o.population + s->o.children;
    uint32_t slot = (s->pop_head + s->pop_size) % cap;
    memcpy(s->pop_arch + (size_t)slot * (size_t)s->n, arch, (size_t)s->n * sizeof *arch);
    s->pop_score[slot] = score;
    s->pop_size++;
}

static void age(sigeo_search_t *s)
{
    const uint32_t cap = s->o.population + s->o.children;
    while (s->pop_size > s->o.population) {
        s->pop_head = (s->pop_head + 1) % cap;
        s->pop_size--;
    }
}

/* Seen: scored (the memo) or drawn and waiting to be scored (the mapped
 * loop's pending candidates; none in the one-by-one loop). */
static bool seen(const sigeo_search_t *s, const int32_t *arch)
{
    if (sigeo__memo_find(&s->memo, arch, sigeo_arch_hash(arch, s->n)) >= 0)
        return true;
    for (uint32_t i = 0; i < s->n_pending; i++)
        if (memcmp(s->pending + (size_t)i * (size_t)s->n, arch, (size_t)s->n * sizeof *arch) == 0)
            return true;
    return false;
}

/* Draws a valid architecture not seen before into `arch`; *found false when
 * max_attempts draws all landed on seen or invalid ones. */
sigeo_status_t sigeo__search_draw_unseen(bool *found, sigeo_search_t *s, int32_t *arch, sigeo_sampling_t how)
{
    *found = false;
    for (uint32_t a = 0; a < s->o.max_attempts; a++) {
        sigeo_status_t st = sigeo__sample_arch_from(arch, s->n, s->model, how, &s->rng);
        if (st != SIGEO_OK)
            return sigeo__propagate(&s->err, st);
        bool valid;
        if ((st = is_valid(&valid, s, arch)) != SIGEO_OK)
            return st;
        if (!valid) {
            s->rejected++;
            continue;
        }
        if (seen(s, arch)) {
            s->revisits++;
            continue;
        }
        *found = true;
        return SIGEO_OK;
    }
    return SIGEO_OK;
}

/* A child of `parent` into `child`: as NASRec, nmut mutations at a time
 * accumulate on the child until it is valid and unseen (an invalid trial
 * is discarded, the child restarts from its last valid state), at most
 * max_attempts trials; *found false when none got there. */
sigeo_status_t sigeo__search_make_child(bool *found, sigeo_search_t *s, const int32_t *parent, int32_t *child,
                                        uint32_t nmut)
{
    int32_t *trial = s->scratch + 2 * s->n;
    memcpy(child, parent, (size_t)s->n * sizeof *child);
    *found = false;
    for (uint32_t a = 0; a < s->o.max_attempts && !*found; a++) {
        memcpy(trial, child, (size_t)s->n * sizeof *trial);
        sigeo_status_t st;
        for (uint32_t k = 0; k < nmut; k++)
            if ((st = sigeo__mutate_arch_from(trial, s->n, s->model, &s->rng)) != SIGEO_OK)
                return sigeo__propagate(&s->err, st);
        bool valid;
        if ((st = is_valid(&valid, s, trial)) != SIGEO_OK)
            return st;
        if (!valid) {
            s->rejected++;
            continue;
        }
        memcpy(child, trial, (size_t)s->n * sizeof *child);
        if (seen(s, child)) {
            s->revisits++;
            continue;
        }
        *found = true;
    }
    return SIGEO_OK;
}

static sigeo_status_t cancelled(sigeo_search_t *s)
{
    if (s->cb.cancel && s->cb.cancel(s->cb.cancel_user))
        return FAIL(s, SIGEO_ERR_CANCELLED, "search: cancelled after %llu evaluations",
                    (unsigned long long)s->evaluations);
    return SIGEO_OK;
}

static sigeo_status_t fill_population(sigeo_search_t *s, double t0)
{
    int32_t *arch = s->scratch;
    /* Failed candidates do not join: keep drawing, within a bounded number of tries. */
    uint64_t tries = 0, max_tries = (uint64_t)s->o.population * 4 + 16;
    while (s->pop_size < s->o.population && tries++ < max_tries && !out_of_budget(s, t0)) {
        sigeo_status_t st = cancelled(s);
        if (st != SIGEO_OK)
            return st;
        bool found;
        if ((st = sigeo__search_draw_unseen(&found, s, arch, (sigeo_sampling_t)s->o.init_sampling)) != SIGEO_OK)
            return st;
        if (!found)
            break; /* the space has fewer distinct valid architectures than P */
        bool ok;
        double score;
        if ((st = evaluate(&ok, &score, s, arch, -1)) != SIGEO_OK)
            return st;
        if (ok)
            push(s, arch, score);
    }
    if (s->pop_size == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "search: no architecture could be scored for the initial population (%llu evaluations, %llu "
                    "failed, %llu draws rejected as invalid or over budget)",
                    (unsigned long long)s->evaluations, (unsigned long long)s->failed,
                    (unsigned long long)s->rejected);
    s->initialized = true;
    return SIGEO_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sigeo_status_t report_cycle(sigeo_search_t *s, int64_t cycle, double t0)
{
    if (!s->cb.cycle)
        return SIGEO_OK;
    sigeo_status_t st = sigeo__search_ensemble_refresh(s); /* best_ever over every evaluation */
    if (st != SIGEO_OK)
        return st;
    const uint32_t cap = s->o.population + s->o.children;
    double *buf = s->sorted;
    sigeo_cycle_report_t r = { sizeof r, s->pop_size, cycle, s->evaluations, s->failed, -INFINITY, 0.0, s->best_ever,
                               s->seconds + now_seconds() - t0 };
    for (uint32_t i = 0; i < s->pop_size; i++)
        buf[i] = s->pop_score[(s->pop_head + i) % cap];
    qsort(buf, s->pop_size, sizeof *buf, cmp_double);
    if (s->pop_size > 0) {
        r.best_score = buf[s->pop_size - 1];
        r.median_score = s->pop_size % 2 ? buf[s->pop_size / 2]
                                         : 0.5 * (buf[s->pop_size / 2 - 1] + buf[s->pop_size / 2]);
    }
    s->cb.cycle(&r, s->cb.cycle_user);
    return SIGEO_OK;
}

/* Tournament order: NaN below everything, -inf included, then the usual
 * order; ties keep the earlier member. */
static bool beats(double a, double b)
{
    return !isnan(a) && (isnan(b) || a > b);
}

/* Tournament: the best of min(S, size) distinct members drawn uniformly.
 * The first drawn member is the winner until one beats it. Starting from
 * "slot 0 with -inf" instead handed back slot 0 of the ring, which after
 * aging may be a dead member's, whenever no drawn member beat -inf (an
 * ensemble's z-score aggregate keeps a member's infinite score). */
static uint32_t tournament(sigeo_search_t *s)
{
    const uint32_t cap = s->o.population + s->o.children;
    const uint32_t k = s->o.sample_size < s->pop_size ? s->o.sample_size : s->pop_size;
    for (uint32_t i = 0; i < s->pop_size; i++)
        s->pick[i] = i;
    uint32_t best = s->pop_head;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t j = i + (uint32_t)sigeo__rng_below(&s->rng, s->pop_size - i);
        uint32_t t = s->pick[i];
        s->pick[i] = s->pick[j];
        s->pick[j] = t;
        uint32_t slot = (s->pop_head + s->pick[i]) % cap;
        if (i == 0 || beats(s->pop_score[slot], s->pop_score[best]))
            best = slot;
    }
    return best;
}

static uint32_t mutations_at(const sigeo_search_t *s, int64_t g)
{
    if (s->o.mutation_schedule != SIGEO_MUTATE_NASREC)
        return 1;
    int64_t G = s->o.cycles, div = G / 5 > 20 ? G / 5 : 20;
    return (uint32_t)((G - g) / div + 1);
}

static sigeo_status_t evolve_cycle(sigeo_search_t *s, int64_t g, double t0)
{
    int32_t *parent = s->scratch, *child = s->scratch + s->n;
    memcpy(parent, s->pop_arch + (size_t)tournament(s) * (size_t)s->n, (size_t)s->n * sizeof *parent);
    const uint32_t nmut = mutations_at(s, g);
    for (uint32_t c = 0; c < s->o.children; c++) {
        sigeo_status_t st = cancelled(s);
        if (st != SIGEO_OK)
            return st;
        if (out_of_budget(s, t0))
            return SIGEO_OK;
        bool found;
        if ((st = sigeo__search_make_child(&found, s, parent, child, nmut)) != SIGEO_OK)
            return st;
        if (!found)
            continue; /* the neighbourhood is exhausted: no child this time */
        bool ok;
        double score;
        if ((st = evaluate(&ok, &score, s, child, g)) != SIGEO_OK)
            return st;
        if (ok)
            push(s, child, score);
    }
    age(s);
    return SIGEO_OK;
}

static sigeo_status_t random_step(sigeo_search_t *s, int64_t g, double t0)
{
    int32_t *arch = s->scratch;
    for (uint32_t c = 0; c < s->o.children; c++) {
        sigeo_status_t st = cancelled(s);
        if (st != SIGEO_OK)
            return st;
        if (out_of_budget(s, t0))
            return SIGEO_OK;
        bool found;
        if ((st = sigeo__search_draw_unseen(&found, s, arch, SIGEO_SAMPLE_UNIFORM)) != SIGEO_OK)
            return st;
        if (!found)
            continue;
        bool ok;
        double score;
        if ((st = evaluate(&ok, &score, s, arch, g)) != SIGEO_OK)
            return st;
        if (ok)
            push(s, arch, score);
    }
    age(s); /* the "population" of random search is just its recent window, for reports */
    return SIGEO_OK;
}

/* However a run ends (done, cancelled, failed), an ensemble's aggregates
 * over every evaluation are brought up to date: top and info read them. */
static sigeo_status_t finish(sigeo_search_t *s, sigeo_status_t st)
{
    sigeo_status_t rst = sigeo__search_ensemble_refresh(s);
    return st != SIGEO_OK ? st : rst;
}

SIGEO_API sigeo_status_t sigeo_search_run(sigeo_search_t *s)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_run: search is NULL");
    if (!s->cb.score && s->n_batches == 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_search_run: no scorer: set batches for the default proxy scorer or a score callback");
    if (s->cb.score && s->o.n_ensemble > 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "sigeo_search_run: an ensemble (n_ensemble %u) scores with the proxies, not a score callback",
                    (unsigned)s->o.n_ensemble);
    const double t0 = now_seconds();
    sigeo_status_t st = SIGEO_OK;
    if (s->cb.map) {
        st = sigeo__search_run_mapped(s, t0);
        s->seconds += now_seconds() - t0;
        return finish(s, st);
    }
    s->n_pending = 0; /* nothing waits to be scored in this loop */
    if (!s->initialized)
        st = fill_population(s, t0);
    if (st == SIGEO_OK)
        st = sigeo__search_ensemble_population(s);
    if (st == SIGEO_OK && s->cycles_done == 0)
        st = report_cycle(s, -1, t0);
    while (st == SIGEO_OK && s->cycles_done < (int64_t)s->o.cycles && !out_of_budget(s, t0)) {
        int64_t g = s->cycles_done;
        st = s->o.kind == SIGEO_SEARCH_RANDOM ? random_step(s, g, t0) : evolve_cycle(s, g, t0);
        if (st == SIGEO_OK)
            st = sigeo__search_ensemble_population(s);
        if (st == SIGEO_OK) {
            s->cycles_done++;
            st = report_cycle(s, g, t0);
        }
    }
    s->seconds += now_seconds() - t0;
    return finish(s, st);
}

/* The pieces the mapped loop (evolution_map.c) shares with this one. */
sigeo_status_t sigeo__search_valid(bool *valid, sigeo_search_t *s, const int32_t *arch)
{
    return is_valid(valid, s, arch);
}

bool sigeo__search_out_of_budget(const sigeo_search_t *s, double t_start)
{
    return out_of_budget(s, t_start);
}

sigeo_status_t sigeo__search_cancelled(sigeo_search_t *s)
{
    return cancelled(s);
}

void sigeo__search_push(sigeo_search_t *s, const int32_t *arch, double score)
{
    push(s, arch, score);
}

void sigeo__search_age(sigeo_search_t *s)
{
    age(s);
}

uint32_t sigeo__search_tournament(sigeo_search_t *s)
{
    return tournament(s);
}

uint32_t sigeo__search_mutations_at(const sigeo_search_t *s, int64_t g)
{
    return mutations_at(s, g);
}

sigeo_status_t sigeo__search_report_cycle(sigeo_search_t *s, int64_t cycle, double t0)
{
    return report_cycle(s, cycle, t0);
}
