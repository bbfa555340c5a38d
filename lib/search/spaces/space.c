/* sigeo_space_build: the dispatcher over the built-in spaces. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "search/spaces/spaces.h"

SIGEO_API sigeo_status_t sigeo_space_options_init(sigeo_space_options_t *options, uint32_t struct_size)
{
    static const sigeo_space_options_t defaults = SIGEO_SPACE_OPTIONS_INIT;
    return sigeo__struct_init(options, struct_size, &defaults, sizeof defaults, "sigeo_space_options");
}

sigeo_status_t sigeo__add(int32_t *out, sigeo_model_t *m, sigeo_layer_desc_t *d, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    d->name = name;
    sigeo_status_t st = sigeo_model_add_layer(out, m, d);
    d->name = NULL;
    return st;
}

SIGEO_API sigeo_status_t sigeo_space_build(sigeo_model_t **out, sigeo_context_t *ctx, const char *name,
                                           const sigeo_space_options_t *options)
{
    static const char fn[] = "sigeo_space_build";
    if (!out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!ctx || !name)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, ctx ? "name" : "ctx");
    sigeo_space_options_t o = SIGEO_SPACE_OPTIONS_INIT;
    sigeo_status_t st = sigeo__struct_in(&o, sizeof o, options, "sigeo_space_options", NULL);
    if (st != SIGEO_OK)
        return st;
    if (o.preset < SIGEO_SPACE_SCALED || o.preset > SIGEO_SPACE_TINY)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: unknown preset %d", fn, (int)o.preset);
    const bool mlp = strcmp(name, "mlp") == 0, small = strcmp(name, "nasrec-small") == 0,
               full = strcmp(name, "nasrec-full") == 0, nb201 = strcmp(name, "nb201-fmnist") == 0;
    if (!mlp && !small && !full && !nb201)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "%s: unknown space '%s' (known: mlp, nasrec-small, nasrec-full, nb201-fmnist)", fn, name);
    sigeo_model_t *m;
    if ((st = sigeo_model_create(&m, ctx, name)) != SIGEO_OK)
        return st;
    st = mlp ? sigeo__space_mlp(m, &o) : nb201 ? sigeo__space_nb201(m, &o) : sigeo__space_nasrec(m, &o, full);
    if (st == SIGEO_OK)
        st = sigeo_model_finalize(m);
    if (st != SIGEO_OK) {
        /* keep the model's message: it says what and where (wrapped
         * before the model that holds its copy goes) */
        st = sigeo__fail_wrap(NULL, st, "%s: space '%s'", fn, name);
        sigeo_model_destroy(m);
        return st;
    }
    *out = m;
    return SIGEO_OK;
}
