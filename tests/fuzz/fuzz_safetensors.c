/* libFuzzer target for the safetensors reader (lib/io/safetensors.c).
 *
 * Built by tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/safetensors by the
 * plain test `replay-safetensors` (and by tests/io/test_safetensors).
 * Seeds: gen_safetensors_corpus.c.
 *
 * Any input must give SIGEO_OK or SIGEO_ERR_FORMAT without touching memory
 * outside the input, and leak nothing. Accepted inputs must also be
 * consistent: every tensor lies in the data section and is found by name,
 * and writing the file back out gives a file the reader accepts with the
 * same content, whose own re-save is byte-identical. Violations trap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            __builtin_trap();                                                                                          \
    } while (0)

static uint8_t *resave(const sigeo__st_file_t *f, size_t *size)
{
    size_t nt = f->n_tensors ? f->n_tensors : 1, nm = f->n_meta ? f->n_meta : 1;
    sigeo__st_tensor_in_t *in = calloc(nt, sizeof *in);
    const char **keys = calloc(nm, sizeof *keys), **values = calloc(nm, sizeof *values);
    REQUIRE(in && keys && values);
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sigeo__st_tensor_t *t = &f->tensors[i];
        in[i] = (sigeo__st_tensor_in_t){ t->name, t->dtype, t->ndim, t->dims, t->data };
    }
    for (size_t i = 0; i < f->n_meta; i++) {
        keys[i] = f->meta[i].key;
        values[i] = f->meta[i].value;
    }
    uint8_t *out = NULL;
    sigeo_status_t st = sigeo__st_write_mem(&out, size, in, f->n_tensors, (const char *const *)keys,
                                            (const char *const *)values, f->n_meta, NULL);
    REQUIRE(st == SIGEO_OK);
    free(in);
    free(keys);
    free(values);
    return out;
}

static void check_same(const sigeo__st_file_t *a, const sigeo__st_file_t *b)
{
    REQUIRE(a->n_tensors == b->n_tensors && a->n_meta == b->n_meta);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const sigeo__st_tensor_t *x = &a->tensors[i], *y = &b->tensors[i];
        REQUIRE(strcmp(x->name, y->name) == 0);
        REQUIRE(x->dtype == y->dtype && x->ndim == y->ndim && x->numel == y->numel && x->nbytes == y->nbytes);
        REQUIRE(memcmp(x->dims, y->dims, sizeof x->dims) == 0);
        REQUIRE(x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0);
    }
    for (size_t i = 0; i < a->n_meta; i++)
        REQUIRE(strcmp(a->meta[i].key, b->meta[i].key) == 0 && strcmp(a->meta[i].value, b->meta[i].value) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading one byte past the input is an overflow
     * even when libFuzzer's buffer happens to be larger. */
    uint8_t *copy = malloc(size ? size : 1);
    REQUIRE(copy);
    if (size)
        memcpy(copy, data, size);

    sigeo__st_file_t f;
    sigeo_status_t st = sigeo__st_parse(&f, copy, size, "fuzz", NULL);
    REQUIRE(st == SIGEO_OK || st == SIGEO_ERR_FORMAT);
    if (st == SIGEO_OK) {
        for (size_t i = 0; i < f.n_tensors; i++) {
            const sigeo__st_tensor_t *t = &f.tensors[i];
            REQUIRE(t->name[0] != '\0' && t->ndim <= SIGEO__ST_MAX_DIMS);
            REQUIRE(t->begin <= t->end && t->end <= f.data_size && t->end - t->begin == t->nbytes);
            REQUIRE(t->data == f.data + t->begin);
            REQUIRE(sigeo__st_find(&f, t->name) == t);
        }
        size_t size1 = 0, size2 = 0;
        uint8_t *once = resave(&f, &size1);
        sigeo__st_file_t g;
        REQUIRE(sigeo__st_parse(&g, once, size1, "resaved", NULL) == SIGEO_OK);
        check_same(&f, &g);
        uint8_t *twice = resave(&g, &size2);
        REQUIRE(size1 == size2 && memcmp(once, twice, size1) == 0);
        sigeo__st_free(&g);
        sigeo__free(once);
        sigeo__free(twice);
        sigeo__st_free(&f);
    }
    uint64_t blocks = 1;
    sigeo_memory_in_use(NULL, &blocks);
    REQUIRE(blocks == 0);
    free(copy);
    return 0;
}
