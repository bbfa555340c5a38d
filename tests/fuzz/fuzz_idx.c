/* libFuzzer target for the IDX reader (sigeo_idx_load). Built by
 * tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/idx by the plain
 * test `replay-idx`. Seeds: gen_idx_corpus.c.
 * Input layout: byte 0 = flags (bit 0: also read a labels file, bit 1:
 * gzip the files, bits 2..7: max_rows), bytes 1-2 = length of the images
 * part (big-endian), then the images bytes, then the labels bytes. The
 * reader must return a status for every input, never crash, never hold
 * memory after the dataset is destroyed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "sigeo/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char images_path[64], labels_path[64];

static void write_part(const char *path, const uint8_t *p, size_t n, int gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb1");
        if (!gz)
            abort();
        if (n > 0 && gzwrite(gz, p, (unsigned)n) != (int)n)
            abort();
        gzclose(gz);
        return;
    }
    FILE *fp = fopen(path, "wb");
    if (!fp)
        abort();
    if (n > 0 && fwrite(p, 1, n, fp) != n)
        abort();
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    if (!images_path[0]) {
        snprintf(images_path, sizeof images_path, "/tmp/sigeo_fuzz_idx_%d_img", (int)getpid());
        snprintf(labels_path, sizeof labels_path, "/tmp/sigeo_fuzz_idx_%d_lab", (int)getpid());
    }
    int flags = data[0];
    size_t split = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (split > size)
        split = size;
    write_part(images_path, data, split, flags & 2);
    write_part(labels_path, data + split, size - split, flags & 2);

    sigeo_dataset_t *ds = NULL;
    sigeo_status_t st = sigeo_idx_load(&ds, images_path, (flags & 1) ? labels_path : NULL, flags >> 2, 10);
    if (st == SIGEO_OK) {
        sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
        if (sigeo_dataset_get_info(&info, ds) != SIGEO_OK || info.n_rows < 0 || info.n_classes > 10)
            abort();
        if (info.n_rows > 0) {
            sigeo_batch_t b = SIGEO_BATCH_INIT;
            if (sigeo_dataset_batch(&b, ds, 0, 4, SIGEO_BATCH_KEEP_LAST) != SIGEO_OK)
                abort();
            for (int64_t i = 0; i < b.batch_size * b.n_dense; i++)
                if (!(b.dense[i] >= 0.0f && b.dense[i] <= 1.0f))
                    abort();
        }
    } else if (ds != NULL || sigeo_last_error()[0] == '\0') {
        abort(); /* a failure sets *out = NULL and explains itself */
    }
    sigeo_dataset_destroy(ds);
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    if (blocks != 0)
        abort();
    return 0;
}
