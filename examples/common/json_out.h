/*
 * A tiny streaming JSON writer for the example programs: objects, arrays,
 * strings, numbers, booleans and null, written straight to a FILE with the
 * commas and (optionally) the indentation taken care of.
 *
 *   json_out_t j;
 *   json_out_init(&j, f, 1);
 *   json_out_begin_object(&j);
 *   json_out_key(&j, "rows");  json_out_begin_array(&j); ... json_out_end_array(&j);
 *   json_out_end_object(&j);
 *   if (json_out_finish(&j) != 0) ... the structure was misused or a write failed
 *
 * Numbers that are NaN or infinite are written as null (JSON has no such
 * values). Misuse (a value where a key is due, unbalanced ends, nesting
 * deeper than JSON_OUT_MAX_DEPTH) is recorded, not fatal: json_out_finish
 * reports it. Not thread-safe per writer; writers share nothing.
 */
#ifndef SIGEO_EXAMPLES_JSON_OUT_H
#define SIGEO_EXAMPLES_JSON_OUT_H

#include <stdint.h>
#include <stdio.h>

#define JSON_OUT_MAX_DEPTH 32

typedef struct json_out {
    FILE *f;
    int pretty;                                 /* 1: two-space indentation, one value per line */
    int depth;
    int error;                                  /* 0, or the first problem (see json_out_finish) */
    unsigned char in_object[JSON_OUT_MAX_DEPTH]; /* per level: 1 object, 0 array */
    unsigned char n_items[JSON_OUT_MAX_DEPTH];   /* per level: 0 before the first item, 1 after */
    int key_pending;                            /* a key was written, its value is due */
    int significant_digits;                     /* of numbers (default 10) */
} json_out_t;

/* Starts a writer on `f` (borrowed; the caller closes it). */
void json_out_init(json_out_t *j, FILE *f, int pretty);

void json_out_begin_object(json_out_t *j);
void json_out_end_object(json_out_t *j);
void json_out_begin_array(json_out_t *j);
void json_out_end_array(json_out_t *j);

/* A member name inside an object; the next value call writes its value. */
void json_out_key(json_out_t *j, const char *key);

void json_out_string(json_out_t *j, const char *s); /* NULL writes null */
void json_out_number(json_out_t *j, double v);      /* NaN/Inf write null */
void json_out_int(json_out_t *j, int64_t v);
void json_out_bool(json_out_t *j, int v);
void json_out_null(json_out_t *j);

/* Shorthands for `key` followed by a value. */
void json_out_key_string(json_out_t *j, const char *key, const char *s);
void json_out_key_number(json_out_t *j, const char *key, double v);
void json_out_key_int(json_out_t *j, const char *key, int64_t v);
void json_out_key_bool(json_out_t *j, const char *key, int v);

/* Ends the document (a final newline) and returns 0 if the output is a
 * complete, well-formed document that reached the FILE without a write
 * error, otherwise -1 with *why (may be NULL) set to a static explanation. */
int json_out_finish(json_out_t *j, const char **why);

#endif
