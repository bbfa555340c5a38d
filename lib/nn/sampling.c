/* Choice groups, architecture validity and the path samplers (docs/nasrec.md
 * §3.3-3.4), drawn from the model's random stream (or a search's). */
#include <string.h>

#include "core/rng.h"
#include "nn/graph.h"
#include "nn/probe.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

static int32_t group_of(const sigeo_model_t *m, int32_t point)
{
    for (int32_t g = 0; g < m->n_groups; g++)
        for (int32_t i = 0; i < m->groups[g].n; i++)
            if (m->groups[g].points[i] == point)
                return g;
    return -1;
}

SIGEO_API sigeo_status_t sigeo_model_add_choice_group(sigeo_model_t *m, const char *name, sigeo_group_kind_t kind,
                                                      const int32_t *points, int32_t n)
{
    static const char fn[] = "sigeo_model_add_choice_group";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is already finalised", fn, m->name);
    if (!name || !name[0])
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: a group needs a non-empty name", fn);
    if (kind != SIGEO_GROUP_SUBSET && kind != SIGEO_GROUP_ONE_OF)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s' has unknown kind %d", fn, name, (int)kind);
    if (!points || n < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s' needs at least one point", fn, name);
    for (int32_t i = 0; i < n; i++) {
        int32_t p = points[i];
        if (p < 0 || p >= m->n_choices)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s' point %d is choice %d, which does not exist", fn,
                        name, (int)i, (int)p);
        if (m->choices[p].n_options != 2)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s': choice '%s' has %d options, groups take on/off "
                        "(2-option) points", fn, name, m->choices[p].name, (int)m->choices[p].n_options);
        int32_t g = group_of(m, p);
        if (g >= 0)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice '%s' already belongs to group '%s'", fn,
                        m->choices[p].name, m->groups[g].name);
        for (int32_t j = 0; j < i; j++)
            if (points[j] == p)
                return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s' lists choice %d twice", fn, name, (int)p);
    }
    sigeo__group_t grp = { sigeo__strdup(name), kind, sigeo__calloc((size_t)n, sizeof(int32_t)), n };
    sigeo__group_t *grown = NULL;
    if (grp.name && grp.points)
        grown = sigeo__realloc_array(m->groups, (size_t)m->n_groups, (size_t)m->n_groups + 1, sizeof *grown);
    if (!grown) {
        sigeo__free(grp.name);
        sigeo__free(grp.points);
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    memcpy(grp.points, points, (size_t)n * sizeof *points);
    m->groups = grown;
    m->groups[m->n_groups++] = grp;
    return SIGEO_OK;
}

sigeo_status_t sigeo__check_groups(sigeo_model_t *m, const int32_t *arch, const char *fn)
{
    for (int32_t g = 0; g < m->n_groups; g++) {
        const sigeo__group_t *grp = &m->groups[g];
        int32_t on = 0;
        for (int32_t i = 0; i < grp->n; i++)
            on += arch[grp->points[i]] == 1;
        if (on == 0 || (grp->kind == SIGEO_GROUP_ONE_OF && on != 1))
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: group '%s' has %d of %d points on (%s)", fn, grp->name,
                        (int)on, (int)grp->n, grp->kind == SIGEO_GROUP_ONE_OF ? "needs exactly 1" : "needs >= 1");
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_check_arch(sigeo_model_t *m, const int32_t *arch, int32_t n)
{
    static const char fn[] = "sigeo_model_check_arch";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fn, m->name);
    if (n != m->n_choices || (!arch && n > 0))
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: architecture has %d entries, model '%s' has %d choice points", fn,
                    (int)n, m->name, (int)m->n_choices);
    for (int32_t c = 0; c < n; c++)
        if (arch[c] < 0 || arch[c] >= m->choices[c].n_options)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice %d ('%s') is %d, outside 0..%d", fn, (int)c,
                        m->choices[c].name, (int)arch[c], (int)m->choices[c].n_options - 1);
    /* Activation checks the groups and the routing (layers left without
     * input): try it, then put the active architecture back. */
    if (n == 0)
        return SIGEO_OK;
    memcpy(m->arch_keep, m->arch, (size_t)n * sizeof *m->arch);
    bool had_forward = m->have_forward;
    sigeo_status_t st = sigeo__model_activate(m, arch);
    if (st == SIGEO_OK)
        st = sigeo__model_activate(m, m->arch_keep);
    m->have_forward = had_forward && st == SIGEO_OK && memcmp(m->arch_keep, arch, (size_t)n * sizeof *arch) == 0;
    return st;
}

/* Turns `count` of the group's points on, chosen uniformly without replacement. */
static void draw_subset(sigeo__rng_t *rng, int32_t *arch, const sigeo__group_t *grp, int32_t count)
{
    for (int32_t i = 0; i < grp->n; i++)
        arch[grp->points[i]] = 0;
    for (int32_t k = 0; k < count; k++) {
        /* k-th pick among the points still off */
        int32_t pick = (int32_t)sigeo__rng_below(rng, (uint64_t)(grp->n - k));
        for (int32_t i = 0; i < grp->n; i++) {
            if (arch[grp->points[i]] == 1)
                continue;
            if (pick-- == 0) {
                arch[grp->points[i]] = 1;
                break;
            }
        }
    }
}

static int32_t imin(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

SIGEO_API sigeo_status_t sigeo_model_sample_arch(int32_t *arch, int32_t capacity, sigeo_model_t *m,
                                                 sigeo_sampling_t how)
{
    return sigeo__sample_arch_from(arch, capacity, m, how, NULL);
}

sigeo_status_t sigeo__sample_arch_from(int32_t *arch, int32_t capacity, sigeo_model_t *m, sigeo_sampling_t how,
                                       sigeo__rng_t *rng)
{
    static const char fn[] = "sigeo_model_sample_arch";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fn, m->name);
    if ((!arch && m->n_choices > 0) || capacity < m->n_choices)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: capacity %d < %d choice points", fn, (int)capacity,
                    (int)m->n_choices);
    if (how < SIGEO_SAMPLE_UNIFORM || how > SIGEO_SAMPLE_FULL_PATH)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: unknown sampling strategy %d", fn, (int)how);
    if (!rng)
        rng = sigeo__model_rng(m);
    for (int32_t c = 0; c < m->n_choices; c++) {
        int32_t n = m->choices[c].n_options;
        arch[c] = how == SIGEO_SAMPLE_FULL_PATH ? n - 1 : (int32_t)sigeo__rng_below(rng, (uint64_t)n);
    }
    for (int32_t g = 0; g < m->n_groups; g++) {
        const sigeo__group_t *grp = &m->groups[g];
        int32_t count;
        if (grp->kind == SIGEO_GROUP_ONE_OF || how == SIGEO_SAMPLE_SINGLE_PATH) {
            count = 1;
        } else if (how == SIGEO_SAMPLE_FULL_PATH) {
            count = grp->n;
        } else if (how == SIGEO_SAMPLE_ANY_PATH) {
            count = 1 + (int32_t)sigeo__rng_below(rng, (uint64_t)imin(grp->n, 4));
        } else if (how == SIGEO_SAMPLE_ANY_PATH_BINOMIAL) {
            count = 1;
            for (int32_t t = 0; t < imin(grp->n - 1, 3); t++)
                count += (int32_t)sigeo__rng_below(rng, 2);
        } else {
            /* uniform per point, redrawn until at least one is on */
            int32_t on;
            do {
                on = 0;
                for (int32_t i = 0; i < grp->n; i++)
                    on += (arch[grp->points[i]] = (int32_t)sigeo__rng_below(rng, 2));
            } while (on == 0);
            continue;
        }
        draw_subset(rng, arch, grp, count);
    }
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_mutate_arch(int32_t *arch, int32_t n, sigeo_model_t *m)
{
    return sigeo__mutate_arch_from(arch, n, m, NULL);
}

sigeo_status_t sigeo__mutate_arch_from(int32_t *arch, int32_t n, sigeo_model_t *m, sigeo__rng_t *rng)
{
    static const char fn[] = "sigeo_model_mutate_arch";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!m->finalized)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: model '%s' is not finalised", fn, m->name);
    if (!arch || n != m->n_choices || n < 1)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: architecture has %d entries, model '%s' has %d choice points", fn,
                    (int)n, m->name, (int)m->n_choices);
    for (int32_t c = 0; c < n; c++)
        if (arch[c] < 0 || arch[c] >= m->choices[c].n_options)
            return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: choice %d ('%s') is %d, outside 0..%d", fn, (int)c,
                        m->choices[c].name, (int)arch[c], (int)m->choices[c].n_options - 1);
    if (!rng)
        rng = sigeo__model_rng(m);
    int32_t point = (int32_t)sigeo__rng_below(rng, (uint64_t)n);
    int32_t g = group_of(m, point);
    if (g >= 0) {
        const sigeo__group_t *grp = &m->groups[g];
        int32_t count = grp->kind == SIGEO_GROUP_ONE_OF ? 1
                                                        : 1 + (int32_t)sigeo__rng_below(rng, (uint64_t)imin(grp->n, 4));
        draw_subset(rng, arch, grp, count);
        return SIGEO_OK;
    }
    int32_t k = m->choices[point].n_options;
    if (k > 1) {
        /* a different option, uniformly among the other k - 1 */
        int32_t v = (int32_t)sigeo__rng_below(rng, (uint64_t)(k - 1));
        arch[point] = v >= arch[point] ? v + 1 : v;
    }
    return SIGEO_OK;
}
