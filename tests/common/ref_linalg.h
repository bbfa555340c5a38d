/* Reference linear algebra for the proxy tests, written here (not LAPACK,
 * which the library uses), so a test's expected value does not come from
 * the code under test. */
#ifndef SIGEO_TEST_REF_LINALG_H
#define SIGEO_TEST_REF_LINALG_H

#include <math.h>

/* Eigenvalues of the symmetric n x n matrix a (destroyed) into w, by
 * cyclic Jacobi rotations until the off-diagonal mass is negligible. */
static inline void ref_jacobi_eigvals(double *w, double *a, int n)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                *(i == j ? &diag : &off) += a[i * n + j] * a[i * n + j];
        if (off <= 1e-30 * (diag + 1e-300))
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (a[p * n + q] == 0.0)
                    continue;
                const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a[p * n + q]);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                const double cs = 1.0 / sqrt(t * t + 1.0), sn = t * cs;
                for (int k = 0; k < n; k++) { /* A <- A R (columns p, q) */
                    const double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (int k = 0; k < n; k++) { /* A <- R^T A (rows p, q) */
                    const double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        w[i] = a[i * n + i];
}

/* Pearson correlation of the n <= 64 rows of x [n, p] into out [n, n],
 * clamped to [-1, 1]; a zero-variance row gives NaN entries, as numpy. */
static inline void ref_corrcoef(double *out, const double *x, int n, int p)
{
    double mean[64], sd[64];
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < p; k++)
            s += x[i * p + k];
        mean[i] = s / p;
    }
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < p; k++)
            s += (x[i * p + k] - mean[i]) * (x[i * p + k] - mean[i]);
        sd[i] = sqrt(s);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < p; k++)
                s += (x[i * p + k] - mean[i]) * (x[j * p + k] - mean[j]);
            double v = s / (sd[i] * sd[j]);
            out[i * n + j] = v > 1 ? 1 : v < -1 ? -1 : v;
        }
}

#endif
