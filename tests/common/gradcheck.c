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

/* Checks every parameter of the active architecture; returns how many tensors were checked. */
int gc_check_model_gradients(sigeo_model_t *m, const sigeo_batch_t *b)
{
    double l0;
    ck_assert_msg(sigeo_model_forward_backward(&l0, m, b) == SIGEO_OK, "%s", sigeo_last_error());
    int32_t np;
    ck_assert_int_eq(sigeo_model_param_count(&np, m), SIGEO_OK);
    int checked = 0;
    for (int32_t p = 0; p < np; p++) {
        sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
        ck_assert_int_eq(sigeo_model_param_info(&info, m, p), SIGEO_OK);
        int64_t n = info.numel;
        float *theta = malloc((size_t)n * sizeof(float)), *grad = malloc((size_t)n * sizeof(float));
        float *work = malloc((size_t)n * sizeof(float));
        double *v = malloc((size_t)n * sizeof(double));
        ck_assert_int_eq(sigeo_model_get_param(m, p, theta, n), SIGEO_OK);
        ck_assert_int_eq(sigeo_model_get_grad(m, p, grad, n), SIGEO_OK);
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
                      "param '%s': directional derivative analytical %.8g vs finite difference %.8g", info.name, an, fd);
        /* three single coordinates, including the largest gradient entry */
        int64_t idx[3] = { 0, n / 2, 0 };
        for (int64_t i = 0; i < n; i++)
            if (fabsf(grad[i]) > fabsf(grad[idx[2]]))
                idx[2] = i;
        for (int k = 0; k < 3; k++) {
            memcpy(work, theta, (size_t)n * sizeof(float));
            work[idx[k]] = (float)(theta[idx[k]] + EPS);
            sigeo_model_set_param(m, p, work, n);
            double a = loss_of(m, b);
            work[idx[k]] = (float)(theta[idx[k]] - EPS);
            sigeo_model_set_param(m, p, work, n);
            double c = loss_of(m, b);
            double fdi = (a - c) / (2 * EPS);
            ck_assert_msg(fabs(fdi - grad[idx[k]]) <= 1e-3 + 1e-2 * fabs(grad[idx[k]]),
                          "param '%s' element %lld: analytical %.8g vs finite difference %.8g", info.name,
                          (long long)idx[k], (double)grad[idx[k]], fdi);
        }
        ck_assert_int_eq(sigeo_model_set_param(m, p, theta, n), SIGEO_OK);
        free(theta);
        free(grad);
        free(work);
        free(v);
        checked++;
    }
    return checked;
}


void gc_fill(float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * gc_nrand());
}
