/* safetensors reading and writing (see safetensors.h for the format and
 * every rule the reader enforces). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "io/json_lex.h"
#include "io/safetensors.h"

#define TRY(expr)                                                                                                      \
    do {                                                                                                               \
        sigeo_status_t try_status_ = (expr);                                                                           \
        if (try_status_ != SIGEO_OK)                                                                                   \
            return try_status_;                                                                                        \
    } while (0)

/* Names in messages are cut here: a hostile name must not crowd out the rest. */
#define NAME_MAX_SHOWN 80
/* Raw JSON tokens quoted in messages are cut here. */
#define RAW_MAX_SHOWN 40

/* ---------------------------------------------------------------- dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [SIGEO__ST_BOOL] = { "BOOL", 1 },       [SIGEO__ST_U8] = { "U8", 1 },
    [SIGEO__ST_I8] = { "I8", 1 },           [SIGEO__ST_F8_E5M2] = { "F8_E5M2", 1 },
    [SIGEO__ST_F8_E4M3] = { "F8_E4M3", 1 }, [SIGEO__ST_I16] = { "I16", 2 },
    [SIGEO__ST_U16] = { "U16", 2 },         [SIGEO__ST_F16] = { "F16", 2 },
    [SIGEO__ST_BF16] = { "BF16", 2 },       [SIGEO__ST_I32] = { "I32", 4 },
    [SIGEO__ST_U32] = { "U32", 4 },         [SIGEO__ST_F32] = { "F32", 4 },
    [SIGEO__ST_F64] = { "F64", 8 },         [SIGEO__ST_I64] = { "I64", 8 },
    [SIGEO__ST_U64] = { "U64", 8 },
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == SIGEO__ST_DTYPE_COUNT,
               "every sigeo__st_dtype_t needs a row in dtype_table");

static bool dtype_valid(sigeo__st_dtype_t dtype)
{
    return (unsigned)dtype < (unsigned)SIGEO__ST_DTYPE_COUNT;
}

const char *sigeo__st_dtype_name(sigeo__st_dtype_t dtype)
{
    return dtype_valid(dtype) ? dtype_table[dtype].name : NULL;
}

size_t sigeo__st_dtype_size(sigeo__st_dtype_t dtype)
{
    return dtype_valid(dtype) ? dtype_table[dtype].size : 0;
}

/* Element count and byte size of a shape. False when the product of the
 * dimensions, zeros counted as 1, times the element size does not fit in
 * size_t and int64_t: then every stride and byte offset a consumer derives
 * from the shape fits too, whichever order it multiplies in. */
static bool shape_size(const int64_t *dims, uint32_t ndim, size_t elem_size, uint64_t *numel_out,
                       size_t *nbytes_out)
{
    uint64_t bound = elem_size, numel = 1;
    bool zero = false;
    for (uint32_t i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (d == 0) {
            zero = true;
            continue;
        }
        if (bound > UINT64_MAX / d)
            return false;
        bound *= d;
        numel *= d; /* numel <= bound: cannot overflow */
    }
    if (bound > (uint64_t)INT64_MAX || bound > (uint64_t)SIZE_MAX)
        return false;
    *numel_out = zero ? 0 : numel;
    *nbytes_out = zero ? 0 : (size_t)bound;
    return true;
}

static void format_dims(char *buf, size_t cap, const int64_t *dims, uint32_t ndim)
{
    size_t used = 0;
    int n = snprintf(buf, cap, "[");
    used = n > 0 ? (size_t)n : 0;
    for (uint32_t i = 0; i < ndim && used < cap; i++) {
        n = snprintf(buf + used, cap - used, "%s%" PRId64, i ? ", " : "", dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

static uint64_t load_le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void store_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static const char *errno_text(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
}

/* ================================================================ reading */

typedef struct parser {
    sigeo__json_lexer_t lx;
    sigeo__json_token_t tok; /* the current (not yet consumed) token */
    const uint8_t *header;
    const char *what;
    sigeo__errbuf_t *err;
    char *strings; /* arena for decoded strings: header-size bytes always suffice */
    size_t strings_used, strings_cap;
    sigeo__st_tensor_t *tensors;
    size_t n_tensors, cap_tensors;
    sigeo__st_meta_t *meta;
    size_t n_meta, cap_meta;
    bool seen_meta;
} parser_t;

static sigeo_status_t fail_at(parser_t *p, size_t pos, const char *fmt, ...) SIGEO__PRINTF(3, 4);

static sigeo_status_t fail_at(parser_t *p, size_t pos, const char *fmt, ...)
{
    char detail[SIGEO__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return sigeo__fail_on(p->err, SIGEO_ERR_FORMAT, "safetensors '%s': header byte %zu: %s", p->what, pos, detail);
}

static sigeo_status_t no_memory(const char *what, sigeo__errbuf_t *err, size_t count, size_t size, const char *purpose)
{
    return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "safetensors '%s': out of memory allocating %zu x %zu bytes for %s",
                          what, count, size, purpose);
}

static sigeo_status_t advance(parser_t *p)
{
    if (sigeo__json_next(&p->lx, &p->tok) == SIGEO__JSON_ERROR)
        return fail_at(p, p->lx.err_pos, "%s", p->lx.err_msg);
    return SIGEO_OK;
}

static const char *kind_name(const parser_t *p)
{
    return sigeo__json_kind_name(p->tok.kind);
}

/* Length of the current token's raw text to quote in a message. */
static int raw_len(const parser_t *p)
{
    return (int)(p->tok.len < RAW_MAX_SHOWN ? p->tok.len : RAW_MAX_SHOWN);
}

static const char *raw_text(const parser_t *p)
{
    return (const char *)p->header + p->tok.pos;
}

/* Copies the current STRING token's value into the arena. */
static char *take_string(parser_t *p)
{
    char *dst = p->strings + p->strings_used;
    /* A string's decoded bytes plus NUL never exceed its raw length (both
     * quotes count), and tokens do not overlap: the arena cannot run out. */
    assert(p->tok.str_len + 1 <= p->strings_cap - p->strings_used);
    sigeo__json_decode_string(dst, p->header, &p->tok);
    p->strings_used += p->tok.str_len + 1;
    return dst;
}

/* Decodes a short STRING token into buf; false if it does not fit (then it
 * cannot be any of the keywords the caller compares against). */
static bool small_string(const parser_t *p, char *buf, size_t cap)
{
    if (p->tok.str_len >= cap || p->tok.str_has_nul)
        return false;
    sigeo__json_decode_string(buf, p->header, &p->tok);
    return true;
}

static sigeo_status_t want_string(parser_t *p, const char *role)
{
    if (p->tok.kind != SIGEO__JSON_STRING)
        return fail_at(p, p->tok.pos, "expected %s (a string), found %s", role, kind_name(p));
    if (p->tok.str_has_nul)
        return fail_at(p, p->tok.pos, "%s %.*s contains U+0000, which names and metadata cannot hold", role,
                       raw_len(p), raw_text(p));
    return SIGEO_OK;
}

static sigeo_status_t want_colon(parser_t *p, const char *after)
{
    if (p->tok.kind != SIGEO__JSON_COLON)
        return fail_at(p, p->tok.pos, "expected ':' after key \"%.*s\", found %s", NAME_MAX_SHOWN, after, kind_name(p));
    return advance(p);
}

/* One array of plain non-negative integers: "shape" (up to
 * SIGEO__ST_MAX_DIMS values <= INT64_MAX) or "data_offsets" (exactly 2). */
static sigeo_status_t parse_uint_array(parser_t *p, const char *tensor, bool is_shape, uint64_t *values,
                                       uint32_t *count)
{
    const char *field = is_shape ? "shape" : "data_offsets";
    const uint32_t max = is_shape ? SIGEO__ST_MAX_DIMS : 2;
    const uint64_t limit = is_shape ? (uint64_t)INT64_MAX : UINT64_MAX;
    const size_t start = p->tok.pos;
    if (p->tok.kind != SIGEO__JSON_ARRAY_BEGIN)
        return fail_at(p, p->tok.pos, "tensor \"%.*s\": \"%s\" must be an array of non-negative integers, found %s",
                       NAME_MAX_SHOWN, tensor, field, kind_name(p));
    TRY(advance(p));
    *count = 0;
    if (p->tok.kind != SIGEO__JSON_ARRAY_END) {
        for (;;) {
            if (*count == max) {
                if (is_shape)
                    return fail_at(p, p->tok.pos, "tensor \"%.*s\": shape has more than %u dimensions",
                                   NAME_MAX_SHOWN, tensor, (unsigned)max);
                return fail_at(p, start, "tensor \"%.*s\": data_offsets must hold exactly 2 integers [begin, end]",
                               NAME_MAX_SHOWN, tensor);
            }
            if (p->tok.kind != SIGEO__JSON_NUMBER)
                return fail_at(p, p->tok.pos, "tensor \"%.*s\": %s entry must be a non-negative integer, found %s",
                               NAME_MAX_SHOWN, tensor, field, kind_name(p));
            if (p->tok.uint_overflow || (p->tok.is_uint && p->tok.uint_value > limit))
                return fail_at(p, p->tok.pos, "tensor \"%.*s\": %s entry %.*s is too large (integer overflow)",
                               NAME_MAX_SHOWN, tensor, field, raw_len(p), raw_text(p));
            if (!p->tok.is_uint)
                return fail_at(p, p->tok.pos, "tensor \"%.*s\": %s entry %.*s is not a non-negative integer",
                               NAME_MAX_SHOWN, tensor, field, raw_len(p), raw_text(p));
            values[(*count)++] = p->tok.uint_value;
            TRY(advance(p));
            if (p->tok.kind == SIGEO__JSON_COMMA) {
                TRY(advance(p));
                continue;
            }
            if (p->tok.kind == SIGEO__JSON_ARRAY_END)
                break;
            return fail_at(p, p->tok.pos, "tensor \"%.*s\": expected ',' or ']' in %s, found %s", NAME_MAX_SHOWN,
                           tensor, field, kind_name(p));
        }
    }
    if (!is_shape && *count != 2)
        return fail_at(p, start, "tensor \"%.*s\": data_offsets must hold exactly 2 integers [begin, end], found %u",
                       NAME_MAX_SHOWN, tensor, (unsigned)*count);
    return advance(p); /* past ']' */
}

static sigeo_status_t parse_dtype(parser_t *p, sigeo__st_tensor_t *t)
{
    if (p->tok.kind != SIGEO__JSON_STRING)
        return fail_at(p, p->tok.pos, "tensor \"%.*s\": \"dtype\" must be a string, found %s", NAME_MAX_SHOWN, t->name,
                       kind_name(p));
    char buf[16];
    if (small_string(p, buf, sizeof buf)) {
        for (int d = 0; d < SIGEO__ST_DTYPE_COUNT; d++) {
            if (strcmp(buf, dtype_table[d].name) == 0) {
                t->dtype = (sigeo__st_dtype_t)d;
                return advance(p);
            }
        }
    }
    return fail_at(p, p->tok.pos, "tensor \"%.*s\": unknown dtype %.*s", NAME_MAX_SHOWN, t->name, raw_len(p),
                   raw_text(p));
}

enum { FIELD_DTYPE, FIELD_SHAPE, FIELD_OFFSETS, FIELD_COUNT };
static const char *const field_names[FIELD_COUNT] = { "dtype", "shape", "data_offsets" };

static int entry_field(const parser_t *p)
{
    char buf[16];
    if (!small_string(p, buf, sizeof buf))
        return -1;
    for (int f = 0; f < FIELD_COUNT; f++)
        if (strcmp(buf, field_names[f]) == 0)
            return f;
    return -1;
}

/* Fewest header bytes one more entry can take: ,"a":{"dtype":"U8","shape":[],"data_offsets":[0,0]}
 * and ,"":"" respectively. */
#define MIN_TENSOR_ENTRY 50u
#define MIN_META_ENTRY 6u

/* Doubles a list's capacity, but never past what the rest of the header
 * could still describe, so the lists stay within a small multiple of the
 * header size whatever it contains. */
static size_t grown_capacity(const parser_t *p, size_t cap, size_t min_entry)
{
    size_t most = cap + 1 + (p->lx.len - p->lx.pos) / min_entry;
    size_t next = cap ? 2 * cap : 8;
    return next < most ? next : most;
}

static sigeo_status_t append_tensor(parser_t *p, const sigeo__st_tensor_t *t)
{
    if (p->n_tensors == p->cap_tensors) {
        size_t cap = grown_capacity(p, p->cap_tensors, MIN_TENSOR_ENTRY);
        sigeo__st_tensor_t *grown = sigeo__realloc_array(p->tensors, p->n_tensors, cap, sizeof *grown);
        if (!grown)
            return no_memory(p->what, p->err, cap, sizeof *grown, "the tensor list");
        p->tensors = grown;
        p->cap_tensors = cap;
    }
    p->tensors[p->n_tensors++] = *t;
    return SIGEO_OK;
}

/* {"dtype": .., "shape": [..], "data_offsets": [b, e]}, all three exactly once. */
static sigeo_status_t parse_tensor(parser_t *p, const char *name, size_t name_pos)
{
    sigeo__st_tensor_t t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.header_pos = name_pos;
    const size_t entry_pos = p->tok.pos;
    size_t field_pos[FIELD_COUNT] = { 0 };
    bool seen[FIELD_COUNT] = { false };
    if (p->tok.kind != SIGEO__JSON_OBJECT_BEGIN)
        return fail_at(p, p->tok.pos,
                       "tensor \"%.*s\": expected an object with \"dtype\", \"shape\" and \"data_offsets\", found %s",
                       NAME_MAX_SHOWN, name, kind_name(p));
    TRY(advance(p));
    while (p->tok.kind != SIGEO__JSON_OBJECT_END) {
        if (p->tok.kind != SIGEO__JSON_STRING)
            return fail_at(p, p->tok.pos, "tensor \"%.*s\": expected a key (a string), found %s", NAME_MAX_SHOWN, name,
                           kind_name(p));
        const size_t key_pos = p->tok.pos;
        int f = entry_field(p);
        if (f < 0)
            return fail_at(p, key_pos,
                           "tensor \"%.*s\": unknown key %.*s (expected \"dtype\", \"shape\" or \"data_offsets\")",
                           NAME_MAX_SHOWN, name, raw_len(p), raw_text(p));
        if (seen[f])
            return fail_at(p, key_pos, "tensor \"%.*s\": duplicate key \"%s\" (first at header byte %zu)",
                           NAME_MAX_SHOWN, name, field_names[f], field_pos[f]);
        seen[f] = true;
        field_pos[f] = key_pos;
        TRY(advance(p));
        TRY(want_colon(p, field_names[f]));
        uint64_t values[SIGEO__ST_MAX_DIMS];
        uint32_t count = 0;
        switch (f) {
        case FIELD_DTYPE:
            TRY(parse_dtype(p, &t));
            break;
        case FIELD_SHAPE:
            TRY(parse_uint_array(p, name, true, values, &count));
            t.ndim = count;
            for (uint32_t i = 0; i < count; i++)
                t.dims[i] = (int64_t)values[i];
            break;
        default:
            TRY(parse_uint_array(p, name, false, values, &count));
            t.begin = values[0];
            t.end = values[1];
            break;
        }
        if (p->tok.kind == SIGEO__JSON_COMMA) {
            TRY(advance(p));
            if (p->tok.kind == SIGEO__JSON_OBJECT_END)
                return fail_at(p, p->tok.pos, "tensor \"%.*s\": trailing ',' before '}'", NAME_MAX_SHOWN, name);
            continue;
        }
        if (p->tok.kind != SIGEO__JSON_OBJECT_END)
            return fail_at(p, p->tok.pos, "tensor \"%.*s\": expected ',' or '}' after \"%s\", found %s", NAME_MAX_SHOWN,
                           name, field_names[f], kind_name(p));
    }
    for (int f = 0; f < FIELD_COUNT; f++)
        if (!seen[f])
            return fail_at(p, entry_pos, "tensor \"%.*s\": missing \"%s\"", NAME_MAX_SHOWN, name, field_names[f]);
    TRY(advance(p)); /* past '}' */

    char shape[160];
    size_t elem = dtype_table[t.dtype].size;
    if (!shape_size(t.dims, t.ndim, elem, &t.numel, &t.nbytes)) {
        format_dims(shape, sizeof shape, t.dims, t.ndim);
        return fail_at(p, field_pos[FIELD_SHAPE],
                       "tensor \"%.*s\": shape %s of %s overflows: its size in bytes does not fit in 63 bits",
                       NAME_MAX_SHOWN, name, shape, dtype_table[t.dtype].name);
    }
    if (t.begin > t.end)
        return fail_at(p, field_pos[FIELD_OFFSETS], "tensor \"%.*s\": data_offsets [%" PRIu64 ", %" PRIu64 "] end before begin",
                       NAME_MAX_SHOWN, name, t.begin, t.end);
    if (t.end - t.begin != (uint64_t)t.nbytes) {
        format_dims(shape, sizeof shape, t.dims, t.ndim);
        return fail_at(p, field_pos[FIELD_OFFSETS],
                       "tensor \"%.*s\": data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                       " bytes but shape %s of %s takes %zu",
                       NAME_MAX_SHOWN, name, t.begin, t.end, t.end - t.begin, shape, dtype_table[t.dtype].name,
                       t.nbytes);
    }
    return append_tensor(p, &t);
}

static sigeo_status_t append_meta(parser_t *p, const sigeo__st_meta_t *m)
{
    if (p->n_meta == p->cap_meta) {
        size_t cap = grown_capacity(p, p->cap_meta, MIN_META_ENTRY);
        sigeo__st_meta_t *grown = sigeo__realloc_array(p->meta, p->n_meta, cap, sizeof *grown);
        if (!grown)
            return no_memory(p->what, p->err, cap, sizeof *grown, "the metadata list");
        p->meta = grown;
        p->cap_meta = cap;
    }
    p->meta[p->n_meta++] = *m;
    return SIGEO_OK;
}

/* "__metadata__": {"key": "value", ...} */
static sigeo_status_t parse_metadata(parser_t *p)
{
    if (p->tok.kind != SIGEO__JSON_OBJECT_BEGIN)
        return fail_at(p, p->tok.pos, "\"__metadata__\" must be an object of string values, found %s", kind_name(p));
    TRY(advance(p));
    while (p->tok.kind != SIGEO__JSON_OBJECT_END) {
        TRY(want_string(p, "a \"__metadata__\" key"));
        sigeo__st_meta_t m;
        m.header_pos = p->tok.pos;
        m.key = take_string(p);
        TRY(advance(p));
        TRY(want_colon(p, m.key));
        if (p->tok.kind != SIGEO__JSON_STRING)
            return fail_at(p, p->tok.pos, "\"__metadata__\" value of \"%.*s\" must be a string, found %s",
                           NAME_MAX_SHOWN, m.key, kind_name(p));
        TRY(want_string(p, "a \"__metadata__\" value"));
        m.value = take_string(p);
        TRY(append_meta(p, &m));
        TRY(advance(p));
        if (p->tok.kind == SIGEO__JSON_COMMA) {
            TRY(advance(p));
            if (p->tok.kind == SIGEO__JSON_OBJECT_END)
                return fail_at(p, p->tok.pos, "\"__metadata__\": trailing ',' before '}'");
            continue;
        }
        if (p->tok.kind != SIGEO__JSON_OBJECT_END)
            return fail_at(p, p->tok.pos, "\"__metadata__\": expected ',' or '}' after the value of \"%.*s\", found %s",
                           NAME_MAX_SHOWN, m.key, kind_name(p));
    }
    return advance(p); /* past '}' */
}

/* The top-level object. Leaves the lexer just past its closing '}'. */
static sigeo_status_t parse_header(parser_t *p)
{
    TRY(advance(p)); /* '{': the caller checked byte 0 */
    TRY(advance(p));
    while (p->tok.kind != SIGEO__JSON_OBJECT_END) {
        TRY(want_string(p, "a tensor name"));
        const size_t key_pos = p->tok.pos;
        const size_t mark = p->strings_used;
        const char *key = take_string(p);
        const bool is_meta = strcmp(key, "__metadata__") == 0;
        TRY(advance(p));
        TRY(want_colon(p, key));
        if (is_meta) {
            if (p->seen_meta)
                return fail_at(p, key_pos, "duplicate key \"__metadata__\"");
            p->seen_meta = true;
            p->strings_used = mark; /* the key itself is not kept */
            key = "__metadata__";
            TRY(parse_metadata(p));
        } else {
            if (key[0] == '\0')
                return fail_at(p, key_pos, "empty tensor name");
            TRY(parse_tensor(p, key, key_pos));
        }
        if (p->tok.kind == SIGEO__JSON_COMMA) {
            TRY(advance(p));
            if (p->tok.kind == SIGEO__JSON_OBJECT_END)
                return fail_at(p, p->tok.pos, "trailing ',' before the header's closing '}'");
            continue;
        }
        if (p->tok.kind != SIGEO__JSON_OBJECT_END)
            return fail_at(p, p->tok.pos, "expected ',' or '}' after the entry \"%.*s\", found %s", NAME_MAX_SHOWN, key,
                           kind_name(p));
    }
    /* The format pads with spaces only; anything else after the object is
     * either a second document or garbage, and both mean a broken writer. */
    for (size_t i = p->lx.pos; i < p->lx.len; i++)
        if (p->header[i] != ' ')
            return fail_at(p, i, "only space padding may follow the header object, found byte 0x%02x", p->header[i]);
    return SIGEO_OK;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const sigeo__st_tensor_t *x = *(const sigeo__st_tensor_t *const *)a, *y = *(const sigeo__st_tensor_t *const *)b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return (x->header_pos > y->header_pos) - (x->header_pos < y->header_pos);
}

static int cmp_meta_key(const void *a, const void *b)
{
    const sigeo__st_meta_t *x = *(const sigeo__st_meta_t *const *)a, *y = *(const sigeo__st_meta_t *const *)b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return (x->header_pos > y->header_pos) - (x->header_pos < y->header_pos);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const sigeo__st_tensor_t *x = *(const sigeo__st_tensor_t *const *)a, *y = *(const sigeo__st_tensor_t *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->header_pos > y->header_pos) - (x->header_pos < y->header_pos);
}

/* Unique names, unique metadata keys, and tensors tiling the data section
 * exactly. Builds the by-name index on success. */
static sigeo_status_t check_entries(parser_t *p, size_t data_size, const sigeo__st_tensor_t ***by_name_out)
{
    *by_name_out = NULL;
    if (p->n_meta > 1) {
        const sigeo__st_meta_t **keys = sigeo__calloc(p->n_meta, sizeof *keys);
        if (!keys)
            return no_memory(p->what, p->err, p->n_meta, sizeof *keys, "the metadata key check");
        for (size_t i = 0; i < p->n_meta; i++)
            keys[i] = &p->meta[i];
        qsort(keys, p->n_meta, sizeof *keys, cmp_meta_key);
        for (size_t i = 1; i < p->n_meta; i++) {
            if (strcmp(keys[i - 1]->key, keys[i]->key) == 0) {
                sigeo_status_t st = fail_at(p, keys[i]->header_pos,
                                            "duplicate \"__metadata__\" key \"%.*s\" (first at header byte %zu)",
                                            NAME_MAX_SHOWN, keys[i]->key, keys[i - 1]->header_pos);
                sigeo__free(keys);
                return st;
            }
        }
        sigeo__free(keys);
    }
    if (p->n_tensors == 0) {
        if (data_size != 0)
            return sigeo__fail_on(p->err, SIGEO_ERR_FORMAT,
                                  "safetensors '%s': data section is %zu bytes but the header lists no tensors",
                                  p->what, data_size);
        return SIGEO_OK;
    }

    /* One array serves three sorts: by name to find duplicates (reported
     * first: a repeated entry is a duplicate before it is an overlap), by
     * offset to check the tiling, and by name again as the lookup index. */
    const sigeo__st_tensor_t **order = sigeo__calloc(p->n_tensors, sizeof *order);
    if (!order)
        return no_memory(p->what, p->err, p->n_tensors, sizeof *order, "the tensor index");
    for (size_t i = 0; i < p->n_tensors; i++)
        order[i] = &p->tensors[i];
    sigeo_status_t st = SIGEO_OK;
    qsort(order, p->n_tensors, sizeof *order, cmp_tensor_name);
    for (size_t i = 1; i < p->n_tensors && st == SIGEO_OK; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            st = fail_at(p, order[i]->header_pos, "duplicate tensor name \"%.*s\" (first at header byte %zu)",
                         NAME_MAX_SHOWN, order[i]->name, order[i - 1]->header_pos);
    if (st != SIGEO_OK) {
        sigeo__free(order);
        return st;
    }

    qsort(order, p->n_tensors, sizeof *order, cmp_tensor_offset);
    uint64_t covered = 0;
    for (size_t i = 0; i < p->n_tensors && st == SIGEO_OK; i++) {
        const sigeo__st_tensor_t *t = order[i];
        if (t->begin < covered)
            st = fail_at(p, t->header_pos,
                         "tensor \"%.*s\": data_offsets [%" PRIu64 ", %" PRIu64
                         "] overlap bytes already used by tensor \"%.*s\" (which ends at %" PRIu64 ")",
                         NAME_MAX_SHOWN, t->name, t->begin, t->end, NAME_MAX_SHOWN, order[i - 1]->name, covered);
        else if (t->begin > covered)
            st = fail_at(p, t->header_pos,
                         "tensor \"%.*s\": data_offsets [%" PRIu64 ", %" PRIu64 "] leave a gap: data bytes %" PRIu64
                         " to %" PRIu64 " belong to no tensor",
                         NAME_MAX_SHOWN, t->name, t->begin, t->end, covered, t->begin);
        covered = t->end;
    }
    if (st == SIGEO_OK && covered != (uint64_t)data_size) {
        const sigeo__st_tensor_t *last = order[p->n_tensors - 1];
        st = fail_at(p, last->header_pos,
                     "tensor \"%.*s\": the tensors end at data byte %" PRIu64
                     " but the data section holds %zu bytes (file size - 8 - header size)",
                     NAME_MAX_SHOWN, last->name, covered, data_size);
    }
    if (st != SIGEO_OK) {
        sigeo__free(order);
        return st;
    }

    qsort(order, p->n_tensors, sizeof *order, cmp_tensor_name);
    *by_name_out = order;
    return SIGEO_OK;
}

static void free_parser(parser_t *p)
{
    sigeo__free(p->strings);
    sigeo__free(p->tensors);
    sigeo__free(p->meta);
}

sigeo_status_t sigeo__st_parse(sigeo__st_file_t *out, const uint8_t *bytes, size_t size, const char *what,
                               sigeo__errbuf_t *err)
{
    if (!what)
        what = "<memory>";
    if (!out)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors '%s': parse: out is NULL", what);
    memset(out, 0, sizeof *out);
    if (!bytes && size > 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors '%s': parse: bytes is NULL", what);
    if (size < 8)
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT,
                              "safetensors '%s': file is %zu bytes, too short for the 8-byte header length", what, size);
    const uint64_t header_size = load_le64(bytes);
    if (header_size > SIGEO__ST_MAX_HEADER)
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT,
                              "safetensors '%s': header length %" PRIu64 " exceeds the limit of %u bytes", what,
                              header_size, SIGEO__ST_MAX_HEADER);
    if (header_size > size - 8)
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT,
                              "safetensors '%s': header length %" PRIu64
                              " exceeds the %zu bytes that follow the length field (truncated file?)",
                              what, header_size, size - 8);
    const size_t hlen = (size_t)header_size;
    const uint8_t *header = bytes + 8;
    if (hlen == 0)
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT,
                              "safetensors '%s': header length is 0; the header must be a JSON object starting with '{'",
                              what);
    if (header[0] != '{')
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT,
                              "safetensors '%s': header byte 0: the header must start with '{', found byte 0x%02x",
                              what, header[0]);
    size_t bad = sigeo__json_utf8_check(header, hlen);
    if (bad < hlen)
        return sigeo__fail_on(err, SIGEO_ERR_FORMAT, "safetensors '%s': header byte %zu: invalid UTF-8 (byte 0x%02x)",
                              what, bad, header[bad]);

    parser_t p;
    memset(&p, 0, sizeof p);
    sigeo__json_lexer_init(&p.lx, header, hlen);
    p.header = header;
    p.what = what;
    p.err = err;
    p.strings_cap = hlen;
    p.strings = sigeo__alloc(hlen);
    if (!p.strings)
        return no_memory(what, err, hlen, 1, "header strings");

    const size_t data_size = size - 8 - hlen;
    const sigeo__st_tensor_t **by_name = NULL;
    sigeo_status_t st = parse_header(&p);
    if (st == SIGEO_OK)
        st = check_entries(&p, data_size, &by_name);
    if (st != SIGEO_OK) {
        free_parser(&p);
        return st;
    }
    out->tensors = p.tensors;
    out->n_tensors = p.n_tensors;
    out->meta = p.meta;
    out->n_meta = p.n_meta;
    out->data = header + hlen;
    out->data_size = data_size;
    out->header_size = hlen;
    out->by_name = by_name;
    out->strings = p.strings;
    for (size_t i = 0; i < out->n_tensors; i++)
        out->tensors[i].data = out->data + out->tensors[i].begin;
    return SIGEO_OK;
}

const sigeo__st_tensor_t *sigeo__st_find(const sigeo__st_file_t *file, const char *name)
{
    if (!file || !name || !file->by_name)
        return NULL;
    size_t lo = 0, hi = file->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, file->by_name[mid]->name);
        if (c == 0)
            return file->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void sigeo__st_free(sigeo__st_file_t *file)
{
    if (!file)
        return;
    sigeo__free(file->tensors);
    sigeo__free(file->meta);
    sigeo__free((void *)file->by_name);
    sigeo__free(file->strings);
    sigeo__free(file->image);
    memset(file, 0, sizeof *file);
}

/* ============================================================ system I/O */

/* Reading opens without blocking (core/file.h): a FIFO with no writer is
 * then refused by sigeo__st_read's fstat instead of hanging open(). */
static int std_open(FILE **out, const char *path, const char *mode)
{
    *out = NULL;
    if (strcmp(mode, "rb") == 0) {
        struct stat sb;
        int fd, rc = sigeo__open_nonblocking(&fd, path, &sb);
        if (rc != 0)
            return rc;
        errno = 0;
        *out = fdopen(fd, "rb");
        if (!*out) {
            rc = errno ? errno : EIO;
            close(fd);
        }
        return rc;
    }
    errno = 0;
    *out = fopen(path, mode);
    return *out ? 0 : (errno ? errno : EIO);
}

static int std_read(FILE *f, void *buf, size_t size, size_t *got)
{
    errno = 0;
    *got = fread(buf, 1, size, f);
    if (*got < size && ferror(f))
        return errno ? errno : EIO;
    return 0;
}

static int std_write(FILE *f, const void *buf, size_t size, size_t *put)
{
    errno = 0;
    *put = fwrite(buf, 1, size, f);
    if (*put < size)
        return errno ? errno : EIO;
    return 0;
}

static int std_sync(FILE *f)
{
    errno = 0;
    if (fflush(f) != 0)
        return errno ? errno : EIO;
    if (fsync(fileno(f)) != 0)
        return errno ? errno : EIO;
    return 0;
}

static int std_close(FILE *f)
{
    errno = 0;
    return fclose(f) == 0 ? 0 : (errno ? errno : EIO);
}

static int std_rename(const char *from, const char *to)
{
    errno = 0;
    return rename(from, to) == 0 ? 0 : (errno ? errno : EIO);
}

static int std_remove(const char *path)
{
    errno = 0;
    return remove(path) == 0 ? 0 : (errno ? errno : EIO);
}

static const sigeo__st_io_t default_io = { std_open, std_read, std_write, std_sync, std_close, std_rename, std_remove };
static sigeo__st_io_t current_io = { std_open, std_read, std_write, std_sync, std_close, std_rename, std_remove };

const sigeo__st_io_t *sigeo__st_io_default(void)
{
    return &default_io;
}

void sigeo__st_set_io(const sigeo__st_io_t *io)
{
    current_io = io ? *io : default_io;
}

sigeo_status_t sigeo__st_read(sigeo__st_file_t *out, const char *path, sigeo__errbuf_t *err)
{
    if (!out)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors read: path is NULL");
    const sigeo__st_io_t io = current_io;
    char etext[128];
    FILE *f = NULL;
    int rc = io.open(&f, path, "rb");
    if (rc != 0)
        return sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': cannot open: %s", path,
                              errno_text(rc, etext, sizeof etext));
    struct stat sb;
    sigeo_status_t st = SIGEO_OK;
    uint8_t *image = NULL;
    size_t size = 0;
    if (fstat(fileno(f), &sb) != 0)
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': cannot stat: %s", path,
                            errno_text(errno, etext, sizeof etext));
    else if (!S_ISREG(sb.st_mode))
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': is %s, not a regular file", path,
                            sigeo__file_kind(sb.st_mode));
    else if (sb.st_size < 0 || (off_t)(size_t)sb.st_size != sb.st_size)
        st = sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "safetensors '%s': file of %jd bytes does not fit in memory",
                            path, (intmax_t)sb.st_size);
    if (st == SIGEO_OK) {
        size = (size_t)sb.st_size;
        image = sigeo__alloc(size);
        if (!image)
            st = no_memory(path, err, size, 1, "the file image");
    }
    for (size_t pos = 0; st == SIGEO_OK && pos < size;) {
        size_t got = 0;
        rc = io.read(f, image + pos, size - pos, &got);
        if (rc != 0)
            st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': read failed at byte %zu: %s", path, pos,
                                errno_text(rc, etext, sizeof etext));
        else if (got == 0)
            st = sigeo__fail_on(err, SIGEO_ERR_IO,
                                "safetensors '%s': file ended at byte %zu of the %zu it had when opened "
                                "(changed while being read?)",
                                path, pos, size);
        pos += got;
    }
    if (st == SIGEO_OK) {
        uint8_t probe;
        size_t got = 0;
        if (io.read(f, &probe, 1, &got) == 0 && got > 0)
            st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': file grew past %zu bytes while being read", path,
                                size);
    }
    (void)io.close(f); /* read-only: nothing to lose */
    if (st == SIGEO_OK)
        st = sigeo__st_parse(out, image, size, path, err);
    if (st != SIGEO_OK) {
        sigeo__free(image);
        return st;
    }
    out->image = image;
    return SIGEO_OK;
}

/* ================================================================ writing */

/* Header text, measured (buf == NULL) or written. */
typedef struct text_out {
    char *buf;
    size_t len;
} text_out_t;

static void put(text_out_t *o, const char *s, size_t n)
{
    if (o->buf)
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_json_string(text_out_t *o, const char *s)
{
    put(o, "\"", 1);
    o->len += sigeo__json_escape(o->buf ? o->buf + o->len : NULL, s, strlen(s));
    put(o, "\"", 1);
}

static void put_u64(text_out_t *o, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    put(o, digits, (size_t)n);
}

static void emit_header(text_out_t *o, const sigeo__st_tensor_in_t *tensors, const size_t *nbytes, size_t n,
                        const char *const *keys, const char *const *values, size_t n_meta)
{
    put(o, "{", 1);
    if (n_meta > 0) {
        put(o, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < n_meta; i++) {
            if (i)
                put(o, ",", 1);
            put_json_string(o, keys[i]);
            put(o, ":", 1);
            put_json_string(o, values[i]);
        }
        put(o, "}", 1);
        if (n > 0)
            put(o, ",", 1);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const sigeo__st_tensor_in_t *t = &tensors[i];
        if (i)
            put(o, ",", 1);
        put_json_string(o, t->name);
        put(o, ":{\"dtype\":\"", 11);
        const char *dt = dtype_table[t->dtype].name;
        put(o, dt, strlen(dt));
        put(o, "\",\"shape\":[", 11);
        for (uint32_t d = 0; d < t->ndim; d++) {
            if (d)
                put(o, ",", 1);
            put_u64(o, (uint64_t)t->dims[d]);
        }
        put(o, "],\"data_offsets\":[", 18);
        put_u64(o, offset);
        put(o, ",", 1);
        offset += nbytes[i];
        put_u64(o, offset);
        put(o, "]}", 2);
    }
    put(o, "}", 1);
}

typedef struct plan {
    const char *what;
    sigeo__errbuf_t *err;
    size_t *nbytes;  /* per tensor */
    char *header;    /* padded JSON */
    size_t header_len;
    uint64_t data_size;
} plan_t;

static void plan_free(plan_t *pl)
{
    sigeo__free(pl->nbytes);
    sigeo__free(pl->header);
    pl->nbytes = NULL;
    pl->header = NULL;
}

static sigeo_status_t bad_arg(const plan_t *pl, const char *fmt, ...) SIGEO__PRINTF(2, 3);

static sigeo_status_t bad_arg(const plan_t *pl, const char *fmt, ...)
{
    char detail[SIGEO__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return sigeo__fail_on(pl->err, SIGEO_ERR_INVALID_ARG, "safetensors '%s': %s", pl->what, detail);
}

static sigeo_status_t check_text(const plan_t *pl, const char *s, const char *role, size_t index)
{
    size_t len = strlen(s);
    if (len > SIGEO__ST_MAX_HEADER)
        return sigeo__fail_on(pl->err, SIGEO_ERR_UNSUPPORTED, "safetensors '%s': %s %zu is %zu bytes, longer than a header may be",
                              pl->what, role, index, len);
    size_t bad = sigeo__json_utf8_check((const uint8_t *)s, len);
    if (bad < len)
        return bad_arg(pl, "%s %zu \"%.*s\": invalid UTF-8 at byte %zu", role, index, NAME_MAX_SHOWN, s, bad);
    return SIGEO_OK;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts strs[0 .. n) and returns a string that occurs twice, or NULL. */
static const char *find_duplicate(const char **strs, size_t n)
{
    qsort(strs, n, sizeof *strs, cmp_cstr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(strs[i - 1], strs[i]) == 0)
            return strs[i];
    return NULL;
}

/* Checks the inputs, sizes every tensor and builds the padded header. */
static sigeo_status_t plan_write(plan_t *pl, const sigeo__st_tensor_in_t *tensors, size_t n,
                                 const char *const *keys, const char *const *values, size_t n_meta)
{
    if (n > 0 && !tensors)
        return bad_arg(pl, "%zu tensors but the tensor array is NULL", n);
    if (n_meta > 0 && (!keys || !values))
        return bad_arg(pl, "%zu metadata pairs but the key or value array is NULL", n_meta);
    pl->nbytes = sigeo__calloc(n ? n : 1, sizeof *pl->nbytes);
    if (!pl->nbytes)
        return no_memory(pl->what, pl->err, n, sizeof *pl->nbytes, "tensor sizes");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const sigeo__st_tensor_in_t *t = &tensors[i];
        if (!t->name)
            return bad_arg(pl, "tensor %zu has a NULL name", i);
        if (t->name[0] == '\0')
            return bad_arg(pl, "tensor %zu has an empty name", i);
        TRY(check_text(pl, t->name, "tensor", i));
        if (strcmp(t->name, "__metadata__") == 0)
            return bad_arg(pl, "tensor %zu may not be called \"__metadata__\" (the header's metadata key)", i);
        if (!dtype_valid(t->dtype))
            return bad_arg(pl, "tensor %zu \"%.*s\": unknown dtype %d", i, NAME_MAX_SHOWN, t->name, (int)t->dtype);
        if (t->ndim > SIGEO__ST_MAX_DIMS)
            return bad_arg(pl, "tensor %zu \"%.*s\": %u dimensions, at most %d are supported", i, NAME_MAX_SHOWN,
                           t->name, (unsigned)t->ndim, SIGEO__ST_MAX_DIMS);
        if (t->ndim > 0 && !t->dims)
            return bad_arg(pl, "tensor %zu \"%.*s\": ndim %u but dims is NULL", i, NAME_MAX_SHOWN, t->name,
                           (unsigned)t->ndim);
        for (uint32_t d = 0; d < t->ndim; d++)
            if (t->dims[d] < 0)
                return bad_arg(pl, "tensor %zu \"%.*s\": dims[%u] = %" PRId64 " is negative", i, NAME_MAX_SHOWN,
                               t->name, (unsigned)d, t->dims[d]);
        uint64_t numel;
        if (!shape_size(t->dims, t->ndim, dtype_table[t->dtype].size, &numel, &pl->nbytes[i]))
            return bad_arg(pl, "tensor %zu \"%.*s\": shape overflows: its size in bytes does not fit in 63 bits", i,
                           NAME_MAX_SHOWN, t->name);
        if (pl->nbytes[i] > 0 && !t->data)
            return bad_arg(pl, "tensor %zu \"%.*s\": %zu bytes of data but data is NULL", i, NAME_MAX_SHOWN, t->name,
                           pl->nbytes[i]);
        if (pl->nbytes[i] > (uint64_t)INT64_MAX - total)
            return bad_arg(pl, "tensor %zu \"%.*s\": the data section would exceed 2^63 bytes", i, NAME_MAX_SHOWN,
                           t->name);
        total += pl->nbytes[i];
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!keys[i] || !values[i])
            return bad_arg(pl, "metadata pair %zu has a NULL %s", i, keys[i] ? "value" : "key");
        TRY(check_text(pl, keys[i], "metadata key", i));
        TRY(check_text(pl, values[i], "metadata value", i));
    }
    pl->data_size = total;

    size_t most = n > n_meta ? n : n_meta;
    if (most > 1) {
        const char **scratch = sigeo__calloc(most, sizeof *scratch);
        if (!scratch)
            return no_memory(pl->what, pl->err, most, sizeof *scratch, "the uniqueness check");
        const char *dup = NULL;
        const char *role = "tensor name";
        if (n > 1) {
            for (size_t i = 0; i < n; i++)
                scratch[i] = tensors[i].name;
            dup = find_duplicate(scratch, n);
        }
        if (!dup && n_meta > 1) {
            role = "metadata key";
            memcpy(scratch, keys, n_meta * sizeof *scratch);
            dup = find_duplicate(scratch, n_meta);
        }
        sigeo_status_t st = SIGEO_OK;
        if (dup)
            st = bad_arg(pl, "duplicate %s \"%.*s\"", role, NAME_MAX_SHOWN, dup);
        sigeo__free(scratch);
        TRY(st);
    }

    text_out_t o = { NULL, 0 };
    emit_header(&o, tensors, pl->nbytes, n, keys, values, n_meta);
    const size_t padded = (o.len + 7) & ~(size_t)7;
    if (padded > SIGEO__ST_MAX_HEADER)
        return sigeo__fail_on(pl->err, SIGEO_ERR_UNSUPPORTED,
                              "safetensors '%s': the header would be %zu bytes, over the %u-byte limit readers enforce",
                              pl->what, padded, SIGEO__ST_MAX_HEADER);
    pl->header = sigeo__alloc(padded);
    if (!pl->header)
        return no_memory(pl->what, pl->err, padded, 1, "the header");
    o.buf = pl->header;
    o.len = 0;
    emit_header(&o, tensors, pl->nbytes, n, keys, values, n_meta);
    memset(pl->header + o.len, ' ', padded - o.len);
    pl->header_len = padded;
    return SIGEO_OK;
}

/* Where the bytes go: a stdio stream through the I/O table, or memory. */
typedef struct sink {
    const sigeo__st_io_t *io;
    FILE *f;
    const char *tmp;
    uint8_t *mem;
    size_t pos;
    const plan_t *pl;
} sink_t;

static sigeo_status_t sink_put(sink_t *s, const void *bytes, size_t n)
{
    if (s->mem) {
        if (n)
            memcpy(s->mem + s->pos, bytes, n);
        s->pos += n;
        return SIGEO_OK;
    }
    const uint8_t *p = bytes;
    while (n > 0) {
        size_t put_n = 0;
        int rc = s->io->write(s->f, p, n, &put_n);
        if (rc != 0 || put_n == 0) {
            char etext[128];
            return sigeo__fail_on(s->pl->err, SIGEO_ERR_IO,
                                  "safetensors '%s': writing temporary file '%s' at byte %zu: %s", s->pl->what,
                                  s->tmp, s->pos, rc ? errno_text(rc, etext, sizeof etext) : "no bytes written");
        }
        if (put_n > n)
            put_n = n;
        p += put_n;
        n -= put_n;
        s->pos += put_n;
    }
    return SIGEO_OK;
}

static sigeo_status_t write_body(sink_t *s, const sigeo__st_tensor_in_t *tensors, size_t n)
{
    uint8_t prefix[8];
    store_le64(prefix, s->pl->header_len);
    TRY(sink_put(s, prefix, sizeof prefix));
    TRY(sink_put(s, s->pl->header, s->pl->header_len));
    const bool swap = !host_is_little_endian();
    for (size_t i = 0; i < n; i++) {
        const size_t esize = dtype_table[tensors[i].dtype].size, nbytes = s->pl->nbytes[i];
        if (!swap || esize == 1) {
            TRY(sink_put(s, tensors[i].data, nbytes));
            continue;
        }
        /* Big-endian host: reverse each element through a small buffer. */
        uint8_t chunk[4096];
        const uint8_t *src = tensors[i].data;
        for (size_t off = 0; off < nbytes;) {
            size_t m = nbytes - off < sizeof chunk ? nbytes - off : sizeof chunk;
            for (size_t e = 0; e < m; e += esize)
                for (size_t b = 0; b < esize; b++)
                    chunk[e + b] = src[off + e + esize - 1 - b];
            TRY(sink_put(s, chunk, m));
            off += m;
        }
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__st_write(const char *path, const sigeo__st_tensor_in_t *tensors, size_t n,
                               const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                               sigeo__errbuf_t *err)
{
    if (!path || !path[0])
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors write: path is %s", path ? "empty" : "NULL");
    plan_t pl = { path, err, NULL, NULL, 0, 0 };
    sigeo_status_t st = plan_write(&pl, tensors, n, meta_keys, meta_values, n_meta);
    if (st != SIGEO_OK) {
        plan_free(&pl);
        return st;
    }
    char *tmp;
    if ((st = sigeo__save_prepare(&tmp, path, "safetensors", err)) != SIGEO_OK) {
        plan_free(&pl);
        return st;
    }

    const sigeo__st_io_t io = current_io;
    char etext[128];
    FILE *f = NULL;
    /* Exclusive create, so a symlink planted at the temporary name is never
     * followed; a leftover of an earlier crash of a process with our pid is
     * ours to replace. */
    int rc = io.open(&f, tmp, "wbx");
    if (rc == EEXIST) {
        (void)io.remove(tmp);
        rc = io.open(&f, tmp, "wbx");
    }
    if (rc != 0) {
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': cannot create temporary file '%s': %s", path, tmp,
                            errno_text(rc, etext, sizeof etext));
        goto out;
    }
    sink_t s = { &io, f, tmp, NULL, 0, &pl };
    st = write_body(&s, tensors, n);
    if (st == SIGEO_OK && (rc = io.sync(f)) != 0)
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': syncing temporary file '%s' to disk: %s", path, tmp,
                            errno_text(rc, etext, sizeof etext));
    rc = io.close(f);
    if (st == SIGEO_OK && rc != 0)
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': closing temporary file '%s': %s", path, tmp,
                            errno_text(rc, etext, sizeof etext));
    if (st == SIGEO_OK && (rc = io.rename(tmp, path)) != 0)
        st = sigeo__fail_on(err, SIGEO_ERR_IO, "safetensors '%s': renaming temporary file '%s' over it: %s", path,
                            tmp, errno_text(rc, etext, sizeof etext));
    if (st != SIGEO_OK)
        (void)io.remove(tmp);
    else
        sigeo__sync_parent_dir(tmp);
out:
    sigeo__free(tmp);
    plan_free(&pl);
    return st;
}

sigeo_status_t sigeo__st_write_mem(uint8_t **out, size_t *out_size, const sigeo__st_tensor_in_t *tensors, size_t n,
                                   const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                   sigeo__errbuf_t *err)
{
    if (!out || !out_size)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "safetensors write to memory: %s is NULL",
                              out ? "out_size" : "out");
    *out = NULL;
    *out_size = 0;
    plan_t pl = { "<memory>", err, NULL, NULL, 0, 0 };
    sigeo_status_t st = plan_write(&pl, tensors, n, meta_keys, meta_values, n_meta);
    if (st != SIGEO_OK) {
        plan_free(&pl);
        return st;
    }
    if (pl.data_size > (uint64_t)(SIZE_MAX - 8 - pl.header_len)) {
        plan_free(&pl);
        return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "safetensors '<memory>': %" PRIu64 " data bytes do not fit in memory",
                              pl.data_size);
    }
    const size_t total = 8 + pl.header_len + (size_t)pl.data_size;
    uint8_t *buf = sigeo__alloc(total);
    if (!buf) {
        plan_free(&pl);
        return no_memory("<memory>", err, total, 1, "the file image");
    }
    sink_t s = { NULL, NULL, NULL, buf, 0, &pl };
    st = write_body(&s, tensors, n);
    plan_free(&pl);
    assert(st != SIGEO_OK || s.pos == total);
    if (st != SIGEO_OK) {
        sigeo__free(buf);
        return st;
    }
    *out = buf;
    *out_size = total;
    return SIGEO_OK;
}
