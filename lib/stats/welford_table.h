/* A table module's running statistics (an embedding table: rows x row_size,
 * row-sparse batch gradients), stored compactly: a row gets a slot at its
 * first touch after a reset, and only slots hold state. A DLRM candidate's
 * k = 4 batches of 512 touch ~2 k of a table's 100 k rows, so the state is
 * ~2 k x 3 x row_size floats instead of 100 k x 3 x row_size: no page of a
 * table-sized state is faulted in (the first evaluation used to zero
 * 500 MB for DLRM's 26 tables), new rows are written one after the other
 * instead of scattered over hundreds of MB, and compute walks the slots in
 * order (bench/README.md, "DLRM statistics").
 *
 * row -> slot is a sparse set: slot_of[r] - 1 names row r's slot only when
 * it is below n_slots and row_of of that slot is r, so a reset is
 * n_slots = 0, whatever the table's size. */
#ifndef SIGEO_STATS_WELFORD_TABLE_H
#define SIGEO_STATS_WELFORD_TABLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sigeo__welford_table {
    int64_t rows, row_size;
    uint32_t *slot_of; /* [rows]: row r's slot + 1, valid only as said above */
    uint32_t *row_of;  /* [cap]: the row a slot holds */
    uint32_t *seen;    /* [cap]: observations folded into a slot (the batches up to its row's last touch) */
    float *state;      /* [cap][3][row_size]: a slot's mean |g|, mean and root M2 (welford.h), adjacent */
    int64_t n_slots, cap;
} sigeo__welford_table_t;

/* The most rows a table can have (slots and rows are 32-bit). */
#define SIGEO__WELFORD_TABLE_MAX_ROWS ((int64_t)UINT32_MAX - 1)

/* An empty table of `rows` (1..SIGEO__WELFORD_TABLE_MAX_ROWS) rows; false
 * when out of memory (*t is then empty and safe to free). */
bool sigeo__welford_table_init(sigeo__welford_table_t *t, int64_t rows, int64_t row_size);
void sigeo__welford_table_free(sigeo__welford_table_t *t);

/* Room for `more` new slots (capped at the table's rows), so that a fold of
 * that many rows cannot fail; false when out of memory, *t unchanged. */
bool sigeo__welford_table_reserve(sigeo__welford_table_t *t, int64_t more);

/* Row r's slot, or -1 if no batch since the reset touched it. */
static inline int64_t sigeo__welford_table_slot(const sigeo__welford_table_t *t, int64_t r)
{
    const int64_t s = (int64_t)t->slot_of[r] - 1;
    return s >= 0 && s < t->n_slots && t->row_of[s] == (uint32_t)r ? s : -1;
}

/* The welford.h view of a slot's state (one row: count row_size, offset 0). */
static inline float *sigeo__welford_table_at(const sigeo__welford_table_t *t, int64_t slot)
{
    return t->state + slot * 3 * t->row_size;
}

/* Folds batch n (n >= 1) into the listed rows (rows NULL = rows 0..n_rows-1;
 * repetitions allowed: a row already at n is skipped): a row without a slot
 * gets the next one (zeros), the zero observations a row missed since its
 * last touch are merged in (sigeo__welford_catch_up to n - 1), then row r of
 * `grad` (the whole table's gradient, rows x row_size) is folded in as
 * observation n. The caller reserved n_rows slots. The kernels of
 * sigeo__welford_update, on one thread (the rows are short), except that
 * a first observation stores all three (catch-up and reduction read them).
 * Returns 1 if a folded row held a non-finite element (its slot is then
 * garbage, as sigeo__welford_update). */
uint32_t sigeo__welford_table_fold(sigeo__welford_table_t *t, const float *grad, const int64_t *rows, int64_t n_rows,
                                   uint64_t n);

/* Forgets every row (the next candidate); O(1). */
static inline void sigeo__welford_table_reset(sigeo__welford_table_t *t)
{
    t->n_slots = 0;
}

#endif
