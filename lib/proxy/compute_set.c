/* sigeo_proxy_compute_set: sigeo_proxy_compute on the batches of a batch
 * set (data.h), which the host then need not keep valid itself. */
#include "core/core.h"
#include "io/batch_set.h"
#include "sigeo/proxy.h"

SIGEO_API sigeo_status_t sigeo_proxy_compute_set(sigeo_model_t *model, const int32_t *arch, int32_t n_arch,
                                                 const sigeo_batch_set_t *batches,
                                                 const sigeo_proxy_options_t *options, sigeo_proxy_result_t *result)
{
    uint32_t n = 0;
    const sigeo_batch_t *b = sigeo__batch_set_array(batches, &n);
    return sigeo_proxy_compute(model, arch, n_arch, b, n, options, result);
}
