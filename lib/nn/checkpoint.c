/* Model checkpoints in the safetensors format (lib/io/safetensors.c does
 * the format; this file maps it onto the model's parameters). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/safetensors.h"
#include "nn/graph.h"
#include "nn/op_batchnorm.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

SIGEO_API sigeo_status_t sigeo_model_save(sigeo_model_t *m, const char *path)
{
    static const char fn[] = "sigeo_model_save";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!path || !path[0])
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: path is %s", fn, path ? "empty" : "NULL");
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fn, m->name);
    size_t arch_len = 0;
    sigeo_arch_format(NULL, 0, &arch_len, m->arch, m->n_choices);
    /* Batch norms also save their buffers under PyTorch's names. */
    int32_t n_bn = 0;
    for (int32_t i = 0; i < m->n_nodes; i++)
        n_bn += m->nodes[i].kind == SIGEO_LAYER_BATCH_NORM;
    const size_t n_tensors = (size_t)m->n_params + 3 * (size_t)n_bn;
    sigeo__st_tensor_in_t *t = sigeo__calloc(n_tensors > 0 ? n_tensors : 1, sizeof *t);
    char *arch = sigeo__alloc(arch_len + 1);
    char *names = sigeo__alloc((size_t)n_bn * 3 * 192 + 1);
    if (!t || !arch || !names) {
        sigeo__free(t);
        sigeo__free(arch);
        sigeo__free(names);
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    sigeo_arch_format(arch, arch_len + 1, NULL, m->arch, m->n_choices);
    for (int32_t i = 0; i < m->n_params; i++) {
        const sigeo__param_t *p = &m->params[i];
        t[i].name = p->name;
        t[i].dtype = SIGEO__ST_F32;
        t[i].ndim = (uint32_t)p->ndim;
        t[i].dims = p->dims;
        t[i].data = p->data;
    }
    size_t k = (size_t)m->n_params;
    int32_t b = 0;
    for (int32_t i = 0; i < m->n_nodes; i++) {
        sigeo__node_t *n = &m->nodes[i];
        float *mean, *var;
        int64_t *tracked;
        if (!sigeo__batch_norm_buffers(n, &mean, &var, &tracked))
            continue;
        static const char *const suffix[3] = { "running_mean", "running_var", "num_batches_tracked" };
        for (int j = 0; j < 3; j++) {
            char *name = names + (size_t)(3 * b + j) * 192;
            snprintf(name, 192, "%s.%s", n->name, suffix[j]);
            t[k].name = name;
            t[k].dtype = j < 2 ? SIGEO__ST_F32 : SIGEO__ST_I64;
            t[k].ndim = j < 2 ? 1u : 0u;
            t[k].dims = j < 2 ? &n->units : NULL;
            t[k].data = j == 0 ? (const void *)mean : j == 1 ? (const void *)var : (const void *)tracked;
            k++;
        }
        b++;
    }
    const char *keys[] = { "format", "libsigeo_version", "model", "arch" };
    const char *values[] = { "pt", SIGEO_VERSION_STRING, m->name, arch };
    sigeo_status_t st = sigeo__st_write(path, t, k, keys, values, 4, &m->err);
    sigeo__free(t);
    sigeo__free(arch);
    sigeo__free(names);
    return st;
}

/* Value j of tensor t as float (F32 or F64, little-endian, maybe unaligned). */
static float value_at(const sigeo__st_tensor_t *t, uint64_t j)
{
    if (t->dtype == SIGEO__ST_F64) {
        double d;
        memcpy(&d, t->data + j * 8, 8);
        return (float)d;
    }
    float f;
    memcpy(&f, t->data + j * 4, 4);
    return f;
}

static sigeo_status_t check_tensor(sigeo_model_t *m, const sigeo__param_t *p, const sigeo__st_tensor_t *t,
                                   const char *path)
{
    static const char fn[] = "sigeo_model_load";
    if (t->dtype != SIGEO__ST_F32 && t->dtype != SIGEO__ST_F64)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: '%s': tensor '%s' is %s; supported: F32, F64", fn, path, t->name,
                    sigeo__st_dtype_name(t->dtype));
    bool same = (int32_t)t->ndim == p->ndim;
    for (int32_t d = 0; same && d < p->ndim; d++)
        same = t->dims[d] == p->dims[d];
    if (!same) {
        char want[96] = "", got[96] = "";
        for (int32_t d = 0; d < p->ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), d ? ",%lld" : "%lld", (long long)p->dims[d]);
        for (uint32_t d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), d ? ",%lld" : "%lld", (long long)t->dims[d]);
        return FAIL(m, SIGEO_ERR_SHAPE, "%s: '%s': tensor '%s' has shape [%s], the model's parameter [%s]", fn, path,
                    t->name, got, want);
    }
    for (uint64_t j = 0; j < t->numel; j++) {
        float v = value_at(t, j);
        if (!isfinite(v))
            return FAIL(m, SIGEO_ERR_NONFINITE, "%s: '%s': tensor '%s' element %llu is %g", fn, path, t->name,
                        (unsigned long long)j, (double)v);
    }
    return SIGEO_OK;
}

/* Whether `name` is a batch-norm buffer of the model ("<bn>.running_mean", ...). */
static bool is_buffer_name(const sigeo_model_t *m, const char *name)
{
    for (int32_t i = 0; i < m->n_nodes; i++) {
        const sigeo__node_t *n = &m->nodes[i];
        size_t len = strlen(n->name);
        if (n->kind != SIGEO_LAYER_BATCH_NORM || strncmp(name, n->name, len) != 0 || name[len] != '.')
            continue;
        const char *s = name + len + 1;
        if (!strcmp(s, "running_mean") || !strcmp(s, "running_var") || !strcmp(s, "num_batches_tracked"))
            return true;
    }
    return false;
}

/* The file's "model" and "arch" metadata against this model (model.h,
 * SIGEO_LOAD_ALLOW_OTHER_MODEL): another model's name, or an architecture
 * that does not fit this model's choice points, is refused. An arch that
 * fits but differs from the active one is fine: weights are saved at their
 * full shape whatever was active. */
static sigeo_status_t check_metadata(sigeo_model_t *m, const sigeo__st_file_t *file, const char *path, const char *fn)
{
    for (size_t k = 0; k < file->n_meta; k++) {
        const char *key = file->meta[k].key, *value = file->meta[k].value;
        if (strcmp(key, "model") == 0 && strcmp(value, m->name) != 0)
            return FAIL(m, SIGEO_ERR_INVALID_ARG,
                        "%s: '%s' was saved from model '%.128s', this is model '%s' (flag "
                        "SIGEO_LOAD_ALLOW_OTHER_MODEL loads it anyway)",
                        fn, path, value, m->name);
        if (strcmp(key, "arch") == 0) {
            int32_t none, n = -1;
            int32_t *arch = m->n_choices > 0 ? m->arch_keep : &none;
            bool fits = sigeo_arch_parse(arch, m->n_choices, &n, value) == SIGEO_OK && n == m->n_choices;
            for (int32_t c = 0; fits && c < n; c++)
                fits = arch[c] >= 0 && arch[c] < m->choices[c].n_options;
            if (!fits)
                return FAIL(m, SIGEO_ERR_INVALID_ARG,
                            "%s: '%s' was saved with architecture '%.128s', which does not fit model '%s' (%d choice "
                            "points; flag SIGEO_LOAD_ALLOW_OTHER_MODEL loads it anyway)",
                            fn, path, value, m->name, (int)m->n_choices);
        }
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_load(sigeo_model_t *m, const char *path, uint32_t flags)
{
    static const char fn[] = "sigeo_model_load";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!path)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: path is NULL", fn);
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fn, m->name);
    if (flags & ~(SIGEO_LOAD_ALLOW_EXTRA | SIGEO_LOAD_ALLOW_MISSING | SIGEO_LOAD_ALLOW_OTHER_MODEL))
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: unknown flags 0x%x", fn, (unsigned)flags);
    sigeo__st_file_t file;
    memset(&file, 0, sizeof file);
    sigeo_status_t st = sigeo__st_read(&file, path, &m->err);
    if (st != SIGEO_OK)
        return st;
    if (!(flags & SIGEO_LOAD_ALLOW_OTHER_MODEL))
        st = check_metadata(m, &file, path, fn);
    /* Everything is checked before anything is copied. */
    for (int32_t i = 0; i < m->n_params && st == SIGEO_OK; i++) {
        const sigeo__st_tensor_t *t = sigeo__st_find(&file, m->params[i].name);
        if (!t) {
            if (!(flags & SIGEO_LOAD_ALLOW_MISSING))
                st = FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: '%s' has no tensor '%s' (model '%s')", fn, path,
                          m->params[i].name, m->name);
            continue;
        }
        st = check_tensor(m, &m->params[i], t, path);
    }
    /* batch-norm buffers: checked like parameters */
    for (int32_t i = 0; i < m->n_nodes && st == SIGEO_OK; i++) {
        sigeo__node_t *n = &m->nodes[i];
        if (n->kind != SIGEO_LAYER_BATCH_NORM)
            continue;
        char name[192];
        for (int j = 0; j < 3 && st == SIGEO_OK; j++) {
            snprintf(name, sizeof name, "%s.%s", n->name, j == 0 ? "running_mean" : j == 1 ? "running_var" : "num_batches_tracked");
            const sigeo__st_tensor_t *t = sigeo__st_find(&file, name);
            if (!t) {
                if (!(flags & SIGEO_LOAD_ALLOW_MISSING))
                    st = FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: '%s' has no tensor '%s' (model '%s')", fn, path, name, m->name);
                continue;
            }
            if (j < 2) {
                sigeo__param_t shape = { 0 };
                shape.ndim = 1;
                shape.dims[0] = n->units;
                shape.numel = n->units;
                st = check_tensor(m, &shape, t, path);
            } else if (t->dtype != SIGEO__ST_I64) {
                st = FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: '%s': tensor '%s' is %s; supported: I64", fn, path, name,
                          sigeo__st_dtype_name(t->dtype));
            } else if (t->numel != 1) {
                st = FAIL(m, SIGEO_ERR_SHAPE, "%s: '%s': tensor '%s' has %llu elements, must be one I64", fn, path,
                          name, (unsigned long long)t->numel);
            }
        }
    }
    if (st == SIGEO_OK && !(flags & SIGEO_LOAD_ALLOW_EXTRA)) {
        for (size_t k = 0; k < file.n_tensors; k++) {
            int32_t idx;
            if (is_buffer_name(m, file.tensors[k].name))
                continue;
            if (sigeo_model_find_param(&idx, m, file.tensors[k].name) != SIGEO_OK) {
                st = FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: '%s' has tensor '%s', which model '%s' does not have", fn,
                          path, file.tensors[k].name, m->name);
                break;
            }
        }
    }
    if (st == SIGEO_OK) {
        for (int32_t i = 0; i < m->n_params; i++) {
            const sigeo__st_tensor_t *t = sigeo__st_find(&file, m->params[i].name);
            if (!t)
                continue;
            for (uint64_t j = 0; j < t->numel; j++)
                m->params[i].data[j] = value_at(t, j);
        }
        for (int32_t i = 0; i < m->n_nodes; i++) {
            float *mean, *var;
            int64_t *tracked;
            if (!sigeo__batch_norm_buffers(&m->nodes[i], &mean, &var, &tracked))
                continue;
            char name[192];
            const sigeo__st_tensor_t *t;
            snprintf(name, sizeof name, "%s.running_mean", m->nodes[i].name);
            if ((t = sigeo__st_find(&file, name)))
                for (uint64_t j = 0; j < t->numel; j++)
                    mean[j] = value_at(t, j);
            snprintf(name, sizeof name, "%s.running_var", m->nodes[i].name);
            if ((t = sigeo__st_find(&file, name)))
                for (uint64_t j = 0; j < t->numel; j++)
                    var[j] = value_at(t, j);
            snprintf(name, sizeof name, "%s.num_batches_tracked", m->nodes[i].name);
            if ((t = sigeo__st_find(&file, name)))
                memcpy(tracked, t->data, sizeof *tracked);
        }
        m->have_forward = false;
    }
    sigeo__st_free(&file);
    return st;
}
