/* AZ-NAS (Lee & Ham, CVPR'24; docs/proxies-zoo.md): its feature-based
 * measures, each a kind. The "blocks" whose features are read are the
 * model's marked blocks that are active (sigeo_model_mark_block: a chain,
 * in node order, as the official code's extract_cell_features returns the
 * stem and every cell), or, in a model without marks, the active
 * non-identity activation nodes in node order (right where an activation
 * closes every block, as in the mlp space; on a cell space those are the
 * ReLUs of parallel edges, which is why the cell space marks its blocks).
 * A feature map of per-row shape (C, H, W) becomes B H W rows of C
 * channels, (T, E) B T rows of E, a flat [K] B rows of K -- as the
 * official code's permute(0, 2, 3, 1).view(b h w, c).
 *
 * Per block: Sigma = Xc^T Xc / N (Xc the rows minus their mean, N rows:
 * the biased covariance, in double), s = its eigenvalues, p = s / sum(s),
 * e = sum_i -p_i log(p_i + 1e-8): the entropy of the principal-component
 * spectrum, highest when the features are isotropic.
 *
 * az_expressivity = sum of e over the blocks; az_progressivity = min over
 * consecutive blocks of e_{l+1} - e_l (needs at least 2 blocks). A NaN
 * score becomes -inf, as the official code maps it. One forward, no labels.
 *
 * az_trainability, per pair of consecutive blocks (in, out), from the last
 * pair to the first: g_out = Rademacher signs on out's [B, width] (the
 * stream seeded with options.seed, one draw per element, row-major: bit 63
 * set -> +1), g_in = J^T g_out by the tape backward from out to in alone
 * (sigeo__tape_vjp_between: the paths through in only, as
 * torch.autograd.grad(f_out, f_in)). Both as rows x channels; where out has
 * fewer rows per sample (H_in = s_h H_out, W_in = s_w W_out) g_in is pixel-
 * unshuffled to (C_in s_h s_w, H_out, W_out), channel c s_h s_w + dy s_w +
 * dx (a flat block is (K, 1, 1)); where out has more, g_out is unshuffled
 * onto in's grid the same way; where neither grid divides the other, both
 * onto one row per sample. M = g_in^T g_out / rows (C_in' x C_out,
 * double), sigma = its largest singular value (sqrt of the top eigenvalue
 * of the smaller Gram matrix), term = -sigma - 1 / (sigma + 1e-6) + 2 (-inf
 * where g_in == g_out bit for bit, a pure skip); score = mean of the terms,
 * NaN -> -inf. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/rng.h"
#include "proxy/proxy.h"

/* The entropy of block `nd`'s covariance spectrum into *e. */
static sigeo_status_t block_entropy(double *e, const sigeo__proxy_call_t *c, const sigeo__probe_node_t *nd,
                                    int64_t B)
{
    int64_t F = nd->width, per = 1; /* F features; per rows per sample */
    if (nd->shape_ndim == 3) {
        F = nd->channels;
        per = nd->positions;
    } else if (nd->shape_ndim == 2) {
        F = nd->positions;
        per = nd->channels;
    }
    const int64_t N = B * per;
    /* element (row n*per + q, feature f) of sample n */
    const bool channel_major = nd->shape_ndim == 3;
    size_t bytes;
    const int64_t ew = sigeo__linalg_eig_work(F);
    if (!sigeo__mul_size(&bytes, (size_t)F, (size_t)F) || bytes > SIZE_MAX / 2 - (size_t)(2 * F + ew) ||
        !sigeo__mul_size(&bytes, bytes + (size_t)(2 * F + ew), sizeof(double)))
        return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "a %lld-channel covariance does not fit in memory",
                                 (long long)F);
    double *S;
    int *iwork;
    sigeo_status_t st;
    if ((st = sigeo__proxy_scratch((void **)&S, c, SIGEO__SCRATCH_A, bytes)) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_B, sizeof(int))) != SIGEO_OK)
        return st;
    double *mean = S + F * F, *w = mean + F, *ework = w + F;
    for (int64_t f = 0; f < F; f++)
        mean[f] = 0.0;
#define AT(n, q, f) ((double)nd->out[(n) * nd->width + (channel_major ? (f) * per + (q) : (q) * F + (f))])
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++)
            for (int64_t f = 0; f < F; f++)
                mean[f] += AT(n, q, f);
    for (int64_t f = 0; f < F; f++)
        mean[f] /= (double)N;
    for (int64_t k = 0; k < F * F; k++)
        S[k] = 0.0;
    for (int64_t n = 0; n < B; n++)
        for (int64_t q = 0; q < per; q++)
            for (int64_t i = 0; i < F; i++) {
                const double xi = AT(n, q, i) - mean[i];
                for (int64_t j = i; j < F; j++)
                    S[i * F + j] += xi * (AT(n, q, j) - mean[j]);
            }
#undef AT
    for (int64_t i = 0; i < F; i++)
        for (int64_t j = i; j < F; j++)
            S[i * F + j] = S[j * F + i] = S[i * F + j] / (double)N;
    if ((st = sigeo__linalg_sym_eigvals(w, S, F, ework, iwork, c)) != SIGEO_OK)
        return st;
    double total = 0.0, h = 0.0;
    for (int64_t i = 0; i < F; i++)
        total += w[i];
    for (int64_t i = 0; i < F; i++) {
        const double p = w[i] / total;
        h += -p * log(p + 1e-8);
    }
    *e = h;
    return SIGEO_OK;
}

/* A block's output as (C, H, W) rows x channels: element (n, c, h, w) of
 * the [B, width] buffer. */
typedef struct view {
    int64_t C, H, W, width;
    bool chw; /* channel-major (C, H, W); else channel-last ((T, E), flat) */
} view_t;

static view_t view_of(const sigeo__probe_node_t *nd)
{
    view_t v = { nd->width, 1, 1, nd->width, false };
    if (nd->shape_ndim == 3)
        v = (view_t){ nd->channels, nd->spatial[0], nd->spatial[1], nd->width, true };
    else if (nd->shape_ndim == 2)
        v = (view_t){ nd->positions, nd->channels, 1, nd->width, false };
    return v;
}

static inline int64_t at(const view_t *v, int64_t n, int64_t ch, int64_t h, int64_t w)
{
    return n * v->width + (v->chw ? (ch * v->H + h) * v->W + w : (h * v->W + w) * v->C + ch);
}

/* Element (n, c, h, w) of g (layout v) pixel-unshuffled by (sh, sw):
 * channel c = c0 sh sw + dy sw + dx is element (c0, h sh + dy, w sw + dx). */
static inline double unshuffled(const float *g, const view_t *v, int64_t n, int64_t c, int64_t h, int64_t w,
                                int64_t sh, int64_t sw)
{
    const int64_t c0 = c / (sh * sw), dy = c / sw % sh, dx = c % sw;
    return (double)g[at(v, n, c0, h * sh + dy, w * sw + dx)];
}

/* One pair's term from g_in (layout vi) and g_out (layout vo), both
 * unshuffled onto the coarser of the two position grids (the official
 * code's case: the later block is coarser), or, where neither grid
 * divides the other, onto one row per sample. */
static sigeo_status_t pair_term(double *term, const sigeo__proxy_call_t *c, const float *gin, const view_t *vi,
                                const float *gout, const view_t *vo, int64_t B)
{
    if (vi->width == vo->width && vi->C == vo->C && vi->H == vo->H && vi->W == vo->W &&
        memcmp(gin, gout, (size_t)(B * vi->width) * sizeof(float)) == 0) {
        *term = -INFINITY;
        return SIGEO_OK;
    }
    int64_t Hr = 1, Wr = 1;
    if (vi->H % vo->H == 0 && vi->W % vo->W == 0) {
        Hr = vo->H;
        Wr = vo->W;
    } else if (vo->H % vi->H == 0 && vo->W % vi->W == 0) {
        Hr = vi->H;
        Wr = vi->W;
    }
    const int64_t shi = vi->H / Hr, swi = vi->W / Wr, sho = vo->H / Hr, swo = vo->W / Wr;
    const int64_t Ci = vi->C * shi * swi, Co = vo->C * sho * swo;
    const int64_t k = Ci < Co ? Ci : Co, ew = sigeo__linalg_eig_work(k);
    size_t n_m, n_g, bytes;
    if (!sigeo__mul_size(&n_m, (size_t)Ci, (size_t)Co) || !sigeo__mul_size(&n_g, (size_t)k, (size_t)k) ||
        n_m > SIZE_MAX / 4 - n_g - (size_t)(k + ew) ||
        !sigeo__mul_size(&bytes, n_m + n_g + (size_t)(k + ew), sizeof(double)))
        return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY,
                                 "%s: a %lld x %lld block Jacobian product does not fit in memory", c->name,
                                 (long long)Ci, (long long)Co);
    double *M;
    int *iwork;
    sigeo_status_t st;
    if ((st = sigeo__proxy_scratch((void **)&M, c, SIGEO__SCRATCH_A, bytes)) != SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&iwork, c, SIGEO__SCRATCH_B, sizeof(int))) != SIGEO_OK)
        return st;
    double *G = M + n_m, *w = G + n_g, *ework = w + k;
    memset(M, 0, n_m * sizeof(double));
    const int64_t rows = B * Hr * Wr;
    for (int64_t n = 0; n < B; n++)
        for (int64_t h = 0; h < Hr; h++)
            for (int64_t x = 0; x < Wr; x++)
                for (int64_t ci = 0; ci < Ci; ci++) {
                    const double a = unshuffled(gin, vi, n, ci, h, x, shi, swi);
                    if (a == 0.0)
                        continue;
                    double *row = M + ci * Co;
                    for (int64_t co = 0; co < Co; co++)
                        row[co] += a * unshuffled(gout, vo, n, co, h, x, sho, swo);
                }
    for (size_t i = 0; i < n_m; i++)
        M[i] /= (double)rows;
    /* G = M M^T (Ci <= Co) or M^T M: its top eigenvalue is sigma^2. */
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = i; j < k; j++) {
            double s = 0.0;
            if (Ci <= Co)
                for (int64_t t = 0; t < Co; t++)
                    s += M[i * Co + t] * M[j * Co + t];
            else
                for (int64_t t = 0; t < Ci; t++)
                    s += M[t * Co + i] * M[t * Co + j];
            G[i * k + j] = G[j * k + i] = s;
        }
    if ((st = sigeo__linalg_sym_eigvals(w, G, k, ework, iwork, c)) != SIGEO_OK)
        return st;
    double top = 0.0;
    for (int64_t i = 0; i < k; i++)
        top = w[i] > top ? w[i] : top;
    const double sigma = sqrt(top);
    *term = -sigma - 1.0 / (sigma + 1e-6) + 2.0;
    return SIGEO_OK;
}

/* The default rule's blocks: active non-identity activation nodes. */
static bool is_activation_block(const sigeo__probe_node_t *nd)
{
    return nd->active && nd->width > 0 && nd->kind == SIGEO_LAYER_ACTIVATION && nd->activation != SIGEO_ACT_IDENTITY;
}

/* The blocks of the active architecture into *blk (scratch C), node order:
 * the model's marked blocks that are active, or without marks the
 * default rule's. Fails, naming the rule, with fewer than `need`. */
static sigeo_status_t collect_blocks(int32_t **blk, int32_t *n_blk, int64_t *max_width, const sigeo__proxy_call_t *c,
                                     int32_t need)
{
    sigeo_model_t *m = c->m;
    const int32_t nodes = sigeo__probe_node_count(m), marked = sigeo__probe_block_count(m);
    const int32_t *marks = sigeo__probe_blocks(m);
    sigeo_status_t st = sigeo__proxy_scratch((void **)blk, c, SIGEO__SCRATCH_C, (size_t)nodes * sizeof **blk);
    if (st != SIGEO_OK)
        return st;
    int32_t n = 0;
    int64_t widest = 0;
    for (int32_t k = 0; k < (marked > 0 ? marked : nodes); k++) {
        const int32_t i = marked > 0 ? marks[k] : k;
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (marked > 0 ? !(nd.active && nd.width > 0) : !is_activation_block(&nd))
            continue;
        (*blk)[n++] = i;
        widest = nd.width > widest ? nd.width : widest;
    }
    if (n < need)
        return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED, "%d %s: %s needs at least %d blocks", (int)n,
                                 marked > 0 ? "active marked block(s)" : "active activation node(s) (no marked blocks)",
                                 c->name, (int)need);
    *n_blk = n;
    if (max_width)
        *max_width = widest;
    return SIGEO_OK;
}

static sigeo_status_t trainability(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_model_t *m = c->m;
    const int64_t B = c->batch->batch_size;
    int32_t *blk, n_blk = 0;
    int64_t max_width = 0;
    sigeo_status_t st = collect_blocks(&blk, &n_blk, &max_width, c, 2);
    if (st != SIGEO_OK)
        return st;
    size_t bytes;
    if (!sigeo__mul_size(&bytes, (size_t)B, (size_t)max_width) || !sigeo__mul_size(&bytes, bytes, sizeof(float)))
        return sigeo__proxy_fail(c, SIGEO_ERR_NO_MEMORY, "%s: a seed of %lld x %lld does not fit in memory", c->name,
                                 (long long)B, (long long)max_width);
    float *seed;
    if ((st = sigeo__proxy_scratch((void **)&seed, c, SIGEO__SCRATCH_D, bytes)) != SIGEO_OK)
        return st;
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, c->o->seed);
    double sum = 0.0;
    for (int32_t p = n_blk - 1; p >= 1; p--) {
        sigeo__probe_node_t out, in;
        sigeo__probe_node(&out, m, blk[p]);
        const int64_t count = B * out.width;
        for (int64_t e = 0; e < count; e++)
            seed[e] = (sigeo__rng_next(&rng) >> 63) ? 1.0f : -1.0f;
        if ((st = sigeo__tape_vjp_between(m, blk[p], seed, blk[p - 1])) != SIGEO_OK)
            return sigeo__proxy_failed(c, st, "backward between two blocks");
        sigeo__probe_node(&in, m, blk[p - 1]);
        const view_t vi = view_of(&in), vo = view_of(&out);
        double term = NAN;
        if ((st = pair_term(&term, c, in.grad, &vi, seed, &vo, B)) != SIGEO_OK)
            return st;
        sum += term;
    }
    double score = sum / (double)(n_blk - 1);
    if (isnan(score))
        score = -INFINITY;
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    r->n_modules = (uint32_t)n_blk;
    return SIGEO_OK;
}

sigeo_status_t sigeo__proxy_az_nas(const sigeo__proxy_call_t *c, sigeo_proxy_result_t *r)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    if (c->o->kind == SIGEO_PROXY_AZ_TRAINABILITY)
        return trainability(c, r);
    const int64_t B = c->batch->batch_size;
    const bool progressivity = c->o->kind == SIGEO_PROXY_AZ_PROGRESSIVITY;
    int32_t *blk, n_blk = 0;
    if ((st = collect_blocks(&blk, &n_blk, NULL, c, progressivity ? 2 : 1)) != SIGEO_OK)
        return st;
    double sum = 0.0, min_step = INFINITY, prev = 0.0;
    bool nan_step = false; /* np.min keeps a NaN, a comparison would drop it */
    for (int32_t k = 0; k < n_blk; k++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, blk[k]);
        double e = NAN;
        if ((st = block_entropy(&e, c, &nd, B)) != SIGEO_OK) /* scratch A and B: blk in C stays */
            return st;
        sum += e;
        if (k > 0) {
            const double d = e - prev;
            nan_step = nan_step || isnan(d);
            if (d < min_step)
                min_step = d;
        }
        prev = e;
    }
    const uint32_t blocks = (uint32_t)n_blk;
    double score = progressivity ? (nan_step ? NAN : min_step) : sum;
    if (isnan(score))
        score = -INFINITY;
    sigeo__proxy_set_score(r, score, score);
    r->n_samples = (uint64_t)B;
    r->n_modules = blocks;
    return SIGEO_OK;
}
