/* The struct_size protocol that lets public structs grow at the end without
 * breaking old binaries (docs/style.md §4). */
#include <string.h>

#include "core/core.h"

static bool tail_is_zero(const void *s, size_t from, size_t to)
{
    const unsigned char *p = s;
    for (size_t i = from; i < to; i++)
        if (p[i] != 0)
            return false;
    return true;
}

sigeo_status_t sigeo__struct_in(void *defaults, size_t known_size, const void *user, const char *what,
                                sigeo__errbuf_t *err)
{
    if (!user)
        return SIGEO_OK;
    uint32_t size;
    memcpy(&size, user, sizeof size);
    if (size < sizeof(uint32_t) * 2)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: struct_size %u is too small (set it with the _INIT macro or _init())", what,
                              (unsigned)size);
    if (size > known_size && !tail_is_zero(user, known_size, size))
        return sigeo__fail_on(err, SIGEO_ERR_UNSUPPORTED,
                              "%s: struct_size %u from a newer libsigeo sets fields this version (%s, %zu bytes) "
                              "does not know",
                              what, (unsigned)size, SIGEO_VERSION_STRING, known_size);
    memcpy(defaults, user, size < known_size ? size : known_size);
    memcpy(defaults, &(uint32_t){ (uint32_t)known_size }, sizeof(uint32_t));
    return SIGEO_OK;
}

sigeo_status_t sigeo__struct_out(void *out, const void *value, size_t known_size, const char *what,
                                 sigeo__errbuf_t *err)
{
    uint32_t size;
    memcpy(&size, out, sizeof size);
    if (size < sizeof(uint32_t) * 2)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s: struct_size %u is too small (set it with the _INIT macro or _init())", what,
                              (unsigned)size);
    size_t n = size < known_size ? size : known_size;
    memcpy((char *)out + sizeof(uint32_t), (const char *)value + sizeof(uint32_t), n - sizeof(uint32_t));
    return SIGEO_OK;
}

sigeo_status_t sigeo__struct_init(void *s, uint32_t struct_size, const void *defaults, size_t known_size,
                                  const char *what)
{
    if (!s)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s_init: NULL struct", what);
    if (struct_size < sizeof(uint32_t) * 2)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s_init: struct_size %u is too small", what,
                           (unsigned)struct_size);
    memset(s, 0, struct_size);
    memcpy(s, defaults, struct_size < known_size ? struct_size : known_size);
    memcpy(s, &struct_size, sizeof struct_size);
    return SIGEO_OK;
}

sigeo_status_t sigeo__struct_array_in(void *defaults, size_t known_size, const void *array, uint32_t i,
                                      const char *what, sigeo__errbuf_t *err)
{
    /* Element 0's struct_size is the caller's sizeof: a binary built against
     * an older (smaller) or newer (larger) struct lays its array out at that
     * stride, not at this library's. */
    uint32_t stride, size;
    memcpy(&stride, array, sizeof stride);
    if (stride < sizeof(uint32_t) * 2)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s[0]: struct_size %u is too small (set it with the _INIT macro or _init())", what,
                              (unsigned)stride);
    const char *elem = (const char *)array + (size_t)i * stride;
    memcpy(&size, elem, sizeof size);
    if (size != stride)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG,
                              "%s[%u]: struct_size %u differs from element 0's %u (an array's elements must all have "
                              "the caller's sizeof)",
                              what, (unsigned)i, (unsigned)size, (unsigned)stride);
    return sigeo__struct_in(defaults, known_size, elem, what, err);
}
