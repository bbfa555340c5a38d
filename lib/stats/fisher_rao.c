#include <math.h>

#include "stats/fisher_rao.h"

sigeo__fr_value_t sigeo__fr_exact(double sum_sq_directional, uint64_t n_samples)
{
    sigeo__fr_value_t v;
    v.fr = sum_sq_directional / (double)n_samples;
    v.log_fr = v.fr > 0.0 ? log(v.fr) : -INFINITY;
    return v;
}

sigeo__fr_value_t sigeo__fr_reference_recsys(double theta_dot_grad_sum)
{
    sigeo__fr_value_t v;
    v.fr = fabs(theta_dot_grad_sum);
    v.log_fr = log(v.fr + 1e-10);
    return v;
}

sigeo__fr_value_t sigeo__fr_reference_cv(double sum_abs_module_dots)
{
    sigeo__fr_value_t v;
    v.fr = sum_abs_module_dots;
    v.log_fr = 2.0 * log(v.fr + 1e-5);
    return v;
}
