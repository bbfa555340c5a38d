/* The "mlp" space: depth, per-layer width and activation.
 * x -> [linear_l (width choice) -> activation choice]_{l < L} -> depth
 * choice (select over the layer outputs) -> head -> loss. Layers past the
 * chosen depth are inactive; the head reads the first columns of its
 * max-width weight, so every depth shares it. */
#include <stdio.h>

#include "search/spaces/spaces.h"

typedef struct mlp_preset {
    int32_t depth;
    int32_t n_widths;
    int64_t widths[8];
    int32_t n_acts;
    int32_t acts[4];
} mlp_preset_t;

static const mlp_preset_t presets[] = {
    [SIGEO_SPACE_SCALED] = { 3, 5, { 16, 32, 64, 128, 256 }, 3, { SIGEO_ACT_RELU, SIGEO_ACT_TANH, SIGEO_ACT_GELU } },
    [SIGEO_SPACE_FULL] = { 4, 6, { 32, 64, 128, 256, 512, 1024 }, 3, { SIGEO_ACT_RELU, SIGEO_ACT_TANH, SIGEO_ACT_GELU } },
    [SIGEO_SPACE_TINY] = { 2, 2, { 4, 8 }, 2, { SIGEO_ACT_RELU, SIGEO_ACT_TANH } },
};

static const char *const act_names[] = { "identity", "relu", "sigmoid", "tanh", "gelu" };

sigeo_status_t sigeo__space_mlp(sigeo_model_t *m, const sigeo_space_options_t *o)
{
    const mlp_preset_t *p = &presets[o->preset];
    const int32_t depth = o->max_depth > 0 ? o->max_depth : p->depth;
    if (o->max_depth < 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "mlp space: max_depth %d (0 = the preset's %d, else 1..16)",
                           (int)o->max_depth, (int)p->depth);
    if (o->n_dense < 1 || o->n_sparse_fields != 0 || o->n_classes < 0 || depth > 16)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "mlp space: needs n_dense >= 1 (got %lld), no sparse fields (got %u), n_classes >= 0, "
                           "max_depth <= 16",
                           (long long)o->n_dense, (unsigned)o->n_sparse_fields);
    sigeo_input_desc_t in = SIGEO_INPUT_DESC_INIT;
    in.name = "x";
    in.features = o->n_dense;
    int32_t h = -1, depth_choice = -1;
    sigeo_status_t st = sigeo_model_add_input(&h, m, &in);
    int64_t depth_values[16];
    for (int32_t l = 0; l < depth; l++)
        depth_values[l] = l + 1;
    if (st == SIGEO_OK)
        st = sigeo_model_add_choice(&depth_choice, m, "depth", depth, depth_values);
    int32_t outs[16];
    for (int32_t l = 0; l < depth && st == SIGEO_OK; l++) {
        char name[32];
        int32_t wc = -1, ac = -1, lin = -1;
        snprintf(name, sizeof name, "layer%d.width", (int)l);
        st = sigeo_model_add_choice(&wc, m, name, p->n_widths, p->widths);
        snprintf(name, sizeof name, "layer%d.act", (int)l);
        if (st == SIGEO_OK)
            st = sigeo_model_add_choice(&ac, m, name, p->n_acts, NULL);
        sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
        d.kind = SIGEO_LAYER_LINEAR;
        d.inputs = &h;
        d.n_inputs = 1;
        d.units = p->widths[p->n_widths - 1];
        d.width_choice = wc;
        if (st == SIGEO_OK)
            st = sigeo__add(&lin, m, &d, "fc%d", (int)l);
        int32_t acts[4] = { -1, -1, -1, -1 };
        for (int32_t a = 0; a < p->n_acts && st == SIGEO_OK; a++) {
            sigeo_layer_desc_t ad = SIGEO_LAYER_DESC_INIT;
            ad.kind = SIGEO_LAYER_ACTIVATION;
            ad.inputs = &lin;
            ad.n_inputs = 1;
            ad.activation = p->acts[a];
            st = sigeo__add(&acts[a], m, &ad, "fc%d.%s", (int)l, act_names[p->acts[a]]);
        }
        sigeo_layer_desc_t sd = SIGEO_LAYER_DESC_INIT;
        sd.kind = SIGEO_LAYER_SELECT;
        sd.inputs = acts;
        sd.n_inputs = (uint32_t)p->n_acts;
        sd.choice = ac;
        if (st == SIGEO_OK)
            st = sigeo__add(&h, m, &sd, "layer%d", (int)l);
        outs[l] = h;
    }
    int32_t body = -1, head = -1;
    sigeo_layer_desc_t d = SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_SELECT;
    d.inputs = outs;
    d.n_inputs = (uint32_t)depth;
    d.choice = depth_choice;
    if (st == SIGEO_OK)
        st = sigeo__add(&body, m, &d, "body");
    d = (sigeo_layer_desc_t)SIGEO_LAYER_DESC_INIT;
    d.kind = SIGEO_LAYER_LINEAR;
    d.inputs = &body;
    d.n_inputs = 1;
    d.units = o->n_classes > 0 ? o->n_classes : 1;
    if (st == SIGEO_OK)
        st = sigeo__add(&head, m, &d, "head");
    if (st == SIGEO_OK)
        st = sigeo_model_set_loss(m, head, o->n_classes > 0 ? SIGEO_LOSS_SOFTMAX_CE : SIGEO_LOSS_BCE_WITH_LOGITS);
    return st;
}
