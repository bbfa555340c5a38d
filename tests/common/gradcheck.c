#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

static double EPS = 1e-3;

void gc_set_eps(double eps)
{
    EPS = eps;
}

static uint64_t rng_state = 88172645463325252ull;
double gc_urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}
double gc_nrand(void)
{
    double u1 = 1.0 - gc_urand(), u2 = gc_urand();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double loss_of(sigeo_model_t *m, const sigeo_batch_t *b)
{
    double l = 0.0;
    sigeo_status_t st = sigeo_model_forward(&l, m, b);
    ck_assert_msg(st == SIGEO_OK, "forward: %s", sigeo_last_error());
    return l;
}

/* One parameter tensor: its values and analytical gradient. */
typedef struct tensor {
    int64_t n;
    float *theta, *grad;
    const char *name;
} tensor_t;

static int all_zero(const float *g, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (g[i] != 0.0f)
            return 0;
    return 1;
}

/* Sets every tensor in `set` (count k) to theta + sign * EPS * dir, or back
 * to theta with sign 0. */
static void perturb(sigeo_model_t *m, const tensor_t *ts, const int32_t *set, int k, double *const *dir, double sign)
{
    for (int j = 0; j < k; j++) {
        const tensor_t *t = &ts[set[j]];
        float *w = malloc((size_t)t->n * sizeof(float));
        for (int64_t i = 0; i < t->n; i++)
            w[i] = (float)(t->theta[i] + sign * EPS * dir[j][i]);
        ck_assert_int_eq(sigeo_model_set_param(m, set[j], w, t->n), SIGEO_OK);
        free(w);
    }
}

/* The tensors whose analytical gradient is exactly zero (outside the
 * active architecture of a supernet, typically) claim the loss does not
 * depend on them. Checked together, which costs 4 forward passes instead
 * of 8 per tensor and proves the same up to a coincidence: every tensor
 * moves along its own unit random direction at once (a tensor the loss
 * does depend on adds its full v . g, as in a check of its own; several
 * would have to cancel exactly), then one coordinate of each (n/2) with a
 * random sign. The claimed derivative is 0 both times. */
static void check_zero_tensors(sigeo_model_t *m, const sigeo_batch_t *b, const tensor_t *ts, const int32_t *set, int k)
{
    if (k == 0)
        return;
    double **dir = malloc((size_t)k * sizeof *dir);
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < k; j++) {
            const tensor_t *t = &ts[set[j]];
            dir[j] = calloc((size_t)t->n, sizeof(double));
            if (pass == 0) {
                double norm = 0.0;
                for (int64_t i = 0; i < t->n; i++) {
                    dir[j][i] = gc_nrand();
                    norm += dir[j][i] * dir[j][i];
                }
                for (int64_t i = 0; i < t->n; i++)
                    dir[j][i] /= sqrt(norm);
            } else {
                dir[j][t->n / 2] = gc_urand() < 0.5 ? -1.0 : 1.0;
            }
        }
        perturb(m, ts, set, k, dir, +1.0);
        double lp = loss_of(m, b);
        perturb(m, ts, set, k, dir, -1.0);
        double lm = loss_of(m, b);
        perturb(m, ts, set, k, dir, 0.0);
        double fd = (lp - lm) / (2 * EPS);
        ck_assert_msg(fabs(fd) <= 1e-3,
                      "%d parameters with an all-zero gradient (first '%s'): the loss moves along %s, finite "
                      "difference %.8g (want 0)",
                      k, ts[set[0]].name, pass == 0 ? "random directions" : "single coordinates", fd);
        for (int j = 0; j < k; j++)
            free(dir[j]);
    }
    free(dir);
}

/* Checks every parameter of the active architecture; returns how many tensors were checked. */
int gc_check_model_gradients(sigeo_model_t *m, const sigeo_batch_t *b)
{
    double l0;
    ck_assert_msg(sigeo_model_forward_backward(&l0, m, b) == SIGEO_OK, "%s", sigeo_last_error());
    int32_t np;
    ck_assert_int_eq(sigeo_model_param_count(&np, m), SIGEO_OK);
    tensor_t *ts = calloc((size_t)np, sizeof *ts);
    int32_t *zero = malloc((size_t)np * sizeof *zero);
    int n_zero = 0;
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        ck_assert_int_eq(sigeo_model_param_info(&info, m, p), SIGEO_OK);
        tensor_t *t = &ts[p];
        t->n = info.numel;
        t->name = info.name;
        t->theta = malloc((size_t)t->n * sizeof(float));
        t->grad = malloc((size_t)t->n * sizeof(float));
        ck_assert_int_eq(sigeo_model_get_param(m, p, t->theta, t->n), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_get_grad(m, p, t->grad, t->n), SIGEO_OK);
        if (all_zero(t->grad, t->n))
            zero[n_zero++] = p;
    }
    check_zero_tensors(m, b, ts, zero, n_zero);
    int checked = n_zero;
    for (int32_t p = 0; p < np; p++) {
        tensor_t *t = &ts[p];
        if (all_zero(t->grad, t->n))
            continue;
        const int64_t n = t->n;
        const float *theta = t->theta, *grad = t->grad;
        float *work = malloc((size_t)n * sizeof(float));
        double *v = malloc((size_t)n * sizeof(double));
        double norm = 0.0, an = 0.0;
        for (int64_t i = 0; i < n; i++) {
            v[i] = gc_nrand();
            norm += v[i] * v[i];
        }
        norm = sqrt(norm);
        for (int64_t i = 0; i < n; i++) {
            v[i] /= norm;
            an += v[i] * grad[i];
        }
        for (int64_t i = 0; i < n; i++)
            work[i] = (float)(theta[i] + EPS * v[i]);
        ck_assert_int_eq(sigeo_model_set_param(m, p, work, n), SIGEO_OK);
        double lp = loss_of(m, b);
        for (int64_t i = 0; i < n; i++)
            work[i] = (float)(theta[i] - EPS * v[i]);
        ck_assert_int_eq(sigeo_model_set_param(m, p, work, n), SIGEO_OK);
        double lm = loss_of(m, b);
        double fd = (lp - lm) / (2 * EPS);
        ck_assert_msg(fabs(fd - an) <= 1e-3 + 1e-2 * fabs(an),
                      "param '%s': directional derivative analytical %.8g vs finite difference %.8g", t->name, an, fd);
        /* three single coordinates, including the largest gradient entry
         * (a coordinate that repeats an earlier one is not checked twice) */
        int64_t idx[3] = { 0, n / 2, 0 };
        for (int64_t i = 0; i < n; i++)
            if (fabsf(grad[i]) > fabsf(grad[idx[2]]))
                idx[2] = i;
        for (int k = 0; k < 3; k++) {
            if ((k >= 1 && idx[k] == idx[0]) || (k == 2 && idx[2] == idx[1]))
                continue;
            memcpy(work, theta, (size_t)n * sizeof(float));
            work[idx[k]] = (float)(theta[idx[k]] + EPS);
            sigeo_model_set_param(m, p, work, n);
            double a = loss_of(m, b);
            work[idx[k]] = (float)(theta[idx[k]] - EPS);
            sigeo_model_set_param(m, p, work, n);
            double c = loss_of(m, b);
            double fdi = (a - c) / (2 * EPS);
            ck_assert_msg(fabs(fdi - grad[idx[k]]) <= 1e-3 + 1e-2 * fabs(grad[idx[k]]),
                          "param '%s' element %lld: analytical %.8g vs finite difference %.8g", t->name,
                          (long long)idx[k], (double)grad[idx[k]], fdi);
        }
        ck_assert_int_eq(sigeo_model_set_param(m, p, theta, n), SIGEO_OK);
        free(work);
        free(v);
        checked++;
    }
    for (int32_t p = 0; p < np; p++) {
        free(ts[p].theta);
        free(ts[p].grad);
    }
    free(ts);
    free(zero);
    return checked;
}


void gc_fill(float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * gc_nrand());
}
