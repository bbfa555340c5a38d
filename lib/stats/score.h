/* SiGeo = lambda1 * zico + lambda2 * log_fr - lambda3 * loss (docs/proxies.md §1). */
#ifndef SIGEO_STATS_SCORE_H
#define SIGEO_STATS_SCORE_H

#include <stdbool.h>

#include "sigeo/stats.h"

/* Fills lambdas for a preset; false for CUSTOM or an unknown value. */
bool sigeo__preset_lambdas(double out[3], int32_t preset);

/* A term whose lambda is 0 is left out rather than multiplied, so a
 * component that is -inf (FR == 0) or absent cannot turn the score into NaN. */
double sigeo__score_combine(const double lambda[3], double zico, double log_fr, double loss);

#endif
