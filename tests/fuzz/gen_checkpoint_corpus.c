/* Writes the seed corpus for fuzz_checkpoint into a directory:
 *   cc -std=c11 -o gen tests/fuzz/gen_checkpoint_corpus.c
 *   ./gen tests/fuzz/corpus/checkpoint
 * (tests/fuzz/meson.build builds it and the test `seeds-checkpoint` checks
 * that the committed corpus holds exactly these bytes.)
 *
 * Input layout of fuzz_checkpoint: byte 0 = sigeo_model_load flags (bit 0
 * ALLOW_EXTRA, bit 1 ALLOW_MISSING), then a safetensors file for its model
 * (fc.weight [3,4], fc.bias [3], bn.weight/bias [3], out.weight [1,3],
 * out.bias [1]; buffers bn.running_mean/var [3], bn.num_batches_tracked I64
 * scalar). Files are assembled byte by byte here (no libsigeo code). Names
 * say what sigeo_model_load must do: valid-* load, invalid-* are refused. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *out_dir;
static int failures;

typedef struct tensor {
    const char *name;
    const char *dtype; /* F32, F64, I64, I32 */
    int ndim;
    int64_t dims[2];
    double fill;       /* element j = fill + j / 8 (NAN/INFINITY allowed) */
} tensor_t;

static const tensor_t model_tensors[] = {
    { "fc.weight", "F32", 2, { 3, 4 }, -0.5 },  { "fc.bias", "F32", 1, { 3, 0 }, 0.125 },
    { "bn.weight", "F32", 1, { 3, 0 }, 1.0 },   { "bn.bias", "F32", 1, { 3, 0 }, 0.0 },
    { "out.weight", "F32", 2, { 1, 3 }, 0.25 }, { "out.bias", "F32", 1, { 1, 0 }, -0.25 },
    { "bn.running_mean", "F32", 1, { 3, 0 }, 0.5 }, { "bn.running_var", "F32", 1, { 3, 0 }, 2.0 },
    { "bn.num_batches_tracked", "I64", 0, { 0, 0 }, 7.0 },
};
#define N_MODEL ((int)(sizeof model_tensors / sizeof model_tensors[0]))

static size_t dtype_size(const char *d)
{
    return !strcmp(d, "F64") || !strcmp(d, "I64") ? 8 : 4;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static void seed(const char *name, unsigned flags, const tensor_t *t, int n)
{
    static char json[8192];
    static uint8_t data[8192];
    size_t jn = 0, dn = 0;
    jn += (size_t)snprintf(json + jn, sizeof json - jn, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        char shape[64] = "";
        for (int d = 0; d < t[i].ndim; d++) {
            numel *= t[i].dims[d];
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? ",%lld" : "%lld",
                     (long long)t[i].dims[d]);
        }
        size_t es = dtype_size(t[i].dtype), begin = dn;
        for (int64_t j = 0; j < numel && dn + es <= sizeof data; j++, dn += es) {
            double v = t[i].fill + (double)j / 8.0;
            if (!strcmp(t[i].dtype, "F32")) {
                float f = (float)v;
                uint32_t u;
                memcpy(&u, &f, 4);
                put_le(data + dn, u, 4);
            } else if (!strcmp(t[i].dtype, "F64")) {
                uint64_t u;
                memcpy(&u, &v, 8);
                put_le(data + dn, u, 8);
            } else {
                put_le(data + dn, (uint64_t)(int64_t)v, es);
            }
        }
        jn += (size_t)snprintf(json + jn, sizeof json - jn,
                               ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}", t[i].name,
                               t[i].dtype, shape, begin, dn);
    }
    jn += (size_t)snprintf(json + jn, sizeof json - jn, "}");
    while (jn % 8)
        json[jn++] = ' ';

    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    uint8_t head[9];
    head[0] = (uint8_t)flags;
    put_le(head + 1, jn, 8);
    if (!f || fwrite(head, 1, 9, f) != 9 || fwrite(json, 1, jn, f) != jn || (dn && fwrite(data, 1, dn, f) != dn) ||
        fclose(f) != 0) {
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
    tensor_t t[N_MODEL + 1];

    seed("valid-f32", 0, model_tensors, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[0].dtype = "F64";
    t[6].dtype = "F64";
    seed("valid-f64-mixed", 0, t, N_MODEL);
    seed("valid-params-only-allow-missing", 2, model_tensors, 6);
    seed("valid-nothing-allow-missing", 2, model_tensors, 0);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[N_MODEL] = (tensor_t){ "extra.weight", "F32", 1, { 2, 0 }, 3.0 };
    seed("valid-extra-allow-extra", 1, t, N_MODEL + 1);
    seed("invalid-extra", 0, t, N_MODEL + 1);
    seed("invalid-missing-buffers", 0, model_tensors, 6);
    seed("invalid-missing-params", 1, model_tensors + 1, N_MODEL - 1);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[0].dims[0] = 4;
    t[0].dims[1] = 3;
    seed("invalid-transposed-shape", 0, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[2].fill = NAN;
    seed("invalid-nan", 0, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[3].dtype = "F64";
    t[3].fill = 1e300; /* finite in double, not in float */
    seed("invalid-f64-overflows-float", 0, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[7].fill = INFINITY;
    seed("invalid-inf-buffer", 3, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[5].dtype = "I32";
    seed("invalid-i32-param", 0, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[8].dtype = "F32";
    seed("invalid-tracked-f32", 0, t, N_MODEL);
    memcpy(t, model_tensors, sizeof model_tensors);
    t[8].ndim = 1;
    t[8].dims[0] = 2;
    seed("invalid-tracked-two", 0, t, N_MODEL);
    return failures ? 1 : 0;
}
