/* Hashing of categorical values into embedding-table rows (docs/nasrec.md §1.2),
 * the Criteo table-size presets, and the integer mixer the synthetic
 * generator names its categories with. Not installed. */
#ifndef SIGEO_IO_HASH_H
#define SIGEO_IO_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest table the reader accepts: ids must fit the int32 storage. */
#define SIGEO__MAX_TABLE_ROWS ((int64_t)1 << 31)

/* N_f of the 26 Criteo Kaggle categorical fields (docs/nasrec.md §1.3). */
extern const int64_t sigeo__criteo_kaggle_tables[26];

/* Parses 1..16 hexadecimal digits (either case, nothing else). */
bool sigeo__hex_parse(uint64_t *out, const char *text, size_t length);

/* Row of a present value v in a table of `table_rows` (>= 2) rows:
 * v mod (table_rows - 1) + 1, in 1 .. table_rows - 1; row 0 is "missing". */
static inline int64_t sigeo__hash_row(uint64_t v, int64_t table_rows)
{
    return (int64_t)(v % (uint64_t)(table_rows - 1)) + 1;
}

/* The dense transform ln(1 + max(x, 0)) as float32. */
float sigeo__dense_transform(int64_t x);

/* A 32-bit avalanche mix of two words (different pairs give unrelated
 * values; used for synthetic category names and pair hashes). */
uint32_t sigeo__mix32(uint32_t a, uint32_t b);

/* Copies up to cap-1 bytes of text into dst for an error message, with
 * non-printable bytes shown as '?' and "..." when cut. */
void sigeo__snippet(char *dst, size_t cap, const char *text, size_t length);

#endif
