/* Block outputs (sigeo_model_mark_block): the nodes a host names as its
 * model's blocks, which AZ-NAS's measures read (lib/proxy/az_nas.c).
 *
 * Kept as a sorted list of node ids. Node order is a topological order,
 * and every mark must depend on the one before it (checked here), so node
 * order is the blocks' depth order whatever order the host marks them in.
 * The checks are structural, over every input of a node whether a choice
 * gates it or not: marks belong to the graph, not to one architecture. */
#include <stdlib.h> /* qsort */
#include <string.h>

#include "nn/graph.h"

#define FAIL(m, status, ...) SIGEO__MODEL_FAIL(m, status, __VA_ARGS__)

/* Whether node `to` depends on node `from` (or is it): a walk back over
 * the inputs from `to` that never goes below `from` (inputs precede their
 * consumers). *out_of_memory on allocation failure. */
static bool depends_on(const sigeo_model_t *m, int32_t to, int32_t from, bool *out_of_memory)
{
    if (to == from)
        return true;
    if (to < from)
        return false;
    const size_t span = (size_t)(to - from + 1);
    bool *seen = sigeo__calloc(span, sizeof *seen);
    int32_t *stack = sigeo__calloc(span, sizeof *stack);
    bool found = false;
    if (!seen || !stack) {
        *out_of_memory = true;
        goto done;
    }
    int32_t top = 0;
    stack[top++] = to;
    seen[to - from] = true;
    while (top > 0 && !found) {
        const sigeo__node_t *n = &m->nodes[stack[--top]];
        for (int32_t i = 0; i < n->n_inputs; i++) {
            const int32_t in = n->inputs[i];
            if (in == from) {
                found = true;
                break;
            }
            if (in > from && !seen[in - from]) {
                seen[in - from] = true;
                stack[top++] = in;
            }
        }
    }
done:
    sigeo__free(seen);
    sigeo__free(stack);
    return found;
}

SIGEO_API sigeo_status_t sigeo_model_mark_block(sigeo_model_t *m, int32_t node)
{
    static const char fn[] = "sigeo_model_mark_block";
    if (!m)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (node < 0 || node >= m->n_nodes)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: node %d does not exist (model '%s' has %d nodes)", fn, (int)node,
                    m->name, (int)m->n_nodes);
    const sigeo__node_t *n = &m->nodes[node];
    if (n->op->input)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: node '%s' is a model input, not a block output", fn, n->name);
    if (m->loss_node < 0)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "%s: model '%s' has no loss yet: mark blocks after sigeo_model_set_loss (a block must be a node "
                    "the loss depends on)",
                    fn, m->name);
    int32_t at = 0; /* insertion point in the sorted list */
    while (at < m->n_blocks && m->blocks[at] < node)
        at++;
    if (at < m->n_blocks && m->blocks[at] == node)
        return FAIL(m, SIGEO_ERR_INVALID_ARG, "%s: node '%s' is already a block", fn, n->name);
    bool oom = false;
    if (!depends_on(m, m->loss_node, node, &oom) && !oom)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "%s: the loss (node '%s') does not depend on node '%s': a block must lie on the way to the loss",
                    fn, m->nodes[m->loss_node].name, n->name);
    if (!oom && at > 0 && !depends_on(m, node, m->blocks[at - 1], &oom) && !oom)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "%s: node '%s' does not depend on block '%s' before it in node order: AZ-NAS blocks form a chain "
                    "(parallel branches are not blocks; mark the node that joins them)",
                    fn, n->name, m->nodes[m->blocks[at - 1]].name);
    if (!oom && at < m->n_blocks && !depends_on(m, m->blocks[at], node, &oom) && !oom)
        return FAIL(m, SIGEO_ERR_INVALID_ARG,
                    "%s: block '%s' after node '%s' in node order does not depend on it: AZ-NAS blocks form a chain "
                    "(parallel branches are not blocks; mark the node that joins them)",
                    fn, m->nodes[m->blocks[at]].name, n->name);
    if (!oom && m->n_blocks == m->cap_blocks) {
        const int32_t cap = m->cap_blocks ? 2 * m->cap_blocks : 8;
        int32_t *grown = sigeo__realloc_array(m->blocks, (size_t)m->cap_blocks, (size_t)cap, sizeof *grown);
        if (grown) {
            m->blocks = grown;
            m->cap_blocks = cap;
        } else
            oom = true;
    }
    if (oom)
        return FAIL(m, SIGEO_ERR_NO_MEMORY, "%s: out of memory marking node '%s'", fn, n->name);
    memmove(m->blocks + at + 1, m->blocks + at, (size_t)(m->n_blocks - at) * sizeof *m->blocks);
    m->blocks[at] = node;
    m->n_blocks++;
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_model_blocks(int32_t *count_out, int32_t *nodes, int32_t capacity,
                                            const sigeo_model_t *m)
{
    static const char fn[] = "sigeo_model_blocks";
    if (!m || !count_out)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, m ? "count_out" : "model");
    *count_out = m->n_blocks;
    if (!nodes)
        return SIGEO_OK;
    if (capacity < m->n_blocks)
        return sigeo__fail_on((sigeo__errbuf_t *)&m->err, SIGEO_ERR_INVALID_ARG, "%s: capacity %d < %d blocks", fn,
                              (int)capacity, (int)m->n_blocks);
    if (m->n_blocks)
        memcpy(nodes, m->blocks, (size_t)m->n_blocks * sizeof *nodes);
    return SIGEO_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

sigeo_status_t sigeo__model_carry_blocks(sigeo_model_t *x, const sigeo_model_t *m, const int32_t *map)
{
    if (m->n_blocks == 0)
        return SIGEO_OK;
    int32_t *b = sigeo__calloc((size_t)m->n_blocks, sizeof *b);
    if (!b)
        return FAIL(x, SIGEO_ERR_NO_MEMORY, "sigeo_model_extract: out of memory carrying the blocks");
    /* An inactive block is not in the standalone model. A block on an op
     * choice lands on the chosen branch (the node that replaces it), which
     * may sort before other blocks or be one itself: sort, drop repeats.
     * No chain check: the standalone model reads exactly the blocks the
     * supernet's path reads, so both score the same. */
    int32_t n = 0;
    for (int32_t k = 0; k < m->n_blocks; k++)
        if (map[m->blocks[k]] >= 0)
            b[n++] = map[m->blocks[k]];
    qsort(b, (size_t)n, sizeof *b, cmp_i32);
    int32_t u = 0;
    for (int32_t k = 0; k < n; k++)
        if (u == 0 || b[k] != b[u - 1])
            b[u++] = b[k];
    sigeo__free(x->blocks);
    x->blocks = b;
    x->n_blocks = u;
    x->cap_blocks = m->n_blocks;
    return SIGEO_OK;
}

int32_t sigeo__probe_block_count(const sigeo_model_t *m)
{
    return m->n_blocks;
}

const int32_t *sigeo__probe_blocks(const sigeo_model_t *m)
{
    return m->blocks;
}
