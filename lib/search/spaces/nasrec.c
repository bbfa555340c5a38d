/* The NASRec spaces (docs/nasrec.md §2-3) as supernets with choice points.
 *
 * Stem: dense0 = x (Nd features); sparse0 = the Ns embedding bags (E each)
 * as tokens (Ns, E). Block b (0 .. K-1) reads the earlier outputs
 * Dl = [dense0, dense_1 .. dense_b] and Sl = [sparse0, sparse_1 .. sparse_b]:
 *   choice points  block<b>.dense_in<j> / .sparse_in<j>   on/off edges (subset groups)
 *                  block<b>.left / .right                 one earlier dense output each (full space)
 *                  block<b>.<node>                        on/off per node (subset groups)
 *                  block<b>.dense_dim / .sparse_dim       widths (values = dims / tokens)
 *                  block<b>.ds_interact / .deep_fm        on/off
 *   dense nodes    linear-2d:  relu(LN(Linear(dense_in -> d)))
 *                  dot-product: x = LN(Linear(dense_in -> E)) as one token; y = LN(TokenLinear(sparse_in -> k));
 *                               LN(Linear(pairwise dots of [x; y] -> d))
 *                  (full) sigmoid-gating: LN(Linear(sigmoid(W L + b) * R -> d)); sum: LN(Linear(L + R -> d))
 *   sparse nodes   linear-3d:  relu(LN(TokenLinear(sparse_in -> s)))
 *                  (full) transformer: p = LN(TokenLinear(sparse_in -> s)); LN(p + MHA(p))
 *   dense_out  = sum of the active dense nodes (+ LN(Linear(FM(sparse_out) -> d)) if deep_fm)
 *   sparse_out = [sum of the active sparse nodes ; LN(Linear(dense_out -> P E)) as P tokens if ds_interact]
 * Head: Linear(concat(dense_out_K, flatten(sparse_out_K)) -> 1), BCE.
 *
 * Differences from the reference, deliberate (docs/design.md §4):
 *  - widths are exact slices computed at the chosen width, and every layer
 *    norm normalises over the active features of the row (NASRec computes
 *    at the max width, normalises over it, then masks: [Q1]);
 *  - layer norms over a (T, E) tensor normalise the whole row (NASRec's
 *    LN_k normalises over the token axis per channel);
 *  - the transformer node has no feed-forward sub-layer (it needs a
 *    per-token linear over E, which the engine has no op for yet), and its
 *    attention sees only the active tokens ([Q2]);
 *  - blocks may combine several dense or sparse nodes (sum), as NASRec's
 *    any-path supernet does; the samplers decide how many.
 * LayerNorm is on (SUPERNET mode); linear layers followed by a norm have
 * no bias, as in the reference. */
#include <stdio.h>
#include <string.h>

#include "search/spaces/spaces.h"

typedef struct nasrec_preset {
    int32_t blocks;
    int64_t E, P, k;        /* embedding dim, DS tokens, dot-product tokens */
    int32_t n_dims;
    int64_t dims[8];        /* dense widths, the last is Dmax */
    int32_t n_tokens;
    int64_t tokens[4];      /* sparse widths (tokens), the last is Smax */
    int32_t heads;
} nasrec_preset_t;

static const nasrec_preset_t presets[] = {
    [SIGEO_SPACE_SCALED] = { 4, 8, 4, 16, 6, { 8, 16, 32, 64, 96, 128 }, 4, { 4, 8, 12, 16 }, 2 },
    [SIGEO_SPACE_FULL] = { 7, 16, 8, 45, 8, { 16, 32, 64, 128, 256, 512, 768, 1024 }, 4, { 16, 32, 48, 64 }, 8 },
    [SIGEO_SPACE_TINY] = { 2, 4, 2, 4, 2, { 4, 8 }, 2, { 2, 4 }, 1 },
};

typedef struct builder {
    sigeo_model_t *m;
    const nasrec_preset_t *p;
    bool full;
    sigeo_status_t st;
} builder_t;

static int32_t choice(builder_t *b, const char *name, int32_t n, const int64_t *values)
{
    int32_t c = -1;
    if (b->st == SIGEO_OK)
        b->st = sigeo_model_add_choice(&c, b->m, name, n, values);
    return c;
}

/* Adds layer "<block>.<what>". */
static int32_t layer(builder_t *b, sigeo_layer_desc_t *d, const char *block, const char *what)
{
    int32_t out = -1;
    if (b->st == SIGEO_OK)
        b->st = sigeo__add(&out, b->m, d, "%s.%s", block, what);
    return out;
}

static int32_t linear(builder_t *b, const char *block, const char *what, int32_t in, int64_t units, int32_t wc,
                      bool bias)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_LINEAR;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = units;
    d.width_choice = wc;
    d.flags = bias ? 0u : SIGEO_LAYER_NO_BIAS;
    return layer(b, &d, block, what);
}

static int32_t token_linear(builder_t *b, const char *block, const char *what, int32_t in, int64_t tokens, int32_t wc)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_TOKEN_LINEAR;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = tokens;
    d.width_choice = wc;
    d.flags = SIGEO_LAYER_NO_BIAS;
    return layer(b, &d, block, what);
}

static int32_t unary(builder_t *b, sigeo_layer_kind_t kind, const char *block, const char *what, int32_t in)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.inputs = &in;
    d.n_inputs = 1;
    d.activation = SIGEO_ACT_RELU;
    return layer(b, &d, block, what);
}

static int32_t reshape(builder_t *b, const char *block, const char *what, int32_t in, int64_t t, int64_t e)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_RESHAPE;
    d.inputs = &in;
    d.n_inputs = 1;
    d.shape[0] = t;
    d.shape[1] = e;
    return layer(b, &d, block, what);
}

static int32_t combine(builder_t *b, sigeo_layer_kind_t kind, const char *block, const char *what, const int32_t *in,
                       uint32_t n, const int32_t *gates)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.inputs = in;
    d.n_inputs = n;
    d.input_choices = gates;
    return layer(b, &d, block, what);
}

static void group(builder_t *b, const char *name, const int32_t *points, int32_t n)
{
    if (b->st == SIGEO_OK)
        b->st = sigeo_model_add_choice_group(b->m, name, SIGEO_GROUP_SUBSET, points, n);
}

sigeo_status_t sigeo__space_nasrec(sigeo_model_t *m, const sigeo_space_options_t *o, bool full)
{
    const nasrec_preset_t *p = &presets[o->preset];
    const int32_t K = o->blocks > 0 ? o->blocks : p->blocks;
    const uint32_t Ns = o->n_sparse_fields;
    if (o->blocks < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "nasrec space: blocks %d (0 = the preset's %d, else 1..16)",
                           (int)o->blocks, (int)p->blocks);
    if (o->n_dense < 1 || Ns < 1 || !o->table_rows || K > 16 || Ns > 4096)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "nasrec space: needs n_dense >= 1 (got %lld), 1..4096 sparse fields with table_rows "
                           "(got %u, %s), blocks <= 16",
                           (long long)o->n_dense, (unsigned)Ns, o->table_rows ? "given" : "NULL");
    builder_t b = { m, p, full, SIGEO_OK };
    const int64_t E = p->E, Dmax = p->dims[p->n_dims - 1], Smax = p->tokens[p->n_tokens - 1];
    char blk[32], nm[64];

    /* stem */
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "dense";
    in.features = o->n_dense;
    int32_t dense0 = -1, emb[4096];
    b.st = sigeo_model_add_input(&dense0, m, &in);
    for (uint32_t f = 0; f < Ns && b.st == SIGEO_OK; f++) {
        int32_t s;
        snprintf(nm, sizeof nm, "cat%u", (unsigned)f);
        sigeo_input_desc_t si = SIGEO_INPUT_DESC_INIT;
        si.kind = SIGEO_INPUT_SPARSE;
        si.name = nm;
        si.field = (int32_t)f;
        b.st = sigeo_model_add_input(&s, m, &si);
        int64_t table;
        if (o->table_rows[f] < 1 || !sigeo__mul_elems(&table, o->table_rows[f], E)) {
            b.st = sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "nasrec space: table %u has %lld rows (need 1..%lld: rows x %lld dims within the "
                               "limit of %lld elements)",
                               (unsigned)f, (long long)o->table_rows[f], (long long)(SIGEO_MAX_ELEMENTS / E),
                               (long long)E, (long long)SIGEO_MAX_ELEMENTS);
            break;
        }
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_EMBEDDING_BAG;
        d.inputs = &s;
        d.n_inputs = 1;
        d.units = E;
        d.rows = o->table_rows[f]; /* the data's hashing decides the table sizes (io.h: Criteo table presets) */
        if (b.st == SIGEO_OK)
            b.st = sigeo__add(&emb[f], m, &d, "emb%u", (unsigned)f);
    }
    int32_t sparse0 = -1;
    if (b.st == SIGEO_OK) {
        int32_t cat = combine(&b, SIGEO_LAYER_CONCAT, "stem", "embeddings", emb, Ns, NULL);
        sparse0 = reshape(&b, "stem", "tokens", cat, Ns, E);
    }

    int32_t Dl[17], Sl[17];
    Dl[0] = dense0;
    Sl[0] = sparse0;
    for (int32_t bi = 0; bi < K && b.st == SIGEO_OK; bi++) {
        snprintf(blk, sizeof blk, "block%d", (int)bi);
        const int32_t n_in = bi + 1;
        int32_t dgate[17], sgate[17];
        for (int32_t j = 0; j < n_in; j++) {
            snprintf(nm, sizeof nm, "%s.dense_in%d", blk, (int)j);
            dgate[j] = choice(&b, nm, 2, NULL);
            snprintf(nm, sizeof nm, "%s.sparse_in%d", blk, (int)j);
            sgate[j] = choice(&b, nm, 2, NULL);
        }
        snprintf(nm, sizeof nm, "%s.dense_in", blk);
        group(&b, nm, dgate, n_in);
        snprintf(nm, sizeof nm, "%s.sparse_in", blk);
        group(&b, nm, sgate, n_in);
        snprintf(nm, sizeof nm, "%s.dense_dim", blk);
        const int32_t dim_c = choice(&b, nm, p->n_dims, p->dims);
        snprintf(nm, sizeof nm, "%s.sparse_dim", blk);
        const int32_t tok_c = choice(&b, nm, p->n_tokens, p->tokens);

        const int32_t dense_in = combine(&b, SIGEO_LAYER_CONCAT, blk, "dense_in", Dl, (uint32_t)n_in, dgate);
        const int32_t sparse_in = combine(&b, SIGEO_LAYER_CONCAT, blk, "sparse_in", Sl, (uint32_t)n_in, sgate);

        /* dense nodes */
        int32_t dn[4], dn_gate[4], n_dn = 0;
        {
            int32_t h = linear(&b, blk, "linear2d.linear", dense_in, Dmax, dim_c, false);
            h = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "linear2d.ln", h);
            dn[n_dn] = unary(&b, SIGEO_LAYER_ACTIVATION, blk, "linear2d.relu", h);
            snprintf(nm, sizeof nm, "%s.linear2d", blk);
            dn_gate[n_dn++] = choice(&b, nm, 2, NULL);
        }
        {
            int32_t x = linear(&b, blk, "dot.dense_proj", dense_in, E, -1, false);
            x = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "dot.dense_ln", x);
            x = reshape(&b, blk, "dot.dense_token", x, 1, E);
            int32_t y = token_linear(&b, blk, "dot.sparse_proj", sparse_in, p->k, -1);
            y = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "dot.sparse_ln", y);
            const int32_t zs[2] = { x, y };
            int32_t z = combine(&b, SIGEO_LAYER_CONCAT, blk, "dot.tokens", zs, 2, NULL);
            int32_t r = unary(&b, SIGEO_LAYER_DOT_INTERACTION, blk, "dot.interaction", z);
            r = linear(&b, blk, "dot.out", r, Dmax, dim_c, false);
            dn[n_dn] = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "dot.ln", r);
            snprintf(nm, sizeof nm, "%s.dot", blk);
            dn_gate[n_dn++] = choice(&b, nm, 2, NULL);
        }
        if (full) {
            snprintf(nm, sizeof nm, "%s.left", blk);
            int32_t lc = choice(&b, nm, n_in, NULL);
            snprintf(nm, sizeof nm, "%s.right", blk);
            int32_t rc = choice(&b, nm, n_in, NULL);
            sigeo_layer_desc_t sd = SIGEO_LAYER_DESC_INIT;
            sd.kind = SIGEO_LAYER_SELECT;
            sd.inputs = Dl;
            sd.n_inputs = (uint32_t)n_in;
            sd.choice = lc;
            int32_t left = layer(&b, &sd, blk, "left");
            sd.choice = rc;
            int32_t right = layer(&b, &sd, blk, "right");
            const int32_t lr[2] = { left, right };
            sigeo_layer_desc_t gd = SIGEO_LAYER_DESC_INIT;
            gd.kind = SIGEO_LAYER_SIGMOID_GATING;
            gd.inputs = lr;
            gd.n_inputs = 2;
            int32_t g = layer(&b, &gd, blk, "gating.gate");
            g = linear(&b, blk, "gating.out", g, Dmax, dim_c, true);
            dn[n_dn] = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "gating.ln", g);
            snprintf(nm, sizeof nm, "%s.gating", blk);
            dn_gate[n_dn++] = choice(&b, nm, 2, NULL);
            int32_t s = combine(&b, SIGEO_LAYER_SUM, blk, "sum.add", lr, 2, NULL);
            s = linear(&b, blk, "sum.out", s, Dmax, dim_c, false);
            dn[n_dn] = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "sum.ln", s);
            snprintf(nm, sizeof nm, "%s.sum", blk);
            dn_gate[n_dn++] = choice(&b, nm, 2, NULL);
        }
        snprintf(nm, sizeof nm, "%s.dense_nodes", blk);
        group(&b, nm, dn_gate, n_dn);

        /* sparse nodes */
        int32_t sn[2], sn_gate[2], n_sn = 0;
        {
            int32_t h = token_linear(&b, blk, "linear3d.linear", sparse_in, Smax, tok_c);
            h = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "linear3d.ln", h);
            sn[n_sn] = unary(&b, SIGEO_LAYER_ACTIVATION, blk, "linear3d.relu", h);
            snprintf(nm, sizeof nm, "%s.linear3d", blk);
            sn_gate[n_sn++] = choice(&b, nm, 2, NULL);
        }
        if (full) {
            int32_t pj = token_linear(&b, blk, "transformer.proj", sparse_in, Smax, tok_c);
            pj = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "transformer.ln0", pj);
            sigeo_layer_desc_t ad = SIGEO_LAYER_DESC_INIT;
            ad.kind = SIGEO_LAYER_ATTENTION;
            ad.inputs = &pj;
            ad.n_inputs = 1;
            ad.heads = p->heads;
            int32_t a = layer(&b, &ad, blk, "transformer.attn");
            const int32_t res[2] = { pj, a };
            a = combine(&b, SIGEO_LAYER_SUM, blk, "transformer.residual", res, 2, NULL);
            sn[n_sn] = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "transformer.ln1", a);
            snprintf(nm, sizeof nm, "%s.transformer", blk);
            sn_gate[n_sn++] = choice(&b, nm, 2, NULL);
        }
        snprintf(nm, sizeof nm, "%s.sparse_nodes", blk);
        group(&b, nm, sn_gate, n_sn);

        int32_t dense_out = combine(&b, SIGEO_LAYER_SUM, blk, "dense_sum", dn, (uint32_t)n_dn, dn_gate);
        int32_t sparse_out = combine(&b, SIGEO_LAYER_SUM, blk, "sparse_sum", sn, (uint32_t)n_sn, sn_gate);
        /* dense -> sparse: P extra tokens from dense_out (computed before the FM addition) */
        snprintf(nm, sizeof nm, "%s.ds_interact", blk);
        int32_t ds_c = choice(&b, nm, 2, NULL);
        int32_t q = linear(&b, blk, "ds.proj", dense_out, p->P * E, -1, false);
        q = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "ds.ln", q);
        q = reshape(&b, blk, "ds.tokens", q, p->P, E);
        /* sparse -> dense: FM of the block's sparse output */
        snprintf(nm, sizeof nm, "%s.deep_fm", blk);
        int32_t fm_c = choice(&b, nm, 2, NULL);
        int32_t fm = unary(&b, SIGEO_LAYER_FM, blk, "fm.fm", sparse_out);
        fm = linear(&b, blk, "fm.proj", fm, Dmax, dim_c, false);
        fm = unary(&b, SIGEO_LAYER_LAYER_NORM, blk, "fm.ln", fm);
        const int32_t dparts[2] = { dense_out, fm }, dgates[2] = { -1, fm_c };
        Dl[bi + 1] = combine(&b, SIGEO_LAYER_SUM, blk, "dense_out", dparts, 2, dgates);
        const int32_t sparts[2] = { sparse_out, q }, sgates[2] = { -1, ds_c };
        Sl[bi + 1] = combine(&b, SIGEO_LAYER_CONCAT, blk, "sparse_out", sparts, 2, sgates);
    }
    if (b.st != SIGEO_OK)
        return b.st;
    /* head: concat(dense_out, flatten(sparse_out)) -> 1 logit */
    int32_t flat = -1;
    {
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_RESHAPE;
        d.inputs = &Sl[K];
        d.n_inputs = 1; /* shape all zero: flat */
        flat = layer(&b, &d, "head", "flatten");
    }
    const int32_t feats[2] = { Dl[K], flat };
    int32_t feat = combine(&b, SIGEO_LAYER_CONCAT, "head", "features", feats, 2, NULL);
    int32_t logit = linear(&b, "head", "linear", feat, 1, -1, true);
    if (b.st == SIGEO_OK)
        b.st = sigeo_model_set_loss(m, logit, SIGEO_LOSS_BCE_WITH_LOGITS);
    return b.st;
}
