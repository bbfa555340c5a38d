/* Writes the seed corpus for fuzz_arch into a directory:
 *   cc -std=c11 -o gen tests/fuzz/gen_arch_corpus.c
 *   ./gen tests/fuzz/corpus/arch
 * (tests/fuzz/meson.build builds it and the test `seeds-arch` checks that
 * the committed corpus holds exactly these bytes.)
 *
 * fuzz_arch reads each input twice: as text up to the first NUL, and as
 * little-endian int32 entries. Names say what the text parser must do:
 * valid-* parse, invalid-* are refused; bin-* seed the entry mode. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *out_dir;
static int failures;

static void raw(const char *name, const void *bytes, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(bytes, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        failures++;
    }
}

static void text(const char *name, const char *s)
{
    raw(name, s, strlen(s));
}

static void entries(const char *name, const int32_t *v, size_t n)
{
    uint8_t b[64];
    for (size_t i = 0; i < n && 4 * i + 3 < sizeof b; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + (size_t)k] = (uint8_t)((uint32_t)v[i] >> (8 * k));
    raw(name, b, 4 * n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];

    text("valid-empty", "");
    text("valid-zero", "0");
    text("valid-three", "3,0,1");
    text("valid-nasrec-like", "1,0,1,1,0,0,2,3,1,0,1,0,0,1,1,2,0,4,1,0");
    text("valid-int32-max", "2147483647,0,2147483647");
    text("valid-multi-digit", "10,200,3000,40000");
    raw("valid-then-nul", "1,2\0garbage", 11);

    text("invalid-int32-max-plus-one", "2147483648");
    text("invalid-huge", "99999999999999999999");
    text("invalid-leading-zero", "01");
    text("invalid-trailing-comma", "1,");
    text("invalid-leading-comma", ",1");
    text("invalid-double-comma", "1,,2");
    text("invalid-space", "1, 2");
    text("invalid-sign", "+1");
    text("invalid-negative", "-1");
    text("invalid-letter", "1,a");
    text("invalid-newline", "1\n");
    text("invalid-zero-zero", "00");

    static const int32_t small[4] = { 3, 0, 1, 7 };
    static const int32_t big[2] = { 2147483647, 1000000 };
    static const int32_t negative[3] = { 1, -1, 2 };
    entries("bin-small", small, 4);
    entries("bin-big", big, 2);
    entries("bin-negative", negative, 3);
    return failures ? 1 : 0;
}
