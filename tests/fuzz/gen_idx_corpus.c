/* Writes the seed corpus for fuzz_idx into a directory:
 *   cc -std=c11 -o gen tests/fuzz/gen_idx_corpus.c
 *   ./gen tests/fuzz/corpus/idx
 * (tests/fuzz/meson.build builds it and the test `seeds-idx` checks that
 * the committed corpus holds exactly these bytes.)
 *
 * Input layout of fuzz_idx: byte 0 = flags (bit 0: also read the labels
 * part, bit 1: gzip both files, bits 2..7: max_rows), bytes 1-2 = length of
 * the images part (big-endian), the images file, the labels file. Every
 * IDX file is assembled byte by byte here. Names say what the reader must
 * do: valid-* load, invalid-* are refused (the target accepts both; the
 * names document the intent). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *out_dir;
static int failures;

typedef struct buf {
    uint8_t b[4096];
    size_t n;
} buf_t;

static void put8(buf_t *x, unsigned v)
{
    if (x->n < sizeof x->b)
        x->b[x->n++] = (uint8_t)v;
}

static void put32(buf_t *x, uint32_t v)
{
    for (int k = 3; k >= 0; k--)
        put8(x, (v >> (8 * k)) & 0xff);
}

/* An images file: magic, count, rows, cols, then count*rows*cols pixels
 * (a pattern), of which `drop` are left out (truncation) and `extra` added. */
static buf_t images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols, size_t drop, size_t extra)
{
    buf_t x = { { 0 }, 0 };
    put32(&x, magic);
    put32(&x, count);
    put32(&x, rows);
    put32(&x, cols);
    size_t n = (size_t)count * rows * cols;
    n = n > drop ? n - drop : 0;
    for (size_t i = 0; i < n + extra && i < 2048; i++)
        put8(&x, (unsigned)(i * 29 + 7) & 0xff);
    return x;
}

static buf_t labels(uint32_t magic, uint32_t count, unsigned first_label)
{
    buf_t x = { { 0 }, 0 };
    put32(&x, magic);
    put32(&x, count);
    for (uint32_t i = 0; i < count; i++)
        put8(&x, i == 0 ? first_label : i % 10);
    return x;
}

static void seed(const char *name, unsigned flags, const buf_t *img, const buf_t *lab)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        failures++;
        return;
    }
    uint8_t head[3] = { (uint8_t)flags, (uint8_t)(img->n >> 8), (uint8_t)img->n };
    fwrite(head, 1, 3, f);
    fwrite(img->b, 1, img->n, f);
    if (lab)
        fwrite(lab->b, 1, lab->n, f);
    if (fclose(f) != 0) {
        perror(path);
        failures++;
    }
}

#define IMAGES 0x00000803u
#define LABELS 0x00000801u

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];

    buf_t img = images(IMAGES, 3, 4, 4, 0, 0), lab = labels(LABELS, 3, 1);
    seed("valid-images-only", 0, &img, NULL);
    seed("valid-with-labels", 1, &img, &lab);
    seed("valid-gzip-with-labels", 3, &img, &lab);
    seed("valid-max-rows-2", 1 | (2u << 2), &img, &lab);
    buf_t empty = images(IMAGES, 0, 28, 28, 0, 0), empty_lab = labels(LABELS, 0, 0);
    seed("valid-zero-images", 1, &empty, &empty_lab);
    buf_t one_px = images(IMAGES, 5, 1, 1, 0, 0), lab5 = labels(LABELS, 5, 9);
    seed("valid-one-pixel", 1, &one_px, &lab5);

    buf_t bad_magic = images(0x00000802u, 3, 4, 4, 0, 0);
    seed("invalid-magic", 0, &bad_magic, NULL);
    buf_t labels_as_images = labels(LABELS, 3, 1);
    seed("invalid-labels-as-images", 0, &labels_as_images, NULL);
    buf_t truncated = images(IMAGES, 3, 4, 4, 5, 0);
    seed("invalid-truncated-pixels", 0, &truncated, NULL);
    seed("invalid-truncated-pixels-gzip", 2, &truncated, NULL);
    buf_t trailing = images(IMAGES, 3, 4, 4, 0, 3);
    seed("invalid-trailing-bytes", 0, &trailing, NULL);
    buf_t zero_size = images(IMAGES, 3, 0, 4, 0, 0);
    seed("invalid-zero-image-size", 0, &zero_size, NULL);
    buf_t huge = images(IMAGES, 0xffffffffu, 0xffffffu, 0xffffffu, 0xffffffffu, 16);
    seed("invalid-dims-overflow", 0, &huge, NULL);
    buf_t lying = images(IMAGES, 1000000u, 28, 28, 0, 0);
    seed("invalid-count-beyond-file", 0, &lying, NULL);
    buf_t bad_label = labels(LABELS, 3, 10);
    seed("invalid-label-out-of-range", 1, &img, &bad_label);
    buf_t few_labels = labels(LABELS, 2, 1);
    seed("invalid-count-mismatch", 1, &img, &few_labels);
    buf_t short_header = { { 0x00, 0x00, 0x08, 0x03, 0x00 }, 5 };
    seed("invalid-short-header", 0, &short_header, NULL);
    return failures ? 1 : 0;
}
