/* The NAS run's checkpoint (nas.h, SIGEO_1.1: checkpoint_dir, resume):
 *   DIR/supernet.safetensors  the warmed-up supernet (sigeo_model_save)
 *   DIR/records.bin           the result's evaluations so far
 *   DIR/search.ckpt           the search (sigeo_search_save)
 * Records are written before the search checkpoint; on resume only as many
 * records as the search checkpoint has evaluations are kept, so a crash
 * between the two writes loses nothing and repeats nothing. Every file is
 * written to a temporary name and renamed. Native-endian. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "nas/nas_internal.h"

/* Version 1 (the first magic) has no ensemble fields; version 2 (written
 * now) follows every record with its member count, aggregate, set size and
 * member scores. Both load. */
static const char MAGIC[8] = { 'S', 'I', 'G', 'E', 'O', 'R', 'E', 'C' };
static const char MAGIC2[8] = { 'S', 'I', 'G', 'E', 'O', 'R', 'C', '2' };

sigeo_status_t sigeo__nas_ckpt_path(char *buf, size_t size, const char *dir, const char *name)
{
    if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nas_run: checkpoint_dir '%s' is too long", dir);
    return SIGEO_OK;
}

static bool put(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n;
}

static bool put_str(FILE *f, const char *s)
{
    uint32_t len = s ? (uint32_t)strlen(s) : 0u;
    return put(f, &len, sizeof len) && put(f, s, len);
}

sigeo_status_t sigeo__nas_save_records(const sigeo_nas_result_t *r, const char *path)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nas_run: checkpoint path '%s' is too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return sigeo__fail(SIGEO_ERR_IO, "sigeo_nas_run: cannot create '%s': %s", tmp, strerror(errno));
    uint64_t n = r->n_evals;
    int32_t n_arch = r->n;
    bool ok = put(f, MAGIC2, sizeof MAGIC2) && put(f, &n_arch, sizeof n_arch) && put(f, &n, sizeof n);
    for (uint64_t i = 0; ok && i < n; i++) {
        const sigeo__nas_eval_t *e = &r->evals[i];
        int32_t head[2] = { e->status, e->has_proxy };
        ok = put(f, head, sizeof head) && put(f, &e->hash, 8) && put(f, &e->cycle, 8) && put(f, &e->score, 8) &&
             put(f, &e->seconds, 8) && put(f, &e->proxy, sizeof e->proxy) && put_str(f, e->text) &&
             put_str(f, e->message) && put(f, r->eval_arch + i * (uint64_t)r->n, (size_t)r->n * sizeof(int32_t));
        const uint32_t members[2] = { e->n_members, 0u };
        ok = ok && put(f, members, sizeof members) && put(f, &e->aggregate, 8) && put(f, &e->aggregate_over, 8) &&
             put(f, e->members, e->n_members * sizeof *e->members);
    }
    const int err = errno;
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        const int e2 = ok ? errno : err;
        remove(tmp);
        return sigeo__fail(SIGEO_ERR_IO, "sigeo_nas_run: writing '%s' failed: %s", path, strerror(e2));
    }
    return SIGEO_OK;
}

static bool get(FILE *f, void *p, size_t n)
{
    return n == 0 || fread(p, 1, n, f) == n;
}

static char *get_str(FILE *f)
{
    uint32_t len;
    if (!get(f, &len, sizeof len) || len > (1u << 20))
        return NULL;
    char *s = sigeo__calloc((size_t)len + 1, 1);
    if (s && !get(f, s, len)) {
        sigeo__free(s);
        return NULL;
    }
    return s;
}

sigeo_status_t sigeo__nas_load_records(sigeo_nas_result_t *r, const char *path, uint64_t keep)
{
    static const char fn[] = "sigeo_nas_run: resume";
    FILE *f = fopen(path, "rb");
    if (!f)
        return sigeo__fail(SIGEO_ERR_IO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    char magic[8];
    int32_t n_arch;
    uint64_t n;
    sigeo_status_t st = SIGEO_OK;
    bool v2 = false;
    if (!get(f, magic, sizeof magic) ||
        (memcmp(magic, MAGIC, sizeof MAGIC) != 0 && !(v2 = memcmp(magic, MAGIC2, sizeof MAGIC2) == 0)) ||
        !get(f, &n_arch, sizeof n_arch) || !get(f, &n, sizeof n))
        st = sigeo__fail(SIGEO_ERR_FORMAT, "%s: '%s' is not a records checkpoint", fn, path);
    else if (n_arch != r->n || n < keep)
        st = sigeo__fail(SIGEO_ERR_FORMAT, "%s: '%s' has %llu records of %d choices; the search needs %llu of %d", fn,
                         path, (unsigned long long)n, (int)n_arch, (unsigned long long)keep, (int)r->n);
    int32_t *arch = st == SIGEO_OK ? sigeo__calloc((size_t)r->n, sizeof *arch) : NULL;
    if (st == SIGEO_OK && !arch)
        st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    for (uint64_t i = 0; st == SIGEO_OK && i < keep; i++) {
        int32_t head[2];
        sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
        sigeo_proxy_result_t pr;
        char *text = NULL, *message = NULL;
        bool ok = get(f, head, sizeof head) && get(f, &e.hash, 8) && get(f, &e.cycle, 8) && get(f, &e.score, 8) &&
                  get(f, &e.seconds, 8) && get(f, &pr, sizeof pr) && (text = get_str(f)) != NULL &&
                  (message = get_str(f)) != NULL && get(f, arch, (size_t)r->n * sizeof *arch);
        uint32_t members[2] = { 0u, 0u };
        double scores[SIGEO_SEARCH_ENSEMBLE_MAX];
        if (ok && v2) {
            ok = get(f, members, sizeof members) && members[0] <= SIGEO_SEARCH_ENSEMBLE_MAX &&
                 get(f, &e.aggregate, 8) && get(f, &e.aggregate_over, 8) &&
                 get(f, scores, members[0] * sizeof *scores);
            e.n_members = members[0];
            e.member_scores = members[0] ? scores : NULL;
        }
        if (!ok || sigeo_arch_hash(arch, r->n) != e.hash) {
            st = sigeo__fail(SIGEO_ERR_FORMAT, "%s: '%s': record %llu is truncated or damaged", fn, path,
                             (unsigned long long)i);
        } else {
            e.status = head[0];
            e.index = i;
            e.arch = arch;
            e.n_arch = r->n;
            e.arch_text = text;
            e.message = message;
            e.proxy = head[1] ? &pr : NULL;
            st = sigeo__nas_result_add_eval(r, &e);
        }
        sigeo__free(text);
        sigeo__free(message);
    }
    sigeo__free(arch);
    fclose(f);
    return st;
}
