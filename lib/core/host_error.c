/* sigeo_set_last_error (SIGEO_1.1): host callbacks report their failures
 * through the same thread-local message as the library. */
#include "core/core.h"

SIGEO_API sigeo_status_t sigeo_set_last_error(sigeo_status_t status, const char *message)
{
    return sigeo__fail(status, "%s", message ? message : "");
}
