/* libFuzzer target for the architecture text form (lib/nn/arch_text.c):
 * sigeo_arch_parse and sigeo_arch_format, public API only.
 *
 * Built by tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/arch by the plain
 * test `replay-arch` (tests/fuzz/replay.c, any C compiler).
 *
 * The input is used twice:
 *  1. As text (bytes up to the first NUL): sigeo_arch_parse must return
 *     OK, FORMAT or SHAPE (never anything else, never touch memory past the
 *     NUL or past `capacity` entries). A failure explains itself. An
 *     accepted text must print back through sigeo_arch_format to exactly
 *     the same bytes; the length of the two-call pattern (buf NULL, size 0)
 *     must equal strlen(text); a buffer one byte short must give SHAPE with
 *     a NUL-terminated prefix of the text; parsing again with capacity n
 *     gives the same entries and with capacity n - 1 gives SHAPE.
 *  2. As int32 entries (the input's bytes, little-endian, 4 per entry):
 *     sigeo_arch_format must refuse a negative entry with INVALID_ARG and
 *     otherwise produce text that parses back to the very same entries.
 * Violations trap. Nothing may stay allocated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/model.h"
#include "sigeo/search.h" /* sigeo_arch_hash */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated property names itself on stderr, then traps (a crash for
 * libFuzzer, a failed test for the replay). */
#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);                              \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

/* A text of L bytes holds at most (L + 1) / 2 entries ("0,0,0"). */
static void check_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    REQUIRE(text);
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);

    int32_t cap = (int32_t)((len + 1) / 2 + 1);
    /* Exact-size arrays: writing one entry past `capacity` is an overflow. */
    int32_t *arch = malloc((size_t)cap * sizeof *arch);
    REQUIRE(arch);
    int32_t n = -7;
    sigeo_status_t st = sigeo_arch_parse(arch, cap, &n, text);
    REQUIRE(st == SIGEO_OK || st == SIGEO_ERR_FORMAT || st == SIGEO_ERR_SHAPE);
    if (st != SIGEO_OK) {
        REQUIRE(st != SIGEO_ERR_SHAPE); /* cap is always enough for a valid text */
        REQUIRE(sigeo_last_error()[0] != '\0');
    } else {
        REQUIRE(n >= 0 && n <= cap);
        REQUIRE((n == 0) == (len == 0));
        for (int32_t i = 0; i < n; i++)
            REQUIRE(arch[i] >= 0);

        size_t need = (size_t)-1;
        REQUIRE(sigeo_arch_format(NULL, 0, &need, arch, n) == SIGEO_OK);
        REQUIRE(need == len);
        char *back = malloc(need + 1);
        REQUIRE(back);
        size_t got = (size_t)-1;
        REQUIRE(sigeo_arch_format(back, need + 1, &got, arch, n) == SIGEO_OK);
        REQUIRE(got == need && memcmp(back, text, need + 1) == 0);
        if (need > 0) {
            /* One byte short: SHAPE, and the buffer holds a NUL-terminated
             * prefix of the text (snprintf's contract), nothing stale (the
             * buffer is prefilled with 'x' to show stale bytes). */
            memset(back, 'x', need + 1);
            REQUIRE(sigeo_arch_format(back, need, &got, arch, n) == SIGEO_ERR_SHAPE);
            REQUIRE(got == need && memchr(back, '\0', need) != NULL);
            size_t k = strlen(back);
            REQUIRE(k < need && memcmp(back, text, k) == 0);
        }
        free(back);

        int32_t *again = malloc((size_t)(n > 0 ? n : 1) * sizeof *again);
        REQUIRE(again);
        int32_t n2 = -1;
        REQUIRE(sigeo_arch_parse(n > 0 ? again : NULL, n, &n2, text) == SIGEO_OK);
        REQUIRE(n2 == n && (n == 0 || memcmp(again, arch, (size_t)n * sizeof *arch) == 0));
        if (n > 0)
            REQUIRE(sigeo_arch_parse(n > 1 ? again : NULL, n - 1, &n2, text) == SIGEO_ERR_SHAPE);
        free(again);
    }
    free(arch);
    free(text);
}

static void check_entries(const uint8_t *data, size_t size)
{
    int32_t n = (int32_t)(size / 4);
    int32_t *arch = malloc((size_t)(n > 0 ? n : 1) * sizeof *arch);
    REQUIRE(arch);
    int negative = 0;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *b = data + 4 * (size_t)i;
        arch[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        negative |= arch[i] < 0;
    }
    size_t need = 0;
    sigeo_status_t st = sigeo_arch_format(NULL, 0, &need, arch, n);
    if (negative) {
        REQUIRE(st == SIGEO_ERR_INVALID_ARG && sigeo_last_error()[0] != '\0');
    } else {
        REQUIRE(st == SIGEO_OK);
        char *text = malloc(need + 1);
        REQUIRE(text);
        REQUIRE(sigeo_arch_format(text, need + 1, NULL, arch, n) == SIGEO_OK);
        REQUIRE(strlen(text) == need);
        int32_t *back = malloc((size_t)(n > 0 ? n : 1) * sizeof *back);
        REQUIRE(back);
        int32_t n2 = -1;
        REQUIRE(sigeo_arch_parse(back, n, &n2, text) == SIGEO_OK);
        REQUIRE(n2 == n && (n == 0 || memcmp(back, arch, (size_t)n * sizeof *arch) == 0));
        REQUIRE(sigeo_arch_hash(arch, n) == sigeo_arch_hash(back, n2));
        free(back);
        free(text);
    }
    free(arch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_text(data, size);
    check_entries(data, size);
    uint64_t blocks = 1;
    sigeo_memory_in_use(NULL, &blocks);
    REQUIRE(blocks == 0);
    return 0;
}
