/* The text form of an architecture: "3,0,1". Strict, so that a parsed
 * architecture prints back to the same text. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "nn/graph.h"
#include "sigeo/model.h"

SIGEO_API sigeo_status_t sigeo_arch_format(char *buf, size_t size, size_t *len_out, const int32_t *arch, int32_t n)
{
    if (n < 0 || (!arch && n > 0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_arch_format: %s", n < 0 ? "negative length" : "arch is NULL");
    if (!buf && size > 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_arch_format: buf is NULL with size %zu", size);
    size_t len = 0, written = 0;
    for (int32_t i = 0; i < n; i++) {
        if (arch[i] < 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_arch_format: entry %d is negative (%d)", (int)i,
                               (int)arch[i]);
        char tmp[16];
        int k = snprintf(tmp, sizeof tmp, i ? ",%d" : "%d", (int)arch[i]);
        /* only whole entries, and only while everything before them fitted */
        if (buf && written == len && len + (size_t)k < size) {
            memcpy(buf + len, tmp, (size_t)k);
            written += (size_t)k;
        }
        len += (size_t)k;
    }
    if (len_out)
        *len_out = len;
    if (size > 0)
        buf[written] = '\0';
    if (buf && len >= size)
        return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_arch_format: needs %zu bytes, buffer has %zu", len + 1, size);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_arch_parse(int32_t *arch, int32_t capacity, int32_t *n_out, const char *text)
{
    if (!text || !n_out || (!arch && capacity > 0))
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_arch_parse: %s is NULL",
                           !text ? "text" : !n_out ? "n_out" : "arch");
    int32_t n = 0;
    const char *p = text;
    if (*p == '\0') {
        *n_out = 0;
        return SIGEO_OK;
    }
    for (;;) {
        if (*p < '0' || *p > '9')
            return sigeo__fail(SIGEO_ERR_FORMAT, "sigeo_arch_parse: byte %zu: expected a digit, got %s",
                               (size_t)(p - text), *p ? "another character" : "the end");
        if (*p == '0' && p[1] >= '0' && p[1] <= '9')
            return sigeo__fail(SIGEO_ERR_FORMAT, "sigeo_arch_parse: byte %zu: leading zero", (size_t)(p - text));
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            if (v > INT32_MAX)
                return sigeo__fail(SIGEO_ERR_FORMAT, "sigeo_arch_parse: byte %zu: entry %d is too large",
                                   (size_t)(p - text), (int)n);
            p++;
        }
        if (n >= capacity)
            return sigeo__fail(SIGEO_ERR_SHAPE, "sigeo_arch_parse: more than %d entries", (int)capacity);
        arch[n++] = (int32_t)v;
        if (*p == '\0')
            break;
        if (*p != ',')
            return sigeo__fail(SIGEO_ERR_FORMAT, "sigeo_arch_parse: byte %zu: expected ',' or the end",
                               (size_t)(p - text));
        p++;
    }
    *n_out = n;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_describe_arch(char *buf, size_t size, size_t *len_out, const sigeo_model_t *m,
                                                   const int32_t *arch, int32_t n)
{
    static const char fn[] = "sigeo_model_describe_arch";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    sigeo__errbuf_t *err = (sigeo__errbuf_t *)&m->err;
    if (n != m->n_choices || (!arch && n > 0))
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: architecture has %d entries, the model %d", fn, (int)n,
                              (int)m->n_choices);
    if (!buf && size > 0)
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: buf is NULL with size %zu", fn, size);
    size_t len = 0, written = 0;
    for (int32_t c = 0; c < n; c++) {
        const sigeo__choice_t *ch = &m->choices[c];
        if (arch[c] < 0 || arch[c] >= ch->n_options)
            return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s: choice %d ('%s') is %d, outside 0..%d", fn, (int)c,
                                  ch->name, (int)arch[c], (int)ch->n_options - 1);
        char tmp[320];
        int k = ch->values ? snprintf(tmp, sizeof tmp, "%s%s=%lld", c ? " " : "", ch->name,
                                      (long long)ch->values[arch[c]])
                           : snprintf(tmp, sizeof tmp, "%s%s=%d", c ? " " : "", ch->name, (int)arch[c]);
        if (k < 0 || (size_t)k >= sizeof tmp)
            k = (int)sizeof tmp - 1;
        if (buf && written == len && len + (size_t)k < size) {
            memcpy(buf + len, tmp, (size_t)k);
            written += (size_t)k;
        }
        len += (size_t)k;
    }
    if (len_out)
        *len_out = len;
    if (size > 0)
        buf[written] = '\0';
    if (buf && len >= size)
        return sigeo__fail_on(err, SIGEO_ERR_SHAPE, "%s: needs %zu bytes, buffer has %zu", fn, len + 1, size);
    return SIGEO_OK;
}
