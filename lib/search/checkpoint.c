/* Search checkpoints (SIGEO_1.1, sigeo_search_save / sigeo_search_load):
 * everything a search needs to continue exactly where it was — every
 * evaluation (the memo, so nothing is scored twice), the population FIFO,
 * the counters, the tournament stream and the model context's stream (the
 * one the draws and mutations come from). Saved from the cycle callback,
 * at a cycle boundary, a checkpoint continues to the same records as an
 * uninterrupted run. The file is written to a temporary name and renamed
 * (a crash leaves the previous checkpoint whole); it is native-endian
 * (the machines of one job), with a magic, a version and the options it
 * was made with, checked on load. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "core/file.h"
#include "nn/probe.h"
#include "search/search_internal.h"

#define FAIL(s, status, ...) sigeo__fail_on(&(s)->err, status, __VA_ARGS__)

static const char MAGIC[8] = { 'S', 'I', 'G', 'E', 'O', 'S', 'R', 'C' };
enum { VERSION = 1 };

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
    if (s->o.n_ensemble > 0)
        return FAIL(s, SIGEO_ERR_UNSUPPORTED, "%s: an ensemble search (its member scores) is not checkpointed", fn);
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
    sigeo_status_t st = sigeo__save_prepare(&tmp, path, fn, &s->err);
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

SIGEO_API sigeo_status_t sigeo_search_load(sigeo_search_t *s, const char *path)
{
    static const char fn[] = "sigeo_search_load";
    if (!s || !path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, s ? "path" : "search");
    if (s->evaluations > 0 || s->initialized)
        return FAIL(s, SIGEO_ERR_INVALID_ARG, "%s: the search has already run (%llu evaluations); load into a new one",
                    fn, (unsigned long long)s->evaluations);
    if (s->o.n_ensemble > 0)
        return FAIL(s, SIGEO_ERR_UNSUPPORTED, "%s: an ensemble search (its member scores) is not checkpointed", fn);
    FILE *f = fopen(path, "rb");
    if (!f)
        return FAIL(s, SIGEO_ERR_IO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    header_t h, want;
    fill_header(&want, s);
    sigeo_status_t st = SIGEO_OK;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, MAGIC, sizeof MAGIC) != 0)
        st = FAIL(s, SIGEO_ERR_FORMAT, "%s: '%s' is not a libsigeo search checkpoint", fn, path);
    else if (h.version != VERSION)
        st = FAIL(s, SIGEO_ERR_UNSUPPORTED, "%s: '%s' has version %u (this library reads %u)", fn, path,
                  (unsigned)h.version, (unsigned)VERSION);
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
    fclose(f);
    if (st != SIGEO_OK) { /* back to a fresh search */
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
    return SIGEO_OK;
}
