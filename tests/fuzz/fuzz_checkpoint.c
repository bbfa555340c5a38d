/* libFuzzer target for checkpoint loading (sigeo_model_load, lib/nn/checkpoint.c
 * on top of lib/io/safetensors.c): the file a host hands to a model.
 *
 * Built by tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/checkpoint by the
 * plain test `replay-checkpoint` (tests/fuzz/replay.c, any C compiler).
 *
 * One small model (built once): dense input x[4] -> linear fc(3) -> batch
 * norm bn (flat, BatchNorm1d) -> relu -> linear out(1), BCE loss. Its
 * checkpoint holds fc.weight [3,4], fc.bias [3], bn.weight [3], bn.bias [3],
 * out.weight [1,3], out.bias [1] and the buffers bn.running_mean [3],
 * bn.running_var [3], bn.num_batches_tracked (I64 scalar).
 *
 * Input: byte 0 = load flags (bits 0-1: SIGEO_LOAD_ALLOW_EXTRA,
 * SIGEO_LOAD_ALLOW_MISSING), the rest is the file. Checked:
 *  - the status is one sigeo_model_load documents for a file that exists
 *    (OK, FORMAT, SHAPE, INVALID_ARG, NONFINITE), and a failure explains
 *    itself in sigeo_last_error and the model's own last error; a buffer
 *    of the wrong dtype is INVALID_ARG (an unsupported dtype), not SHAPE;
 *  - on failure the model is unchanged: its re-saved checkpoint is byte for
 *    byte the one saved before the call;
 *  - on success every parameter and buffer the file has now holds the
 *    file's value (F32 bit for bit, F64 rounded to float), every one it
 *    lacks kept its value (only possible with ALLOW_MISSING), and the
 *    model still runs a forward pass; then the model is restored;
 *  - the library holds exactly the blocks it held before the call. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "sigeo/model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
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

static sigeo_context_t *ctx;
static sigeo_model_t *model;
static char input_path[96], snap_path[96], base_path[96];
static uint8_t *base_bytes; /* the checkpoint of the untouched model */
static size_t base_size;
static uint64_t base_blocks;

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    REQUIRE(n >= 0);
    rewind(f);
    uint8_t *p = malloc((size_t)n + 1);
    REQUIRE(p);
    REQUIRE(fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

static int32_t add(sigeo_layer_kind_t kind, const char *name, int32_t in, int64_t units, int32_t act)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.name = name;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = units;
    d.activation = act;
    int32_t node = -1;
    REQUIRE(sigeo_model_add_layer(&node, model, &d) == SIGEO_OK);
    return node;
}

static void build_model(void)
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.threads = 1;
    co.seed = 5;
    REQUIRE(sigeo_context_create(&ctx, &co) == SIGEO_OK);
    REQUIRE(sigeo_model_create(&model, ctx, "fuzz-checkpoint") == SIGEO_OK);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 4;
    int32_t x = -1;
    REQUIRE(sigeo_model_add_input(&x, model, &in) == SIGEO_OK);
    int32_t h = add(SIGEO_LAYER_LINEAR, "fc", x, 3, 0);
    h = add(SIGEO_LAYER_BATCH_NORM, "bn", h, 0, 0);
    h = add(SIGEO_LAYER_ACTIVATION, "act", h, 0, SIGEO_ACT_RELU);
    h = add(SIGEO_LAYER_LINEAR, "out", h, 1, 0);
    REQUIRE(sigeo_model_set_loss(model, h, SIGEO_LOSS_BCE_WITH_LOGITS) == SIGEO_OK);
    REQUIRE(sigeo_model_finalize(model) == SIGEO_OK);
}

static void forward_once(void)
{
    static const float xs[2 * 4] = { 0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f, 0.0f, 1.0f };
    static const float ys[2] = { 1.0f, 0.0f };
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    b.batch_size = 2;
    b.dense = xs;
    b.n_dense = 4;
    b.targets = ys;
    b.n_targets = 1;
    double loss = 0;
    /* Loaded values are finite but may be huge: the loss may be too; the
     * forward itself must not fail on anything but a non-finite loss. */
    sigeo_status_t st = sigeo_model_forward(&loss, model, &b);
    REQUIRE(st == SIGEO_OK || st == SIGEO_ERR_NONFINITE);
}

static void remove_files(void)
{
    remove(input_path);
    remove(snap_path);
    remove(base_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int pid = (int)getpid();
    /* sigeo_model_save fsyncs (atomic save): on tmpfs that costs nothing,
     * on a disk it would cap the harness at a few dozen inputs a second. */
    struct stat sb;
    const char *dir = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                       : "/tmp";
    snprintf(input_path, sizeof input_path, "%s/sigeo_fuzz_ckpt_%d_in", dir, pid);
    snprintf(snap_path, sizeof snap_path, "%s/sigeo_fuzz_ckpt_%d_snap", dir, pid);
    snprintf(base_path, sizeof base_path, "%s/sigeo_fuzz_ckpt_%d_base", dir, pid);
    atexit(remove_files);
    build_model();
    /* Buffers away from their defaults, so "kept" and "loaded" differ. */
    forward_once();
    REQUIRE(sigeo_model_save(model, base_path) == SIGEO_OK);
    base_bytes = slurp(base_path, &base_size);
    sigeo_memory_in_use(NULL, &base_blocks);
    return 0;
}

/* Element j of tensor t as the float the loader stores (F32 or F64). */
static uint32_t float_bits(const sigeo__st_tensor_t *t, uint64_t j)
{
    float f;
    if (t->dtype == SIGEO__ST_F64) {
        double d;
        memcpy(&d, t->data + j * 8, 8);
        f = (float)d;
    } else {
        memcpy(&f, t->data + j * 4, 4);
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* After a successful load: every tensor of the model's checkpoint holds the
 * input's value if the input has it, else the base value. */
static void check_loaded(const uint8_t *file, size_t file_size, uint32_t flags)
{
    sigeo__st_file_t in, now, base;
    REQUIRE(sigeo__st_parse(&in, file, file_size, "input", NULL) == SIGEO_OK);
    REQUIRE(sigeo_model_save(model, snap_path) == SIGEO_OK);
    size_t now_size = 0;
    uint8_t *now_bytes = slurp(snap_path, &now_size);
    remove(snap_path);
    REQUIRE(sigeo__st_parse(&now, now_bytes, now_size, "now", NULL) == SIGEO_OK);
    REQUIRE(sigeo__st_parse(&base, base_bytes, base_size, "base", NULL) == SIGEO_OK);
    REQUIRE(now.n_tensors == base.n_tensors);
    for (size_t i = 0; i < now.n_tensors; i++) {
        const sigeo__st_tensor_t *t = &now.tensors[i];
        const sigeo__st_tensor_t *src = sigeo__st_find(&in, t->name);
        if (!src) {
            REQUIRE(flags & SIGEO_LOAD_ALLOW_MISSING);
            src = sigeo__st_find(&base, t->name);
            REQUIRE(src && src->nbytes == t->nbytes && memcmp(src->data, t->data, t->nbytes) == 0);
            continue;
        }
        REQUIRE(src->numel == t->numel);
        if (t->dtype == SIGEO__ST_I64) {
            REQUIRE(src->dtype == SIGEO__ST_I64 && memcmp(src->data, t->data, 8) == 0);
            continue;
        }
        REQUIRE(t->dtype == SIGEO__ST_F32);
        REQUIRE(src->dtype == SIGEO__ST_F32 || src->dtype == SIGEO__ST_F64);
        for (uint64_t j = 0; j < t->numel; j++)
            REQUIRE(float_bits(src, j) == float_bits(t, j));
    }
    if (!(flags & SIGEO_LOAD_ALLOW_EXTRA))
        for (size_t i = 0; i < in.n_tensors; i++)
            REQUIRE(sigeo__st_find(&now, in.tensors[i].name) != NULL);
    sigeo__st_free(&in);
    sigeo__st_free(&now);
    sigeo__st_free(&base);
    free(now_bytes);
}

/* model.h: an unsupported dtype is SIGEO_ERR_INVALID_ARG, also for the
 * batch-norm buffer bn.num_batches_tracked (a SHAPE failure naming it must
 * not be a dtype problem; corpus/checkpoint/invalid-tracked-f32). */
static void check_dtype_status(const uint8_t *file, size_t file_size, sigeo_status_t st)
{
    if (st != SIGEO_ERR_SHAPE || !strstr(sigeo_last_error(), "'bn.num_batches_tracked'"))
        return;
    sigeo__st_file_t in;
    REQUIRE(sigeo__st_parse(&in, file, file_size, "input", NULL) == SIGEO_OK);
    const sigeo__st_tensor_t *t = sigeo__st_find(&in, "bn.num_batches_tracked");
    REQUIRE(t);
    const bool dtype_problem = t->dtype != SIGEO__ST_I64;
    sigeo__st_free(&in);
    REQUIRE(!dtype_problem); /* a dtype problem must be INVALID_ARG, not SHAPE */
}

static void check_unchanged(void)
{
    REQUIRE(sigeo_model_save(model, snap_path) == SIGEO_OK);
    size_t n = 0;
    uint8_t *now = slurp(snap_path, &n);
    remove(snap_path);
    REQUIRE(n == base_size && memcmp(now, base_bytes, n) == 0);
    free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model)
        LLVMFuzzerInitialize(NULL, NULL);
    if (size < 1)
        return 0;
    uint32_t flags = data[0] & 3u;
    data++;
    size--;
    FILE *f = fopen(input_path, "wb");
    REQUIRE(f);
    REQUIRE(size == 0 || fwrite(data, 1, size, f) == size);
    REQUIRE(fclose(f) == 0);

    sigeo_status_t st = sigeo_model_load(model, input_path, flags);
    remove(input_path); /* scratch files go at once: a trap skips atexit */
    REQUIRE(st == SIGEO_OK || st == SIGEO_ERR_FORMAT || st == SIGEO_ERR_SHAPE || st == SIGEO_ERR_INVALID_ARG ||
            st == SIGEO_ERR_NONFINITE);
    if (st != SIGEO_OK) {
        REQUIRE(sigeo_last_error()[0] != '\0');
        REQUIRE(strcmp(sigeo_model_last_error(model), sigeo_last_error()) == 0);
        check_unchanged();
        check_dtype_status(data, size, st);
    } else {
        check_loaded(data, size, flags);
        forward_once();
        /* Back to the base state for the next input. */
        REQUIRE(sigeo_model_load(model, base_path, 0) == SIGEO_OK);
        check_unchanged();
    }
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    REQUIRE(blocks == base_blocks);
    return 0;
}
