/* Finite-difference gradient checking shared by the engine tests.
 *
 * For each parameter tensor p the analytical directional derivative g.v
 * along a random unit direction v is compared with the central difference
 * (L(p + eps v) - L(p - eps v)) / (2 eps), the losses accumulated in double
 * by the library. Tolerance: the forward runs in float, so L carries a
 * rounding error of ~1e-7 |L| per evaluation; divided by 2 eps = 2e-3 that is
 * ~1e-4 for L ~ 1. The truncation error is O(eps^2 |L'''|) ~ 1e-6. So
 * |fd - an| <= 1e-3 + 1e-2 |an| fails for any real gradient bug (wrong sign,
 * missing term, wrong slice give errors of the size of the gradient itself)
 * and passes for rounding. ReLU kinks: a perturbation crossing a kink changes
 * the slope; with eps 1e-3 and continuous random inputs this is rare, and the
 * inputs below are fixed by seed, so the test is deterministic.
 * Also checked element-wise on a few coordinates per tensor. Tensors whose
 * analytical gradient is exactly zero (outside a supernet's active path)
 * are checked together, 4 forward passes for all of them, see gradcheck.c. */
#ifndef SIGEO_TEST_GRADCHECK_H
#define SIGEO_TEST_GRADCHECK_H

#include <stdint.h>

#include "sigeo/model.h"

/* Deterministic test randomness (xorshift), independent of the library's. */
double gc_urand(void);
double gc_nrand(void);
void gc_fill(float *x, int64_t n, double scale);

/* The perturbation (default 1e-3). Deep ReLU stacks have kinks: a smaller
 * step (e.g. 2e-4) keeps the difference on one side of them, at the cost
 * of more float rounding noise (~5e-4 absolute for L ~ 1, still far below
 * the tolerance). */
void gc_set_eps(double eps);

/* Runs forward+backward on `b` and checks every parameter tensor; fails the
 * current Check test on a mismatch. Returns the number of tensors checked. */
int gc_check_model_gradients(sigeo_model_t *m, const sigeo_batch_t *b);

#endif
