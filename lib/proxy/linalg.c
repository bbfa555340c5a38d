/* The small dense linear algebra of the baselines, in double: Pearson
 * correlation, symmetric eigenvalues (jacov, MeCo) and log|det| (NASWOT).
 * LAPACK comes from OpenBLAS, which ships no lapacke.h on Debian 12: the
 * Fortran symbols are declared here, each CHARACTER argument followed by
 * its hidden length. The context keeps OpenBLAS single-threaded
 * (docs/onednn-notes.md: its threads fight oneDNN's), and these run once per
 * proxy call, off the training loop. Matrices are at most batch x batch or
 * channels x channels.
 *
 * Double, not float (dsyevd rather than ssyevd): jacov weighs every
 * eigenvalue v by 1 / (v + 1e-5), so the ~1e-7 |C| error of a float solver
 * on the (often zero) small eigenvalues would move the score by percents;
 * numpy, which the reference uses there, works in double too. MeCo's
 * reference solves in float32; double only removes rounding noise. */
#include <math.h>
#include <stddef.h>

#include "proxy/proxy.h"

extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);
extern void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);

void sigeo__linalg_corrcoef(double *corr, double *work, const float *x, int64_t n, int64_t p, int64_t ld)
{
    double *mean = work, *sd = work + n;
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t k = 0; k < p; k++)
            s += x[i * ld + k];
        mean[i] = s / (double)p;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            const float *a = x + i * ld, *b = x + j * ld;
            double s = 0.0;
            for (int64_t k = 0; k < p; k++)
                s += ((double)a[k] - mean[i]) * ((double)b[k] - mean[j]);
            corr[i * n + j] = corr[j * n + i] = s;
        }
    for (int64_t i = 0; i < n; i++)
        sd[i] = sqrt(corr[i * n + i]);
    /* numpy: c_ij / s_i / s_j clipped to [-1, 1]; 0 / 0 stays NaN (the
     * comparisons below are false for NaN). */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = corr[i * n + j] / sd[i] / sd[j];
            if (v > 1.0)
                v = 1.0;
            else if (v < -1.0)
                v = -1.0;
            corr[i * n + j] = v;
        }
}

int64_t sigeo__linalg_eig_work(int64_t n)
{
    return 2 * n + 1;
}

sigeo_status_t sigeo__linalg_sym_eigvals(double *w, double *a, int64_t n, double *work, int *iwork,
                                         const sigeo__proxy_call_t *c)
{
    for (int64_t i = 0; i < n * n; i++)
        if (!isfinite(a[i])) {
            for (int64_t k = 0; k < n; k++)
                w[k] = NAN;
            return SIGEO_OK;
        }
    const int nn = (int)n, lwork = (int)sigeo__linalg_eig_work(n), liwork = 1;
    int info = 0;
    dsyevd_("N", "U", &nn, a, &nn, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    if (info != 0)
        return sigeo__proxy_fail(c, SIGEO_ERR_INTERNAL, "LAPACK dsyevd failed on a %lld x %lld matrix (info %d)",
                                 (long long)n, (long long)n, info);
    return SIGEO_OK;
}

sigeo_status_t sigeo__linalg_logabsdet(double *out, bool *singular, double *a, int64_t n, int *ipiv,
                                       const sigeo__proxy_call_t *c)
{
    const int nn = (int)n;
    int info = 0;
    dgetrf_(&nn, &nn, a, &nn, ipiv, &info);
    if (info < 0)
        return sigeo__proxy_fail(c, SIGEO_ERR_INTERNAL, "LAPACK dgetrf rejected argument %d", -info);
    *singular = info > 0;
    if (*singular) {
        *out = -INFINITY;
        return SIGEO_OK;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += log(fabs(a[i * n + i]));
    *out = s;
    return SIGEO_OK;
}
