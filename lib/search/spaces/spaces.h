/* Built-in search spaces (search.h), built through the public model API. */
#ifndef SIGEO_SEARCH_SPACES_H
#define SIGEO_SEARCH_SPACES_H

#include "core/core.h"
#include "sigeo/search.h"

sigeo_status_t sigeo__space_mlp(sigeo_model_t *m, const sigeo_space_options_t *o);
sigeo_status_t sigeo__space_nasrec(sigeo_model_t *m, const sigeo_space_options_t *o, bool full);
sigeo_status_t sigeo__space_nb201(sigeo_model_t *m, const sigeo_space_options_t *o);

/* Builder shorthands: each fails with the model's message. */
sigeo_status_t sigeo__add(int32_t *out, sigeo_model_t *m, sigeo_layer_desc_t *d, const char *fmt, ...)
    SIGEO__PRINTF(4, 5);

#endif
