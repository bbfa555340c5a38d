/* Criteo TSV internals shared by the reader (criteo.c), the synthetic
 * generator (synthetic.c) and the fuzz target. Not installed. */
#ifndef SIGEO_IO_CRITEO_H
#define SIGEO_IO_CRITEO_H

#include "core/core.h"
#include "sigeo/io.h"

/* One example before the transforms: raw integers and hex values. */
typedef struct sigeo__criteo_row {
    int32_t label;
    uint32_t dense_present; /* bit j: I(j+1) present */
    uint32_t cat_present;   /* bit f: C(f+1) present */
    int64_t dense[SIGEO_CRITEO_N_DENSE];
    uint64_t cat[SIGEO_CRITEO_N_SPARSE];
} sigeo__criteo_row_t;

/* Parses one line of `length` bytes (no '\n'; one trailing '\r' is
 * dropped). Returns a sigeo_criteo_problem_t; on a problem *field is its
 * 1-based field number (0 = the whole line) and *field_text/_length point
 * at the offending text inside `line`. */
int32_t sigeo__criteo_parse_line(sigeo__criteo_row_t *row, const char *line, size_t length, int32_t *field,
                                 const char **field_text, size_t *field_length);

/* Name of a 1-based field ("label", "I3", "C17"), or "line" for 0. */
const char *sigeo__criteo_field_name(char buf[16], int32_t field);

/* Validates options (NULL = defaults) into `resolved` and the 26 table sizes. */
sigeo_status_t sigeo__criteo_resolve(sigeo_criteo_options_t *resolved, int64_t tables[SIGEO_CRITEO_N_SPARSE],
                                     const sigeo_criteo_options_t *options, sigeo__errbuf_t *err, const char *what);

/* An empty Criteo-layout dataset with room for cap_rows rows; NULL if out of memory. */
sigeo_dataset_t *sigeo__criteo_dataset_new(int64_t cap_rows, const int64_t tables[SIGEO_CRITEO_N_SPARSE]);

/* Transforms `row` into row number ds->n_rows (capacity must exist) and
 * increments n_rows. */
void sigeo__criteo_store(sigeo_dataset_t *ds, const sigeo__criteo_row_t *row,
                         const int64_t tables[SIGEO_CRITEO_N_SPARSE]);

#endif
