/*
 * CSV (RFC 4180) output for the example programs: fields separated by
 * commas, rows ended by "\n"; a text field is quoted when it holds a comma,
 * a quote, a CR or LF (quotes doubled). Numbers use up to 10 significant
 * digits; NaN and infinities become an empty field (a missing value for
 * spreadsheets, pandas and R alike).
 *
 *   csv_out_t c;  csv_out_init(&c, f);
 *   csv_out_text(&c, "warmup"); csv_out_text(&c, "spearman"); csv_out_end_row(&c);
 *   csv_out_number(&c, 0.1);    csv_out_number(&c, 0.93);     csv_out_end_row(&c);
 */
#ifndef SIGEO_EXAMPLES_CSV_OUT_H
#define SIGEO_EXAMPLES_CSV_OUT_H

#include <stdint.h>
#include <stdio.h>

typedef struct csv_out {
    FILE *f;          /* borrowed */
    int fields_in_row;
} csv_out_t;

void csv_out_init(csv_out_t *c, FILE *f);
void csv_out_text(csv_out_t *c, const char *s); /* NULL = empty field */
void csv_out_number(csv_out_t *c, double v);
void csv_out_int(csv_out_t *c, int64_t v);
void csv_out_end_row(csv_out_t *c);
/* 0 if every write reached the FILE, -1 after a write error. */
int csv_out_status(const csv_out_t *c);

#endif
