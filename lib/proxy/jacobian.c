/* The input Jacobian of jacov and epe_nas (docs/proxies.md §6): the gradient of
 * the sum over the batch and the outputs of the loss node (the logits) with
 * respect to the dense input, one row per sample -- the reference's
 * y.backward(ones_like(y)) on an input that requires grad. With train-mode
 * batch norm a row also holds the cross-sample terms, as in the reference.
 * Labels are not used. */
#include <string.h>

#include "proxy/proxy.h"

sigeo_status_t sigeo__proxy_input_jacobian(float **J, int64_t *D, const sigeo__proxy_call_t *c, int slot,
                                           int seed_slot)
{
    sigeo_status_t st = sigeo__proxy_need_batch(c);
    if (st != SIGEO_OK)
        return st;
    sigeo_model_t *m = c->m;
    const int32_t n_nodes = sigeo__probe_node_count(m);
    bool dense = false;
    for (int32_t i = 0; i < n_nodes && !dense; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        dense = nd.active && nd.kind == SIGEO__PROBE_INPUT_DENSE;
    }
    if (!dense)
        return sigeo__proxy_fail(c, SIGEO_ERR_UNSUPPORTED, "the model (active architecture) has no dense input to "
                                                           "differentiate");
    if ((st = sigeo_model_forward(NULL, m, c->batch)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "forward of batch 0");
    const int64_t B = c->batch->batch_size, W = c->batch->n_dense;
    sigeo__probe_node_t out;
    sigeo__probe_node(&out, m, sigeo__probe_loss_node(m, NULL));
    float *seed, *j;
    if ((st = sigeo__proxy_scratch((void **)&seed, c, seed_slot, (size_t)(B * out.width) * sizeof(float))) !=
            SIGEO_OK ||
        (st = sigeo__proxy_scratch((void **)&j, c, slot, (size_t)(B * W) * sizeof(float))) != SIGEO_OK)
        return st;
    for (int64_t i = 0; i < B * out.width; i++)
        seed[i] = 1.0f;
    if ((st = sigeo__tape_backward_from(m, seed, true)) != SIGEO_OK)
        return sigeo__proxy_failed(c, st, "backward to the input");
    /* Every dense input node reads the same batch->dense: their gradients add. */
    memset(j, 0, (size_t)(B * W) * sizeof(float));
    for (int32_t i = 0; i < n_nodes; i++) {
        sigeo__probe_node_t nd;
        sigeo__probe_node(&nd, m, i);
        if (!nd.active || nd.kind != SIGEO__PROBE_INPUT_DENSE)
            continue;
        for (int64_t k = 0; k < B * W; k++)
            j[k] += nd.grad[k];
    }
    *J = j;
    *D = W;
    return SIGEO_OK;
}
