/* Internal interface between the training files. */
#ifndef SIGEO_TRAIN_INTERNAL_H
#define SIGEO_TRAIN_INTERNAL_H

#include "sigeo/train.h"

/* The optimiser's configured learning rate (the driver's default schedule). */
double sigeo__optimizer_lr(const sigeo_optimizer_t *optimizer);

/* Restricts the optimiser's steps (updates and the clipping norm) to the
 * parameters of one module of its model (-1: every parameter again), for
 * fine-tuning a head on a frozen backbone (lib/nas one-shot scorer).
 * SIGEO_ERR_NO_MEMORY on the first call. */
sigeo_status_t sigeo__optimizer_train_only(sigeo_optimizer_t *optimizer, int32_t module);

#endif
