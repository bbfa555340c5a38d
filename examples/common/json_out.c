/* Streaming JSON writer (see json_out.h). */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>

enum {
    JSON_OK = 0,
    JSON_ERR_KEY_OUTSIDE_OBJECT,
    JSON_ERR_VALUE_WITHOUT_KEY,
    JSON_ERR_KEY_TWICE,
    JSON_ERR_UNBALANCED,
    JSON_ERR_TOO_DEEP,
    JSON_ERR_SECOND_ROOT,
    JSON_ERR_INCOMPLETE,
    JSON_ERR_WRITE
};

static const char *const json_errors[] = {
    "no error",
    "a key outside an object",
    "a value inside an object without its key",
    "two keys in a row",
    "an end that does not match the open object or array",
    "nesting deeper than JSON_OUT_MAX_DEPTH",
    "a second top-level value",
    "the document was not closed",
    "a write to the file failed",
};

static void fail(json_out_t *j, int code)
{
    if (!j->error)
        j->error = code;
}

static void newline_indent(json_out_t *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/* Writes what must precede a value (or a key): a comma and indentation. */
static void before_item(json_out_t *j, int is_key)
{
    if (j->depth == 0) {
        if (j->n_items[0])
            fail(j, JSON_ERR_SECOND_ROOT);
        j->n_items[0] = 1;
        return;
    }
    int lvl = j->depth;
    if (j->in_object[lvl]) {
        if (is_key) {
            if (j->key_pending)
                fail(j, JSON_ERR_KEY_TWICE);
        } else {
            if (!j->key_pending)
                fail(j, JSON_ERR_VALUE_WITHOUT_KEY);
            j->key_pending = 0;
            return; /* the key already placed the comma */
        }
    } else if (is_key) {
        fail(j, JSON_ERR_KEY_OUTSIDE_OBJECT);
    }
    if (j->n_items[lvl])
        fputc(',', j->f);
    j->n_items[lvl] = 1;
    newline_indent(j);
}

void json_out_init(json_out_t *j, FILE *f, int pretty)
{
    j->f = f;
    j->pretty = pretty;
    j->depth = 0;
    j->error = JSON_OK;
    j->key_pending = 0;
    j->significant_digits = 10;
    for (int i = 0; i < JSON_OUT_MAX_DEPTH; i++) {
        j->in_object[i] = 0;
        j->n_items[i] = 0;
    }
}

static void begin(json_out_t *j, int object)
{
    before_item(j, 0);
    if (j->depth + 1 >= JSON_OUT_MAX_DEPTH) {
        fail(j, JSON_ERR_TOO_DEEP);
        return;
    }
    fputc(object ? '{' : '[', j->f);
    j->depth++;
    j->in_object[j->depth] = (unsigned char)object;
    j->n_items[j->depth] = 0;
}

static void end(json_out_t *j, int object)
{
    if (j->depth == 0 || j->in_object[j->depth] != object || j->key_pending) {
        fail(j, JSON_ERR_UNBALANCED);
        return;
    }
    int had_items = j->n_items[j->depth];
    j->depth--;
    if (had_items)
        newline_indent(j);
    fputc(object ? '}' : ']', j->f);
}

void json_out_begin_object(json_out_t *j) { begin(j, 1); }
void json_out_end_object(json_out_t *j) { end(j, 1); }
void json_out_begin_array(json_out_t *j) { begin(j, 0); }
void json_out_end_array(json_out_t *j) { end(j, 0); }

static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", (unsigned)*p);
            else
                fputc(*p, f); /* UTF-8 passes through unchanged */
        }
    }
    fputc('"', f);
}

void json_out_key(json_out_t *j, const char *key)
{
    before_item(j, 1);
    write_string(j->f, key ? key : "");
    fputs(j->pretty ? ": " : ":", j->f);
    j->key_pending = 1;
}

void json_out_string(json_out_t *j, const char *s)
{
    before_item(j, 0);
    if (s)
        write_string(j->f, s);
    else
        fputs("null", j->f);
}

void json_out_number(json_out_t *j, double v)
{
    before_item(j, 0);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    if (v == 0.0)
        v = 0.0; /* no "-0" */
    fprintf(j->f, "%.*g", j->significant_digits, v);
}

void json_out_int(json_out_t *j, int64_t v)
{
    before_item(j, 0);
    fprintf(j->f, "%" PRId64, v);
}

void json_out_bool(json_out_t *j, int v)
{
    before_item(j, 0);
    fputs(v ? "true" : "false", j->f);
}

void json_out_null(json_out_t *j)
{
    before_item(j, 0);
    fputs("null", j->f);
}

void json_out_key_string(json_out_t *j, const char *key, const char *s)
{
    json_out_key(j, key);
    json_out_string(j, s);
}

void json_out_key_number(json_out_t *j, const char *key, double v)
{
    json_out_key(j, key);
    json_out_number(j, v);
}

void json_out_key_int(json_out_t *j, const char *key, int64_t v)
{
    json_out_key(j, key);
    json_out_int(j, v);
}

void json_out_key_bool(json_out_t *j, const char *key, int v)
{
    json_out_key(j, key);
    json_out_bool(j, v);
}

int json_out_finish(json_out_t *j, const char **why)
{
    if (j->depth != 0 || !j->n_items[0])
        fail(j, JSON_ERR_INCOMPLETE);
    fputc('\n', j->f);
    if (ferror(j->f))
        fail(j, JSON_ERR_WRITE);
    if (why)
        *why = json_errors[j->error];
    return j->error ? -1 : 0;
}
