/* Status names and the failure messages (thread-local and per handle). */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static _Thread_local char thread_message[SIGEO__ERRMSG_MAX];
static _Thread_local uint64_t thread_failures;

const char *sigeo__thread_message(void)
{
    return thread_message;
}

uint64_t sigeo__failure_count(void)
{
    return thread_failures;
}

/* Copies `raw` into buf with control characters (names, file contents the
 * message quotes) written as \xNN: a message is one line of text a host can
 * log or show as it is, whatever a caller named its tensors. */
static void escape_into(char *buf, size_t size, const char *raw)
{
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

/* Formats into a scratch buffer first and copies after: an argument may be
 * the thread's message itself or a handle's (a caller adding context to a
 * callee's failure), and vsnprintf over its own source is undefined.
 * `callee` (may be NULL) is appended as ": <callee>". */
static void format_message(const char *callee, const char *fmt, va_list ap) SIGEO__PRINTF(2, 0);

static void format_message(const char *callee, const char *fmt, va_list ap)
{
    char raw[SIGEO__ERRMSG_MAX];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0)
        snprintf(raw, sizeof raw, "(unformattable error message)");
    if (callee) {
        size_t used = strlen(raw);
        if (used + 2 < sizeof raw)
            snprintf(raw + used, sizeof raw - used, ": %s", callee);
    }
    escape_into(thread_message, sizeof thread_message, raw);
    thread_failures++;
}

sigeo_status_t sigeo__fail(sigeo_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_message(NULL, fmt, ap);
    va_end(ap);
    return status;
}

sigeo_status_t sigeo__fail_on(sigeo__errbuf_t *handle, sigeo_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_message(NULL, fmt, ap);
    va_end(ap);
    if (handle)
        memcpy(handle->msg, thread_message, sizeof handle->msg);
    return status;
}

sigeo_status_t sigeo__fail_wrap(sigeo__errbuf_t *handle, sigeo_status_t status, const char *fmt, ...)
{
    /* The callee's message is copied before anything is formatted. */
    char callee[SIGEO__ERRMSG_MAX];
    memcpy(callee, thread_message, sizeof callee);
    va_list ap;
    va_start(ap, fmt);
    format_message(callee, fmt, ap);
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
