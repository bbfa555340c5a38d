/* Modulo hashing of categorical values (docs/nasrec.md §1.2) and its helpers. */
#include <math.h>

#include "core/core.h"
#include "io/hash.h"
#include "sigeo/io.h"

const int64_t sigeo__criteo_kaggle_tables[26] = {
    1461, 584,   10131227, 2202609, 306, 25, 12518, 634,     4,  93146, 5684,   8351593, 3195,
    28,   14993, 5461307,  11,      5653, 2174, 5,  7046548, 19, 16,   286182, 106,     142573,
};

bool sigeo__hex_parse(uint64_t *out, const char *text, size_t length)
{
    if (length < 1 || length > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10u;
        else
            return false;
        v = (v << 4) | d;
    }
    *out = v;
    return true;
}

float sigeo__dense_transform(int64_t x)
{
    return x > 0 ? (float)log1p((double)x) : 0.0f;
}

uint32_t sigeo__mix32(uint32_t a, uint32_t b)
{
    /* Two rounds of a multiply-xorshift finaliser over the packed pair. */
    uint64_t z = ((uint64_t)a << 32 | b) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)(z ^ (z >> 32));
}

void sigeo__snippet(char *dst, size_t cap, const char *text, size_t length)
{
    size_t n = 0;
    bool cut = length > cap - 1;
    size_t keep = cut ? (cap > 4 ? cap - 4 : 0) : length;
    for (; n < keep; n++) {
        unsigned char c = (unsigned char)text[n];
        dst[n] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut)
        for (int k = 0; k < 3 && n < cap - 1; k++)
            dst[n++] = '.';
    dst[n] = '\0';
}

SIGEO_API sigeo_status_t sigeo_criteo_hash_id(int64_t *out, const char *text, size_t length, int64_t table_rows)
{
    if (!out || (!text && length > 0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_hash_id: %s is NULL", out ? "text" : "out");
    if (table_rows < 2 || table_rows > SIGEO__MAX_TABLE_ROWS)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_criteo_hash_id: table_rows %lld outside 2 .. 2^31",
                           (long long)table_rows);
    if (length == 0) {
        *out = 0;
        return SIGEO_OK;
    }
    uint64_t v;
    if (!sigeo__hex_parse(&v, text, length)) {
        char shown[32];
        sigeo__snippet(shown, sizeof shown, text, length);
        return sigeo__fail(SIGEO_ERR_FORMAT, "sigeo_criteo_hash_id: '%s' is not 1..16 hex digits", shown);
    }
    *out = sigeo__hash_row(v, table_rows);
    return SIGEO_OK;
}
