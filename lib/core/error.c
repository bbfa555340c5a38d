/* Status names and the failure messages (thread-local and per handle). */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static _Thread_local char thread_message[SIGEO__ERRMSG_MAX];

const char *sigeo__thread_message(void)
{
    return thread_message;
}

/* Formats, then copies with control characters (names, file contents the
 * message quotes) written as \xNN: a message is one line of text a host can
 * log or show as it is, whatever a caller named its tensors. */
static void format_into(char *buf, size_t size, const char *fmt, va_list ap) SIGEO__PRINTF(3, 0);

static void format_into(char *buf, size_t size, const char *fmt, va_list ap)
{
    char raw[SIGEO__ERRMSG_MAX];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0) {
        snprintf(buf, size, "(unformattable error message)");
        return;
    }
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
        const bool control = *p < 0x20 || *p == 0x7f;
        if (o + (control ? 4 : 1) >= size)
            break;
        if (control) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 0xf];
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o] = '\0';
}

sigeo_status_t sigeo__fail(sigeo_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_into(thread_message, sizeof thread_message, fmt, ap);
    va_end(ap);
    return status;
}

sigeo_status_t sigeo__fail_on(sigeo__errbuf_t *handle, sigeo_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_into(thread_message, sizeof thread_message, fmt, ap);
    va_end(ap);
    if (handle)
        memcpy(handle->msg, thread_message, sizeof handle->msg);
    return status;
}

sigeo_status_t sigeo__propagate(sigeo__errbuf_t *handle, sigeo_status_t status)
{
    if (handle && status != SIGEO_OK)
        memcpy(handle->msg, thread_message, sizeof handle->msg);
    return status;
}

SIGEO_API const char *sigeo_last_error(void)
{
    return thread_message;
}

SIGEO_API const char *sigeo_status_string(sigeo_status_t status)
{
    switch (status) {
    case SIGEO_OK: return "ok";
    case SIGEO_ERR_INVALID_ARG: return "invalid argument";
    case SIGEO_ERR_NO_MEMORY: return "out of memory";
    case SIGEO_ERR_SHAPE: return "shape mismatch";
    case SIGEO_ERR_NONFINITE: return "non-finite value";
    case SIGEO_ERR_IO: return "I/O error";
    case SIGEO_ERR_FORMAT: return "malformed input";
    case SIGEO_ERR_UNSUPPORTED: return "unsupported";
    case SIGEO_ERR_INTERNAL: return "internal error";
    case SIGEO_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
