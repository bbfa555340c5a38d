/* Search checkpoints (SIGEO_1.1, sigeo_search_save / sigeo_search_load):
 * everything a search needs to continue exactly where it was — every
 * evaluation (the memo, so nothing is scored twice), the population FIFO,
 * the counters, the tournament stream and the model context's stream (the
 * one the draws and mutations come from). Saved from the cycle callback,
 * at a cycle boundary, a checkpoint continues to the same records as an
 * uninterrupted run. The file is written to a temporary name and renamed
 * (a crash leaves the previous checkpoint whole); it is native-endian
 * (the machines of one job), with a magic, a version and the options it
 * was made with, checked on load.
 * Version 2 adds, after the memo, the ensemble section: the member count,
 * the aggregation, the kinds and weights (checked against the search's) and
 * the member-score log of every evaluation, so an ensemble search resumes
 * to the same records. Version 1 files (no ensemble section; no ensemble
 * search could write one) still load into a search without an ensemble. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "core/file.h"
#include "nn/probe.h"
#include "search/search_internal.h"

#define FAIL(s, status, ...) sigeo__fail_on(&(s)->err, status, __VA_ARGS__)

static const char MAGIC[8] = { 'S', 'I', 'G', 'E', 'O', 'S', 'R', 'C' };
enum { VERSION = 2, VERSION_MIN = 1 };

/* The ensemble section's head (version 2). */
typedef struct ensemble_head {
    uint32_t n_ensemble;
    int32_t aggregate;
    int32_t kinds[SIGEO_SEARCH_ENSEMBLE_MAX];
    double weights[SIGEO_SEARCH_ENSEMBLE_MAX];
    uint64_t rows;           /* evaluations in the log */
} ensemble_head_t;

static void fill_ensemble(ensemble_head_t *e, const sigeo_search_t *s)
{
    memset(e, 0, sizeof *e);
    e->n_ensemble = s->o.n_ensemble;
    if (s->o.n_ensemble == 0)
        return;
    e->aggregate = s->o.ensemble_aggregate;
    for (uint32_t k = 0; k < s->o.n_ensemble; k++) {
        e->kinds[k] = s->o.ensemble_kinds[k];
        e->weights[k] = s->o.ensemble_weights[k];
    }
    e->rows = s->ens_rows;
}

/* The options that shape the trajectory, as the file holds them. */
typedef struct header {
    char magic[8];
    uint32_t version;
    int32_t n;
    int32_t kind, init_sampling, mutation_schedule;
    uint32_t population, sample_size, children, cycles, max_attempts;
    uint64_t seed, max_evaluations;
    /* state */
    uint64_t evaluations, failed, rejected, revisits;
    int64_t cycles_done, memo_count;
    double best_ever, seconds;
    uint32_t pop_head, pop_size;
    uint64_t rng[4], model_rng[4];
    int32_t initialized;
    uint32_t reserved;
} header_t;

static void fill_header(header_t *h, const sigeo_search_t *s)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MAGIC, sizeof MAGIC);
    h->version = VERSION;
    h->n = s->n;
    h->kind = s->o.kind;
    h->init_sampling = s->o.init_sampling;
    h->mutation_schedule = s->o.mutation_schedule;
    h->population = s->o.population;
    h->sample_size = s->o.sample_size;
    h->children = s->o.children;
    h->cycles = s->o.cycles;
    h->max_attempts = s->o.max_attempts;
    h->seed = s->o.seed;
    h->max_evaluations = s->o.max_evaluations;
}

SIGEO_API sigeo_status_t sigeo_search_save(const sigeo_search_t *cs, const char *path)
{
    static const char fn[] = "sigeo_search_save";
    sigeo_search_t *s = (sigeo_search_t *)cs; /* only the error buffer is written */
    if (!s || !path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, s ? "path" : "search");
    /* the memo's aggregates up to date (they are not needed to resume, but
     * the file then holds what sigeo_search_top would say) */
    sigeo_status_t st = sigeo__search_ensemble_refresh(s);
    if (st != SIGEO_OK)
        return st;
    header_t h;
    fill_header(&h, s);
    h.evaluations = s->evaluations;
    h.failed = s->failed;
    h.rejected = s->rejected;
    h.revisits = s->revisits;
    h.cycles_done = s->cycles_done;
    h.memo_count = s->memo.count;
    h.best_ever = s->best_ever;
    h.seconds = s->seconds;
    h.pop_head = s->pop_head;
    h.pop_size = s->pop_size;
    memcpy(h.rng, s->rng.s, sizeof h.rng);
    memcpy(h.model_rng, sigeo__probe_model_rng(s->model)->s, sizeof h.model_rng);
    h.initialized = s->initialized;
    char *tmp = NULL;
    st = sigeo__save_prepare(&tmp, path, fn, &s->err);
    if (st != SIGEO_OK)
        return st;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        const int e0 = errno;
        st = FAIL(s, SIGEO_ERR_IO, "%s: cannot create '%s': %s", fn, tmp, strerror(e0));
        sigeo__free(tmp);
        return st;
    }
    const size_t cap = (size_t)s->o.population + s->o.children, n = (size_t)s->n;
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(s->pop_arch, sizeof(int32_t), cap * n, f) == cap * n &&
              fwrite(s->pop_score, sizeof(double), cap, f) == cap;
    /* the memo's used entries, in table order (insertion rebuilds it) */
    for (int64_t i = 0; ok && i < s->memo.cap; i++) {
        const sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (!e->used)
            continue;
        ok = fwrite(e, sizeof *e, 1, f) == 1 && fwrite(sigeo__memo_arch(&s->memo, i), sizeof(int32_t), n, f) == n;
    }
    ensemble_head_t eh;
    fill_ensemble(&eh, s);
    const size_t log_n = (size_t)eh.rows * s->o.n_ensemble; /* the log holds them: no overflow */
    ok = ok && fwrite(&eh, sizeof eh, 1, f) == 1 && (log_n == 0 || fwrite(s->ens_log, sizeof(double), log_n, f) == log_n);
    if (ok) /* durable before the rename makes it the checkpoint */
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    const int err = errno;
    if (fclose(f) != 0 && ok)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        const int e2 = ok ? errno : err;
        remove(tmp);
        sigeo__free(tmp);
        return FAIL(s, SIGEO_ERR_IO, "%s: writing '%s' failed: %s", fn, path, strerror(e2));
    }
    sigeo__sync_parent_dir(tmp);
    sigeo__free(tmp);
    return SIGEO_OK;
}

/* The ensemble section of a version-2 file into s->ens_log. */
static sigeo_status_t load_ensemble(sigeo_search_t *s, FILE *f, const char *path, const header_t *h)
{
    static const char fn[] = "sigeo_search_load";
    ensemble_head_t eh, want;
    fill_ensemble(&want, s);
    if (fread(&eh, sizeof eh, 1, f) != 1)
        return FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is truncated (ensemble section)", fn, path);
    if (eh.n_ensemble != want.n_ensemble || eh.aggregate != want.aggregate ||
        memcmp(eh.kinds, want.kinds, sizeof eh.kinds) != 0 || memcmp(eh.weights, want.weights, sizeof eh.weights) != 0)
        return FAIL(s, SIGEO_ERR_INVALID_ARG,
                    "%s: '%s' was made by another ensemble (%u members vs %u, aggregation %d vs %d, or other kinds or "
                    "weights)",
                    fn, path, (unsigned)eh.n_ensemble, (unsigned)want.n_ensemble, (int)eh.aggregate,
                    (int)want.aggregate);
    if (eh.n_ensemble == 0)
        return SIGEO_OK;
    if (eh.rows != h->evaluations)
        return FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s': inconsistent state (%llu logged member scores, %llu evaluations)",
                    fn, path, (unsigned long long)eh.rows, (unsigned long long)h->evaluations);
    const uint32_t P = eh.n_ensemble;
    size_t count;
    if (eh.rows > SIZE_MAX || !sigeo__mul_size(&count, (size_t)eh.rows, P))
        return FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s': %llu evaluations do not fit in memory", fn, path,
                    (unsigned long long)eh.rows);
    double *log = sigeo__calloc(count ? count : 1, sizeof *log);
    if (!log)
        return FAIL(s, SIGEO_ERR_NO_MEMORY, "%s: out of memory for the ensemble log of %llu evaluations", fn,
                    (unsigned long long)eh.rows);
    if (count && fread(log, sizeof *log, count, f) != count) {
        sigeo__free(log);
        return FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is truncated (ensemble member scores)", fn, path);
    }
    /* every successful evaluation has finite-or-infinite member scores, every failed one NaN */
    for (int64_t i = 0; i < s->memo.cap; i++) {
        const sigeo__memo_entry_t *e = &s->memo.entries[i];
        if (!e->used)
            continue;
        bool bad = e->order < 0 || (uint64_t)e->order >= eh.rows;
        for (uint32_t k = 0; !bad && k < P; k++)
            bad = isnan(log[(uint64_t)e->order * P + k]) != (e->status != SIGEO_OK);
        if (bad) {
            sigeo__free(log);
            return FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s': the member scores of evaluation %lld do not match its status",
                        fn, path, (long long)e->order);
        }
    }
    sigeo__free(s->ens_log);
    s->ens_log = log;
    s->ens_log_cap = eh.rows;
    s->ens_rows = eh.rows;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_search_load(sigeo_search_t *s, const char *path)
{
    static const char fn[] = "sigeo_search_load";
    if (!s || !path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, s ? "path" : "search");
    if (s->evaluations > 0 || s->initialized)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "%s: the search has already run (%llu evaluations); load into a new one",
                    fn, (unsigned long long)s->evaluations);
    FILE *f = fopen(path, "rb");
    if (!f)
        return FAIL(s, SIGEO_ERR_IO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    header_t h, want;
    fill_header(&want, s);
    sigeo_status_t st = SIGEO_OK;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, MAGIC, sizeof MAGIC) != 0)
        st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is not a libsigeo search checkpoint", fn, path);
    else if (h.version < VERSION_MIN || h.version > VERSION)
        st = FAIL(s, SIGEO_ERR_UNSUPPORTED, "%s: '%s' has version %u (this library reads %u to %u)", fn, path,
                  (unsigned)h.version, (unsigned)VERSION_MIN, (unsigned)VERSION);
    else if (h.version < 2 && s->o.n_ensemble > 0)
        st = FAIL(s, SIGEO_ERR_INVALID_ARG,
                  "%s: '%s' (version %u) has no ensemble member scores; this search is an ensemble of %u", fn,
                  path, (unsigned)h.version, (unsigned)s->o.n_ensemble);
    else if (h.n != want.n || h.kind != want.kind || h.init_sampling != want.init_sampling ||
             h.mutation_schedule != want.mutation_schedule || h.population != want.population ||
             h.sample_size != want.sample_size || h.children != want.children || h.cycles != want.cycles ||
             h.max_attempts != want.max_attempts || h.seed != want.seed || h.max_evaluations != want.max_evaluations)
        st = FAIL(s, SIGEO_ERR_INVALID_ARG,
                  "%s: '%s' was made by another search (choice points %d vs %d, P %u vs %u, C %u vs %u, G %u vs %u, "
                  "seed %llu vs %llu, or other options)",
                  fn, path, (int)h.n, (int)want.n, h.population, want.population, h.children, want.children, h.cycles,
                  want.cycles, (unsigned long long)h.seed, (unsigned long long)want.seed);
    else if (h.pop_size > h.population + h.children || h.pop_head >= h.population + h.children ||
             h.memo_count < 0 || (uint64_t)h.memo_count != h.evaluations)
        st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s': inconsistent state (population %u, %lld entries, %llu evaluations)",
                  fn, path, h.pop_size, (long long)h.memo_count, (unsigned long long)h.evaluations);
    const size_t cap = (size_t)s->o.population + s->o.children, n = (size_t)s->n;
    if (st == SIGEO_OK && (fread(s->pop_arch, sizeof(int32_t), cap * n, f) != cap * n ||
                           fread(s->pop_score, sizeof(double), cap, f) != cap))
        st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is truncated (population)", fn, path);
    int32_t *arch = s->scratch;
    for (int64_t i = 0; st == SIGEO_OK && i < h.memo_count; i++) {
        sigeo__memo_entry_t e;
        if (fread(&e, sizeof e, 1, f) != 1 || fread(arch, sizeof(int32_t), n, f) != n) {
            st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is truncated (evaluation %lld of %lld)", fn, path, (long long)i,
                      (long long)h.memo_count);
            break;
        }
        if (e.hash != sigeo_arch_hash(arch, s->n) || sigeo_model_check_arch(s->model, arch, s->n) != SIGEO_OK ||
            sigeo__memo_find(&s->memo, arch, e.hash) >= 0) {
            st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s': evaluation %lld is not a distinct valid architecture of the model",
                      fn, path, (long long)i);
            break;
        }
        int64_t idx;
        if ((st = sigeo__memo_insert(&idx, &s->memo, arch, e.hash)) != SIGEO_OK) {
            st = sigeo__propagate(&s->err, st);
            break;
        }
        s->memo.entries[idx].status = e.status;
        s->memo.entries[idx].score = e.score;
        s->memo.entries[idx].order = e.order;
    }
    if (st == SIGEO_OK && h.version >= 2)
        st = load_ensemble(s, f, path, &h);
    fclose(f);
    if (st != SIGEO_OK) { /* back to a fresh search */
        s->ens_rows = 0;
        s->ens_stale = false;
        sigeo__memo_free(&s->memo);
        sigeo_status_t mst = sigeo__memo_init(&s->memo, s->n);
        s->pop_size = s->pop_head = 0;
        return mst != SIGEO_OK ? sigeo__propagate(&s->err, mst) : st;
    }
    s->evaluations = h.evaluations;
    s->failed = h.failed;
    s->rejected = h.rejected;
    s->revisits = h.revisits;
    s->cycles_done = h.cycles_done;
    s->best_ever = h.best_ever;
    s->seconds = h.seconds;
    s->pop_head = h.pop_head;
    s->pop_size = h.pop_size;
    memcpy(s->rng.s, h.rng, sizeof h.rng);
    memcpy(sigeo__probe_model_rng(s->model)->s, h.model_rng, sizeof h.model_rng);
    s->initialized = h.initialized != 0;
    s->ens_stale = s->o.n_ensemble > 0; /* the memo's aggregates are redone from the log when read */
    return SIGEO_OK;
}
