/* What the proxy layer may see of a model beyond the public API: the
 * module blocks, the per-sample directional terms collected in backward,
 * and one opaque attachment for the proxy's reusable buffers. lib/proxy
 * includes this header, never graph.h: the engine does not know proxies. */
#ifndef SIGEO_NN_PROBE_H
#define SIGEO_NN_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "sigeo/model.h"

typedef struct sigeo__probe_param {
    int32_t kind;   /* sigeo_param_kind_t */
    int64_t offset; /* within the module block */
    int64_t numel;
} sigeo__probe_param_t;

typedef struct sigeo__probe_module {
    const char *name;    /* the layer's node name */
    bool active;         /* the layer runs under the active architecture */
    int64_t numel;
    const float *data;   /* the module's parameters, one block */
    const float *grad;   /* their gradients from the last backward */
    int32_t n_params;
    sigeo__probe_param_t params[4];
} sigeo__probe_module_t;

int32_t sigeo__probe_module_count(const sigeo_model_t *m);
void sigeo__probe_module(sigeo__probe_module_t *out, const sigeo_model_t *m, int32_t module);

/* Collect s_n = sum over homogeneous layers of dL/dy_n . y_n during
 * backward (proxies.md §4.2); d_n = B s_n for a mean loss. */
void sigeo__probe_collect_directional(sigeo_model_t *m, bool on);
const double *sigeo__probe_directional(const sigeo_model_t *m);

/* Whether any active layer couples the samples of a batch (train-mode batch
 * norm): then the one-backward identity is not exact. */
bool sigeo__probe_couples_samples(const sigeo_model_t *m);

/* One parameter tensor, for optimisers. dirty_rows lists the embedding rows
 * the last backward touched (with repetitions); NULL/0 for dense tensors. */
typedef struct sigeo__probe_tensor {
    const char *name;
    int32_t kind;
    bool active;
    int64_t numel;
    int64_t rows, row_size; /* embedding tables: [rows, row_size]; dense: [1, numel] */
    float *data;
    const float *grad;
    const int64_t *dirty_rows;
    int64_t n_dirty_rows;
} sigeo__probe_tensor_t;

int32_t sigeo__probe_param_count(const sigeo_model_t *m);
void sigeo__probe_param(sigeo__probe_tensor_t *out, sigeo_model_t *m, int32_t param);

/* The loss node's output of the last forward ([batch, width]) and the
 * per-sample losses; the loss kind. */
void sigeo__probe_loss_output(const float **out, int64_t *batch, int64_t *width, int32_t *loss_kind,
                              const sigeo_model_t *m);

sigeo_context_t *sigeo__probe_context(const sigeo_model_t *m);
sigeo__errbuf_t *sigeo__probe_errbuf(sigeo_model_t *m);

/* One opaque pointer the proxy layer owns on the model, destroyed with it. */
void *sigeo__probe_attachment(const sigeo_model_t *m);
void sigeo__probe_attach(sigeo_model_t *m, void *attachment, void (*destroy)(void *attachment));

#endif
