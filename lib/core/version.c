#include "core/core.h"

SIGEO_API const char *sigeo_version(void)
{
    return SIGEO_VERSION_STRING;
}

SIGEO_API uint32_t sigeo_version_number(void)
{
    return SIGEO_VERSION_NUMBER;
}
