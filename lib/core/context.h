/* Internal layout of sigeo_context_t. Later layers hang their per-context
 * state here through opaque slots, so core never includes their headers. */
#ifndef SIGEO_CORE_CONTEXT_H
#define SIGEO_CORE_CONTEXT_H

#include "core/core.h"
#include "core/rng.h"

struct sigeo_context {
    sigeo_context_options_t options; /* threads resolved to a real count */
    sigeo__rng_t rng;                /* seeded from options.seed */
    sigeo__errbuf_t err;
    /* The compute engine (lib/nn) is created on first use and destroyed with
     * the context through this hook, so core stays free of oneDNN. */
    void *engine;
    void (*engine_destroy)(void *engine);
};

#endif
