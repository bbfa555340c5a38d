/* The batch view struct (data.h). */
#include "core/core.h"
#include "sigeo/data.h"

SIGEO_API sigeo_status_t sigeo_batch_init(sigeo_batch_t *batch, uint32_t struct_size)
{
    static const sigeo_batch_t defaults = SIGEO_BATCH_INIT;
    return sigeo__struct_init(batch, struct_size, &defaults, sizeof defaults, "sigeo_batch");
}
