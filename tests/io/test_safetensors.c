/* Pins lib/io/safetensors.c: bit-exact round trips, byte-identical re-saves,
 * files assembled by hand (the independent writer), every rejection rule of
 * the reader with its message, truncation at every length, atomic writes
 * under injected I/O failures, and allocation failures at every step. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "guard_alloc.h"
#include "io/safetensors.h"

#define ck_assert_msg_contains(needle)                                                                                 \
    ck_assert_msg(strstr(sigeo_last_error(), (needle)) != NULL, "message \"%s\" does not contain \"%s\"",             \
                  sigeo_last_error(), (needle))

static const char *corpus_dir; /* argv[1]: tests/fuzz/corpus/safetensors */

/* ------------------------------------------------------------- helpers */

static uint64_t blocks_in_use(void)
{
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    return blocks;
}

static void put_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* A file image in a malloc'ed buffer of exactly the file's size, so a read
 * past its end is an overflow a sanitizer sees. */
static uint8_t *assemble(const char *json, const uint8_t *data, size_t data_len, size_t *size_out)
{
    size_t hlen = strlen(json);
    size_t size = 8 + hlen + data_len;
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    put_le64(buf, hlen);
    memcpy(buf + 8, json, hlen);
    if (data_len) {
        if (data)
            memcpy(buf + 8 + hlen, data, data_len);
        else
            memset(buf + 8 + hlen, 0, data_len);
    }
    *size_out = size;
    return buf;
}

static uint8_t *copy_exact(const uint8_t *src, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(p);
    if (size)
        memcpy(p, src, size);
    return p;
}

/* Turns a parsed file back into writer input (dims and data borrowed). */
static sigeo__st_tensor_in_t *as_input(const sigeo__st_file_t *f)
{
    sigeo__st_tensor_in_t *in = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *in);
    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sigeo__st_tensor_t *t = &f->tensors[i];
        in[i].name = t->name;
        in[i].dtype = t->dtype;
        in[i].ndim = t->ndim;
        in[i].dims = t->dims;
        in[i].data = t->data;
    }
    return in;
}

static void meta_arrays(const sigeo__st_file_t *f, const char ***keys, const char ***values)
{
    *keys = calloc(f->n_meta ? f->n_meta : 1, sizeof **keys);
    *values = calloc(f->n_meta ? f->n_meta : 1, sizeof **values);
    ck_assert(*keys && *values);
    for (size_t i = 0; i < f->n_meta; i++) {
        (*keys)[i] = f->meta[i].key;
        (*values)[i] = f->meta[i].value;
    }
}

/* Writes a parsed file back to memory (the caller frees with sigeo__free). */
static uint8_t *resave(const sigeo__st_file_t *f, size_t *size)
{
    sigeo__st_tensor_in_t *in = as_input(f);
    const char **keys, **values;
    meta_arrays(f, &keys, &values);
    uint8_t *out = NULL;
    sigeo_status_t st = sigeo__st_write_mem(&out, size, in, f->n_tensors, (const char *const *)keys,
                                            (const char *const *)values, f->n_meta, NULL);
    ck_assert_msg(st == SIGEO_OK, "re-save failed: %s", sigeo_last_error());
    free(in);
    free(keys);
    free(values);
    return out;
}

static void assert_same_content(const sigeo__st_file_t *a, const sigeo__st_file_t *b)
{
    ck_assert_uint_eq(a->n_tensors, b->n_tensors);
    ck_assert_uint_eq(a->n_meta, b->n_meta);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const sigeo__st_tensor_t *x = &a->tensors[i], *y = &b->tensors[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_uint_eq(x->ndim, y->ndim);
        ck_assert_mem_eq(x->dims, y->dims, sizeof x->dims);
        ck_assert_uint_eq(x->numel, y->numel);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        if (x->nbytes)
            ck_assert_mem_eq(x->data, y->data, x->nbytes);
    }
    for (size_t i = 0; i < a->n_meta; i++) {
        ck_assert_str_eq(a->meta[i].key, b->meta[i].key);
        ck_assert_str_eq(a->meta[i].value, b->meta[i].value);
    }
}

/* What must hold for any file the reader accepts: ranges inside the data
 * section, lookups find every tensor, and writing it back gives a file
 * with the same content whose own re-save is byte-identical. */
static void check_accepted(const sigeo__st_file_t *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sigeo__st_tensor_t *t = &f->tensors[i];
        ck_assert(t->begin <= t->end && t->end <= f->data_size);
        ck_assert_uint_eq(t->end - t->begin, t->nbytes);
        ck_assert_ptr_eq(t->data, f->data + t->begin);
        ck_assert_ptr_eq(sigeo__st_find(f, t->name), t);
        ck_assert(t->name[0] != '\0');
        ck_assert_uint_le(t->ndim, SIGEO__ST_MAX_DIMS);
    }
    size_t size1 = 0, size2 = 0;
    uint8_t *once = resave(f, &size1);
    sigeo__st_file_t g;
    ck_assert_int_eq(sigeo__st_parse(&g, once, size1, "re-saved", NULL), SIGEO_OK);
    assert_same_content(f, &g);
    uint8_t *twice = resave(&g, &size2);
    ck_assert_uint_eq(size1, size2);
    ck_assert_mem_eq(once, twice, size1);
    sigeo__st_free(&g);
    sigeo__free(once);
    sigeo__free(twice);
}

/* Whether the NUL-free `lit` occurs in buf[0 .. size). */
static bool has_bytes(const uint8_t *buf, size_t size, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = 0; n <= size && i <= size - n; i++)
        if (memcmp(buf + i, lit, n) == 0)
            return true;
    return false;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* --------------------------------------------------------- a rich fixture */

static uint32_t fx_f32[6] = {
    0x80000000u, /* -0.0 */
    0x7fc01234u, /* quiet NaN with a payload */
    0xff800001u, /* negative signalling NaN with a payload */
    0x00000001u, /* smallest denormal */
    0x807fffffu, /* largest negative denormal */
    0x7f800000u, /* +inf */
};
static uint64_t fx_f64 = 0x7ff0000000000abcull; /* signalling NaN payload, as a 0-d scalar */
static int64_t fx_i64[3] = { INT64_MIN, -1, INT64_MAX };
static int32_t fx_i32[4] = { INT32_MIN, 0, 7, INT32_MAX };
static uint8_t fx_u8[5] = { 0, 1, 127, 128, 255 };
static uint16_t fx_bf16[2] = { 0x3f80, 0xffc1 };
static uint8_t fx_bool[3] = { 1, 0, 1 };
static const int64_t fx_d_f32[2] = { 2, 3 }, fx_d_i64[1] = { 3 }, fx_d_i32[2] = { 2, 2 }, fx_d_empty[1] = { 0 },
                     fx_d_empty3[3] = { 2, 0, 3 }, fx_d_u8[1] = { 5 }, fx_d_bf16[1] = { 2 }, fx_d_bool[1] = { 3 };

#define FX_N 9
static sigeo__st_tensor_in_t fx[FX_N];
static const char *const fx_keys[2] = { "format", "note" };
static const char *const fx_values[2] = { "pt", "line\nbreak \"quoted\" \\ caf\xc3\xa9" };

static void fixture_init(void)
{
    sigeo__st_tensor_in_t t[FX_N] = {
        { "layer.0.weight", SIGEO__ST_F32, 2, fx_d_f32, fx_f32 },
        { "scalar", SIGEO__ST_F64, 0, NULL, &fx_f64 },
        { "steps", SIGEO__ST_I64, 1, fx_d_i64, fx_i64 },
        { "empty", SIGEO__ST_F32, 1, fx_d_empty, NULL },
        { "ids", SIGEO__ST_I32, 2, fx_d_i32, fx_i32 },
        { "empty3", SIGEO__ST_I32, 3, fx_d_empty3, NULL },
        { "bytes", SIGEO__ST_U8, 1, fx_d_u8, fx_u8 },
        { "half", SIGEO__ST_BF16, 1, fx_d_bf16, fx_bf16 },
        { "mask", SIGEO__ST_BOOL, 1, fx_d_bool, fx_bool },
    };
    memcpy(fx, t, sizeof t);
}

static uint8_t *fixture_image(size_t *size)
{
    uint8_t *img = NULL;
    sigeo_status_t st = sigeo__st_write_mem(&img, size, fx, FX_N, fx_keys, fx_values, 2, NULL);
    ck_assert_msg(st == SIGEO_OK, "%s", sigeo_last_error());
    return img;
}

/* A malloc'ed copy of the fixture image, holding no library memory. */
static uint8_t *fixture_copy(size_t *size)
{
    uint8_t *img = fixture_image(size);
    uint8_t *copy = copy_exact(img, *size);
    sigeo__free(img);
    return copy;
}

/* ------------------------------------------------------------ round trip */

START_TEST(round_trip_is_bit_exact)
{
    fixture_init();
    uint64_t start = blocks_in_use();
    size_t size;
    uint8_t *img = fixture_image(&size);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, "fixture", NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, FX_N);
    for (size_t i = 0; i < FX_N; i++) {
        const sigeo__st_tensor_t *t = &f.tensors[i];
        ck_assert_str_eq(t->name, fx[i].name);
        ck_assert_int_eq(t->dtype, fx[i].dtype);
        ck_assert_uint_eq(t->ndim, fx[i].ndim);
        uint64_t numel = 1;
        for (uint32_t d = 0; d < t->ndim; d++) {
            ck_assert_int_eq(t->dims[d], fx[i].dims[d]);
            numel *= (uint64_t)fx[i].dims[d];
        }
        for (uint32_t d = t->ndim; d < SIGEO__ST_MAX_DIMS; d++)
            ck_assert_int_eq(t->dims[d], 0);
        ck_assert_uint_eq(t->numel, numel);
        ck_assert_uint_eq(t->nbytes, numel * sigeo__st_dtype_size(t->dtype));
        if (t->nbytes)
            ck_assert_mem_eq(t->data, fx[i].data, t->nbytes);
    }
    /* The values that are easiest to lose, checked as bits. */
    uint32_t back[6];
    memcpy(back, sigeo__st_find(&f, "layer.0.weight")->data, sizeof back);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(back[i], fx_f32[i]);
    const sigeo__st_tensor_t *scalar = sigeo__st_find(&f, "scalar");
    ck_assert_uint_eq(scalar->ndim, 0);
    ck_assert_uint_eq(scalar->numel, 1);
    uint64_t s;
    memcpy(&s, scalar->data, 8);
    ck_assert_uint_eq(s, fx_f64);
    ck_assert_uint_eq(sigeo__st_find(&f, "empty")->nbytes, 0);
    ck_assert_uint_eq(sigeo__st_find(&f, "empty3")->numel, 0);
    ck_assert_uint_eq(f.n_meta, 2);
    ck_assert_str_eq(f.meta[0].key, "format");
    ck_assert_str_eq(f.meta[0].value, "pt");
    ck_assert_str_eq(f.meta[1].key, "note");
    ck_assert_str_eq(f.meta[1].value, fx_values[1]);
    check_accepted(&f);
    sigeo__st_free(&f);
    sigeo__free(img);
    ck_assert_uint_eq(blocks_in_use(), start);
}
END_TEST

START_TEST(writer_packs_tensors_in_order_and_pads_header_to_8)
{
    fixture_init();
    size_t size;
    uint8_t *img = fixture_image(&size);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.header_size % 8, 0);
    ck_assert_uint_eq((size_t)(f.data - img) % 8, 0);
    uint64_t expect = 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        ck_assert_uint_eq(f.tensors[i].begin, expect);
        expect = f.tensors[i].end;
    }
    ck_assert_uint_eq(expect, f.data_size);
    /* The padding is spaces right after the closing brace. */
    const char *h = (const char *)img + 8;
    size_t close = f.header_size;
    while (close > 0 && h[close - 1] == ' ')
        close--;
    ck_assert_int_eq(h[close - 1], '}');
    ck_assert_uint_lt(f.header_size - close, 8);
    ck_assert(strncmp(h, "{\"__metadata__\":{\"format\":\"pt\",", 31) == 0);
    sigeo__st_free(&f);
    sigeo__free(img);
}
END_TEST

START_TEST(writer_output_matches_the_format_byte_for_byte)
{
    const float v[2] = { 1.0f, 2.0f };
    const int64_t dims[1] = { 2 };
    const sigeo__st_tensor_in_t t = { "a", SIGEO__ST_F32, 1, dims, v };
    const char *const k[1] = { "format" }, *const val[1] = { "pt" };
    uint8_t *img = NULL;
    size_t size = 0;
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, &t, 1, k, val, 1, NULL), SIGEO_OK);
    /* 85 bytes of JSON + 3 spaces = 88, a multiple of 8. */
    static const char json[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
    static const uint8_t data[8] = { 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40 };
    ck_assert_uint_eq(strlen(json), 88);
    size_t want_size;
    uint8_t *want = assemble(json, data, sizeof data, &want_size);
    ck_assert_uint_eq(size, want_size);
    ck_assert_mem_eq(img, want, size);
    free(want);
    sigeo__free(img);

    /* No tensors, no metadata: "{}" and six spaces. */
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, NULL, 0, NULL, NULL, 0, NULL), SIGEO_OK);
    want = assemble("{}      ", NULL, 0, &want_size);
    ck_assert_uint_eq(size, want_size);
    ck_assert_mem_eq(img, want, size);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, 0);
    ck_assert_uint_eq(f.n_meta, 0);
    ck_assert_ptr_null(sigeo__st_find(&f, "a"));
    sigeo__st_free(&f);
    free(want);
    sigeo__free(img);
}
END_TEST

/* ----------------------------------------------------- independent writer */

START_TEST(reads_a_file_assembled_by_hand)
{
    /* The bytes another writer (the reference one, for a torch state dict)
     * produces: JSON not padded to 8, metadata first, raw little-endian floats. */
    static const char json[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
    static const uint8_t data[24] = {
        0x00, 0x00, 0x80, 0x3f, /* 1.0 */
        0x00, 0x00, 0x00, 0x40, /* 2.0 */
        0x00, 0x00, 0x00, 0xbf, /* -0.5 */
        0x00, 0x00, 0x60, 0x40, /* 3.5 */
        0x00, 0x00, 0x80, 0x3e, /* 0.25 */
        0x00, 0x00, 0x00, 0x80, /* -0.0 */
    };
    size_t size;
    uint8_t *buf = assemble(json, data, sizeof data, &size);
    ck_assert_uint_ne((sizeof json - 1) % 8, 0);
    sigeo__st_file_t f;
    ck_assert_msg(sigeo__st_parse(&f, buf, size, "hand", NULL) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_uint_eq(f.n_tensors, 2);
    ck_assert_str_eq(f.tensors[0].name, "weight");
    ck_assert_str_eq(f.tensors[1].name, "bias");
    const sigeo__st_tensor_t *w = sigeo__st_find(&f, "weight"), *b = sigeo__st_find(&f, "bias");
    ck_assert_ptr_eq(w, &f.tensors[0]);
    ck_assert_int_eq(w->dtype, SIGEO__ST_F32);
    ck_assert_uint_eq(w->ndim, 2);
    ck_assert_int_eq(w->dims[0], 2);
    ck_assert_int_eq(w->dims[1], 2);
    float wv[4], bv[2];
    memcpy(wv, w->data, sizeof wv);
    memcpy(bv, b->data, sizeof bv);
    ck_assert(wv[0] == 1.0f && wv[1] == 2.0f && wv[2] == -0.5f && wv[3] == 3.5f);
    ck_assert(bv[0] == 0.25f);
    ck_assert_uint_eq(f32_bits(bv[1]), 0x80000000u);
    ck_assert_uint_eq(f.n_meta, 1);
    ck_assert_str_eq(f.meta[0].key, "format");
    ck_assert_str_eq(f.meta[0].value, "pt");
    ck_assert_uint_eq(f.header_size, sizeof json - 1);
    ck_assert_uint_eq(f.data_size, 24);
    check_accepted(&f);
    sigeo__st_free(&f);
    free(buf);
}
END_TEST

START_TEST(reads_escapes_whitespace_and_any_key_order)
{
    /* JSON whitespace between tokens, fields in another order, tensors listed
     * in a different order than their data, escaped names, a 0-d scalar, and
     * space padding. */
    static const char json[] = "{\r\n"
                               "\t\"a\\/b\" : { \"data_offsets\" : [ 4 , 8 ] , \"shape\" : [ ] , \"dtype\" : \"I32\" } ,\n"
                               "\t\"\\u00e9t\\u00E9\\ud83d\\ude00\\\"\\\\\\b\\f\\n\\r\\t\\u0001\" : "
                               "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\n"
                               "\t\"__metadata__\" : { \"k\\u0077y\" : \"v\\u00e9\" , \"\" : \"\" }\n"
                               "}   ";
    static const uint8_t data[8] = { 1, 2, 3, 4, 0x2a, 0, 0, 0 };
    size_t size;
    uint8_t *buf = assemble(json, data, sizeof data, &size);
    sigeo__st_file_t f;
    ck_assert_msg(sigeo__st_parse(&f, buf, size, "hand", NULL) == SIGEO_OK, "%s", sigeo_last_error());
    ck_assert_uint_eq(f.n_tensors, 2);
    ck_assert_str_eq(f.tensors[0].name, "a/b");
    const char *fancy = "\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80\"\\\b\f\n\r\t\x01";
    ck_assert_str_eq(f.tensors[1].name, fancy);
    const sigeo__st_tensor_t *scalar = sigeo__st_find(&f, "a/b");
    ck_assert_uint_eq(scalar->ndim, 0);
    ck_assert_uint_eq(scalar->begin, 4);
    int32_t v;
    memcpy(&v, scalar->data, 4);
    ck_assert_int_eq(v, 42);
    ck_assert_mem_eq(sigeo__st_find(&f, fancy)->data, data, 4);
    ck_assert_uint_eq(f.n_meta, 2);
    ck_assert_str_eq(f.meta[0].key, "kwy");
    ck_assert_str_eq(f.meta[0].value, "v\xc3\xa9");
    ck_assert_str_eq(f.meta[1].key, "");
    check_accepted(&f);
    sigeo__st_free(&f);
    free(buf);
}
END_TEST

START_TEST(names_with_escapes_round_trip)
{
    static const char *const names[] = {
        "quote\"inside", "back\\slash", "slash/name", "ctl\b\f\n\r\t", "low\x01\x1f\x7f",
        "caf\xc3\xa9",   "emoji\xf0\x9f\x98\x80",   "\xe2\x82\xac",   "__metadata__x", " ",
    };
    enum { N = sizeof names / sizeof names[0] };
    sigeo__st_tensor_in_t t[N];
    uint8_t one[N];
    for (int i = 0; i < N; i++) {
        one[i] = (uint8_t)i;
        t[i] = (sigeo__st_tensor_in_t){ names[i], SIGEO__ST_U8, 0, NULL, &one[i] };
    }
    const char *const k[1] = { "ke\"y\n" }, *const v[1] = { "\\value\x02\xf0\x9f\x98\x80" };
    uint8_t *img = NULL;
    size_t size = 0;
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, t, N, k, v, 1, NULL), SIGEO_OK);
    /* Control characters come out as escapes, UTF-8 and '/' as they are. */
    ck_assert(has_bytes(img, size, "\"low\\u0001\\u001f\x7f\""));
    ck_assert(has_bytes(img, size, "\"ctl\\b\\f\\n\\r\\t\""));
    ck_assert(has_bytes(img, size, "\"slash/name\""));
    ck_assert(has_bytes(img, size, "\"ke\\\"y\\n\":\"\\\\value\\u0002\xf0\x9f\x98\x80\""));
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, NULL, NULL), SIGEO_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(f.tensors[i].name, names[i]);
        ck_assert_int_eq(sigeo__st_find(&f, names[i])->data[0], i);
    }
    ck_assert_str_eq(f.meta[0].key, k[0]);
    ck_assert_str_eq(f.meta[0].value, v[0]);
    check_accepted(&f);
    sigeo__st_free(&f);
    sigeo__free(img);
}
END_TEST

START_TEST(find_locates_every_tensor_among_many)
{
    enum { N = 1500 };
    static char names[N][16];
    static sigeo__st_tensor_in_t t[N];
    static float vals[N];
    static const int64_t dims[1] = { 1 };
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "t%05d", (i * 7919) % N);
        vals[i] = (float)i;
        t[i] = (sigeo__st_tensor_in_t){ names[i], SIGEO__ST_F32, 1, dims, &vals[i] };
    }
    uint8_t *img = NULL;
    size_t size = 0;
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, t, N, NULL, NULL, 0, NULL), SIGEO_OK);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, NULL, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, N);
    for (int i = 0; i < N; i++) {
        const sigeo__st_tensor_t *x = sigeo__st_find(&f, names[i]);
        ck_assert_ptr_eq(x, &f.tensors[i]);
        float got;
        memcpy(&got, x->data, 4);
        ck_assert(got == (float)i);
    }
    ck_assert_ptr_null(sigeo__st_find(&f, "t"));
    ck_assert_ptr_null(sigeo__st_find(&f, "t99999"));
    ck_assert_ptr_null(sigeo__st_find(&f, ""));
    ck_assert_ptr_null(sigeo__st_find(&f, NULL));
    ck_assert_ptr_null(sigeo__st_find(NULL, "t00000"));
    sigeo__st_free(&f);
    sigeo__st_free(&f); /* freeing twice: the struct is zeroed */
    sigeo__st_free(NULL);
    sigeo__free(img);
}
END_TEST

/* ------------------------------------------------------------ rejections */

/* One malformed header per rule. `at` (optional) is a snippet whose first
 * occurrence in `json` is where the message must point ("header byte N");
 * a '|' in it marks the exact byte when that is not the snippet's first. */
typedef struct bad_case {
    const char *json;
    size_t data_len;
    const char *needle;
    const char *at;
} bad_case_t;

#define T1(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" off "]}"

static const bad_case_t bad_cases[] = {
    /* header start */
    { " {}", 0, "must start with '{'", NULL },
    { "[]", 0, "must start with '{'", NULL },
    { "\n{}", 0, "must start with '{'", NULL },
    /* UTF-8 */
    { "{\"a\xc0\xaf\":1}", 0, "invalid UTF-8 (byte 0xc0)", "\xc0" },
    { "{\"a\xed\xa0\x80\":1}", 0, "invalid UTF-8 (byte 0xed)", "\xed" },
    { "{\"a\xf4\x90\x80\x80\":1}", 0, "invalid UTF-8 (byte 0xf4)", "\xf4" },
    { "{\"a\x80\":1}", 0, "invalid UTF-8 (byte 0x80)", "\x80" },
    { "{\"a\xe2\x82\"}", 0, "invalid UTF-8 (byte 0xe2)", "\xe2" },
    { "{}  \xff", 0, "invalid UTF-8 (byte 0xff)", "\xff" },
    /* duplicate keys */
    { "{" T1("w", "0,4") "," T1("w", "4,8") "}", 8, "duplicate tensor name \"w\" (first at header byte 1)",
      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4" },
    { "{" T1("w", "0,4") "," T1("\\u0077", "4,8") "}", 8, "duplicate tensor name \"w\"", "\"\\u0077" },
    { "{" T1("w", "0,4") "," T1("w", "0,4") "}", 4, "duplicate tensor name \"w\"", NULL },
    { "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key \"__metadata__\"", "\"__metadata__\":{}}" },
    { "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
      "tensor \"w\": duplicate key \"dtype\"", "\"dtype\":\"F32\",\"shape" },
    { "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate \"__metadata__\" key \"k\"", "\"k\":\"2" },
    /* schema */
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4, "unknown key \"extra\"",
      "\"extra" },
    { "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"w\": missing \"dtype\"", "{\"shape" },
    { "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\"", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\"", NULL },
    { "{\"w\":{}}", 0, "missing \"dtype\"", NULL },
    { "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty tensor name", "\"\"" },
    /* trailing content */
    { "{} x", 0, "only space padding may follow the header object, found byte 0x78", "x" },
    { "{}{}", 0, "only space padding", NULL },
    { "{}\n", 0, "found byte 0x0a", NULL },
    { "{}\t ", 0, "found byte 0x09", NULL },
    { "{}  \"", 0, "only space padding", NULL },
    /* nesting and types */
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4,
      "shape entry must be a non-negative integer, found '['", "[1]" },
    { "{\"w\":{\"dtype\":{\"a\":\"F32\"},\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
      "\"dtype\" must be a string, found '{'", "{\"a" },
    { "{\"w\":[1]}", 0, "tensor \"w\": expected an object", "[1]" },
    { "{\"w\":\"F32\"}", 0, "expected an object with \"dtype\", \"shape\" and \"data_offsets\", found string", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "\"shape\" must be an array", "1," },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, "\"data_offsets\" must be an array", "{}" },
    { "{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object", "[" },
    { "{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" must be an object of string values, found string", NULL },
    { "{\"__metadata__\":{\"k\":{\"n\":\"v\"}}}", 0, "\"__metadata__\" value of \"k\" must be a string, found '{'",
      "{\"n" },
    { "{\"__metadata__\":{\"k\":[\"v\"]}}", 0, "value of \"k\" must be a string, found '['", NULL },
    { "{\"__metadata__\":{\"k\":1}}", 0, "value of \"k\" must be a string, found number", "1" },
    { "{\"__metadata__\":{\"k\":null}}", 0, "value of \"k\" must be a string, found null", "null" },
    { "{\"__metadata__\":{\"k\":true}}", 0, "found true", NULL },
    { "{\"w\":true}", 0, "expected an object", NULL },
    { "{1:2}", 0, "expected a tensor name (a string), found number", "1" },
    { "{\"w\":{\"dtype\":\"F32\",1:2}}", 0, "tensor \"w\": expected a key (a string), found number", "1:" },
    /* numbers */
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
      "shape entry -1 is not a non-negative integer", "-1" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "shape entry 1.0 is not", "1.0" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "shape entry 1e0 is not", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "number with a leading zero", "01" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-0,4]}}", 4,
      "data_offsets entry -0 is not a non-negative integer", "-0" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 4, "data_offsets entry 4.5 is not",
      NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]}}", 4,
      "shape entry 18446744073709551616 is too large (integer overflow)", "1844" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", 4,
      "shape entry 9223372036854775808 is too large", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4,
      "data_offsets entry 99999999999999999999 is too large", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[-],\"data_offsets\":[0,4]}}", 4, "'-' must be followed by a digit", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.],\"data_offsets\":[0,4]}}", 4, "digit expected after '.'", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e],\"data_offsets\":[0,4]}}", 4, "digit expected in number exponent",
      NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}", 4, "unexpected character 'N'", "NaN" },
    /* overflow of sizes */
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
      "shape [4294967296, 4294967296] of F32 overflows", "\"shape" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
      "of F32 overflows", NULL },
    { "{\"w\":{\"dtype\":\"F64\",\"shape\":[1152921504606846976],\"data_offsets\":[0,0]}}", 0,
      "shape [1152921504606846976] of F64 overflows", NULL },
    { "{\"w\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, "overflows",
      NULL },
    { "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
      "shape has more than 8 dimensions", "1]" },
    /* dtypes */
    { "{\"w\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"w\": unknown dtype \"F4\"",
      "\"F4" },
    { "{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"f32\"", NULL },
    { "{\"w\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"\"", NULL },
    { "{\"w\":{\"dtype\":\"F32 \",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"F32 \"", NULL },
    /* data offsets */
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
      "data_offsets must hold exactly 2 integers", "[0,4,8" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "exactly 2 integers [begin, end], found 1",
      "[4" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[]}}", 0, "exactly 2 integers [begin, end], found 0",
      NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
      "data_offsets [4, 0] end before begin", "\"data_offsets" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
      "data_offsets [0, 8] span 8 bytes but shape [1] of F32 takes 4", "\"data_offsets" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,4]}}", 24, "shape [2, 3] of F32 takes 24", NULL },
    /* coverage of the data section */
    { "{" T1("a", "0,4") "," T1("b", "8,12") "}", 12,
      "tensor \"b\": data_offsets [8, 12] leave a gap: data bytes 4 to 8 belong to no tensor", "\"b\"" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," T1("b", "4,8") "}", 8,
      "tensor \"b\": data_offsets [4, 8] overlap bytes already used by tensor \"a\"", "\"b\"" },
    { "{" T1("a", "0,4") "," T1("b", "0,4") "}", 4, "overlap", NULL },
    { "{" T1("a", "4,8") "}", 8, "data bytes 0 to 4 belong to no tensor", NULL },
    { "{" T1("a", "0,4") "}", 8, "the tensors end at data byte 4 but the data section holds 8 bytes", "\"a\"" },
    { "{" T1("a", "0,4") "}", 3, "the tensors end at data byte 4 but the data section holds 3 bytes", NULL },
    { "{" T1("a", "0,4") "," T1("b", "4,8") "}", 4, "the data section holds 4 bytes", "\"b\"" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
      8, "tensor \"z\": data_offsets [4, 4] overlap", NULL },
    { "{}", 4, "data section is 4 bytes but the header lists no tensors", NULL },
    /* strings and escapes */
    { "{\"a\\x\":1}", 0, "invalid escape '\\x' in string", "\\x" },
    { "{\"a\\u12\":1}", 0, "'\\u' escape needs four hex digits", "\\u12" },
    { "{\"a\\u12g4\":1}", 0, "four hex digits", NULL },
    { "{\"a\\ud800\":1}", 0, "high surrogate \\uD800 is not followed by a low surrogate", "\\ud800" },
    { "{\"a\\ud800\\u0041\":1}", 0, "high surrogate \\uD800 is not followed", NULL },
    { "{\"a\\ud800\\ud800\":1}", 0, "high surrogate", NULL },
    { "{\"a\\udc00\":1}", 0, "unpaired low surrogate \\uDC00", "\\udc00" },
    { "{\"a\\u0000\":1}", 0, "contains U+0000", "\"a" },
    { "{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, "\"__metadata__\" value \"\\u0000\" contains U+0000", NULL },
    { "{\"a\x01\":1}", 0, "control character 0x01 inside a string must be escaped", "\x01" },
    { "{\"a\nb\":1}", 0, "control character 0x0a", "\n" },
    { "{\"abc", 0, "unterminated string", "\"abc" },
    { "{\"abc\\", 0, "unterminated string", NULL },
    /* structure */
    { "{\"a\":", 0, "expected an object with \"dtype\", \"shape\" and \"data_offsets\", found end of text", NULL },
    { "{", 0, "expected a tensor name (a string), found end of text", NULL },
    { "{" T1("a", "0,4") ",}", 4, "trailing ',' before the header's closing '}'", ",|}" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4,
      "shape entry must be a non-negative integer, found ']'", ",|]" },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", 4, "tensor \"w\": trailing ','", NULL },
    { "{\"__metadata__\":{\"k\":\"v\",}}", 0, "\"__metadata__\": trailing ','", NULL },
    { "{\"a\" {}}", 0, "expected ':' after key \"a\", found '{'", "\" |{" },
    { "{" T1("a", "0,4") " " T1("b", "4,8") "}", 8, "expected ',' or '}' after the entry \"a\", found string", NULL },
    { "{\"w\":{\"dtype\":\"F32\" \"shape\":[1]}}", 0, "expected ',' or '}' after \"dtype\", found string", NULL },
    { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1 2]}}", 0, "expected ',' or ']' in shape, found number", NULL },
    { "{\"__metadata__\":{\"k\":\"v\" \"x\":\"y\"}}", 0, "expected ',' or '}' after the value of \"k\"", NULL },
    { "{\"__metadata__\":{1:\"v\"}}", 0, "expected a \"__metadata__\" key (a string), found number", NULL },
    { "{/*c*/}", 0, "unexpected character '/'", "/" },
    { "{'a':1}", 0, "unexpected character '''", NULL },
    { "{\"w\":nul}", 0, "unexpected character 'n'", NULL },
    { "{\"w\":\x7f}", 0, "unexpected byte 0x7f", NULL },
};

START_TEST(rejects_each_malformed_header_with_a_precise_message)
{
    const bad_case_t *c = &bad_cases[_i];
    uint64_t start = blocks_in_use();
    size_t size;
    uint8_t *buf = assemble(c->json, NULL, c->data_len, &size);
    sigeo__st_file_t f;
    memset(&f, 0xAB, sizeof f);
    sigeo__errbuf_t eb = { { 0 } };
    sigeo_status_t st = sigeo__st_parse(&f, buf, size, "bad.safetensors", &eb);
    ck_assert_msg(st == SIGEO_ERR_FORMAT, "case %d (%s): status %d, message \"%s\"", _i, c->json, (int)st,
                  sigeo_last_error());
    ck_assert_msg(strstr(sigeo_last_error(), c->needle) != NULL, "case %d (%s): message \"%s\" lacks \"%s\"", _i,
                  c->json, sigeo_last_error(), c->needle);
    ck_assert_msg(strncmp(sigeo_last_error(), "safetensors 'bad.safetensors': ", 31) == 0, "case %d: \"%s\"", _i,
                  sigeo_last_error());
    ck_assert_str_eq(eb.msg, sigeo_last_error());
    if (c->at) {
        char snippet[128];
        size_t mark = 0;
        const char *bar = strchr(c->at, '|');
        if (bar) {
            mark = (size_t)(bar - c->at);
            snprintf(snippet, sizeof snippet, "%.*s%s", (int)mark, c->at, bar + 1);
        } else {
            snprintf(snippet, sizeof snippet, "%s", c->at);
        }
        const char *hit = strstr(c->json, snippet);
        ck_assert_ptr_nonnull(hit);
        char where[48];
        snprintf(where, sizeof where, "header byte %zu: ", (size_t)(hit - c->json) + mark);
        ck_assert_msg(strstr(sigeo_last_error(), where) != NULL, "case %d (%s): message \"%s\" does not point at %s",
                      _i, c->json, sigeo_last_error(), where);
    }
    /* A failed parse leaves a zeroed file that is safe to free. */
    ck_assert_ptr_null(f.tensors);
    ck_assert_uint_eq(f.n_tensors, 0);
    sigeo__st_free(&f);
    ck_assert_uint_eq(blocks_in_use(), start);
    free(buf);
}
END_TEST

START_TEST(rejects_files_shorter_than_the_length_field)
{
    const uint8_t bytes[8] = { 2, 0, 0, 0, 0, 0, 0, 0 };
    for (size_t n = 0; n < 8; n++) {
        uint8_t *buf = copy_exact(bytes, n);
        sigeo__st_file_t f;
        ck_assert_int_eq(sigeo__st_parse(&f, buf, n, "tiny", NULL), SIGEO_ERR_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "file is %zu bytes, too short", n);
        ck_assert_msg_contains(want);
        free(buf);
    }
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, NULL, 0, NULL, NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("'<memory>'");
    ck_assert_int_eq(sigeo__st_parse(&f, NULL, 9, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_parse(NULL, bytes, 8, NULL, NULL), SIGEO_ERR_INVALID_ARG);
}
END_TEST

START_TEST(rejects_header_lengths_over_the_cap_or_the_file)
{
    uint8_t buf[16];
    memcpy(buf + 8, "{}      ", 8);
    sigeo__st_file_t f;
    /* Over 100 MB: refused before anything is allocated or read. */
    const uint64_t lens[] = { 100000001ull, UINT64_MAX, 1ull << 63 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        put_le64(buf, lens[i]);
        ck_assert_int_eq(sigeo__st_parse(&f, buf, sizeof buf, "big", NULL), SIGEO_ERR_FORMAT);
        ck_assert_msg_contains("exceeds the limit of 100000000 bytes");
    }
    put_le64(buf, 9);
    ck_assert_int_eq(sigeo__st_parse(&f, buf, sizeof buf, "cut", NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("header length 9 exceeds the 8 bytes that follow the length field");
    put_le64(buf, 100000000ull);
    ck_assert_int_eq(sigeo__st_parse(&f, buf, sizeof buf, "cut", NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("header length 100000000 exceeds the 8 bytes");
    put_le64(buf, 0);
    ck_assert_int_eq(sigeo__st_parse(&f, buf, sizeof buf, "zero", NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("header length is 0");
    put_le64(buf, 8);
    ck_assert_int_eq(sigeo__st_parse(&f, buf, sizeof buf, "ok", NULL), SIGEO_OK);
    sigeo__st_free(&f);
}
END_TEST

START_TEST(every_truncation_of_a_valid_file_fails_cleanly)
{
    fixture_init();
    size_t size;
    uint8_t *img = fixture_copy(&size);
    uint64_t start = blocks_in_use();
    for (size_t n = 0; n < size; n++) {
        uint8_t *cut = copy_exact(img, n);
        sigeo__st_file_t f;
        sigeo_status_t st = sigeo__st_parse(&f, cut, n, "cut", NULL);
        ck_assert_msg(st == SIGEO_ERR_FORMAT, "prefix of %zu/%zu bytes: status %d (%s)", n, size, (int)st,
                      sigeo_last_error());
        ck_assert_uint_eq(blocks_in_use(), start);
        free(cut);
    }
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_parse(&f, img, size, "whole", NULL), SIGEO_OK);
    sigeo__st_free(&f);
    free(img);
}
END_TEST

START_TEST(single_byte_corruptions_are_accepted_consistently_or_rejected)
{
    /* Not a proof, but cheap: every byte of a valid file replaced by values
     * that matter to the grammar. Anything accepted must still be a
     * consistent file. */
    fixture_init();
    size_t size;
    uint8_t *img = fixture_copy(&size);
    static const uint8_t values[] = { 0x00, ' ', '"', ',', '0', '9', '[', '\\', '{', '}', 0x80, 0xff };
    uint64_t start = blocks_in_use();
    size_t accepted = 0;
    for (size_t pos = 0; pos < size; pos++) {
        for (size_t v = 0; v < sizeof values; v++) {
            if (img[pos] == values[v])
                continue;
            uint8_t *m = copy_exact(img, size);
            m[pos] = values[v];
            sigeo__st_file_t f;
            sigeo_status_t st = sigeo__st_parse(&f, m, size, "mutant", NULL);
            ck_assert_msg(st == SIGEO_OK || st == SIGEO_ERR_FORMAT, "byte %zu = 0x%02x: status %d", pos, values[v],
                          (int)st);
            if (st == SIGEO_OK) {
                accepted++;
                check_accepted(&f);
                sigeo__st_free(&f);
            }
            ck_assert_uint_eq(blocks_in_use(), start);
            free(m);
        }
    }
    /* Data bytes and padding can change freely; the header mostly cannot. */
    ck_assert_uint_gt(accepted, 0);
    free(img);
}
END_TEST

/* -------------------------------------------------------- writer inputs */

START_TEST(writer_refuses_invalid_input)
{
    const float v[2] = { 1, 2 };
    const int64_t d1[1] = { 2 }, dneg[2] = { 2, -1 }, dhuge[2] = { INT64_MAX, 4 };
    const int64_t d9[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 2 };
    struct {
        sigeo__st_tensor_in_t t[2];
        size_t n;
        const char *needle;
    } cases[] = {
        { { { NULL, SIGEO__ST_F32, 1, d1, v } }, 1, "tensor 0 has a NULL name" },
        { { { "", SIGEO__ST_F32, 1, d1, v } }, 1, "tensor 0 has an empty name" },
        { { { "__metadata__", SIGEO__ST_F32, 1, d1, v } }, 1, "may not be called \"__metadata__\"" },
        { { { "bad\xc3", SIGEO__ST_F32, 1, d1, v } }, 1, "invalid UTF-8 at byte 3" },
        { { { "a", SIGEO__ST_DTYPE_COUNT, 1, d1, v } }, 1, "unknown dtype" },
        { { { "a", (sigeo__st_dtype_t)-1, 1, d1, v } }, 1, "unknown dtype -1" },
        { { { "a", SIGEO__ST_U8, 9, d9, v } }, 1, "9 dimensions, at most 8" },
        { { { "a", SIGEO__ST_F32, 1, NULL, v } }, 1, "ndim 1 but dims is NULL" },
        { { { "a", SIGEO__ST_F32, 2, dneg, v } }, 1, "dims[1] = -1 is negative" },
        { { { "a", SIGEO__ST_F32, 2, dhuge, v } }, 1, "shape overflows" },
        { { { "a", SIGEO__ST_F32, 1, d1, NULL } }, 1, "8 bytes of data but data is NULL" },
        { { { "a", SIGEO__ST_F32, 1, d1, v }, { "a", SIGEO__ST_F32, 1, d1, v } }, 2, "duplicate tensor name \"a\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *img = (uint8_t *)1;
        size_t size = 1;
        ck_assert_int_eq(sigeo__st_write_mem(&img, &size, cases[i].t, cases[i].n, NULL, NULL, 0, NULL),
                         SIGEO_ERR_INVALID_ARG);
        ck_assert_msg(strstr(sigeo_last_error(), cases[i].needle) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      sigeo_last_error(), cases[i].needle);
        ck_assert_ptr_null(img);
        ck_assert_uint_eq(size, 0);
    }
    const sigeo__st_tensor_in_t ok = { "a", SIGEO__ST_F32, 1, d1, v };
    const char *const dupk[2] = { "k", "k" }, *const vals[2] = { "1", "2" }, *const nullv[1] = { NULL };
    const char *const badk[1] = { "\xff" };
    uint8_t *img;
    size_t size;
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, &ok, 1, dupk, vals, 2, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg_contains("duplicate metadata key \"k\"");
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, &ok, 1, dupk, nullv, 1, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg_contains("metadata pair 0 has a NULL value");
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, &ok, 1, badk, vals, 1, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_msg_contains("metadata key 0");
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, &ok, 1, NULL, vals, 1, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_write_mem(&img, &size, NULL, 1, NULL, NULL, 0, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_write_mem(NULL, &size, &ok, 1, NULL, NULL, 0, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_write(NULL, &ok, 1, NULL, NULL, 0, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_write("", &ok, 1, NULL, NULL, 0, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_uint_eq(blocks_in_use(), 0);
}
END_TEST

/* ------------------------------------------------------- files and hooks */

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/sigeo-st-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void remove_tmp_dir(void)
{
    DIR *d = opendir(tmp_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmp_dir);
}

static int count_entries(void)
{
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void temp_name(char *buf, size_t cap, const char *path)
{
    /* core/file.h: "<dir>/.<base>.sigeo-tmp.<pid>" */
    const char *slash = strrchr(path, '/');
    snprintf(buf, cap, "%.*s.%s.sigeo-tmp.%ld", slash ? (int)(slash - path + 1) : 0, path, slash ? slash + 1 : path,
             (long)getpid());
}

START_TEST(file_write_and_read_give_the_memory_image)
{
    fixture_init();
    make_tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp_dir);
    ck_assert_msg(sigeo__st_write(path, fx, FX_N, fx_keys, fx_values, 2, NULL) == SIGEO_OK, "%s", sigeo_last_error());
    size_t want_size, got_size;
    uint8_t *want = fixture_image(&want_size);
    uint8_t *got = slurp(path, &got_size);
    ck_assert_uint_eq(got_size, want_size);
    ck_assert_mem_eq(got, want, want_size);
    ck_assert_int_eq(count_entries(), 1);

    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, FX_N);
    ck_assert_ptr_nonnull(f.image);
    /* Re-saving what was read reproduces the file byte for byte. */
    char again[512];
    snprintf(again, sizeof again, "%s/again.safetensors", tmp_dir);
    sigeo__st_tensor_in_t *in = as_input(&f);
    const char **k, **v;
    meta_arrays(&f, &k, &v);
    ck_assert_int_eq(sigeo__st_write(again, in, f.n_tensors, k, v, f.n_meta, NULL), SIGEO_OK);
    size_t again_size;
    uint8_t *again_bytes = slurp(again, &again_size);
    ck_assert_uint_eq(again_size, got_size);
    ck_assert_mem_eq(again_bytes, got, got_size);
    /* Overwriting an existing file works and leaves no temporary behind. */
    ck_assert_int_eq(sigeo__st_write(again, fx, 1, NULL, NULL, 0, NULL), SIGEO_OK);
    ck_assert_int_eq(count_entries(), 2);
    free(in);
    free(k);
    free(v);
    free(again_bytes);
    sigeo__st_free(&f);
    sigeo__free(want);
    free(got);
    ck_assert_uint_eq(blocks_in_use(), 0);
    remove_tmp_dir();
}
END_TEST

START_TEST(read_reports_missing_files_directories_and_bad_content)
{
    make_tmp_dir();
    char path[512];
    sigeo__st_file_t f;
    snprintf(path, sizeof path, "%s/missing.safetensors", tmp_dir);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("missing.safetensors': cannot open: No such file or directory");
    ck_assert_int_eq(sigeo__st_read(&f, tmp_dir, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("not a regular file");
    spit(path, "\x02\0\0\0\0\0\0\0{x", 10);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("missing.safetensors': header byte 1: unexpected character 'x'");
    spit(path, "", 0);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_FORMAT);
    ck_assert_msg_contains("file is 0 bytes");
    ck_assert_int_eq(sigeo__st_read(&f, NULL, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_int_eq(sigeo__st_read(NULL, path, NULL), SIGEO_ERR_INVALID_ARG);
    ck_assert_uint_eq(blocks_in_use(), 0);
    remove_tmp_dir();
}
END_TEST

/* The failure-injecting I/O table: stage names what to break. */
enum stage { STAGE_NONE, STAGE_OPEN, STAGE_WRITE_SHORT, STAGE_WRITE_NOTHING, STAGE_SYNC, STAGE_CLOSE, STAGE_RENAME,
             STAGE_READ_EIO, STAGE_READ_EOF };
static enum stage fail_stage;
static size_t max_chunk; /* 0 = no limit: otherwise each read/write moves at most this much */
static size_t io_bytes;  /* bytes moved so far */

static int hook_open(FILE **out, const char *path, const char *mode)
{
    if (fail_stage == STAGE_OPEN)
        return EACCES;
    return sigeo__st_io_default()->open(out, path, mode);
}

static int hook_write(FILE *f, const void *buf, size_t size, size_t *put)
{
    size_t n = max_chunk && size > max_chunk ? max_chunk : size;
    if (fail_stage == STAGE_WRITE_SHORT || fail_stage == STAGE_WRITE_NOTHING) {
        /* 20 bytes get through (the last of them in a short write), then
         * the disk is full, or the writes stop moving without an error. */
        if (io_bytes >= 20) {
            *put = 0;
            return fail_stage == STAGE_WRITE_SHORT ? ENOSPC : 0;
        }
        if (io_bytes + n > 20)
            n = 20 - io_bytes;
    }
    int rc = sigeo__st_io_default()->write(f, buf, n, put);
    io_bytes += *put;
    return rc;
}

static int hook_read(FILE *f, void *buf, size_t size, size_t *got)
{
    size_t n = max_chunk && size > max_chunk ? max_chunk : size;
    if (fail_stage == STAGE_READ_EIO && io_bytes >= 30)
        return EIO;
    if (fail_stage == STAGE_READ_EOF && io_bytes >= 30) {
        *got = 0;
        return 0;
    }
    int rc = sigeo__st_io_default()->read(f, buf, n, got);
    io_bytes += *got;
    return rc;
}

static int hook_sync(FILE *f)
{
    if (fail_stage == STAGE_SYNC)
        return EIO;
    return sigeo__st_io_default()->sync(f);
}

static int hook_close(FILE *f)
{
    int rc = sigeo__st_io_default()->close(f);
    return fail_stage == STAGE_CLOSE ? EIO : rc;
}

static int hook_rename(const char *from, const char *to)
{
    if (fail_stage == STAGE_RENAME)
        return EXDEV;
    return sigeo__st_io_default()->rename(from, to);
}

static void install_hooks(enum stage stage, size_t chunk)
{
    sigeo__st_io_t io = *sigeo__st_io_default();
    io.open = hook_open;
    io.write = hook_write;
    io.read = hook_read;
    io.sync = hook_sync;
    io.close = hook_close;
    io.rename = hook_rename;
    fail_stage = stage;
    max_chunk = chunk;
    io_bytes = 0;
    sigeo__st_set_io(&io);
}

static const struct {
    enum stage stage;
    const char *needle;
} write_failures[] = {
    { STAGE_OPEN, "cannot create temporary file" },
    { STAGE_WRITE_SHORT, "writing temporary file" },
    { STAGE_WRITE_NOTHING, "no bytes written" },
    { STAGE_SYNC, "syncing temporary file" },
    { STAGE_CLOSE, "closing temporary file" },
    { STAGE_RENAME, "renaming temporary file" },
};
static const char *const write_failure_errno[] = {
    "Permission denied", "at byte 20: No space left on device", "at byte 20: no bytes written", "Input/output error",
    "Input/output error",
    "Invalid cross-device link",
};

START_TEST(failed_write_keeps_the_old_file_and_leaves_no_temporary)
{
    fixture_init();
    make_tmp_dir();
    char path[512], tmp[600];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", tmp_dir);
    temp_name(tmp, sizeof tmp, path);
    /* The old file: only the first tensor. */
    ck_assert_int_eq(sigeo__st_write(path, fx, 1, NULL, NULL, 0, NULL), SIGEO_OK);
    size_t old_size;
    uint8_t *old = slurp(path, &old_size);

    install_hooks(write_failures[_i].stage, 0);
    sigeo__errbuf_t eb = { { 0 } };
    sigeo_status_t st = sigeo__st_write(path, fx, FX_N, fx_keys, fx_values, 2, &eb);
    sigeo__st_set_io(NULL);
    ck_assert_msg(st == SIGEO_ERR_IO, "stage %d: status %d (%s)", _i, (int)st, sigeo_last_error());
    ck_assert_msg_contains(write_failures[_i].needle);
    ck_assert_msg_contains(write_failure_errno[_i]);
    ck_assert_msg_contains("ckpt.safetensors");
    ck_assert_str_eq(eb.msg, sigeo_last_error());

    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(count_entries(), 1);
    size_t now_size;
    uint8_t *now = slurp(path, &now_size);
    ck_assert_uint_eq(now_size, old_size);
    ck_assert_mem_eq(now, old, old_size);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, 1);
    sigeo__st_free(&f);
    ck_assert_uint_eq(blocks_in_use(), 0);
    free(old);
    free(now);
    remove_tmp_dir();
}
END_TEST

START_TEST(short_reads_and_writes_that_progress_are_completed)
{
    fixture_init();
    make_tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/slow.safetensors", tmp_dir);
    install_hooks(STAGE_NONE, 3);
    ck_assert_int_eq(sigeo__st_write(path, fx, FX_N, fx_keys, fx_values, 2, NULL), SIGEO_OK);
    size_t want_size, got_size;
    uint8_t *want = fixture_image(&want_size);
    ck_assert_uint_eq(io_bytes, want_size);
    io_bytes = 0;
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_OK);
    sigeo__st_set_io(NULL);
    ck_assert_uint_eq(io_bytes, want_size);
    uint8_t *got = slurp(path, &got_size);
    ck_assert_uint_eq(got_size, want_size);
    ck_assert_mem_eq(got, want, want_size);
    ck_assert_uint_eq(f.n_tensors, FX_N);
    sigeo__st_free(&f);
    sigeo__free(want);
    free(got);
    remove_tmp_dir();
}
END_TEST

START_TEST(read_errors_are_io_errors_with_the_system_text)
{
    fixture_init();
    make_tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/r.safetensors", tmp_dir);
    ck_assert_int_eq(sigeo__st_write(path, fx, FX_N, NULL, NULL, 0, NULL), SIGEO_OK);
    sigeo__st_file_t f;
    install_hooks(STAGE_READ_EIO, 7);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("read failed at byte 35: Input/output error");
    install_hooks(STAGE_READ_EOF, 7);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("file ended at byte 35 of the");
    install_hooks(STAGE_OPEN, 0);
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("cannot open: Permission denied");
    sigeo__st_set_io(NULL);
    ck_assert_ptr_null(f.tensors);
    ck_assert_uint_eq(blocks_in_use(), 0);
    remove_tmp_dir();
}
END_TEST

START_TEST(write_replaces_a_stale_temporary_and_never_follows_a_symlink)
{
    fixture_init();
    make_tmp_dir();
    char path[512], tmp[600], victim[512];
    snprintf(path, sizeof path, "%s/m.safetensors", tmp_dir);
    snprintf(victim, sizeof victim, "%s/victim", tmp_dir);
    temp_name(tmp, sizeof tmp, path);
    spit(tmp, "stale", 5);
    ck_assert_int_eq(sigeo__st_write(path, fx, 1, NULL, NULL, 0, NULL), SIGEO_OK);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(count_entries(), 1);

    spit(victim, "precious", 8);
    ck_assert_int_eq(symlink(victim, tmp), 0);
    ck_assert_int_eq(sigeo__st_write(path, fx, FX_N, NULL, NULL, 0, NULL), SIGEO_OK);
    size_t n;
    uint8_t *v = slurp(victim, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_mem_eq(v, "precious", 8);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    sigeo__st_file_t f;
    ck_assert_int_eq(sigeo__st_read(&f, path, NULL), SIGEO_OK);
    ck_assert_uint_eq(f.n_tensors, FX_N);
    sigeo__st_free(&f);
    free(v);
    remove_tmp_dir();
}
END_TEST

START_TEST(write_into_a_missing_directory_fails_and_creates_nothing)
{
    fixture_init();
    make_tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/m.safetensors", tmp_dir);
    ck_assert_int_eq(sigeo__st_write(path, fx, 1, NULL, NULL, 0, NULL), SIGEO_ERR_IO);
    ck_assert_msg_contains("cannot create temporary file");
    ck_assert_msg_contains("No such file or directory");
    ck_assert_int_eq(count_entries(), 0);
    ck_assert_uint_eq(blocks_in_use(), 0);
    remove_tmp_dir();
}
END_TEST

/* ---------------------------------------------------- allocation failure */

/* Runs `op` failing allocation n = 1, 2, ... until a run needs no failed
 * allocation; every failing run must report SIGEO_ERR_NO_MEMORY and give
 * back every block. Returns how many allocations a clean run makes. */
typedef sigeo_status_t (*op_fn)(void *ctx);

static uint64_t fail_every_allocation(op_fn op, void *ctx, void (*cleanup)(void *ctx), bool persistent)
{
    sigeo_allocator_t a = guard_allocator();
    ck_assert_int_eq(blocks_in_use(), 0);
    ck_assert_int_eq(sigeo_set_allocator(&a), SIGEO_OK);
    uint64_t n = 1;
    for (;; n++) {
        guard_reset();
        guard_fail_at(n, persistent);
        sigeo_status_t st = op(ctx);
        guard_stats_t g = guard_stats();
        if (g.alloc_failed == 0) {
            ck_assert_msg(st == SIGEO_OK, "clean run: %s", sigeo_last_error());
            cleanup(ctx);
            ck_assert_uint_eq(guard_stats().live, 0);
            break;
        }
        ck_assert_msg(st == SIGEO_ERR_NO_MEMORY, "allocation %" PRIu64 " failed: status %d (%s)", n, (int)st,
                      sigeo_last_error());
        ck_assert_msg_contains("out of memory");
        ck_assert_uint_eq(blocks_in_use(), 0);
        g = guard_stats();
        ck_assert_uint_eq(g.live, 0);
        ck_assert_uint_eq(g.corruptions, 0);
        ck_assert_uint_eq(g.foreign_release, 0);
        ck_assert_uint_lt(n, 1000);
    }
    ck_assert_int_eq(sigeo_set_allocator(NULL), SIGEO_OK);
    return n - 1;
}

typedef struct op_ctx {
    const uint8_t *image;
    size_t size;
    const char *path;
    sigeo__st_file_t file;
    uint8_t *out;
    size_t out_size;
} op_ctx_t;

static sigeo_status_t op_parse(void *p)
{
    op_ctx_t *c = p;
    return sigeo__st_parse(&c->file, c->image, c->size, "alloc", NULL);
}

static sigeo_status_t op_read(void *p)
{
    op_ctx_t *c = p;
    return sigeo__st_read(&c->file, c->path, NULL);
}

static void free_file(void *p)
{
    op_ctx_t *c = p;
    ck_assert_uint_eq(c->file.n_tensors, FX_N);
    sigeo__st_free(&c->file);
}

static sigeo_status_t op_write_mem(void *p)
{
    op_ctx_t *c = p;
    return sigeo__st_write_mem(&c->out, &c->out_size, fx, FX_N, fx_keys, fx_values, 2, NULL);
}

static void free_out(void *p)
{
    op_ctx_t *c = p;
    ck_assert_uint_eq(c->out_size, c->size);
    ck_assert_mem_eq(c->out, c->image, c->size);
    sigeo__free(c->out);
}

static sigeo_status_t op_write(void *p)
{
    op_ctx_t *c = p;
    sigeo_status_t st = sigeo__st_write(c->path, fx, FX_N, fx_keys, fx_values, 2, NULL);
    if (st != SIGEO_OK) {
        /* The old file (one tensor) must survive, with no temporary next to it. */
        size_t n;
        uint8_t *now = slurp(c->path, &n);
        ck_assert_uint_ne(n, c->size);
        free(now);
        ck_assert_int_eq(count_entries(), 1);
    }
    return st;
}

static void check_written(void *p)
{
    op_ctx_t *c = p;
    size_t n;
    uint8_t *now = slurp(c->path, &n);
    ck_assert_uint_eq(n, c->size);
    ck_assert_mem_eq(now, c->image, n);
    free(now);
    ck_assert_int_eq(count_entries(), 1);
}

START_TEST(allocation_failures_give_no_memory_and_leak_nothing)
{
    fixture_init();
    op_ctx_t c;
    memset(&c, 0, sizeof c);
    uint8_t *img = fixture_copy(&c.size);
    c.image = img;
    make_tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/alloc.safetensors", tmp_dir);
    c.path = path;
    spit(path, img, c.size);

    for (int persistent = 0; persistent < 2; persistent++) {
        uint64_t parse_allocs = fail_every_allocation(op_parse, &c, free_file, persistent);
        uint64_t read_allocs = fail_every_allocation(op_read, &c, free_file, persistent);
        uint64_t mem_allocs = fail_every_allocation(op_write_mem, &c, free_out, persistent);
        ck_assert_uint_ge(parse_allocs, 4); /* strings, tensors, metadata, index */
        ck_assert_uint_eq(read_allocs, parse_allocs + 1);
        ck_assert_uint_ge(mem_allocs, 3);
    }
    /* Atomic write under allocation failure: start from an older file. */
    ck_assert_int_eq(sigeo__st_write(path, fx, 1, NULL, NULL, 0, NULL), SIGEO_OK);
    uint64_t write_allocs = fail_every_allocation(op_write, &c, check_written, false);
    ck_assert_uint_ge(write_allocs, 3);
    free(img);
    remove_tmp_dir();
}
END_TEST

/* ------------------------------------------------------- fuzz corpus */

START_TEST(fuzz_corpus_replays_cleanly)
{
    if (!corpus_dir)
        return;
    DIR *d = opendir(corpus_dir);
    ck_assert_msg(d != NULL, "cannot open corpus %s", corpus_dir);
    struct dirent *e;
    int valid = 0, invalid = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", corpus_dir, e->d_name);
        size_t size;
        uint8_t *bytes = slurp(p, &size);
        uint8_t *exact = copy_exact(bytes, size);
        free(bytes);
        sigeo__st_file_t f;
        sigeo_status_t st = sigeo__st_parse(&f, exact, size, e->d_name, NULL);
        if (strncmp(e->d_name, "valid-", 6) == 0) {
            ck_assert_msg(st == SIGEO_OK, "%s: %s", e->d_name, sigeo_last_error());
            valid++;
        } else if (strncmp(e->d_name, "invalid-", 8) == 0) {
            ck_assert_msg(st == SIGEO_ERR_FORMAT, "%s: status %d", e->d_name, (int)st);
            invalid++;
        } else {
            ck_assert(st == SIGEO_OK || st == SIGEO_ERR_FORMAT);
        }
        if (st == SIGEO_OK) {
            check_accepted(&f);
            sigeo__st_free(&f);
        }
        ck_assert_uint_eq(blocks_in_use(), 0);
        free(exact);
    }
    closedir(d);
    ck_assert_int_gt(valid, 0);
    ck_assert_int_gt(invalid, 0);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, round_trip_is_bit_exact);
    tcase_add_test(tc, writer_packs_tensors_in_order_and_pads_header_to_8);
    tcase_add_test(tc, writer_output_matches_the_format_byte_for_byte);
    tcase_add_test(tc, reads_a_file_assembled_by_hand);
    tcase_add_test(tc, reads_escapes_whitespace_and_any_key_order);
    tcase_add_test(tc, names_with_escapes_round_trip);
    tcase_add_test(tc, find_locates_every_tensor_among_many);
    tcase_add_test(tc, writer_refuses_invalid_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_loop_test(tc, rejects_each_malformed_header_with_a_precise_message, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, rejects_files_shorter_than_the_length_field);
    tcase_add_test(tc, rejects_header_lengths_over_the_cap_or_the_file);
    tcase_add_test(tc, every_truncation_of_a_valid_file_fails_cleanly);
    tcase_add_test(tc, single_byte_corruptions_are_accepted_consistently_or_rejected);
    tcase_add_test(tc, fuzz_corpus_replays_cleanly);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, file_write_and_read_give_the_memory_image);
    tcase_add_test(tc, read_reports_missing_files_directories_and_bad_content);
    tcase_add_loop_test(tc, failed_write_keeps_the_old_file_and_leaves_no_temporary, 0,
                        (int)(sizeof write_failures / sizeof write_failures[0]));
    tcase_add_test(tc, short_reads_and_writes_that_progress_are_completed);
    tcase_add_test(tc, read_errors_are_io_errors_with_the_system_text);
    tcase_add_test(tc, write_replaces_a_stale_temporary_and_never_follows_a_symlink);
    tcase_add_test(tc, write_into_a_missing_directory_fails_and_creates_nothing);
    tcase_add_test(tc, allocation_failures_give_no_memory_and_leak_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    corpus_dir = argc > 1 ? argv[1] : NULL;
    SRunner *sr = srunner_create(safetensors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
