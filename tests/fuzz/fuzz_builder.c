/* libFuzzer target for the model builder (lib/nn/model.c and every op's
 * configure / infer / forward): hostile descriptors decoded from the input
 * drive sigeo_model_add_input / add_choice / add_layer / set_loss /
 * finalize, then one forward-backward pass on a tiny batch. The sizes the
 * fuzzer picks come from a table of the values that broke the builder
 * before (2^62 + 1 rows, 2^33 x 2^31 weights, INT64_MAX features, shapes
 * whose product wraps; issue 11) or are raw 64-bit words.
 *
 * Built by tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/builder by the
 * plain test `replay-builder` (tests/fuzz/replay.c, any C compiler).
 *
 * Input: a stream of instructions, opcode = byte % 7 (reads past the end
 * give zeros):
 *   0 dense input   flags byte, features, [shape x3 if flags & 1]
 *                   (flags & 2: a name with control characters; flags & 4: reserved0 = 1)
 *   1 sparse input  field (signed byte)
 *   2 layer         size byte (< 16: struct_size = it), kind byte (>= 0xf0: a raw value),
 *                   n_inputs byte (% 4), one byte per input (-1 .. n_nodes),
 *                   flags byte, units, rows, activation, pooling, width_choice,
 *                   choice, input_choices flag (+ one byte each), kernel x2,
 *                   stride x2, padding x2, shape x3, offset, heads, reserved byte
 *   3 choice        n_options byte (% 6), values flag, [values]
 *   4 loss          node byte (% (n_nodes + 1)), kind byte (% 4)
 *   5 finalize      then rows byte, n_targets byte, one arch byte per choice;
 *                   activates that arch, runs forward_backward; ends the input
 *   6 end
 * A value is one byte v: v < 128 is v itself, 128 .. 128 + N - 1 the
 * table's entry v - 128, larger bytes are followed by 8 little-endian bytes.
 *
 * Checked (beyond no crash and no sanitizer report):
 *  - every status is one the builder documents (OK, INVALID_ARG, SHAPE,
 *    NO_MEMORY, UNSUPPORTED; NONFINITE for the forward) and every failure
 *    explains itself (a message without raw control characters);
 *  - a failed builder call changes nothing: the next node gets the next
 *    id, the parameter count is the one before;
 *  - a finalised model counts its parameters and FLOPs without wrapping
 *    (both >= 0), and each parameter's numel is the product of its dims
 *    (computed here with overflow checks) and at most SIGEO_MAX_ELEMENTS;
 *  - the library holds exactly the blocks it held before the input.
 * Allocations go through an allocator refusing blocks over 64 MiB and more
 * than 512 MiB in all, so a huge-but-valid model fails with NO_MEMORY
 * instead of paging the machine. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigeo/model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);                              \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

/* ------------------------------------------------------------- allocator */

#define BLOCK_CAP ((size_t)64 << 20)
#define TOTAL_CAP ((size_t)512 << 20)
static size_t live_bytes;

static void *cap_alloc(size_t size, size_t alignment, void *user)
{
    (void)user;
    const size_t align = alignment < 16 ? 16 : alignment;
    if (size > BLOCK_CAP || live_bytes + size > TOTAL_CAP)
        return NULL;
    void *raw = NULL;
    if (posix_memalign(&raw, align, size + align) != 0)
        return NULL;
    uint8_t *p = (uint8_t *)raw + align;
    memcpy(p - 16, &size, sizeof size);
    memcpy(p - 8, &align, sizeof align);
    live_bytes += size;
    return p;
}

static void cap_release(void *ptr, void *user)
{
    (void)user;
    uint8_t *p = ptr;
    size_t size, align;
    memcpy(&size, p - 16, sizeof size);
    memcpy(&align, p - 8, sizeof align);
    live_bytes -= size;
    free(p - align);
}

/* ---------------------------------------------------------------- decoding */

typedef struct reader {
    const uint8_t *p;
    size_t n, i;
} reader_t;

static uint8_t u8(reader_t *r)
{
    return r->i < r->n ? r->p[r->i++] : 0;
}

static const int64_t table[] = {
    -1, -2, INT64_MIN, INT64_MAX, INT64_MAX / 2, ((int64_t)1 << 31) - 1, (int64_t)1 << 31, (int64_t)1 << 32,
    (int64_t)1 << 33, (int64_t)1 << 40, ((int64_t)1 << 40) + 1, (int64_t)1 << 62, ((int64_t)1 << 62) + 1,
    (int64_t)1 << 20, (int64_t)1 << 21, 1000, 4096, 65536, (int64_t)1 << 30, (int64_t)1 << 29,
};
#define N_TABLE (sizeof table / sizeof table[0])

static int64_t value(reader_t *r)
{
    const uint8_t v = u8(r);
    if (v < 128)
        return v;
    if (v < 128 + N_TABLE)
        return table[v - 128];
    uint64_t x = 0;
    for (int k = 0; k < 8; k++)
        x |= (uint64_t)u8(r) << (8 * k);
    int64_t s;
    memcpy(&s, &x, sizeof s);
    return s;
}

/* ---------------------------------------------------------------- checks */

static void check_status(sigeo_status_t st, bool forward)
{
    REQUIRE(st == SIGEO_OK || st == SIGEO_ERR_INVALID_ARG || st == SIGEO_ERR_SHAPE || st == SIGEO_ERR_NO_MEMORY ||
            st == SIGEO_ERR_UNSUPPORTED || (forward && st == SIGEO_ERR_NONFINITE));
    if (st == SIGEO_OK)
        return;
    const char *msg = sigeo_last_error();
    REQUIRE(msg && msg[0]);
    for (const char *c = msg; *c; c++)
        REQUIRE((unsigned char)*c >= 0x20 && *c != 0x7f);
}

static sigeo_context_t *ctx;
static uint64_t base_blocks;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sigeo_allocator_t a = SIGEO_ALLOCATOR_INIT;
    a.alloc = cap_alloc;
    a.release = cap_release;
    REQUIRE(sigeo_set_allocator(&a) == SIGEO_OK);
    REQUIRE(sigeo_context_create(&ctx, NULL) == SIGEO_OK);
    sigeo_model_t *warm = NULL; /* the context makes its engine for the first model */
    REQUIRE(sigeo_model_create(&warm, ctx, "warm") == SIGEO_OK);
    sigeo_model_destroy(warm);
    sigeo_memory_in_use(NULL, &base_blocks);
    return 0;
}

typedef struct built {
    int32_t n_nodes, n_choices, n_params;
    int32_t options[64];   /* per choice */
    int64_t dense_features; /* first dense input's, 0 = none */
    int32_t max_field;      /* largest sparse field, -1 = none */
} built_t;

static int32_t pick(reader_t *r, int32_t n)
{
    return (int32_t)(u8(r) % (uint32_t)(n + 2)) - 1; /* -1 .. n */
}

static void run_batch(sigeo_model_t *m, reader_t *r, const built_t *b)
{
    int32_t arch[64];
    for (int32_t c = 0; c < b->n_choices; c++)
        arch[c] = (int32_t)(u8(r) % (uint32_t)b->options[c]);
    check_status(sigeo_model_activate(m, arch, b->n_choices), false);
    const int64_t rows = 1 + u8(r) % 3, n_targets = 1 + u8(r) % 4;
    if (b->dense_features > 256 || b->max_field > 7)
        return; /* the batch would not fit this harness's buffers */
    static float dense[3 * 256], targets[3 * 4];
    static int64_t ids[3 * 8], offsets[3 * 8 + 1];
    static int32_t labels[3];
    for (size_t k = 0; k < sizeof dense / sizeof *dense; k++)
        dense[k] = (float)((int)(k % 7) - 3) * 0.25f;
    const uint32_t fields = (uint32_t)(b->max_field + 1);
    for (uint32_t k = 0; k <= rows * fields; k++)
        offsets[k] = (int64_t)k;
    for (uint32_t k = 0; k < rows * fields; k++)
        ids[k] = u8(r) % 2;
    sigeo_batch_t batch = SIGEO_BATCH_INIT;
    batch.batch_size = rows;
    batch.dense = b->dense_features ? dense : NULL;
    batch.n_dense = b->dense_features;
    batch.n_sparse_fields = fields;
    batch.sparse_ids = fields ? ids : NULL;
    batch.sparse_offsets = fields ? offsets : NULL;
    batch.labels = labels;
    batch.targets = targets;
    batch.n_targets = n_targets;
    double loss = 0;
    sigeo_status_t st = sigeo_model_forward_backward(&loss, m, &batch);
    if (getenv("SIGEO_FUZZ_VERBOSE")) /* which seeds reach a working pass */
        fprintf(stderr, "forward_backward: %s, loss %g %s\n", sigeo_status_string(st), loss,
                st ? sigeo_last_error() : "");
    check_status(st, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        LLVMFuzzerInitialize(NULL, NULL);
    reader_t r = { data, size, 0 };
    sigeo_model_t *m = NULL;
    check_status(sigeo_model_create(&m, ctx, "fuzz"), false);
    if (!m)
        return 0;
    built_t b = { 0, 0, 0, { 0 }, 0, -1 };
    char name[32];
    for (int steps = 0; steps < 64 && r.i < r.n; steps++) {
        const uint8_t op = u8(&r) % 7;
        sigeo_status_t st = SIGEO_OK;
        int32_t id = -1;
        snprintf(name, sizeof name, "n%d", (int)b.n_nodes);
        if (op == 0) {
            sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
            const uint8_t f = u8(&r);
            d.name = f & 2 ? "bad\nname\x1b" : name;
            d.features = value(&r);
            if (f & 1)
                for (int k = 0; k < 3; k++)
                    d.shape[k] = value(&r);
            d.reserved0 = f & 4 ? 1u : 0u;
            st = sigeo_model_add_input(&id, m, &d);
            if (st == SIGEO_OK && !b.dense_features)
                b.dense_features = d.features;
        } else if (op == 1) {
            sigeo_input_desc_t d = SIGEO_INPUT_DESC_INIT;
            d.kind = SIGEO_INPUT_SPARSE;
            d.name = name;
            d.field = (int8_t)u8(&r);
            st = sigeo_model_add_input(&id, m, &d);
            if (st == SIGEO_OK && d.field > b.max_field)
                b.max_field = d.field;
        } else if (op == 2) {
            sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
            const uint8_t sz = u8(&r);
            if (sz < 16)
                d.struct_size = sz;
            const uint8_t kind = u8(&r);
            d.kind = kind >= 0xf0 ? (int32_t)value(&r) : kind % 19;
            d.name = name;
            int32_t inputs[3], input_choices[3];
            d.n_inputs = u8(&r) % 4;
            for (uint32_t k = 0; k < d.n_inputs; k++)
                inputs[k] = pick(&r, b.n_nodes);
            d.inputs = inputs;
            d.flags = u8(&r);
            d.units = value(&r);
            d.rows = value(&r);
            d.activation = (int8_t)u8(&r);
            d.pooling = (int8_t)u8(&r);
            d.width_choice = pick(&r, b.n_choices);
            d.choice = pick(&r, b.n_choices);
            if (u8(&r) & 1) {
                for (uint32_t k = 0; k < d.n_inputs; k++)
                    input_choices[k] = pick(&r, b.n_choices);
                d.input_choices = input_choices;
            }
            for (int k = 0; k < 2; k++)
                d.kernel[k] = value(&r);
            for (int k = 0; k < 2; k++)
                d.stride[k] = value(&r);
            for (int k = 0; k < 2; k++)
                d.padding[k] = value(&r);
            for (int k = 0; k < 3; k++)
                d.shape[k] = value(&r);
            d.offset = value(&r);
            d.heads = (int32_t)value(&r);
            d.reserved0 = u8(&r) == 0xff ? 1u : 0u;
            st = sigeo_model_add_layer(&id, m, &d);
        } else if (op == 3) {
            const int32_t n = u8(&r) % 6;
            int64_t values[5];
            const bool with_values = u8(&r) & 1;
            for (int32_t k = 0; with_values && k < n; k++)
                values[k] = value(&r);
            snprintf(name, sizeof name, "c%d", (int)b.n_choices);
            int32_t c = -1;
            st = sigeo_model_add_choice(&c, m, name, n, with_values ? values : NULL);
            check_status(st, false);
            if (st == SIGEO_OK) {
                REQUIRE(c == b.n_choices);
                if (b.n_choices == 64)
                    break;
                b.options[b.n_choices++] = n;
            }
            continue;
        } else if (op == 4) {
            const int32_t node = (int32_t)(u8(&r) % (uint32_t)(b.n_nodes + 1));
            check_status(sigeo_model_set_loss(m, node, (sigeo_loss_kind_t)(u8(&r) % 4)), false);
            continue;
        } else if (op == 5) {
            st = sigeo_model_finalize(m);
            if (getenv("SIGEO_FUZZ_VERBOSE"))
                fprintf(stderr, "finalize: %s %s\n", sigeo_status_string(st), st ? sigeo_last_error() : "");
            check_status(st, false);
            if (st == SIGEO_OK) {
                int64_t params = -1, flops = -1;
                int32_t active[64];
                REQUIRE(sigeo_model_active_arch(active, 64, m) == SIGEO_OK);
                REQUIRE(sigeo_model_count(&params, &flops, m, active, b.n_choices) == SIGEO_OK);
                REQUIRE(params >= 0 && flops >= 0);
                /* every parameter's numel is its dims' product, computed
                 * here without wrapping, and within the documented limit */
                for (int32_t p = 0; p < b.n_params; p++) {
                    sigeo_param_info_t info = SIGEO_PARAM_INFO_INIT;
                    REQUIRE(sigeo_model_param_info(&info, m, p) == SIGEO_OK);
                    int64_t prod = 1;
                    for (int32_t k = 0; k < info.ndim; k++)
                        REQUIRE(info.dims[k] >= 0 && !__builtin_mul_overflow(prod, info.dims[k], &prod));
                    REQUIRE(prod == info.numel && info.numel <= SIGEO_MAX_ELEMENTS);
                }
                run_batch(m, &r, &b);
            }
            break;
        } else {
            break;
        }
        /* a node-adding call */
        check_status(st, false);
        int32_t n_params = -1;
        REQUIRE(sigeo_model_param_count(&n_params, m) == SIGEO_OK);
        if (st == SIGEO_OK) {
            REQUIRE(id == b.n_nodes);
            b.n_nodes++;
            REQUIRE(n_params >= b.n_params);
            b.n_params = n_params;
        } else {
            REQUIRE(n_params == b.n_params);
        }
    }
    sigeo_model_destroy(m);
    uint64_t blocks;
    sigeo_memory_in_use(NULL, &blocks);
    REQUIRE(blocks == base_blocks);
    return 0;
}
