/* Synthetic Criteo-format click data from a hidden teacher with strong
 * feature interactions (docs/nasrec.md §8.1; the model is documented in
 * sigeo/io.h). Three independent xoshiro256** streams derived from the
 * seed: the teacher's parameters, a fixed pilot sample that calibrates the
 * bias, and the rows themselves. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "core/file.h"
#include "core/rng.h"
#include "io/criteo.h"
#include "io/dataset.h"
#include "io/hash.h"

#define N_DENSE SIGEO_CRITEO_N_DENSE
#define N_SPARSE SIGEO_CRITEO_N_SPARSE
#define LATENT 4
#define PAIR_TABLE 1024u /* entries of each hashed pair table (power of two) */
#define PILOT_ROWS 50000
#define MAX_GATES 64
#define MAX_PAIRS (N_SPARSE * (N_SPARSE - 1) / 2)
#define MAX_CARDINALITY 1000000u

/* Stream tags mixed into the seed so the three streams never overlap. */
#define STREAM_TEACHER 0x7465616368657221ull
#define STREAM_PILOT 0x70696c6f74212121ull
#define STREAM_ROWS 0x726f777321212121ull

/* Teacher scales (docs/nasrec.md §8.1; the gates and pair tables are ours). */
#define SD_FIRST 0.3
#define SD_LATENT 0.5
#define SD_PAIR_TABLE 0.5
#define SD_GATE 1.0
#define SD_DENSE 0.1
#define DENSE_TANH_WEIGHT 0.5
#define ZIPF_EXPONENT 1.2

/* Fields missing often (0-based), the rest are missing with probability 0.02. */
static const int often_missing[] = { 2, 3, 11, 15, 18, 20, 21, 22, 24, 25 };

SIGEO_API sigeo_status_t sigeo_synth_options_init(sigeo_synth_options_t *options, uint32_t struct_size)
{
    static const sigeo_synth_options_t defaults = SIGEO_SYNTH_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_synth_options");
}

SIGEO_API sigeo_status_t sigeo_synth_result_init(sigeo_synth_result_t *result, uint32_t struct_size)
{
    static const sigeo_synth_result_t defaults = SIGEO_SYNTH_RESULT_INIT;
    return sigeo__struct_init(result, struct_size, &defaults, sizeof defaults, "sigeo_synth_result");
}

typedef struct teacher {
    int64_t card[N_SPARSE];  /* latent categories c_f */
    int64_t base[N_SPARSE];  /* offset of field f's (c_f + 1) slots in the per-value arrays */
    double miss[N_SPARSE];
    double *storage;         /* one block for every array below */
    double *cdf;             /* Zipf CDF, slots 1..c_f */
    double *w;               /* first-order weight per value */
    double *v;               /* LATENT-vector per value */
    double *pair_table;      /* [n_pairs][PAIR_TABLE] */
    double *gate;            /* [n_gates][slots] */
    int64_t slots;           /* sum of (c_f + 1) */
    uint32_t n_pairs;
    int pair_f[MAX_PAIRS], pair_g[MAX_PAIRS];
    uint32_t n_gates;
    int gate_j[MAX_GATES], gate_f[MAX_GATES];
    double a[N_DENSE], r[N_DENSE];
    double bias;
} teacher_t;

/* One generated example: the raw row and its logit parts (bias excluded). */
typedef struct sample {
    sigeo__criteo_row_t row;
    double first, cross, gates, dense;
} sample_t;

static sigeo_status_t check_options(sigeo_synth_options_t *o, const sigeo_synth_options_t *user, const char *what)
{
    sigeo_synth_options_t d = SIGEO_SYNTH_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&d, sizeof d, user, "sigeo_synth_options", NULL);
    if (st != SIGEO_OK)
        return st;
    if (d.n_rows < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n_rows %lld is negative", what, (long long)d.n_rows);
    if (d.n_cross_pairs > MAX_PAIRS)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n_cross_pairs %u > %d (all field pairs)", what,
                           (unsigned)d.n_cross_pairs, MAX_PAIRS);
    if (d.n_gates > MAX_GATES)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: n_gates %u > %d", what, (unsigned)d.n_gates, MAX_GATES);
    if (!(d.base_rate > 0.0 && d.base_rate < 1.0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: base_rate %g outside (0, 1)", what, d.base_rate);
    if (d.max_cardinality < 1 || d.max_cardinality > MAX_CARDINALITY)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: max_cardinality %u outside 1 .. %u", what,
                           (unsigned)d.max_cardinality, MAX_CARDINALITY);
    *o = d;
    return SIGEO_OK;
}

static sigeo_status_t build_teacher(teacher_t *t, const sigeo_synth_options_t *o, const char *what)
{
    memset(t, 0, sizeof *t);
    int64_t slots = 0;
    for (int f = 0; f < N_SPARSE; f++) {
        int64_t full = sigeo__criteo_kaggle_tables[f];
        t->card[f] = full < (int64_t)o->max_cardinality ? full : (int64_t)o->max_cardinality;
        t->base[f] = slots;
        slots += t->card[f] + 1;
        t->miss[f] = 0.02;
    }
    for (size_t k = 0; k < sizeof often_missing / sizeof often_missing[0]; k++)
        t->miss[often_missing[k]] = 0.3;
    t->slots = slots;
    t->n_pairs = o->n_cross_pairs;
    t->n_gates = o->n_gates;
    size_t total = (size_t)slots * (3 + LATENT + o->n_gates) + (size_t)t->n_pairs * PAIR_TABLE;
    t->storage = sigeo__calloc(total, sizeof(double));
    if (!t->storage)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for the teacher (%zu values)", what, total);
    t->cdf = t->storage;
    t->w = t->cdf + slots;
    t->v = t->w + slots;
    t->gate = t->v + slots * LATENT;
    t->pair_table = t->gate + slots * (int64_t)o->n_gates;

    for (int f = 0; f < N_SPARSE; f++) {
        double *cdf = t->cdf + t->base[f], sum = 0;
        for (int64_t u = 1; u <= t->card[f]; u++)
            cdf[u] = (sum += pow((double)u, -ZIPF_EXPONENT));
        for (int64_t u = 1; u <= t->card[f]; u++)
            cdf[u] /= sum;
        cdf[t->card[f]] = 1.0;
    }

    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, o->seed ^ STREAM_TEACHER);
    for (int64_t s = 0; s < slots; s++)
        t->w[s] = SD_FIRST * sigeo__rng_normal(&rng);
    for (int64_t s = 0; s < slots * LATENT; s++)
        t->v[s] = SD_LATENT * sigeo__rng_normal(&rng);
    int all_f[MAX_PAIRS], all_g[MAX_PAIRS], n = 0;
    for (int f = 0; f < N_SPARSE; f++)
        for (int g = f + 1; g < N_SPARSE; g++) {
            all_f[n] = f;
            all_g[n] = g;
            n++;
        }
    for (uint32_t p = 0; p < t->n_pairs; p++) { /* partial Fisher-Yates: distinct pairs */
        int k = (int)p + (int)sigeo__rng_below(&rng, (uint64_t)(n - (int)p));
        int tf = all_f[p], tg = all_g[p];
        all_f[p] = all_f[k];
        all_g[p] = all_g[k];
        all_f[k] = tf;
        all_g[k] = tg;
        t->pair_f[p] = all_f[p];
        t->pair_g[p] = all_g[p];
    }
    for (size_t s = 0; s < (size_t)t->n_pairs * PAIR_TABLE; s++)
        t->pair_table[s] = SD_PAIR_TABLE * sigeo__rng_normal(&rng);
    for (uint32_t k = 0; k < t->n_gates; k++) {
        t->gate_j[k] = (int)sigeo__rng_below(&rng, N_DENSE);
        t->gate_f[k] = (int)sigeo__rng_below(&rng, N_SPARSE);
        for (int64_t s = 0; s < slots; s++)
            t->gate[k * slots + s] = SD_GATE * sigeo__rng_normal(&rng);
    }
    for (int j = 0; j < N_DENSE; j++) {
        t->a[j] = SD_DENSE * sigeo__rng_normal(&rng);
        t->r[j] = SD_DENSE * sigeo__rng_normal(&rng);
    }
    return SIGEO_OK;
}

static int64_t zipf(const teacher_t *t, int f, double u01)
{
    const double *cdf = t->cdf + t->base[f];
    int64_t lo = 1, hi = t->card[f]; /* first u with cdf[u] > u01 */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u01)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static double dense_center(int j)
{
    return 0.5 + 0.25 * j;
}

/* Draws one example and its logit parts. */
static void draw(sample_t *s, const teacher_t *t, sigeo__rng_t *rng)
{
    sigeo__criteo_row_t *row = &s->row;
    memset(row, 0, sizeof *row);
    int64_t u[N_SPARSE];
    double xt[N_DENSE];
    for (int j = 0; j < N_DENSE; j++) {
        xt[j] = 0.0;
        if (sigeo__rng_uniform(rng) < 0.2)
            continue;
        int64_t x;
        if (j == 1 && sigeo__rng_uniform(rng) < 0.05)
            x = -1;
        else
            x = (int64_t)floor(exp(dense_center(j) + sigeo__rng_normal(rng))) - 1;
        row->dense[j] = x;
        row->dense_present |= 1u << j;
        xt[j] = x > 0 ? log1p((double)x) : 0.0;
    }
    for (int f = 0; f < N_SPARSE; f++) {
        u[f] = 0;
        if (sigeo__rng_uniform(rng) < t->miss[f])
            continue;
        u[f] = zipf(t, f, sigeo__rng_uniform(rng));
        row->cat[f] = sigeo__mix32((uint32_t)f, (uint32_t)u[f]);
        row->cat_present |= 1u << f;
    }

    s->first = 0.0;
    for (int f = 0; f < N_SPARSE; f++)
        if (u[f])
            s->first += t->w[t->base[f] + u[f]];
    s->cross = 0.0;
    for (uint32_t p = 0; p < t->n_pairs; p++) {
        int f = t->pair_f[p], g = t->pair_g[p];
        if (!u[f] || !u[g])
            continue;
        const double *vf = t->v + (t->base[f] + u[f]) * LATENT, *vg = t->v + (t->base[g] + u[g]) * LATENT;
        for (int k = 0; k < LATENT; k++)
            s->cross += vf[k] * vg[k];
        uint32_t h = sigeo__mix32(sigeo__mix32(p, (uint32_t)u[f]), (uint32_t)u[g]) & (PAIR_TABLE - 1);
        s->cross += t->pair_table[(size_t)p * PAIR_TABLE + h];
    }
    s->gates = 0.0;
    for (uint32_t k = 0; k < t->n_gates; k++) {
        int j = t->gate_j[k], f = t->gate_f[k];
        if (u[f] && (row->dense_present >> j & 1u))
            s->gates += t->gate[k * t->slots + t->base[f] + u[f]] * tanh(xt[j] - dense_center(j));
    }
    double lin = 0.0, mix = 0.0;
    for (int j = 0; j < N_DENSE; j++) {
        lin += t->a[j] * xt[j];
        mix += t->r[j] * xt[j];
    }
    s->dense = lin + DENSE_TANH_WEIGHT * tanh(mix);
}

static double logit_free(const sample_t *s)
{
    return s->first + s->cross + s->gates + s->dense;
}

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* Calibrates the bias on the pilot sample and records the variance shares. */
static sigeo_status_t calibrate(teacher_t *t, sigeo_synth_result_t *res, const sigeo_synth_options_t *o,
                                const char *what)
{
    double *z = sigeo__calloc(PILOT_ROWS, sizeof(double));
    if (!z)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for the pilot sample", what);
    sigeo__rng_t rng;
    sigeo__rng_seed(&rng, o->seed ^ STREAM_PILOT);
    double sum[4] = { 0 }, sq[4] = { 0 };
    for (int i = 0; i < PILOT_ROWS; i++) {
        sample_t s;
        draw(&s, t, &rng);
        double part[4] = { s.first, s.cross, s.gates, s.dense };
        for (int k = 0; k < 4; k++) {
            sum[k] += part[k];
            sq[k] += part[k] * part[k];
        }
        z[i] = logit_free(&s);
    }
    double var[4], total = 0;
    for (int k = 0; k < 4; k++) {
        double m = sum[k] / PILOT_ROWS;
        var[k] = sq[k] / PILOT_ROWS - m * m;
        if (var[k] < 0)
            var[k] = 0;
        total += var[k];
    }
    if (total > 0) {
        res->share_first_order = var[0] / total;
        res->share_cross = var[1] / total;
        res->share_gates = var[2] / total;
        res->share_dense = var[3] / total;
    }
    /* mean sigmoid(z + beta) increases with beta: bisection. */
    double lo = -50.0, hi = 50.0;
    for (int it = 0; it < 100 && hi - lo > 1e-12; it++) {
        double mid = 0.5 * (lo + hi), mean = 0;
        for (int i = 0; i < PILOT_ROWS; i++)
            mean += sigmoid(z[i] + mid);
        if (mean / PILOT_ROWS < o->base_rate)
            lo = mid;
        else
            hi = mid;
    }
    t->bias = 0.5 * (lo + hi);
    res->bias = t->bias;
    sigeo__free(z);
    return SIGEO_OK;
}

/* The generation both outputs share: teacher, calibration, row stream. */
typedef struct generator {
    teacher_t teacher;
    sigeo__rng_t rng;
    sigeo_synth_result_t result;
    double prob_sum, loss_sum;
} generator_t;

static sigeo_status_t start(generator_t *g, const sigeo_synth_options_t *o, const char *what)
{
    sigeo_synth_result_t r = SIGEO_SYNTH_RESULT_INIT;
    g->result = r;
    g->prob_sum = g->loss_sum = 0;
    sigeo_status_t st = build_teacher(&g->teacher, o, what);
    if (st == SIGEO_OK)
        st = calibrate(&g->teacher, &g->result, o, what);
    if (st != SIGEO_OK) {
        sigeo__free(g->teacher.storage);
        return st;
    }
    sigeo__rng_seed(&g->rng, o->seed ^ STREAM_ROWS);
    return SIGEO_OK;
}

static void next(generator_t *g, sigeo__criteo_row_t *row)
{
    sample_t s;
    draw(&s, &g->teacher, &g->rng);
    double z = g->teacher.bias + logit_free(&s);
    double p = sigmoid(z);
    int y = sigeo__rng_uniform(&g->rng) < p ? 1 : 0;
    s.row.label = y;
    *row = s.row;
    g->result.n_rows++;
    g->result.n_positives += y;
    g->prob_sum += p;
    g->loss_sum += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
}

static sigeo_status_t finish(generator_t *g, sigeo_synth_result_t *result_out)
{
    sigeo__free(g->teacher.storage);
    if (g->result.n_rows > 0) {
        g->result.mean_probability = g->prob_sum / (double)g->result.n_rows;
        g->result.bayes_log_loss = g->loss_sum / (double)g->result.n_rows;
    }
    if (result_out)
        return sigeo__struct_out(result_out, &g->result, sizeof g->result, "sigeo_synth_result", NULL);
    return SIGEO_OK;
}

static bool result_size_ok(const sigeo_synth_result_t *result_out)
{
    if (!result_out)
        return true;
    uint32_t size;
    memcpy(&size, result_out, sizeof size);
    return size >= sizeof(uint32_t) * 2;
}

/* ------------------------------------------------------------- TSV output */

static char *put_int(char *p, int64_t x)
{
    char tmp[24];
    int n = 0;
    uint64_t v = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (x < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static char *put_hex8(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int k = 7; k >= 0; k--)
        *p++ = digits[(v >> (4 * k)) & 0xf];
    return p;
}

SIGEO_API sigeo_status_t sigeo_synth_write_tsv(sigeo_synth_result_t *result_out, const char *path,
                                               const sigeo_synth_options_t *options)
{
    static const char what[] = "sigeo_synth_write_tsv";
    if (!path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: path is NULL", what);
    if (!result_size_ok(result_out))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: result_out->struct_size is too small", what);
    sigeo_synth_options_t o;
    sigeo_status_t st = check_options(&o, options, what);
    if (st != SIGEO_OK)
        return st;
    generator_t g;
    if ((st = start(&g, &o, what)) != SIGEO_OK)
        return st;
    /* Atomically (core/file.h): a failure leaves what was at `path`. */
    char *tmp;
    if ((st = sigeo__save_prepare(&tmp, path, what, NULL)) != SIGEO_OK) {
        sigeo__free(g.teacher.storage);
        return st;
    }
    FILE *fp = fopen(tmp, "wbx");
    if (!fp) {
        int e = errno;
        char text[128];
        if (strerror_r(e, text, sizeof text) != 0)
            snprintf(text, sizeof text, "error %d", e);
        sigeo__free(g.teacher.storage);
        st = sigeo__fail(SIGEO_ERR_IO, "%s: cannot create the temporary file '%s' for '%s': %s", what, tmp, path, text);
        sigeo__free(tmp);
        return st;
    }
    char line[1024]; /* 2 + 13 * 21 + 26 * 9 + 1 bytes at most */
    bool ok = true;
    for (int64_t i = 0; i < o.n_rows && ok; i++) {
        sigeo__criteo_row_t row;
        next(&g, &row);
        char *p = line;
        *p++ = (char)('0' + row.label);
        for (int j = 0; j < N_DENSE; j++) {
            *p++ = '\t';
            if (row.dense_present >> j & 1u)
                p = put_int(p, row.dense[j]);
        }
        for (int f = 0; f < N_SPARSE; f++) {
            *p++ = '\t';
            if (row.cat_present >> f & 1u)
                p = put_hex8(p, row.cat[f]);
        }
        *p++ = '\n';
        ok = fwrite(line, 1, (size_t)(p - line), fp) == (size_t)(p - line);
    }
    int e = ok ? 0 : errno;
    if (ok && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) {
        ok = false;
        e = errno;
    }
    if (fclose(fp) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        char text[128];
        if (strerror_r(e ? e : EIO, text, sizeof text) != 0)
            snprintf(text, sizeof text, "error %d", e);
        remove(tmp);
        sigeo__free(tmp);
        sigeo__free(g.teacher.storage);
        return sigeo__fail(SIGEO_ERR_IO, "%s: writing '%s' failed: %s", what, path, text);
    }
    sigeo__sync_parent_dir(tmp);
    sigeo__free(tmp);
    return finish(&g, result_out);
}

SIGEO_API sigeo_status_t sigeo_synth_generate(sigeo_dataset_t **out, sigeo_synth_result_t *result_out,
                                              const sigeo_synth_options_t *options,
                                              const sigeo_criteo_options_t *criteo)
{
    static const char what[] = "sigeo_synth_generate";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", what);
    *out = NULL;
    if (!result_size_ok(result_out))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: result_out->struct_size is too small", what);
    sigeo_synth_options_t o;
    sigeo_status_t st = check_options(&o, options, what);
    if (st != SIGEO_OK)
        return st;
    sigeo_criteo_options_t co;
    int64_t tables[N_SPARSE];
    if ((st = sigeo__criteo_resolve(&co, tables, criteo, NULL, what)) != SIGEO_OK)
        return st;
    sigeo_dataset_t *ds = sigeo__criteo_dataset_new(o.n_rows, tables);
    if (!ds)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory for %lld rows", what, (long long)o.n_rows);
    generator_t g;
    if ((st = start(&g, &o, what)) != SIGEO_OK) {
        sigeo_dataset_destroy(ds);
        return st;
    }
    for (int64_t i = 0; i < o.n_rows; i++) {
        sigeo__criteo_row_t row;
        next(&g, &row);
        sigeo__criteo_store(ds, &row, tables);
    }
    sigeo__dataset_finish(ds);
    finish(&g, result_out);
    *out = ds;
    return SIGEO_OK;
}
