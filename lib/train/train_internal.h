/* Internal interface between the training files. */
#ifndef SIGEO_TRAIN_INTERNAL_H
#define SIGEO_TRAIN_INTERNAL_H

#include "sigeo/train.h"

/* The optimiser's configured learning rate (the driver's default schedule). */
double sigeo__optimizer_lr(const sigeo_optimizer_t *optimizer);

#endif
