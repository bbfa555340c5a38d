/* Writes the seed corpus for fuzz_safetensors into a directory (the test
 * `seeds-safetensors` checks the committed corpus holds exactly these):
 *   cc -std=c11 -o gen tests/fuzz/gen_safetensors_corpus.c
 *   ./gen tests/fuzz/corpus/safetensors
 *
 * Every seed is assembled byte by byte here (no libsigeo code), so the
 * corpus doubles as a second, independent writer. Names say what the reader
 * must do: valid-* parse, invalid-* are refused (test_safetensors replays
 * the directory and checks exactly that). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *out_dir;
static int failures;

/* 8-byte little-endian length, the JSON, then `data_len` data bytes taken
 * from `data` (or a counting pattern when data is NULL). `len_override`,
 * when non-zero, replaces the length field (for lying headers). */
static void seed(const char *name, const char *json, const uint8_t *data, size_t data_len, uint64_t len_override)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        failures++;
        return;
    }
    size_t hlen = strlen(json);
    uint64_t len = len_override ? len_override : hlen;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(len >> (8 * i));
    fwrite(prefix, 1, 8, f);
    fwrite(json, 1, hlen, f);
    for (size_t i = 0; i < data_len; i++)
        fputc(data ? data[i] : (int)(i * 37 + 11) & 0xff, f);
    if (fclose(f) != 0) {
        perror(path);
        failures++;
    }
}

static void raw(const char *name, const uint8_t *bytes, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        failures++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];

    /* ------------------------------------------------------------ valid */
    seed("valid-empty", "{}      ", NULL, 0, 0);
    seed("valid-empty-unpadded", "{}", NULL, 0, 0);
    static const uint8_t two_floats[8] = { 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0 };
    seed("valid-one-f32", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ", two_floats, 8, 0);
    seed("valid-metadata-torch",
         "{\"__metadata__\":{\"format\":\"pt\"},"
         "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
         "\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
         NULL, 36, 0);
    seed("valid-all-dtypes",
         "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
         "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[2,3]},"
         "\"e5\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[3,4]},"
         "\"e4\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[4,5]},"
         "\"pad\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[5,8]},"
         "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[8,10]},"
         "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[10,12]},"
         "\"f16\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[12,14]},"
         "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[14,16]},"
         "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[16,20]},"
         "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[20,24]},"
         "\"f32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]},"
         "\"pad2\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[28,32]},"
         "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[32,40]},"
         "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]},"
         "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[48,56]}}",
         NULL, 56, 0);
    seed("valid-scalar-and-empty",
         "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
         "\"z\":{\"dtype\":\"I64\",\"shape\":[3,0,2],\"data_offsets\":[8,8]},"
         "\"d8\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[8,10]}}",
         NULL, 10, 0);
    seed("valid-escaped-names",
         "{\"a\\/b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"\\u00e9\\ud83d\\ude00\\\"\\\\\\b\\f\\n\\r\\t\\u0001\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
         "\"caf\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
         "\"__metadata__\":{\"k\\u0077y\":\"v\\u00e9\",\"\":\"\"}}",
         NULL, 3, 0);
    seed("valid-unordered-whitespace",
         "{\r\n \"late\" : { \"data_offsets\" : [ 4 , 12 ] , \"shape\" : [ 2 ] , \"dtype\" : \"F32\" } ,\n"
         "\t\"early\":{\"shape\":[4],\"dtype\":\"U8\",\"data_offsets\":[0,4]}}        ",
         NULL, 12, 0);

    /* ---------------------------------------------------------- invalid */
    raw("invalid-short", (const uint8_t *)"\x02\0\0\0", 4);
    seed("invalid-length-over-file", "{}", NULL, 0, 3);
    seed("invalid-length-over-cap", "{}", NULL, 0, 100000001ull);
    seed("invalid-not-object", "[]", NULL, 0, 0);
    seed("invalid-bad-utf8", "{\"\xc0\xaf\":1}", NULL, 0, 0);
    seed("invalid-duplicate-name",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         NULL, 8, 0);
    seed("invalid-overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         NULL, 8, 0);
    seed("invalid-gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         NULL, 12, 0);
    seed("invalid-trailing-data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 5, 0);
    seed("invalid-truncated-data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", NULL, 7, 0);
    seed("invalid-nested", "{\"a\":{\"dtype\":\"F32\",\"shape\":[[[[1]]]],\"data_offsets\":[0,4]}}", NULL, 4, 0);
    seed("invalid-float-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", NULL, 4, 0);
    seed("invalid-dims-overflow",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", NULL, 0, 0);
    seed("invalid-unknown-dtype", "{\"a\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,1]}}", NULL, 1, 0);
    seed("invalid-trailing-garbage", "{}  x", NULL, 0, 0);
    seed("invalid-lone-surrogate", "{\"\\ud800\":1}", NULL, 0, 0);
    seed("invalid-metadata-number", "{\"__metadata__\":{\"k\":1}}", NULL, 0, 0);
    return failures ? 1 : 0;
}
