/* Deterministic random numbers: xoshiro256** seeded through splitmix64.
 * Same seed, same stream on every platform (no libc rand). */
#ifndef SIGEO_CORE_RNG_H
#define SIGEO_CORE_RNG_H

#include <stdint.h>

typedef struct sigeo__rng {
    uint64_t s[4];
} sigeo__rng_t;

void sigeo__rng_seed(sigeo__rng_t *rng, uint64_t seed);
/* Stream `stream` of `seed`: independent, reproducible streams from one seed
 * (each model of a context gets its own, numbered in the order the models
 * first draw, i.e. are finalised). */
void sigeo__rng_derive(sigeo__rng_t *rng, uint64_t seed, uint64_t stream);
uint64_t sigeo__rng_next(sigeo__rng_t *rng);
/* Uniform in [0, 1) with 53 random bits. */
double sigeo__rng_uniform(sigeo__rng_t *rng);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t sigeo__rng_below(sigeo__rng_t *rng, uint64_t n);
/* Standard normal (Box-Muller, both values used alternately is not worth
 * the state: one value per two uniforms keeps the stream simple). */
double sigeo__rng_normal(sigeo__rng_t *rng);

#endif
