/* Writes the seed corpus for fuzz_builder into a directory:
 *   cc -std=c11 -o gen tests/fuzz/gen_builder_corpus.c
 *   ./gen tests/fuzz/corpus/builder
 * (tests/fuzz/meson.build builds it and the test `seeds-builder` checks
 * that the committed corpus holds exactly these bytes.)
 *
 * Each seed is an instruction stream in fuzz_builder.c's encoding. valid-*
 * build, finalise and run a small model of one family (MLP, supernet,
 * embeddings, conv, tokens); hostile-* replay the descriptors issue 11
 * found accepted (wrapped parameter sizes and shape products, features
 * past the limit, unknown flag bits, a struct_size too small). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *out_dir;
static int failures;
static uint8_t buf[4096];
static size_t len;

/* The value table of fuzz_builder.c, in the same order. */
static const int64_t table[] = {
    -1, -2, INT64_MIN, INT64_MAX, INT64_MAX / 2, ((int64_t)1 << 31) - 1, (int64_t)1 << 31, (int64_t)1 << 32,
    (int64_t)1 << 33, (int64_t)1 << 40, ((int64_t)1 << 40) + 1, (int64_t)1 << 62, ((int64_t)1 << 62) + 1,
    (int64_t)1 << 20, (int64_t)1 << 21, 1000, 4096, 65536, (int64_t)1 << 30, (int64_t)1 << 29,
};
#define N_TABLE (sizeof table / sizeof table[0])

static void byte(unsigned v)
{
    if (len < sizeof buf)
        buf[len++] = (uint8_t)v;
}

static void val(int64_t v)
{
    if (v >= 0 && v < 128) {
        byte((unsigned)v);
        return;
    }
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i] == v) {
            byte(128u + (unsigned)i);
            return;
        }
    byte(0xff);
    uint64_t x;
    memcpy(&x, &v, sizeof x);
    for (int k = 0; k < 8; k++)
        byte((unsigned)(x >> (8 * k)) & 0xffu);
}

static void dense(int64_t features)
{
    byte(0);
    byte(0);
    val(features);
}

static void dense_shaped(int64_t features, int64_t c, int64_t h, int64_t w)
{
    byte(0);
    byte(1);
    val(features);
    val(c);
    val(h);
    val(w);
}

static void sparse(int field)
{
    byte(1);
    byte((unsigned)field);
}

/* A layer description; ids and choices are encoded as x + 1 (-1 = none). */
typedef struct layer {
    unsigned struct_size; /* 16 and up: the real size */
    unsigned kind;
    int n_inputs, inputs[3];
    unsigned flags;
    int64_t units, rows;
    int activation, pooling, width_choice, choice;
    int64_t kernel[2], stride[2], padding[2], shape[3], offset, heads;
    unsigned reserved;
} layer_t;

static layer_t L(unsigned kind, int in0)
{
    layer_t l;
    memset(&l, 0, sizeof l);
    l.struct_size = 16;
    l.kind = kind;
    l.n_inputs = 1;
    l.inputs[0] = in0;
    l.width_choice = l.choice = -1;
    return l;
}

static void layer(const layer_t *l)
{
    byte(2);
    byte(l->struct_size);
    byte(l->kind);
    byte((unsigned)l->n_inputs);
    for (int k = 0; k < l->n_inputs; k++)
        byte((unsigned)(l->inputs[k] + 1));
    byte(l->flags);
    val(l->units);
    val(l->rows);
    byte((unsigned)l->activation);
    byte((unsigned)l->pooling);
    byte((unsigned)(l->width_choice + 1));
    byte((unsigned)(l->choice + 1));
    byte(0); /* no input_choices */
    for (int k = 0; k < 2; k++)
        val(l->kernel[k]);
    for (int k = 0; k < 2; k++)
        val(l->stride[k]);
    for (int k = 0; k < 2; k++)
        val(l->padding[k]);
    for (int k = 0; k < 3; k++)
        val(l->shape[k]);
    val(l->offset);
    val(l->heads);
    byte(l->reserved);
}

static void choice(int n, const int64_t *values)
{
    byte(3);
    byte((unsigned)n);
    byte(values ? 1 : 0);
    for (int k = 0; values && k < n; k++)
        val(values[k]);
}

static void loss(int node, unsigned kind)
{
    byte(4);
    byte((unsigned)node);
    byte(kind);
}

/* finalize, then the last option of each of n_choices choices, rows - 1,
 * n_targets - 1 and sparse ids (zeros). */
static void finalize(int n_choices, unsigned last_option, unsigned rows, unsigned n_targets)
{
    byte(5);
    for (int k = 0; k < n_choices; k++)
        byte(last_option);
    byte(rows - 1);
    byte(n_targets - 1);
    for (int k = 0; k < 8; k++)
        byte(0);
}

static void emit(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        failures++;
    }
    len = 0;
}

enum { LINEAR = 0, ACTIVATION = 1, EMBEDDING_BAG = 2, CONCAT = 4, DOT = 6, LAYER_NORM = 7, CONV2D = 8,
       BATCH_NORM = 9, POOL2D = 10, GAP = 11, TOKEN_LINEAR = 12, ATTENTION = 13, SLICE = 16, RESHAPE = 17 };
enum { BCE = 0, CE = 1, MSE = 2 };

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    layer_t l;

    /* x[8] -> fc0(4) -> relu -> layer norm -> fc1(1), BCE */
    dense(8);
    l = L(LINEAR, 0), l.units = 4, layer(&l);
    l = L(ACTIVATION, 1), l.activation = 1, layer(&l);
    l = L(LAYER_NORM, 2), layer(&l);
    l = L(LINEAR, 3), l.units = 1, layer(&l);
    loss(4, BCE);
    finalize(0, 0, 2, 1);
    emit("valid-mlp");

    /* width choice {2, 4}: x[6] -> fc0(4, elastic) -> fc1(2), MSE */
    choice(2, (const int64_t[]){ 2, 4 });
    dense(6);
    l = L(LINEAR, 0), l.units = 4, l.width_choice = 0, layer(&l);
    l = L(LINEAR, 1), l.units = 2, layer(&l);
    loss(2, MSE);
    finalize(1, 1, 3, 2);
    emit("valid-supernet");

    /* sparse field 0 -> emb(10 x 4) ++ x[4] -> fc(3), softmax CE */
    sparse(0);
    dense(4);
    l = L(EMBEDDING_BAG, 0), l.rows = 10, l.units = 4, layer(&l);
    l = L(CONCAT, 2), l.n_inputs = 2, l.inputs[1] = 1, layer(&l);
    l = L(LINEAR, 3), l.units = 3, layer(&l);
    loss(4, CE);
    finalize(0, 0, 2, 1);
    emit("valid-embedding");

    /* x[1,4,4] -> conv(2, 3x3, pad 1) -> batch norm -> max pool 2x2 -> gap -> fc(1) */
    dense_shaped(16, 1, 4, 4);
    l = L(CONV2D, 0), l.units = 2, l.kernel[0] = l.kernel[1] = 3, l.padding[0] = l.padding[1] = 1, layer(&l);
    l = L(BATCH_NORM, 1), layer(&l);
    l = L(POOL2D, 2), l.pooling = 2, l.kernel[0] = l.kernel[1] = 2, layer(&l);
    l = L(GAP, 3), layer(&l);
    l = L(LINEAR, 4), l.units = 1, layer(&l);
    loss(5, BCE);
    finalize(0, 0, 2, 1);
    emit("valid-conv");

    /* x[12] -> reshape (3, 4) -> attention (2 heads) -> token linear (2) -> dot -> fc(1) */
    dense(12);
    l = L(RESHAPE, 0), l.shape[0] = 3, l.shape[1] = 4, layer(&l);
    l = L(ATTENTION, 1), l.heads = 2, layer(&l);
    l = L(TOKEN_LINEAR, 2), l.units = 2, layer(&l);
    l = L(DOT, 3), layer(&l);
    l = L(LINEAR, 4), l.units = 1, layer(&l);
    loss(5, MSE);
    finalize(0, 0, 1, 1);
    emit("valid-tokens");

    /* issue 11 item 1: rows * units = (2^62 + 1) * 4 wrapped to 4 floats */
    sparse(0);
    l = L(EMBEDDING_BAG, 0), l.rows = ((int64_t)1 << 62) + 1, l.units = 4, layer(&l);
    l = L(LINEAR, 0), l.kind = EMBEDDING_BAG, l.rows = 10, l.units = 4, layer(&l);
    loss(1, MSE);
    finalize(0, 0, 1, 4);
    emit("hostile-embedding-rows-wrap");

    /* item 2: 2^33 inputs x 2^31 units wrapped to 0 */
    dense((int64_t)1 << 33);
    l = L(LINEAR, 0), l.units = (int64_t)1 << 31, layer(&l);
    loss(1, MSE);
    finalize(0, 0, 1, 1);
    emit("hostile-linear-weight-wrap");

    /* item 2: features = INT64_MAX */
    dense(INT64_MAX);
    l = L(LINEAR, 0), l.units = 1, layer(&l);
    loss(1, MSE);
    finalize(0, 0, 1, 1);
    emit("hostile-features-int64-max");

    /* item 2: shape (3, 4, 2^62 + 1) wraps to 12 features, then a global pool */
    dense_shaped(12, 3, 4, ((int64_t)1 << 62) + 1);
    dense_shaped(12, 3, 2, 2);
    l = L(GAP, 0), layer(&l);
    l = L(GAP, 0), l.inputs[0] = 0, layer(&l);
    loss(2, MSE);
    finalize(0, 0, 1, 3);
    emit("hostile-shape-product-wrap");

    /* concat of two inputs at the element limit */
    dense((int64_t)1 << 40);
    dense((int64_t)1 << 40);
    l = L(CONCAT, 0), l.n_inputs = 2, l.inputs[1] = 1, layer(&l);
    emit("hostile-concat-over-limit");

    /* unknown flag bits, a non-zero reserved field, struct_size 8 */
    dense(4);
    l = L(LINEAR, 0), l.units = 2, l.flags = 0xf0, layer(&l);
    l = L(LINEAR, 0), l.units = 2, l.reserved = 0xff, layer(&l);
    l = L(LINEAR, 0), l.units = 2, l.struct_size = 8, layer(&l);
    l = L(LINEAR, 0), l.units = 1, layer(&l);
    loss(1, BCE);
    finalize(0, 0, 1, 1);
    emit("hostile-flags-reserved-size");

    /* conv padding near INT64_MAX / 2, pool with kernel INT64_MAX */
    dense_shaped(16, 1, 4, 4);
    l = L(CONV2D, 0), l.units = 2, l.kernel[0] = l.kernel[1] = 1, l.padding[0] = INT64_MAX / 2, layer(&l);
    l = L(POOL2D, 0), l.pooling = 2, l.kernel[0] = l.kernel[1] = INT64_MAX, l.padding[0] = INT64_MAX / 2, layer(&l);
    emit("hostile-window-wrap");

    /* a slice at offset INT64_MAX: its message once computed offset + units */
    dense(4);
    l = L(SLICE, 0), l.units = 53, l.offset = INT64_MAX, layer(&l);
    l = L(SLICE, 0), l.units = INT64_MAX, l.offset = 2, layer(&l);
    emit("hostile-slice-offset-wrap");
    return failures ? 1 : 0;
}
