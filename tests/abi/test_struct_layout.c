/* struct_layout: sizeof/offsetof pins of every public struct on x86_64
 * (LP64, SysV). A struct crosses the ABI by value, so a moved or resized
 * member breaks every host binary; the pins make such a change fail here
 * even before abidiff_baseline looks at it.
 *
 * Each struct is pinned member by member, in order. The check asserts that
 *  - struct_size is the first member, at offset 0, and is a uint32_t;
 *  - every member sits at its pinned offset with its pinned size;
 *  - the members tile the struct: each starts where the previous one ends
 *    and the last ends at sizeof, so there is no padding, inner or trailing
 *    (style.md §4: a new field could otherwise hide in it), and no member is
 *    missing from the list.
 *
 * WHOEVER ADDS A PUBLIC STRUCT (a `typedef struct ... { ... } sigeo_*_t;` in
 * include/sigeo/) ADDS ITS PINS HERE, and whoever appends a field appends its
 * pin and updates the struct's size. The struct_layout_covers_all_structs
 * test fails while a public struct has no LAYOUT() entry below. Never change
 * an existing pin to make this test pass: that is an ABI break.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sigeo/sigeo.h"
#include "sigeo/data.h"
#include "sigeo/model.h"
#include "sigeo/stats.h"

typedef struct pin {
    const char *member;
    size_t offset, size;         /* pinned */
    size_t real_offset, real_size; /* what this compiler says */
} pin_t;

typedef struct layout {
    const char *type;
    size_t size, real_size;
    int struct_size_is_u32;
    const pin_t *pins;
    size_t n_pins;
} layout_t;

#define PIN(T, m, off, sz) { #m, (off), (sz), offsetof(T, m), sizeof(((T *)0)->m) }
#define LAYOUT(T, sz, ...)                                                                          \
    {                                                                                               \
        #T, (sz), sizeof(T), _Generic(((T *)0)->struct_size, uint32_t: 1, default: 0),              \
            (const pin_t[]){ __VA_ARGS__ }, sizeof((pin_t[]){ __VA_ARGS__ }) / sizeof(pin_t)         \
    }

/* ------------------------------------------------------------ sigeo/sigeo.h */
#define SIGEO_ABI_LAYOUTS_SIGEO_H                                                                     \
    LAYOUT(sigeo_allocator_t, 32,                                                                  \
           PIN(sigeo_allocator_t, struct_size, 0, 4),                                              \
           PIN(sigeo_allocator_t, reserved0, 4, 4),                                                \
           PIN(sigeo_allocator_t, alloc, 8, 8),                                                    \
           PIN(sigeo_allocator_t, release, 16, 8),                                                 \
           PIN(sigeo_allocator_t, user, 24, 8)),                                                   \
    LAYOUT(sigeo_context_options_t, 16,                                                            \
           PIN(sigeo_context_options_t, struct_size, 0, 4),                                        \
           PIN(sigeo_context_options_t, threads, 4, 4),                                            \
           PIN(sigeo_context_options_t, seed, 8, 8))

/* ------------------------------------------------------------ sigeo/stats.h */
#define SIGEO_ABI_LAYOUTS_STATS_H                                                                     \
    LAYOUT(sigeo_stats_options_t, 48,                                                              \
           PIN(sigeo_stats_options_t, struct_size, 0, 4),                                          \
           PIN(sigeo_stats_options_t, zico_variant, 4, 4),                                         \
           PIN(sigeo_stats_options_t, fr_estimator, 8, 4),                                         \
           PIN(sigeo_stats_options_t, loss_term, 12, 4),                                           \
           PIN(sigeo_stats_options_t, lambda_preset, 16, 4),                                       \
           PIN(sigeo_stats_options_t, std_ddof, 20, 4),                                            \
           PIN(sigeo_stats_options_t, lambda1, 24, 8),                                             \
           PIN(sigeo_stats_options_t, lambda2, 32, 8),                                             \
           PIN(sigeo_stats_options_t, lambda3, 40, 8)),                                            \
    LAYOUT(sigeo_stats_batch_t, 48,                                                                \
           PIN(sigeo_stats_batch_t, struct_size, 0, 4),                                            \
           PIN(sigeo_stats_batch_t, n_modules, 4, 4),                                              \
           PIN(sigeo_stats_batch_t, gradients, 8, 8),                                              \
           PIN(sigeo_stats_batch_t, gradient_counts, 16, 8),                                       \
           PIN(sigeo_stats_batch_t, loss, 24, 8),                                                  \
           PIN(sigeo_stats_batch_t, batch_size, 32, 8),                                            \
           PIN(sigeo_stats_batch_t, directional, 40, 8)),                                          \
    LAYOUT(sigeo_stats_result_t, 136,                                                              \
           PIN(sigeo_stats_result_t, struct_size, 0, 4),                                           \
           PIN(sigeo_stats_result_t, flags, 4, 4),                                                 \
           PIN(sigeo_stats_result_t, score, 8, 8),                                                 \
           PIN(sigeo_stats_result_t, zico, 16, 8),                                                 \
           PIN(sigeo_stats_result_t, fr, 24, 8),                                                   \
           PIN(sigeo_stats_result_t, log_fr, 32, 8),                                               \
           PIN(sigeo_stats_result_t, loss, 40, 8),                                                 \
           PIN(sigeo_stats_result_t, theta_dot_grad_sum, 48, 8),                                   \
           PIN(sigeo_stats_result_t, lambda1, 56, 8),                                              \
           PIN(sigeo_stats_result_t, lambda2, 64, 8),                                              \
           PIN(sigeo_stats_result_t, lambda3, 72, 8),                                              \
           PIN(sigeo_stats_result_t, n_batches, 80, 8),                                            \
           PIN(sigeo_stats_result_t, n_samples, 88, 8),                                            \
           PIN(sigeo_stats_result_t, n_params, 96, 8),                                             \
           PIN(sigeo_stats_result_t, n_modules, 104, 4),                                           \
           PIN(sigeo_stats_result_t, n_modules_skipped, 108, 4),                                   \
           PIN(sigeo_stats_result_t, zico_variant, 112, 4),                                        \
           PIN(sigeo_stats_result_t, fr_estimator, 116, 4),                                        \
           PIN(sigeo_stats_result_t, loss_term, 120, 4),                                           \
           PIN(sigeo_stats_result_t, std_ddof, 124, 4),                                            \
           PIN(sigeo_stats_result_t, library_version, 128, 4),                                     \
           PIN(sigeo_stats_result_t, reserved0, 132, 4)),                                          \
    LAYOUT(sigeo_stats_module_info_t, 56,                                                          \
           PIN(sigeo_stats_module_info_t, struct_size, 0, 4),                                      \
           PIN(sigeo_stats_module_info_t, skipped, 4, 4),                                          \
           PIN(sigeo_stats_module_info_t, n_params, 8, 8),                                         \
           PIN(sigeo_stats_module_info_t, n_nonzero_sigma, 16, 8),                                 \
           PIN(sigeo_stats_module_info_t, ratio_sum, 24, 8),                                       \
           PIN(sigeo_stats_module_info_t, zico_term, 32, 8),                                       \
           PIN(sigeo_stats_module_info_t, theta_dot_grad_sum, 40, 8),                              \
           PIN(sigeo_stats_module_info_t, name, 48, 8))

/* ------------------------------------------------------------- sigeo/data.h */
#define SIGEO_ABI_LAYOUTS_DATA_H                                                                      \
    LAYOUT(sigeo_batch_t, 72,                                                                      \
           PIN(sigeo_batch_t, struct_size, 0, 4),                                                  \
           PIN(sigeo_batch_t, n_sparse_fields, 4, 4),                                              \
           PIN(sigeo_batch_t, batch_size, 8, 8),                                                   \
           PIN(sigeo_batch_t, dense, 16, 8),                                                       \
           PIN(sigeo_batch_t, n_dense, 24, 8),                                                     \
           PIN(sigeo_batch_t, sparse_ids, 32, 8),                                                  \
           PIN(sigeo_batch_t, sparse_offsets, 40, 8),                                              \
           PIN(sigeo_batch_t, labels, 48, 8),                                                      \
           PIN(sigeo_batch_t, targets, 56, 8),                                                     \
           PIN(sigeo_batch_t, n_targets, 64, 8))

/* ------------------------------------------------------------ sigeo/model.h */
#define SIGEO_ABI_LAYOUTS_MODEL_H                                                                     \
    LAYOUT(sigeo_input_desc_t, 56,                                                                 \
           PIN(sigeo_input_desc_t, struct_size, 0, 4),                                             \
           PIN(sigeo_input_desc_t, kind, 4, 4),                                                    \
           PIN(sigeo_input_desc_t, name, 8, 8),                                                    \
           PIN(sigeo_input_desc_t, features, 16, 8),                                               \
           PIN(sigeo_input_desc_t, shape, 24, 24),                                                 \
           PIN(sigeo_input_desc_t, field, 48, 4),                                                  \
           PIN(sigeo_input_desc_t, reserved0, 52, 4)),                                             \
    LAYOUT(sigeo_layer_desc_t, 72,                                                                 \
           PIN(sigeo_layer_desc_t, struct_size, 0, 4),                                             \
           PIN(sigeo_layer_desc_t, kind, 4, 4),                                                    \
           PIN(sigeo_layer_desc_t, name, 8, 8),                                                    \
           PIN(sigeo_layer_desc_t, inputs, 16, 8),                                                 \
           PIN(sigeo_layer_desc_t, n_inputs, 24, 4),                                               \
           PIN(sigeo_layer_desc_t, flags, 28, 4),                                                  \
           PIN(sigeo_layer_desc_t, units, 32, 8),                                                  \
           PIN(sigeo_layer_desc_t, rows, 40, 8),                                                   \
           PIN(sigeo_layer_desc_t, activation, 48, 4),                                             \
           PIN(sigeo_layer_desc_t, pooling, 52, 4),                                                \
           PIN(sigeo_layer_desc_t, width_choice, 56, 4),                                           \
           PIN(sigeo_layer_desc_t, choice, 60, 4),                                                 \
           PIN(sigeo_layer_desc_t, input_choices, 64, 8)),                                         \
    LAYOUT(sigeo_param_info_t, 72,                                                                 \
           PIN(sigeo_param_info_t, struct_size, 0, 4),                                             \
           PIN(sigeo_param_info_t, kind, 4, 4),                                                    \
           PIN(sigeo_param_info_t, name, 8, 8),                                                    \
           PIN(sigeo_param_info_t, module, 16, 4),                                                 \
           PIN(sigeo_param_info_t, ndim, 20, 4),                                                   \
           PIN(sigeo_param_info_t, dims, 24, 32),                                                  \
           PIN(sigeo_param_info_t, numel, 56, 8),                                                  \
           PIN(sigeo_param_info_t, active_numel, 64, 8))

/* A header added later (proxy.h, train.h, search.h, io.h, ...): include it
 * above, add a SIGEO_ABI_LAYOUTS_<HEADER>_H block with one LAYOUT() per
 * struct, and list it here. A struct added to an existing header gets its
 * LAYOUT() in that header's block. */
#define SIGEO_ABI_ALL_LAYOUTS                                                                         \
    SIGEO_ABI_LAYOUTS_SIGEO_H, SIGEO_ABI_LAYOUTS_STATS_H, SIGEO_ABI_LAYOUTS_DATA_H, SIGEO_ABI_LAYOUTS_MODEL_H

static int check(const layout_t *l)
{
    int bad = 0;
    size_t end = 0;
    if (l->n_pins == 0 || strcmp(l->pins[0].member, "struct_size") != 0 || l->pins[0].real_offset != 0 ||
        l->pins[0].real_size != sizeof(uint32_t) || !l->struct_size_is_u32) {
        printf("FAIL %s: must start with `uint32_t struct_size` at offset 0 (DESIGN.md §3)\n", l->type);
        bad = 1;
    }
    for (size_t i = 0; i < l->n_pins; i++) {
        const pin_t *p = &l->pins[i];
        if (p->real_offset != p->offset || p->real_size != p->size) {
            printf("FAIL %s.%s: offset %zu size %zu, pinned offset %zu size %zu\n", l->type, p->member,
                   p->real_offset, p->real_size, p->offset, p->size);
            bad = 1;
        }
        if (p->real_offset != end) {
            printf("FAIL %s.%s: starts at %zu but the previous member ends at %zu (%s)\n", l->type, p->member,
                   p->real_offset, end, p->real_offset > end ? "padding" : "pins out of order");
            bad = 1;
        }
        end = p->real_offset + p->real_size;
    }
    if (l->real_size != l->size) {
        printf("FAIL %s: sizeof is %zu, pinned %zu\n", l->type, l->real_size, l->size);
        bad = 1;
    }
    if (end != l->real_size) {
        printf("FAIL %s: the pinned members cover %zu of its %zu bytes (%s)\n", l->type, end, l->real_size,
               end < l->real_size ? "trailing padding, or a member without a pin" : "pins overlap");
        bad = 1;
    }
    if (!bad)
        printf("ok   %-28s %3zu bytes, %2zu members, no padding\n", l->type, l->real_size, l->n_pins);
    return bad;
}

int main(int argc, char **argv)
{
    const layout_t layouts[] = { SIGEO_ABI_ALL_LAYOUTS }; /* automatic: holds compound literals */
    size_t n = sizeof layouts / sizeof layouts[0];

    /* --list: the pinned type names, for struct_layout_covers_all_structs. */
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", layouts[i].type);
        return 0;
    }
#if !(defined(__x86_64__) && defined(__LP64__))
    (void)argc;
    (void)argv;
    printf("SKIP: the pins describe the x86_64 (LP64) ABI\n");
    return 77;
#else
    int failures = 0;
    for (size_t i = 0; i < n; i++)
        failures += check(&layouts[i]);
    if (failures) {
        printf("%d struct(s) changed layout: that breaks the ABI of libsigeo.so.1 unless the only change is\n"
               "a field appended at the end (then append its pin and update the size)\n",
               failures);
        return 1;
    }
    return 0;
#endif
}
