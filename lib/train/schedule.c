/* Learning-rate schedules (train.h). */
#include <math.h>

#include "core/core.h"
#include "sigeo/train.h"

SIGEO_API sigeo_status_t sigeo_lr_schedule_init(sigeo_lr_schedule_t *schedule, uint32_t struct_size)
{
    static const sigeo_lr_schedule_t defaults = SIGEO_LR_SCHEDULE_INIT;
    return sigeo__struct_init(schedule, struct_size, &defaults, sizeof defaults, "sigeo_lr_schedule");
}

SIGEO_API sigeo_status_t sigeo_lr_at(double *lr_out, const sigeo_lr_schedule_t *schedule, int64_t step)
{
    static const char fn[] = "sigeo_lr_at";
    if (!lr_out || !schedule)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, lr_out ? "schedule" : "lr_out");
    sigeo_lr_schedule_t s = SIGEO_LR_SCHEDULE_INIT;
    sigeo_status_t st = sigeo__struct_in(&s, sizeof s, schedule, "sigeo_lr_schedule", NULL);
    if (st != SIGEO_OK)
        return st;
    if (step < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: step %lld is negative", fn, (long long)step);
    if (!isfinite(s.lr) || !isfinite(s.lr_min) || s.lr < 0 || s.lr_min < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: lr %g / lr_min %g must be finite and >= 0", fn, s.lr, s.lr_min);
    const double pi = 3.14159265358979323846;
    switch (s.kind) {
    case SIGEO_LR_CONSTANT:
        *lr_out = s.lr;
        return SIGEO_OK;
    case SIGEO_LR_STEP:
        if (s.step_size < 1 || !isfinite(s.gamma) || s.gamma < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: step schedule needs step_size >= 1 and gamma >= 0", fn);
        *lr_out = s.lr * pow(s.gamma, (double)(step / s.step_size));
        return SIGEO_OK;
    case SIGEO_LR_COSINE:
        if (s.total_steps < 1)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: cosine schedule needs total_steps >= 1", fn);
        if (step >= s.total_steps) {
            *lr_out = s.lr_min;
            return SIGEO_OK;
        }
        *lr_out = s.lr_min + (s.lr - s.lr_min) * (1 + cos(pi * (double)step / (double)s.total_steps)) / 2;
        return SIGEO_OK;
    case SIGEO_LR_WARMUP_COSINE:
        if (s.total_steps < 1 || s.warmup_steps < 0 || s.warmup_steps > s.total_steps)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "%s: warm-up cosine needs 0 <= warmup_steps (%lld) <= total_steps (%lld), total >= 1",
                               fn, (long long)s.warmup_steps, (long long)s.total_steps);
        if (step < s.warmup_steps) {
            *lr_out = s.lr_min + (s.lr - s.lr_min) * (double)step / (double)s.warmup_steps;
        } else if (step >= s.total_steps || s.total_steps == s.warmup_steps) {
            *lr_out = s.lr_min;
        } else {
            double x = (double)(step - s.warmup_steps) / (double)(s.total_steps - s.warmup_steps);
            *lr_out = s.lr_min + (s.lr - s.lr_min) * (1 + cos(pi * x)) / 2;
        }
        return SIGEO_OK;
    default:
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown schedule kind %d", fn, (int)s.kind);
    }
}
