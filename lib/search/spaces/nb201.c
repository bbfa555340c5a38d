/* The NB201-style cell space on Fashion-MNIST, "nb201-fmnist"
 * (docs/cellspace.md §1): stem, three cells of 6 edges x 5 ops at widths
 * 8 / 16 / 32 with two ResNet reduction blocks between them, head.
 *
 * Two forms from one builder:
 *  - standalone (sigeo_nb201_build): each edge carries only its op, with
 *    its own weights;
 *  - supernet (sigeo_space_build "nb201-fmnist"): each edge is a SELECT over
 *    all five ops, one choice point per edge (the three cells share the
 *    genotype, so the architecture vector is the 6 op indices). Weights are
 *    per edge and cell, shared by the architectures that pick that op.
 * Both use the same node and parameter names ("cell2.e4.conv3x3.conv"), so
 * the supernet's extraction of an arch and the standalone network of it
 * are the same graph.
 *
 * none = x.mul(0) as in NB201: a ZERO layer that reads the edge's source
 * node. That keeps every op of the genotype running, counted and seen by
 * NASWOT even when its node cannot reach the output, as PyTorch computes it
 * (model.h, ZERO). FLOPs follow the NB201 / xautodl convention.
 *
 * AZ-NAS's blocks are marked (sigeo_model_mark_block): the stem, the three
 * cells' outputs and the two reduction blocks' outputs, a chain in depth
 * order. Every one is active under every genotype (a cell's node 3 always
 * sums its three edges, a SUM node even when they are none), so the
 * supernet's path and the standalone network read the same six. */
#include <stdio.h>
#include <string.h>

#include "search/spaces/spaces.h"

#define EDGES SIGEO_NB201_EDGES
#define OPS SIGEO_NB201_OPS

static const char *const op_names[OPS] = { "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3" };
/* edge e goes from node src[e] to node dst[e], NB201 string order */
static const int src_node[EDGES] = { 0, 0, 1, 0, 1, 2 };
static const int dst_node[EDGES] = { 1, 2, 2, 3, 3, 3 };

static sigeo_status_t check_ops(const int32_t *ops, const char *fn)
{
    if (!ops)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: ops is NULL", fn);
    for (int e = 0; e < EDGES; e++)
        if (ops[e] < 0 || ops[e] >= OPS)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: edge %d (%d->%d) has op %d, outside 0..4", fn, e,
                               src_node[e], dst_node[e], (int)ops[e]);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nb201_to_id(int64_t *id_out, const int32_t *ops)
{
    if (!id_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nb201_to_id: id_out is NULL");
    sigeo_status_t st = check_ops(ops, "sigeo_nb201_to_id");
    if (st != SIGEO_OK)
        return st;
    int64_t id = 0;
    for (int e = EDGES - 1; e >= 0; e--)
        id = id * OPS + ops[e];
    *id_out = id;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nb201_from_id(int32_t *ops, int64_t id)
{
    if (!ops)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nb201_from_id: ops is NULL");
    if (id < 0 || id >= SIGEO_NB201_ARCHS)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nb201_from_id: id %lld outside 0..%d", (long long)id,
                           SIGEO_NB201_ARCHS - 1);
    for (int e = 0; e < EDGES; e++, id /= OPS)
        ops[e] = (int32_t)(id % OPS);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nb201_to_string(char *buf, size_t size, size_t *len_out, const int32_t *ops)
{
    static const char fn[] = "sigeo_nb201_to_string";
    sigeo_status_t st = check_ops(ops, fn);
    if (st != SIGEO_OK)
        return st;
    if (!buf && size > 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: buf is NULL with size %zu", fn, size);
    char text[160];
    size_t len = 0;
    for (int e = 0; e < EDGES; e++) {
        if (e == 1 || e == 3)
            len += (size_t)snprintf(text + len, sizeof text - len, "+");
        len += (size_t)snprintf(text + len, sizeof text - len, "|%s~%d", op_names[ops[e]], src_node[e]);
        if (e == 0 || e == 2 || e == 5)
            len += (size_t)snprintf(text + len, sizeof text - len, "|");
    }
    if (len_out)
        *len_out = len;
    if (size == 0)
        return SIGEO_OK;
    if (size <= len)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: buffer of %zu bytes, %zu needed", fn, size, len + 1);
    memcpy(buf, text, len + 1);
    return SIGEO_OK;
}

/* NB201 form: |o~0|+|o~0|o~1|+|o~0|o~1|o~2| (node groups joined by '+'). */
SIGEO_API sigeo_status_t sigeo_nb201_from_string(int32_t *ops, const char *text)
{
    static const char fn[] = "sigeo_nb201_from_string";
    if (!ops || !text)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, ops ? "text" : "ops");
    const char *p = text;
    int32_t got[EDGES];
    for (int e = 0; e < EDGES; e++) {
        if (e == 1 || e == 3) {
            if (*p != '+')
                return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: '%s': expected '+' at offset %d (before node %d)", fn,
                                   text, (int)(p - text), dst_node[e]);
            p++;
        }
        if (*p != '|')
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: '%s': expected '|' at offset %d (edge %d->%d)", fn, text,
                               (int)(p - text), src_node[e], dst_node[e]);
        p++;
        int op = -1;
        for (int o = 0; o < OPS && op < 0; o++) {
            const size_t n = strlen(op_names[o]);
            if (strncmp(p, op_names[o], n) == 0 && p[n] == '~') {
                op = o;
                p += n;
            }
        }
        if (op < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "%s: '%s': unknown op at offset %d (edge %d->%d; known: none, skip_connect, "
                               "nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)",
                               fn, text, (int)(p - text), src_node[e], dst_node[e]);
        p++; /* '~' */
        if (p[0] != (char)('0' + src_node[e]) || p[1] != '|')
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: '%s': edge into node %d at offset %d must read '~%d|'", fn,
                               text, dst_node[e], (int)(p - text), src_node[e]);
        p++;
        if (e == 0 || e == 2 || e == 5)
            p++; /* the group's closing '|' */
        got[e] = op;
    }
    if (*p)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: '%s': trailing characters at offset %d", fn, text,
                           (int)(p - text));
    memcpy(ops, got, sizeof got);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_nb201_is_degenerate(int *out, const int32_t *ops)
{
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_nb201_is_degenerate: out is NULL");
    sigeo_status_t st = check_ops(ops, "sigeo_nb201_is_degenerate");
    if (st != SIGEO_OK)
        return st;
    /* edges in topological order of their destination */
    bool reach[4] = { true, false, false, false };
    for (int e = 0; e < EDGES; e++)
        if (ops[e] != 0 && reach[src_node[e]])
            reach[dst_node[e]] = true;
    *out = !reach[3];
    return SIGEO_OK;
}

/* ---------------------------------------------------------------- builder */

typedef struct builder {
    sigeo_model_t *m;
    const int32_t *ops; /* NULL: supernet */
    int32_t choice[EDGES];
} builder_t;

static sigeo_status_t one(int32_t *out, sigeo_model_t *m, sigeo_layer_kind_t kind, int32_t in, const char *name)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = kind;
    d.inputs = &in;
    d.n_inputs = 1;
    d.activation = SIGEO_ACT_RELU;
    return sigeo__add(out, m, &d, "%s", name);
}

static sigeo_status_t conv(int32_t *out, sigeo_model_t *m, int32_t in, int64_t cout, int64_t k, int64_t stride,
                           const char *name)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_CONV2D;
    d.inputs = &in;
    d.n_inputs = 1;
    d.units = cout;
    d.kernel[0] = d.kernel[1] = k;
    d.stride[0] = d.stride[1] = stride;
    d.padding[0] = d.padding[1] = k / 2;
    d.flags = SIGEO_LAYER_NO_BIAS;
    return sigeo__add(out, m, &d, "%s", name);
}

/* BN(conv(ReLU(x))): NB201's ReLUConvBN, names <prefix>.relu / .conv / .bn. */
static sigeo_status_t relu_conv_bn(int32_t *out, sigeo_model_t *m, int32_t in, int64_t cout, int64_t k,
                                   int64_t stride, const char *prefix)
{
    char name[96];
    int32_t h;
    snprintf(name, sizeof name, "%s.relu", prefix);
    sigeo_status_t st = one(&h, m, SIGEO_LAYER_ACTIVATION, in, name);
    snprintf(name, sizeof name, "%s.conv", prefix);
    if (st == SIGEO_OK)
        st = conv(&h, m, h, cout, k, stride, name);
    snprintf(name, sizeof name, "%s.bn", prefix);
    if (st == SIGEO_OK)
        st = one(out, m, SIGEO_LAYER_BATCH_NORM, h, name);
    return st;
}

static sigeo_status_t pool(int32_t *out, sigeo_model_t *m, int32_t in, int64_t k, int64_t stride, int64_t pad,
                           uint32_t flags, const char *name)
{
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_POOL2D;
    d.inputs = &in;
    d.n_inputs = 1;
    d.pooling = SIGEO_POOL_MEAN;
    d.kernel[0] = d.kernel[1] = k;
    d.stride[0] = d.stride[1] = stride;
    d.padding[0] = d.padding[1] = pad;
    d.flags = flags;
    return sigeo__add(out, m, &d, "%s", name);
}

/* Op `op` of an edge on node `in` (width c) into *out. */
static sigeo_status_t edge_op(int32_t *out, sigeo_model_t *m, int32_t in, int64_t c, int op, const char *prefix)
{
    char name[96];
    switch (op) {
    case 0: {
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_ZERO;
        d.inputs = &in;
        d.n_inputs = 1;
        return sigeo__add(out, m, &d, "%s.none", prefix);
    }
    case 1:
        *out = in;
        return SIGEO_OK;
    case 2:
        snprintf(name, sizeof name, "%s.conv1x1", prefix);
        return relu_conv_bn(out, m, in, c, 1, 1, name);
    case 3:
        snprintf(name, sizeof name, "%s.conv3x3", prefix);
        return relu_conv_bn(out, m, in, c, 3, 1, name);
    default:
        snprintf(name, sizeof name, "%s.pool", prefix);
        return pool(out, m, in, 3, 1, 1, SIGEO_LAYER_POOL_EXCLUDE_PAD, name);
    }
}

static sigeo_status_t cell(int32_t *out, builder_t *b, int32_t in, int64_t c, int k)
{
    sigeo_model_t *m = b->m;
    int32_t node[4] = { in, -1, -1, -1 };
    int32_t into[4][3];
    int n_into[4] = { 0, 0, 0, 0 };
    sigeo_status_t st = SIGEO_OK;
    for (int e = 0; e < EDGES && st == SIGEO_OK; e++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "cell%d.e%d", k, e);
        const int s = src_node[e], t = dst_node[e];
        int32_t r = -1;
        if (b->ops)
            st = edge_op(&r, m, node[s], c, b->ops[e], prefix);
        else {
            int32_t branch[OPS];
            for (int o = 0; o < OPS && st == SIGEO_OK; o++)
                st = edge_op(&branch[o], m, node[s], c, o, prefix);
            sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
            d.kind = SIGEO_LAYER_SELECT;
            d.inputs = branch;
            d.n_inputs = OPS;
            d.choice = b->choice[e];
            if (st == SIGEO_OK)
                st = sigeo__add(&r, m, &d, "%s", prefix);
        }
        into[t][n_into[t]++] = r;
        /* a node is complete once its last incoming edge is built (edges 0, 2, 5) */
        if (st == SIGEO_OK && (e == 0 || e == 2 || e == 5)) {
            if (n_into[t] == 1)
                node[t] = into[t][0];
            else {
                sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
                d.kind = SIGEO_LAYER_SUM;
                d.inputs = into[t];
                d.n_inputs = (uint32_t)n_into[t];
                st = sigeo__add(&node[t], m, &d, "cell%d.node%d", k, t);
            }
        }
    }
    *out = node[3];
    return st;
}

/* NB201's ResNet basic block, stride 2 (docs/cellspace.md §1). */
static sigeo_status_t reduction(int32_t *out, sigeo_model_t *m, int32_t in, int64_t cout, int k)
{
    char name[48];
    int32_t a, bb, s;
    snprintf(name, sizeof name, "res%d.a", k);
    sigeo_status_t st = relu_conv_bn(&a, m, in, cout, 3, 2, name);
    snprintf(name, sizeof name, "res%d.b", k);
    if (st == SIGEO_OK)
        st = relu_conv_bn(&bb, m, a, cout, 3, 1, name);
    snprintf(name, sizeof name, "res%d.short.pool", k);
    if (st == SIGEO_OK)
        st = pool(&s, m, in, 2, 2, 0, 0u, name);
    snprintf(name, sizeof name, "res%d.short.conv", k);
    if (st == SIGEO_OK)
        st = conv(&s, m, s, cout, 1, 1, name);
    int32_t ins[2] = { s, bb };
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_SUM;
    d.inputs = ins;
    d.n_inputs = 2;
    if (st == SIGEO_OK)
        st = sigeo__add(out, m, &d, "res%d", k);
    return st;
}

static sigeo_status_t build(builder_t *b)
{
    sigeo_model_t *m = b->m;
    sigeo_status_t st = SIGEO_OK;
    /* AZ-NAS's blocks, as the official code's TinyNetwork returns them
     * (extract_cell_features): the stem's output (after its BN), then the
     * output of every cell and every reduction block, in depth order; not
     * the head's BN-ReLU. */
    int32_t blocks[6], n_blocks = 0;
    if (!b->ops)
        for (int e = 0; e < EDGES && st == SIGEO_OK; e++) {
            char name[32];
            snprintf(name, sizeof name, "e%d.%d-%d", e, src_node[e], dst_node[e]);
            st = sigeo_model_add_choice(&b->choice[e], m, name, OPS, NULL);
        }
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = 784;
    in.shape[0] = 1;
    in.shape[1] = 28;
    in.shape[2] = 28;
    int32_t h = -1;
    if (st == SIGEO_OK)
        st = sigeo_model_add_input(&h, m, &in);
    if (st == SIGEO_OK)
        st = conv(&h, m, h, 8, 3, 1, "stem.conv");
    if (st == SIGEO_OK)
        st = one(&h, m, SIGEO_LAYER_BATCH_NORM, h, "stem.bn");
    blocks[n_blocks++] = h;
    static const int64_t widths[3] = { 8, 16, 32 };
    for (int k = 0; k < 3 && st == SIGEO_OK; k++) {
        st = cell(&h, b, h, widths[k], k + 1);
        blocks[n_blocks++] = h;
        if (st == SIGEO_OK && k < 2) {
            st = reduction(&h, m, h, widths[k + 1], k + 1);
            blocks[n_blocks++] = h;
        }
    }
    if (st == SIGEO_OK)
        st = one(&h, m, SIGEO_LAYER_BATCH_NORM, h, "head.bn");
    if (st == SIGEO_OK)
        st = one(&h, m, SIGEO_LAYER_ACTIVATION, h, "head.relu");
    if (st == SIGEO_OK)
        st = one(&h, m, SIGEO_LAYER_GLOBAL_AVG_POOL, h, "head.gap");
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_LINEAR;
    d.inputs = &h;
    d.n_inputs = 1;
    d.units = 10;
    if (st == SIGEO_OK)
        st = sigeo__add(&h, m, &d, "head.fc");
    if (st == SIGEO_OK)
        st = sigeo_model_set_loss(m, h, SIGEO_LOSS_SOFTMAX_CE);
    for (int k = 0; k < n_blocks && st == SIGEO_OK; k++)
        st = sigeo_model_mark_block(m, blocks[k]);
    if (st == SIGEO_OK)
        st = sigeo_model_set_flops_convention(m, SIGEO_FLOPS_NB201);
    return st;
}

sigeo_status_t sigeo__space_nb201(sigeo_model_t *m, const sigeo_space_options_t *o)
{
    if ((o->n_dense != 0 && o->n_dense != 784) || o->n_sparse_fields != 0 || (o->n_classes != 0 && o->n_classes != 10))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "nb201-fmnist space: fixed 1x28x28 images and 10 classes (n_dense 0 or 784, got %lld; no "
                           "sparse fields, got %u; n_classes 0 or 10, got %d)",
                           (long long)o->n_dense, (unsigned)o->n_sparse_fields, (int)o->n_classes);
    builder_t b = { m, NULL, { 0 } };
    return build(&b);
}

SIGEO_API sigeo_status_t sigeo_nb201_build(sigeo_model_t **out, sigeo_context_t *ctx, const int32_t *ops)
{
    static const char fn[] = "sigeo_nb201_build";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!ctx)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: ctx is NULL", fn);
    sigeo_status_t st = check_ops(ops, fn);
    if (st != SIGEO_OK)
        return st;
    char name[160];
    sigeo_nb201_to_string(name, sizeof name, NULL, ops);
    sigeo_model_t *m;
    if ((st = sigeo_model_create(&m, ctx, name)) != SIGEO_OK)
        return st;
    builder_t b = { m, ops, { 0 } };
    st = build(&b);
    if (st == SIGEO_OK)
        st = sigeo_model_finalize(m);
    if (st != SIGEO_OK) {
        char msg[SIGEO__ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sigeo_last_error());
        sigeo_model_destroy(m);
        return sigeo__fail(st, "%s: %s", fn, msg);
    }
    *out = m;
    return SIGEO_OK;
}
