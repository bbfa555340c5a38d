#include <math.h>

#include "core/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sigeo__rng_seed(sigeo__rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

void sigeo__rng_derive(sigeo__rng_t *rng, uint64_t seed, uint64_t stream)
{
    /* Stream 0 is the seed's own stream; stream k > 0 starts from the seed
     * xor a splitmix64 scramble of k, so neighbouring streams share no
     * structure (and the seeding splitmix64 decorrelates them further). */
    uint64_t k = stream * 0xd1342543de82ef95ull;
    sigeo__rng_seed(rng, stream == 0 ? seed : seed ^ splitmix64(&k));
}

uint64_t sigeo__rng_next(sigeo__rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sigeo__rng_uniform(sigeo__rng_t *rng)
{
    return (double)(sigeo__rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t sigeo__rng_below(sigeo__rng_t *rng, uint64_t n)
{
    /* Rejection of the incomplete last block keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do
        x = sigeo__rng_next(rng);
    while (x >= limit);
    return x % n;
}

double sigeo__rng_normal(sigeo__rng_t *rng)
{
    double u1 = 1.0 - sigeo__rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = sigeo__rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
