/* The Criteo TSV reader: line splitting over a (possibly gzip) stream,
 * field validation, the transforms of docs/nasrec.md §1.2, and chunked delivery
 * into datasets. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "io/criteo.h"
#include "io/dataset.h"
#include "io/hash.h"
#include "io/zin.h"

#define N_FIELDS (1 + SIGEO_CRITEO_N_DENSE + SIGEO_CRITEO_N_SPARSE)
#define READ_CHUNK 65536
#define FIRST_CHUNK_ROWS 4096
#define MAX_LINE_LIMIT ((int64_t)1 << 30)

SIGEO_API sigeo_status_t sigeo_criteo_options_init(sigeo_criteo_options_t *options, uint32_t struct_size)
{
    static const sigeo_criteo_options_t defaults = SIGEO_CRITEO_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_criteo_options");
}

SIGEO_API sigeo_status_t sigeo_criteo_stats_init(sigeo_criteo_stats_t *stats, uint32_t struct_size)
{
    static const sigeo_criteo_stats_t defaults = SIGEO_CRITEO_STATS_INIT;
    return sigeo__struct_init(stats, struct_size, &defaults, sizeof defaults, "sigeo_criteo_stats");
}

/* ---------------------------------------------------------------- options */

static sigeo_status_t check_table(int64_t rows, const char *what, const char *which, int field,
                                  sigeo__errbuf_t *err)
{
    if (rows < 2 || rows > SIGEO__MAX_TABLE_ROWS)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: %s[%d] = %lld rows, must be in 2 .. 2^31", what, which,
                              field, (long long)rows);
    return SIGEO_OK;
}

sigeo_status_t sigeo__criteo_resolve(sigeo_criteo_options_t *resolved, int64_t tables[SIGEO_CRITEO_N_SPARSE],
                                     const sigeo_criteo_options_t *options, sigeo__errbuf_t *err, const char *what)
{
    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_criteo_options", err);
    if (st != SIGEO_OK)
        return st;
    if (o.reserved0 != 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: options.reserved0 must be 0", what);
    if (o.on_bad_line != SIGEO_CRITEO_BAD_LINE_FAIL && o.on_bad_line != SIGEO_CRITEO_BAD_LINE_SKIP)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: unknown on_bad_line %d (0 fail, 1 skip)", what,
                              (int)o.on_bad_line);
    if (o.max_line_bytes < 1 || o.max_line_bytes > MAX_LINE_LIMIT)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: max_line_bytes %lld outside 1 .. 2^30", what,
                              (long long)o.max_line_bytes);
    for (int f = 0; f < SIGEO_CRITEO_N_SPARSE; f++) {
        int64_t full = sigeo__criteo_kaggle_tables[f];
        switch (o.tables) {
        case SIGEO_CRITEO_TABLES_SCALED: tables[f] = full < 4096 ? full : 4096; break;
        case SIGEO_CRITEO_TABLES_FULL: tables[f] = full; break;
        case SIGEO_CRITEO_TABLES_SEARCH: tables[f] = full < 500000 ? full : 500000; break;
        case SIGEO_CRITEO_TABLES_UNIFORM:
            if ((st = check_table(o.table_size, what, "table_size for field", f, err)) != SIGEO_OK)
                return st;
            tables[f] = o.table_size;
            break;
        case SIGEO_CRITEO_TABLES_CUSTOM:
            if ((st = check_table(o.table_sizes[f], what, "table_sizes", f, err)) != SIGEO_OK)
                return st;
            tables[f] = o.table_sizes[f];
            break;
        default:
            return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                                  "%s: unknown tables preset %d (0 scaled, 1 full, 2 search, 3 uniform, 4 custom)",
                                  what, (int)o.tables);
        }
    }
    *resolved = o;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_criteo_table_sizes(int64_t sizes_out[SIGEO_CRITEO_N_SPARSE],
                                                  const sigeo_criteo_options_t *options)
{
    if (!sizes_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_table_sizes: sizes_out is NULL");
    sigeo_criteo_options_t o;
    int64_t t[SIGEO_CRITEO_N_SPARSE];
    sigeo_status_t st = sigeo__criteo_resolve(&o, t, options, NULL, "sigeo_criteo_table_sizes");
    if (st == SIGEO_OK)
        memcpy(sizes_out, t, sizeof t);
    return st;
}

/* ---------------------------------------------------------------- parsing */

const char *sigeo__criteo_field_name(char buf[16], int32_t field)
{
    if (field <= 0)
        return "line";
    if (field == 1)
        return "label";
    if (field <= 1 + SIGEO_CRITEO_N_DENSE)
        snprintf(buf, 16, "I%d", (int)(field - 1));
    else
        snprintf(buf, 16, "C%d", (int)(field - 1 - SIGEO_CRITEO_N_DENSE));
    return buf;
}

static bool parse_int64(int64_t *out, const char *s, size_t n)
{
    size_t i = 0;
    bool negative = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t v = 0;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9 || v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

int32_t sigeo__criteo_parse_line(sigeo__criteo_row_t *row, const char *line, size_t length, int32_t *field,
                                 const char **field_text, size_t *field_length)
{
    if (length > 0 && line[length - 1] == '\r')
        length--;
    *field = 0;
    *field_text = line;
    *field_length = length;
    const char *start[N_FIELDS];
    size_t len[N_FIELDS];
    int32_t count = 0;
    size_t s = 0;
    for (size_t i = 0; i <= length; i++) {
        if (i < length && line[i] != '\t')
            continue;
        if (count == N_FIELDS)
            return SIGEO_CRITEO_PROBLEM_FIELD_COUNT;
        start[count] = line + s;
        len[count] = i - s;
        count++;
        s = i + 1;
    }
    if (count != N_FIELDS)
        return SIGEO_CRITEO_PROBLEM_FIELD_COUNT;

    memset(row, 0, sizeof *row);
    for (int32_t k = 0; k < N_FIELDS; k++) {
        *field = k + 1;
        *field_text = start[k];
        *field_length = len[k];
        if (k == 0) {
            if (len[0] != 1 || (start[0][0] != '0' && start[0][0] != '1'))
                return SIGEO_CRITEO_PROBLEM_LABEL;
            row->label = start[0][0] - '0';
        } else if (k <= SIGEO_CRITEO_N_DENSE) {
            if (len[k] == 0)
                continue;
            if (!parse_int64(&row->dense[k - 1], start[k], len[k]))
                return SIGEO_CRITEO_PROBLEM_INTEGER;
            row->dense_present |= 1u << (k - 1);
        } else {
            int32_t f = k - 1 - SIGEO_CRITEO_N_DENSE;
            if (len[k] == 0)
                continue;
            if (!sigeo__hex_parse(&row->cat[f], start[k], len[k]))
                return SIGEO_CRITEO_PROBLEM_HEX;
            row->cat_present |= 1u << f;
        }
    }
    *field = 0;
    *field_length = 0;
    return SIGEO_CRITEO_PROBLEM_NONE;
}

/* ------------------------------------------------------------- transforms */

sigeo_dataset_t *sigeo__criteo_dataset_new(int64_t cap_rows, const int64_t tables[SIGEO_CRITEO_N_SPARSE])
{
    sigeo__dataset_shape_t shape = { SIGEO_CRITEO_N_DENSE, SIGEO_CRITEO_N_SPARSE, true, 1 };
    sigeo_dataset_t *ds = sigeo__dataset_new(&shape, cap_rows);
    if (ds)
        memcpy(ds->table_sizes, tables, SIGEO_CRITEO_N_SPARSE * sizeof(int64_t));
    return ds;
}

void sigeo__criteo_store(sigeo_dataset_t *ds, const sigeo__criteo_row_t *row,
                         const int64_t tables[SIGEO_CRITEO_N_SPARSE])
{
    int64_t r = ds->n_rows;
    float *dense = ds->dense + r * SIGEO_CRITEO_N_DENSE;
    for (int j = 0; j < SIGEO_CRITEO_N_DENSE; j++)
        dense[j] = (row->dense_present >> j & 1u) ? sigeo__dense_transform(row->dense[j]) : 0.0f;
    int32_t *ids = ds->ids32 + r * SIGEO_CRITEO_N_SPARSE;
    for (int f = 0; f < SIGEO_CRITEO_N_SPARSE; f++)
        ids[f] = (row->cat_present >> f & 1u) ? (int32_t)sigeo__hash_row(row->cat[f], tables[f]) : 0;
    ds->labels[r] = row->label;
    ds->targets[r] = (float)row->label;
    ds->n_rows = r + 1;
}

/* ----------------------------------------------------------------- reader */

struct sigeo_criteo_reader {
    sigeo__zin_t *z;
    char *path;
    sigeo_criteo_options_t options;
    int64_t tables[SIGEO_CRITEO_N_SPARSE];
    char *buf;
    size_t cap;
    size_t start, end; /* unread bytes are buf[start, end) */
    bool eof;
    bool discarding; /* inside an over-long line being skipped */
    sigeo_criteo_stats_t stats;
    sigeo_status_t failed; /* sticky status after a fatal failure */
    sigeo__errbuf_t err;
};

#define RFAIL(r, status, ...) sigeo__fail_on(&(r)->err, status, __VA_ARGS__)

SIGEO_API void sigeo_criteo_reader_destroy(sigeo_criteo_reader_t *r)
{
    if (!r)
        return;
    sigeo__zin_close(r->z);
    sigeo__free(r->path);
    sigeo__free(r->buf);
    sigeo__free(r);
}

SIGEO_API sigeo_status_t sigeo_criteo_reader_create(sigeo_criteo_reader_t **out, const char *path,
                                                    const sigeo_criteo_options_t *options)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_create: out is NULL");
    *out = NULL;
    if (!path)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_create: path is NULL");
    sigeo_criteo_options_t o;
    int64_t tables[SIGEO_CRITEO_N_SPARSE];
    sigeo_status_t st = sigeo__criteo_resolve(&o, tables, options, NULL, "sigeo_criteo_reader_create");
    if (st != SIGEO_OK)
        return st;
    sigeo_criteo_reader_t *r = sigeo__calloc(1, sizeof *r);
    if (!r)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_criteo_reader_create: out of memory");
    r->options = o;
    memcpy(r->tables, tables, sizeof tables);
    sigeo_criteo_stats_t zero = SIGEO_CRITEO_STATS_INIT;
    r->stats = zero;
    /* Room for the longest accepted line with its CR LF, plus one read. */
    r->cap = (size_t)o.max_line_bytes + 2 + READ_CHUNK;
    r->path = sigeo__strdup(path);
    r->buf = sigeo__alloc(r->cap);
    if (!r->path || !r->buf) {
        sigeo_criteo_reader_destroy(r);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_criteo_reader_create: out of memory for a %zu-byte line buffer",
                           (size_t)o.max_line_bytes + 2 + READ_CHUNK);
    }
    /* No budget: a reader holds one chunk at a time, whatever the file expands to. */
    if ((st = sigeo__zin_open(&r->z, r->path, "criteo", UINT64_MAX)) != SIGEO_OK) {
        sigeo_criteo_reader_destroy(r);
        return st;
    }
    *out = r;
    return SIGEO_OK;
}

/* Reads more bytes behind the unread ones. */
static sigeo_status_t refill(sigeo_criteo_reader_t *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t room = r->cap - r->end, n = 0;
    sigeo_status_t st = sigeo__zin_read(r->z, r->buf + r->end, room, &n);
    if (st != SIGEO_OK)
        return RFAIL(r, st, "%s (after line %lld)", sigeo_last_error(), (long long)r->stats.lines);
    if (n == 0)
        r->eof = true;
    r->end += n;
    return SIGEO_OK;
}

/* Records a bad line; in strict mode returns FORMAT with the message. */
static sigeo_status_t bad_line(sigeo_criteo_reader_t *r, int64_t line_no, int32_t problem, int32_t field,
                               const char *text, size_t text_len)
{
    sigeo_criteo_stats_t *s = &r->stats;
    s->bad_lines++;
    switch (problem) {
    case SIGEO_CRITEO_PROBLEM_FIELD_COUNT: s->bad_field_count++; break;
    case SIGEO_CRITEO_PROBLEM_LABEL: s->bad_label++; break;
    case SIGEO_CRITEO_PROBLEM_INTEGER: s->bad_integer++; break;
    case SIGEO_CRITEO_PROBLEM_HEX: s->bad_hex++; break;
    default: s->too_long++; break;
    }
    if (s->first_bad_line == 0) {
        s->first_bad_line = line_no;
        s->first_bad_field = field;
        s->first_bad_problem = problem;
    }
    if (r->options.on_bad_line == SIGEO_CRITEO_BAD_LINE_SKIP)
        return SIGEO_OK;
    char name[16], shown[48];
    const char *fname = sigeo__criteo_field_name(name, field);
    switch (problem) {
    case SIGEO_CRITEO_PROBLEM_FIELD_COUNT: {
        size_t tabs = 0;
        for (size_t i = 0; i < text_len; i++)
            tabs += text[i] == '\t';
        return RFAIL(r, SIGEO_ERR_FORMAT, "criteo '%s' line %lld: %zu fields, expected %d (label, 13 integers, "
                     "26 categorical, tab-separated)", r->path, (long long)line_no, tabs + 1, N_FIELDS);
    }
    case SIGEO_CRITEO_PROBLEM_TOO_LONG:
        return RFAIL(r, SIGEO_ERR_FORMAT, "criteo '%s' line %lld: longer than max_line_bytes %lld", r->path,
                     (long long)line_no, (long long)r->options.max_line_bytes);
    case SIGEO_CRITEO_PROBLEM_LABEL:
        sigeo__snippet(shown, sizeof shown, text, text_len);
        return RFAIL(r, SIGEO_ERR_FORMAT, "criteo '%s' line %lld field %d (label): '%s' is not 0 or 1", r->path,
                     (long long)line_no, (int)field, shown);
    case SIGEO_CRITEO_PROBLEM_INTEGER:
        sigeo__snippet(shown, sizeof shown, text, text_len);
        return RFAIL(r, SIGEO_ERR_FORMAT, "criteo '%s' line %lld field %d (%s): '%s' is not a decimal int64", r->path,
                     (long long)line_no, (int)field, fname, shown);
    default:
        sigeo__snippet(shown, sizeof shown, text, text_len);
        return RFAIL(r, SIGEO_ERR_FORMAT, "criteo '%s' line %lld field %d (%s): '%s' is not 1..16 hex digits",
                     r->path, (long long)line_no, (int)field, fname, shown);
    }
}

/* Finds the next line. *line is NULL at the end of the file. Over-long
 * lines are reported through bad_line (and skipped in skip mode). */
static sigeo_status_t next_line(sigeo_criteo_reader_t *r, const char **line, size_t *length)
{
    size_t max_len = (size_t)r->options.max_line_bytes;
    *line = NULL;
    for (;;) {
        char *p = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
        if (p) {
            const char *s = r->buf + r->start;
            size_t n = (size_t)(p - s);
            r->start += n + 1;
            if (r->discarding) { /* the end of an over-long line, counted when found */
                r->discarding = false;
                continue;
            }
            r->stats.lines++;
            size_t content = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
            if (content > max_len) {
                sigeo_status_t st = bad_line(r, r->stats.lines, SIGEO_CRITEO_PROBLEM_TOO_LONG, 0, s, 0);
                if (st != SIGEO_OK)
                    return st;
                continue;
            }
            *line = s;
            *length = n;
            return SIGEO_OK;
        }
        size_t pending = r->end - r->start;
        if (pending > max_len + 1) {
            /* No line ending within reach: the line is too long whatever follows. */
            if (!r->discarding) {
                r->discarding = true;
                r->stats.lines++;
                sigeo_status_t st = bad_line(r, r->stats.lines, SIGEO_CRITEO_PROBLEM_TOO_LONG, 0, NULL, 0);
                if (st != SIGEO_OK)
                    return st;
            }
            r->start = r->end;
        }
        if (r->eof) {
            if (r->start == r->end)
                return SIGEO_OK;
            /* The last line, without a newline. */
            const char *s = r->buf + r->start;
            size_t n = r->end - r->start;
            r->start = r->end;
            if (r->discarding) {
                r->discarding = false;
                return SIGEO_OK;
            }
            r->stats.lines++;
            if ((n > 0 && s[n - 1] == '\r' ? n - 1 : n) > max_len) {
                sigeo_status_t st = bad_line(r, r->stats.lines, SIGEO_CRITEO_PROBLEM_TOO_LONG, 0, s, 0);
                return st;
            }
            *line = s;
            *length = n;
            return SIGEO_OK;
        }
        sigeo_status_t st = refill(r);
        if (st != SIGEO_OK)
            return st;
    }
}

static sigeo_status_t reader_fail(sigeo_criteo_reader_t *r, sigeo_status_t st)
{
    r->failed = st;
    return st;
}

SIGEO_API sigeo_status_t sigeo_criteo_reader_next(sigeo_dataset_t **out, sigeo_criteo_reader_t *r, int64_t max_rows)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_next: out is NULL");
    *out = NULL;
    if (!r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_next: reader is NULL");
    if (r->failed != SIGEO_OK) {
        sigeo__fail(r->failed, "%s", r->err.msg);
        return r->failed;
    }
    if (max_rows < 1)
        return RFAIL(r, SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_next: max_rows %lld (must be >= 1)",
                     (long long)max_rows);
    sigeo_dataset_t *ds = NULL;
    /* stats.rows counts delivered rows: a chunk that fails delivers none */
    const int64_t rows_before = r->stats.rows;
    for (;;) {
        if (ds && ds->n_rows == max_rows)
            break;
        const char *line;
        size_t length;
        sigeo_status_t st = next_line(r, &line, &length);
        if (st != SIGEO_OK) {
            sigeo_dataset_destroy(ds);
            r->stats.rows = rows_before;
            return reader_fail(r, st);
        }
        if (!line)
            break;
        sigeo__criteo_row_t row;
        int32_t field;
        const char *text;
        size_t text_len;
        int32_t problem = sigeo__criteo_parse_line(&row, line, length, &field, &text, &text_len);
        if (problem != SIGEO_CRITEO_PROBLEM_NONE) {
            st = bad_line(r, r->stats.lines, problem, field, text, text_len);
            if (st != SIGEO_OK) {
                sigeo_dataset_destroy(ds);
                r->stats.rows = rows_before;
                return reader_fail(r, st);
            }
            continue;
        }
        /* Capacity grows with the rows actually read, so max_rows may be huge. */
        if (!ds || ds->n_rows == ds->cap_rows) {
            int64_t cap = ds ? ds->cap_rows * 2 : FIRST_CHUNK_ROWS;
            if (cap > max_rows)
                cap = max_rows;
            bool ok;
            if (!ds)
                ok = (ds = sigeo__criteo_dataset_new(cap, r->tables)) != NULL;
            else
                ok = sigeo__dataset_reserve(ds, cap);
            if (!ok) {
                sigeo_dataset_destroy(ds);
                r->stats.rows = rows_before;
                return reader_fail(r, RFAIL(r, SIGEO_ERR_NO_MEMORY,
                                            "criteo '%s': out of memory for a chunk of %lld rows at line %lld",
                                            r->path, (long long)cap, (long long)r->stats.lines));
            }
        }
        sigeo__criteo_store(ds, &row, r->tables);
        r->stats.rows++;
    }
    if (ds)
        sigeo__dataset_finish(ds);
    *out = ds;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_criteo_reader_get_stats(sigeo_criteo_stats_t *out, const sigeo_criteo_reader_t *r)
{
    if (!out || !r)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_reader_get_stats: %s is NULL", out ? "reader" : "out");
    return sigeo__struct_out(out, &r->stats, sizeof r->stats, "sigeo_criteo_stats", NULL);
}

SIGEO_API const char *sigeo_criteo_reader_last_error(const sigeo_criteo_reader_t *r)
{
    return r ? r->err.msg : "no reader";
}

SIGEO_API sigeo_status_t sigeo_criteo_load(sigeo_dataset_t **out, sigeo_criteo_stats_t *stats_out, const char *path,
                                           const sigeo_criteo_options_t *options, int64_t max_rows)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_load: out is NULL");
    *out = NULL;
    if (max_rows < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_load: max_rows %lld (0 = all)", (long long)max_rows);
    if (stats_out) {
        uint32_t size;
        memcpy(&size, stats_out, sizeof size);
        if (size < sizeof(uint32_t) * 2)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_load: stats_out->struct_size %u is too small",
                               (unsigned)size);
    }
    sigeo_criteo_reader_t *r;
    sigeo_status_t st = sigeo_criteo_reader_create(&r, path, options);
    if (st != SIGEO_OK)
        return st;
    sigeo_dataset_t *ds = NULL;
    st = sigeo_criteo_reader_next(&ds, r, max_rows == 0 ? INT64_MAX : max_rows);
    if (st == SIGEO_OK && !ds) {
        ds = sigeo__criteo_dataset_new(0, r->tables);
        if (!ds)
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_criteo_load: out of memory for an empty dataset");
    }
    if (stats_out)
        sigeo__struct_out(stats_out, &r->stats, sizeof r->stats, "sigeo_criteo_stats", NULL);
    sigeo_criteo_reader_destroy(r);
    if (st != SIGEO_OK)
        return st;
    *out = ds;
    return SIGEO_OK;
}
