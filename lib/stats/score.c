#include "stats/score.h"

bool sigeo__preset_lambdas(double out[3], int32_t preset)
{
    switch (preset) {
    case SIGEO_PRESET_ZERO_SHOT: out[0] = 1.0; out[1] = 1.0; out[2] = 0.0; return true;
    case SIGEO_PRESET_RECSYS: out[0] = 1.0; out[1] = 1.0; out[2] = 1.0; return true;
    case SIGEO_PRESET_VISION: out[0] = 1.0; out[1] = 50.0; out[2] = 1.0; return true;
    default: return false;
    }
}

double sigeo__score_combine(const double lambda[3], double zico, double log_fr, double loss)
{
    double s = 0.0;
    if (lambda[0] != 0.0)
        s += lambda[0] * zico;
    if (lambda[1] != 0.0)
        s += lambda[1] * log_fr;
    if (lambda[2] != 0.0)
        s -= lambda[2] * loss;
    return s;
}
