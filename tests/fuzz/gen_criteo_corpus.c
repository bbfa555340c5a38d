/* Writes the seed corpus for fuzz_criteo into a directory:
 *   cc -std=c11 -o gen tests/fuzz/gen_criteo_corpus.c
 *   ./gen tests/fuzz/corpus/criteo
 * (tests/fuzz/meson.build builds it and the test `seeds-criteo` checks that
 * the committed corpus holds exactly these bytes.)
 *
 * Input layout of fuzz_criteo: byte 0 = flags (bit 0: skip bad lines;
 * f >> 1: table size 2 + f/2 and max line bytes 64 + 8 (f/2); f >> 4:
 * chunk rows 1 + f/16), then the TSV bytes. Lines are assembled here from
 * their 40 fields; a full line is about 300 bytes, so seeds meant to parse
 * use f >= 0x4a. Names say what strict mode does: valid-* load, invalid-*
 * fail with FORMAT, skip-* (skip mode) drop their bad lines. */
#include <stdio.h>
#include <string.h>

static const char *out_dir;
static int failures;

static char text[8192];

/* Appends one line: label, 13 integers, 26 hex values; `missing` blanks
 * every k-th field (0 = none); `eol` is the line ending. */
static void line(const char *label, int seed, int missing, const char *eol)
{
    size_t n = strlen(text);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", label);
    for (int j = 0; j < 13; j++) {
        int blank = missing && (j + seed) % missing == 0;
        if (blank)
            n += (size_t)snprintf(text + n, sizeof text - n, "\t");
        else
            n += (size_t)snprintf(text + n, sizeof text - n, "\t%d", (j * 37 + seed * 11) % 500 - (j == 1 ? 3 : 0));
    }
    for (int f = 0; f < 26; f++) {
        int blank = missing && (f + 13 + seed) % missing == 0;
        if (blank)
            n += (size_t)snprintf(text + n, sizeof text - n, "\t");
        else
            n += (size_t)snprintf(text + n, sizeof text - n, "\t%08x", (unsigned)(f * 2654435761u + (unsigned)seed));
    }
    snprintf(text + n, sizeof text - n, "%s", eol);
}

static void seed(const char *name, unsigned flags)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    size_t n = strlen(text);
    if (!f || fputc((int)flags, f) == EOF || (n && fwrite(text, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        failures++;
    }
    text[0] = '\0';
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];

    line("1", 1, 0, "\n");
    seed("valid-one-line", 0xa0);
    line("0", 2, 0, "\n");
    line("1", 3, 5, "\n");
    line("0", 4, 3, "\r\n");
    line("1", 17, 7, "\n");
    line("0", 18, 2, "\r\n");
    line("1", 5, 0, "");
    seed("valid-six-lines-two-chunks-crlf-no-final-newline", 0x4a);
    line("0", 6, 1, "\n");
    seed("valid-all-missing", 0x20);
    seed("valid-empty-file", 0x00);
    line("1", 7, 0, "\n");
    line("0", 8, 0, "\n");
    seed("valid-two-lines-largest-options", 0xfe);

    line("2", 9, 0, "\n");
    seed("invalid-label", 0xa0);
    line("1", 10, 0, "\n");
    strcat(text, "1\t2\t3\n");
    line("0", 11, 0, "\n");
    seed("skip-field-count", 0xa1);
    line("1", 12, 0, "\n");
    memcpy(strstr(text, "\t") + 1, "x1", 2);
    seed("invalid-integer", 0xa0);
    line("1", 13, 0, "\n");
    char *last_tab = strrchr(text, '\t');
    memcpy(last_tab + 1, "0123456789abcdef0", 17);
    strcpy(last_tab + 18, "\n");
    seed("invalid-hex-too-long", 0xa0);
    line("0", 14, 0, "\n");
    strcat(text, "\n");
    line("1", 15, 0, "\n");
    seed("skip-blank-line", 0xa1);
    line("1", 16, 0, "\n");
    seed("invalid-too-long-for-small-limit", 0x02);
    strcpy(text, "1\t-9223372036854775808\t9223372036854775807\t\t\t\t\t\t\t\t\t\t\t\tFFFFFFFFFFFFFFFF\t0\t"
                 "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n");
    seed("valid-extreme-values", 0x80);
    strcpy(text, "1\t9223372036854775808\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n");
    seed("invalid-integer-overflow", 0x00);
    return failures ? 1 : 0;
}
