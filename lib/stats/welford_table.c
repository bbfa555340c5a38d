#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "stats/welford.h"
#include "stats/welford_table.h"

/* 1 if x is an infinity or a NaN (all exponent bits set). */
static inline uint32_t welford_bits_nonfinite(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
}

bool sigeo__welford_table_init(sigeo__welford_table_t *t, int64_t rows, int64_t row_size)
{
    memset(t, 0, sizeof *t);
    if (rows < 1 || rows > SIGEO__WELFORD_TABLE_MAX_ROWS || row_size < 1 ||
        (uint64_t)row_size > SIZE_MAX / 3 / sizeof(float))
        return false;
    /* zeroed only so that no byte is ever read uninitialised (valgrind):
     * the sparse set needs no particular value */
    t->slot_of = sigeo__calloc((size_t)rows, sizeof *t->slot_of);
    if (!t->slot_of)
        return false;
    t->rows = rows;
    t->row_size = row_size;
    return true;
}

void sigeo__welford_table_free(sigeo__welford_table_t *t)
{
    sigeo__free(t->slot_of);
    sigeo__free(t->row_of);
    sigeo__free(t->seen);
    sigeo__free(t->state);
    memset(t, 0, sizeof *t);
}

bool sigeo__welford_table_reserve(sigeo__welford_table_t *t, int64_t more)
{
    if (more < 0)
        return false;
    int64_t need = t->n_slots + (more < t->rows ? more : t->rows);
    if (need > t->rows)
        need = t->rows;
    if (need <= t->cap)
        return true;
    /* doubling: a search's first candidates grow the pool, later ones reuse it */
    int64_t cap = 2 * t->cap;
    if (cap < 256)
        cap = 256;
    if (cap < need)
        cap = need;
    if (cap > t->rows)
        cap = t->rows;
    size_t floats;
    if (!sigeo__mul_size(&floats, (size_t)cap, (size_t)t->row_size) || !sigeo__mul_size(&floats, floats, 3))
        return false;
    uint32_t *row_of = sigeo__realloc_array(t->row_of, (size_t)t->n_slots, (size_t)cap, sizeof *row_of);
    if (!row_of)
        return false;
    t->row_of = row_of; /* larger and holding the same slots: keeping it is harmless if a later step fails */
    uint32_t *seen = sigeo__realloc_array(t->seen, (size_t)t->n_slots, (size_t)cap, sizeof *seen);
    if (!seen)
        return false;
    t->seen = seen;
    float *state = sigeo__realloc_array(t->state, (size_t)t->n_slots * 3 * (size_t)t->row_size, floats,
                                        sizeof *state);
    if (!state)
        return false;
    t->state = state;
    t->cap = cap;
    return true;
}

uint32_t sigeo__welford_table_fold(sigeo__welford_table_t *t, const float *grad, const int64_t *rows, int64_t n_rows,
                                   uint64_t n)
{
    const int64_t d = t->row_size, stride = 3 * d;
    /* the kernel and its step factor once per table, not per row (a row is
     * one AVX-512 vector: call overheads were most of a row's cost) */
    const welford_kernel_t kernel = sigeo__welford_widest();
    const float inv_n = (float)(1.0 / (double)n);
    uint32_t bad = 0;
    /* Two misses per listed row that the hardware cannot foresee: its entry
     * of slot_of (a 400 kB array per DLRM table) and, for a row touched
     * before, its slot's state. The first is requested FAR rows ahead, the
     * second NEAR rows ahead (by then its slot_of entry is in cache), so the
     * misses overlap instead of being paid one after the other. New slots
     * are appended: written in order, no miss. */
    enum { NEAR = 8, FAR = 16 };
    for (int64_t i = 0; i < n_rows; i++) {
        if (i + FAR < n_rows)
            __builtin_prefetch(t->slot_of + (rows ? rows[i + FAR] : i + FAR));
        if (i + NEAR < n_rows) {
            const int64_t ahead_row = rows ? rows[i + NEAR] : i + NEAR;
            const int64_t ahead = sigeo__welford_table_slot(t, ahead_row);
            __builtin_prefetch(grad + ahead_row * d);
            if (ahead >= 0) {
                const float *p = sigeo__welford_table_at(t, ahead);
                for (int64_t e = 0; e < stride; e += 16)
                    __builtin_prefetch(p + e, 1);
            }
        }
        const int64_t r = rows ? rows[i] : i;
        int64_t slot = sigeo__welford_table_slot(t, r);
        if (slot < 0) {
            slot = t->n_slots++; /* reserved by the caller */
            t->slot_of[r] = (uint32_t)(slot + 1);
            t->row_of[slot] = (uint32_t)r;
            t->seen[slot] = 0;
        } else if (t->seen[slot] == n) {
            continue; /* listed twice */
        }
        float *at = sigeo__welford_table_at(t, slot);
        const float *g = grad + r * d;
        if (n == 1) {
            /* the first observation, all three stored (a table's catch-up
             * and reduction read them): the means are the value, M2 is 0 */
            for (int64_t e = 0; e < d; e++) {
                bad |= welford_bits_nonfinite(g[e]);
                at[e] = fabsf(g[e]);
                at[d + e] = g[e];
                at[2 * d + e] = 0.0f;
            }
        } else {
            sigeo__welford_t w = { at, at + d, at + 2 * d };
            sigeo__welford_catch_up(&w, 0, d, t->seen[slot], n - 1); /* a new slot: zeros */
            bad |= kernel(at, at + d, at + 2 * d, g, d, inv_n, 1);
        }
        t->seen[slot] = (uint32_t)n;
    }
    return bad;
}
