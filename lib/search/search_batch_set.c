/* sigeo_search_set_batch_set: the default scorer's batches from a batch set
 * (data.h); copied like sigeo_search_set_batches, so the set may go away. */
#include "core/core.h"
#include "io/batch_set.h"
#include "sigeo/search.h"

SIGEO_API sigeo_status_t sigeo_search_set_batch_set(sigeo_search_t *search, const sigeo_batch_set_t *batches)
{
    if (!batches)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_search_set_batch_set: batch set is NULL");
    uint32_t n = 0;
    const sigeo_batch_t *b = sigeo__batch_set_array(batches, &n);
    return sigeo_search_set_batches(search, b, n);
}
