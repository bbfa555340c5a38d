/* Checked size arithmetic: the one place the library multiplies or adds
 * sizes, counts, element counts and byte offsets that come from outside
 * (descriptors, file headers, options). Every helper returns false instead
 * of wrapping, and writes *out only on success, so a caller reports the
 * overflow with its own context. Internal, never installed. */
#ifndef SIGEO_CORE_CHECKED_H
#define SIGEO_CORE_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigeo/model.h" /* SIGEO_MAX_ELEMENTS */

static inline bool sigeo__mul_i64(int64_t *out, int64_t a, int64_t b)
{
#if defined(__GNUC__)
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
#else
    if (a != 0 && b != 0) {
        if (a > 0 ? (b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a)
                  : (b > 0 ? a < INT64_MIN / b : a < INT64_MAX / b))
            return false;
    }
    *out = a * b;
    return true;
#endif
}

static inline bool sigeo__add_i64(int64_t *out, int64_t a, int64_t b)
{
#if defined(__GNUC__)
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
#else
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return false;
    *out = a + b;
    return true;
#endif
}

static inline bool sigeo__add_u64(uint64_t *out, uint64_t a, uint64_t b)
{
    if (b > UINT64_MAX - a)
        return false;
    *out = a + b;
    return true;
}

static inline bool sigeo__mul_size(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static inline bool sigeo__add_size(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return false;
    *out = a + b;
    return true;
}

/* Element counts of tensors (model.h, SIGEO_MAX_ELEMENTS): a*b (a+b) of two
 * non-negative counts, false if it wraps or exceeds the documented limit. */
static inline bool sigeo__mul_elems(int64_t *out, int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || !sigeo__mul_i64(&r, a, b) || r > SIGEO_MAX_ELEMENTS)
        return false;
    *out = r;
    return true;
}

static inline bool sigeo__add_elems(int64_t *out, int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || !sigeo__add_i64(&r, a, b) || r > SIGEO_MAX_ELEMENTS)
        return false;
    *out = r;
    return true;
}

/* Statistics that only report (FLOPs counts): the product or sum of
 * non-negative counts, INT64_MAX when it does not fit. */
static inline int64_t sigeo__sat_mul_i64(int64_t a, int64_t b)
{
    int64_t r;
    return sigeo__mul_i64(&r, a, b) ? r : INT64_MAX;
}

static inline int64_t sigeo__sat_add_i64(int64_t a, int64_t b)
{
    int64_t r;
    return sigeo__add_i64(&r, a, b) ? r : INT64_MAX;
}

#endif
