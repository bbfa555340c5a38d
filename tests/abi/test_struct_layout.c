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
 *    (docs/style.md §4: a new field could otherwise hide in it), and no member is
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
#include "sigeo/io.h"
#include "sigeo/nas.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"

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

/* ------------------------------------------------------- sigeo/sigeo.h */
#define SIGEO_ABI_LAYOUTS_SIGEO_H                                                            \
    LAYOUT(sigeo_allocator_t, 32,                                                             \
           PIN(sigeo_allocator_t, struct_size, 0, 4),                                         \
           PIN(sigeo_allocator_t, reserved0, 4, 4),                                           \
           PIN(sigeo_allocator_t, alloc, 8, 8),                                               \
           PIN(sigeo_allocator_t, release, 16, 8),                                            \
           PIN(sigeo_allocator_t, user, 24, 8)),                                              \
    LAYOUT(sigeo_context_options_t, 32,                                                       \
           PIN(sigeo_context_options_t, struct_size, 0, 4),                                   \
           PIN(sigeo_context_options_t, threads, 4, 4),                                       \
           PIN(sigeo_context_options_t, seed, 8, 8),                                          \
           PIN(sigeo_context_options_t, thread_policy, 16, 4),                                \
           PIN(sigeo_context_options_t, reserved0, 20, 4),                                    \
           PIN(sigeo_context_options_t, parallel_min_flops, 24, 8))

/* ------------------------------------------------------- sigeo/stats.h */
#define SIGEO_ABI_LAYOUTS_STATS_H                                                            \
    LAYOUT(sigeo_stats_options_t, 48,                                                         \
           PIN(sigeo_stats_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_stats_options_t, zico_variant, 4, 4),                                    \
           PIN(sigeo_stats_options_t, fr_estimator, 8, 4),                                    \
           PIN(sigeo_stats_options_t, loss_term, 12, 4),                                      \
           PIN(sigeo_stats_options_t, lambda_preset, 16, 4),                                  \
           PIN(sigeo_stats_options_t, std_ddof, 20, 4),                                       \
           PIN(sigeo_stats_options_t, lambda1, 24, 8),                                        \
           PIN(sigeo_stats_options_t, lambda2, 32, 8),                                        \
           PIN(sigeo_stats_options_t, lambda3, 40, 8)),                                       \
    LAYOUT(sigeo_stats_batch_t, 64,                                                           \
           PIN(sigeo_stats_batch_t, struct_size, 0, 4),                                       \
           PIN(sigeo_stats_batch_t, n_modules, 4, 4),                                         \
           PIN(sigeo_stats_batch_t, gradients, 8, 8),                                         \
           PIN(sigeo_stats_batch_t, gradient_counts, 16, 8),                                  \
           PIN(sigeo_stats_batch_t, loss, 24, 8),                                             \
           PIN(sigeo_stats_batch_t, batch_size, 32, 8),                                       \
           PIN(sigeo_stats_batch_t, directional, 40, 8),                                      \
           PIN(sigeo_stats_batch_t, touched_rows, 48, 8),                                     \
           PIN(sigeo_stats_batch_t, touched_counts, 56, 8)),                                  \
    LAYOUT(sigeo_stats_result_t, 224,                                                         \
           PIN(sigeo_stats_result_t, struct_size, 0, 4),                                      \
           PIN(sigeo_stats_result_t, flags, 4, 4),                                            \
           PIN(sigeo_stats_result_t, score, 8, 8),                                            \
           PIN(sigeo_stats_result_t, zico, 16, 8),                                            \
           PIN(sigeo_stats_result_t, fr, 24, 8),                                              \
           PIN(sigeo_stats_result_t, log_fr, 32, 8),                                          \
           PIN(sigeo_stats_result_t, loss, 40, 8),                                            \
           PIN(sigeo_stats_result_t, theta_dot_grad_sum, 48, 8),                              \
           PIN(sigeo_stats_result_t, lambda1, 56, 8),                                         \
           PIN(sigeo_stats_result_t, lambda2, 64, 8),                                         \
           PIN(sigeo_stats_result_t, lambda3, 72, 8),                                         \
           PIN(sigeo_stats_result_t, n_batches, 80, 8),                                       \
           PIN(sigeo_stats_result_t, n_samples, 88, 8),                                       \
           PIN(sigeo_stats_result_t, n_params, 96, 8),                                        \
           PIN(sigeo_stats_result_t, n_modules, 104, 4),                                      \
           PIN(sigeo_stats_result_t, n_modules_skipped, 108, 4),                              \
           PIN(sigeo_stats_result_t, zico_variant, 112, 4),                                   \
           PIN(sigeo_stats_result_t, fr_estimator, 116, 4),                                   \
           PIN(sigeo_stats_result_t, loss_term, 120, 4),                                      \
           PIN(sigeo_stats_result_t, std_ddof, 124, 4),                                       \
           PIN(sigeo_stats_result_t, library_version, 128, 4),                                \
           PIN(sigeo_stats_result_t, reserved0, 132, 4),                                      \
           PIN(sigeo_stats_result_t, loss_mean, 136, 8),                                      \
           PIN(sigeo_stats_result_t, loss_last, 144, 8),                                      \
           PIN(sigeo_stats_result_t, fr_exact, 152, 8),                                       \
           PIN(sigeo_stats_result_t, log_fr_exact, 160, 8),                                   \
           PIN(sigeo_stats_result_t, fr_reference_recsys, 168, 8),                            \
           PIN(sigeo_stats_result_t, log_fr_reference_recsys, 176, 8),                        \
           PIN(sigeo_stats_result_t, fr_reference_cv, 184, 8),                                \
           PIN(sigeo_stats_result_t, log_fr_reference_cv, 192, 8),                            \
           PIN(sigeo_stats_result_t, zico_module_wise, 200, 8),                               \
           PIN(sigeo_stats_result_t, zico_neuron_wise, 208, 8),                               \
           PIN(sigeo_stats_result_t, zico_reference_recsys, 216, 8)),                                     \
    LAYOUT(sigeo_stats_module_info_t, 56,                                                     \
           PIN(sigeo_stats_module_info_t, struct_size, 0, 4),                                 \
           PIN(sigeo_stats_module_info_t, skipped, 4, 4),                                     \
           PIN(sigeo_stats_module_info_t, n_params, 8, 8),                                    \
           PIN(sigeo_stats_module_info_t, n_nonzero_sigma, 16, 8),                            \
           PIN(sigeo_stats_module_info_t, ratio_sum, 24, 8),                                  \
           PIN(sigeo_stats_module_info_t, zico_term, 32, 8),                                  \
           PIN(sigeo_stats_module_info_t, theta_dot_grad_sum, 40, 8),                         \
           PIN(sigeo_stats_module_info_t, name, 48, 8)),                                     \
    LAYOUT(sigeo_stats_flat_batch_t, 96,                                                      \
           PIN(sigeo_stats_flat_batch_t, struct_size, 0, 4),                                  \
           PIN(sigeo_stats_flat_batch_t, n_modules, 4, 4),                                    \
           PIN(sigeo_stats_flat_batch_t, gradients, 8, 8),                                    \
           PIN(sigeo_stats_flat_batch_t, gradients_len, 16, 8),                               \
           PIN(sigeo_stats_flat_batch_t, module_offsets, 24, 8),                              \
           PIN(sigeo_stats_flat_batch_t, module_counts, 32, 8),                               \
           PIN(sigeo_stats_flat_batch_t, loss, 40, 8),                                        \
           PIN(sigeo_stats_flat_batch_t, batch_size, 48, 8),                                  \
           PIN(sigeo_stats_flat_batch_t, directional, 56, 8),                                 \
           PIN(sigeo_stats_flat_batch_t, touched_rows, 64, 8),                                \
           PIN(sigeo_stats_flat_batch_t, touched_rows_len, 72, 8),                            \
           PIN(sigeo_stats_flat_batch_t, touched_offsets, 80, 8),                             \
           PIN(sigeo_stats_flat_batch_t, touched_counts, 88, 8))

/* -------------------------------------------------------- sigeo/data.h */
#define SIGEO_ABI_LAYOUTS_DATA_H                                                             \
    LAYOUT(sigeo_batch_t, 72,                                                                 \
           PIN(sigeo_batch_t, struct_size, 0, 4),                                             \
           PIN(sigeo_batch_t, n_sparse_fields, 4, 4),                                         \
           PIN(sigeo_batch_t, batch_size, 8, 8),                                              \
           PIN(sigeo_batch_t, dense, 16, 8),                                                  \
           PIN(sigeo_batch_t, n_dense, 24, 8),                                                \
           PIN(sigeo_batch_t, sparse_ids, 32, 8),                                             \
           PIN(sigeo_batch_t, sparse_offsets, 40, 8),                                         \
           PIN(sigeo_batch_t, labels, 48, 8),                                                 \
           PIN(sigeo_batch_t, targets, 56, 8),                                                \
           PIN(sigeo_batch_t, n_targets, 64, 8)),                                             \
    LAYOUT(sigeo_dataset_info_t, 64,                                                          \
           PIN(sigeo_dataset_info_t, struct_size, 0, 4),                                      \
           PIN(sigeo_dataset_info_t, n_sparse_fields, 4, 4),                                  \
           PIN(sigeo_dataset_info_t, n_rows, 8, 8),                                           \
           PIN(sigeo_dataset_info_t, n_dense, 16, 8),                                         \
           PIN(sigeo_dataset_info_t, n_ids, 24, 8),                                           \
           PIN(sigeo_dataset_info_t, n_targets, 32, 8),                                       \
           PIN(sigeo_dataset_info_t, has_labels, 40, 4),                                      \
           PIN(sigeo_dataset_info_t, n_classes, 44, 4),                                       \
           PIN(sigeo_dataset_info_t, image_height, 48, 8),                                    \
           PIN(sigeo_dataset_info_t, image_width, 56, 8)),                                    \
    LAYOUT(sigeo_split_options_t, 40,                                                         \
           PIN(sigeo_split_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_split_options_t, mode, 4, 4),                                            \
           PIN(sigeo_split_options_t, seed, 8, 8),                                            \
           PIN(sigeo_split_options_t, train_fraction, 16, 8),                                 \
           PIN(sigeo_split_options_t, val_fraction, 24, 8),                                   \
           PIN(sigeo_split_options_t, test_fraction, 32, 8))

/* ------------------------------------------------------- sigeo/model.h */
#define SIGEO_ABI_LAYOUTS_MODEL_H                                                            \
    LAYOUT(sigeo_input_desc_t, 56,                                                            \
           PIN(sigeo_input_desc_t, struct_size, 0, 4),                                        \
           PIN(sigeo_input_desc_t, kind, 4, 4),                                               \
           PIN(sigeo_input_desc_t, name, 8, 8),                                               \
           PIN(sigeo_input_desc_t, features, 16, 8),                                          \
           PIN(sigeo_input_desc_t, shape, 24, 24),                                            \
           PIN(sigeo_input_desc_t, field, 48, 4),                                             \
           PIN(sigeo_input_desc_t, reserved0, 52, 4)),                                        \
    LAYOUT(sigeo_layer_desc_t, 160,                                                           \
           PIN(sigeo_layer_desc_t, struct_size, 0, 4),                                        \
           PIN(sigeo_layer_desc_t, kind, 4, 4),                                               \
           PIN(sigeo_layer_desc_t, name, 8, 8),                                               \
           PIN(sigeo_layer_desc_t, inputs, 16, 8),                                            \
           PIN(sigeo_layer_desc_t, n_inputs, 24, 4),                                          \
           PIN(sigeo_layer_desc_t, flags, 28, 4),                                             \
           PIN(sigeo_layer_desc_t, units, 32, 8),                                             \
           PIN(sigeo_layer_desc_t, rows, 40, 8),                                              \
           PIN(sigeo_layer_desc_t, activation, 48, 4),                                        \
           PIN(sigeo_layer_desc_t, pooling, 52, 4),                                           \
           PIN(sigeo_layer_desc_t, width_choice, 56, 4),                                      \
           PIN(sigeo_layer_desc_t, choice, 60, 4),                                            \
           PIN(sigeo_layer_desc_t, input_choices, 64, 8),                                     \
           PIN(sigeo_layer_desc_t, kernel, 72, 16),                                           \
           PIN(sigeo_layer_desc_t, stride, 88, 16),                                           \
           PIN(sigeo_layer_desc_t, padding, 104, 16),                                         \
           PIN(sigeo_layer_desc_t, shape, 120, 24),                                           \
           PIN(sigeo_layer_desc_t, offset, 144, 8),                                           \
           PIN(sigeo_layer_desc_t, heads, 152, 4),                                            \
           PIN(sigeo_layer_desc_t, reserved0, 156, 4)),                                       \
    LAYOUT(sigeo_param_info_t, 72,                                                            \
           PIN(sigeo_param_info_t, struct_size, 0, 4),                                        \
           PIN(sigeo_param_info_t, kind, 4, 4),                                               \
           PIN(sigeo_param_info_t, name, 8, 8),                                               \
           PIN(sigeo_param_info_t, module, 16, 4),                                            \
           PIN(sigeo_param_info_t, ndim, 20, 4),                                              \
           PIN(sigeo_param_info_t, dims, 24, 32),                                             \
           PIN(sigeo_param_info_t, numel, 56, 8),                                             \
           PIN(sigeo_param_info_t, active_numel, 64, 8))

/* ------------------------------------------------------- sigeo/proxy.h */
#define SIGEO_ABI_LAYOUTS_PROXY_H                                                            \
    LAYOUT(sigeo_proxy_options_t, 128,                                                         \
           PIN(sigeo_proxy_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_proxy_options_t, kind, 4, 4),                                            \
           PIN(sigeo_proxy_options_t, zico_variant, 8, 4),                                    \
           PIN(sigeo_proxy_options_t, fr_estimator, 12, 4),                                   \
           PIN(sigeo_proxy_options_t, loss_term, 16, 4),                                      \
           PIN(sigeo_proxy_options_t, lambda_preset, 20, 4),                                  \
           PIN(sigeo_proxy_options_t, std_ddof, 24, 4),                                       \
           PIN(sigeo_proxy_options_t, param_kinds, 28, 4),                                    \
           PIN(sigeo_proxy_options_t, lambda1, 32, 8),                                        \
           PIN(sigeo_proxy_options_t, lambda2, 40, 8),                                        \
           PIN(sigeo_proxy_options_t, lambda3, 48, 8),                                        \
           PIN(sigeo_proxy_options_t, seed, 56, 8),                                           \
           PIN(sigeo_proxy_options_t, hvp_epsilon, 64, 8),                                    \
           PIN(sigeo_proxy_options_t, scope, 72, 4),                                          \
           PIN(sigeo_proxy_options_t, hvp_mode, 76, 4),                                   \
           PIN(sigeo_proxy_options_t, keep_saliency, 80, 4),                              \
           PIN(sigeo_proxy_options_t, procedure, 84, 4),                                      \
           PIN(sigeo_proxy_options_t, step_lr, 88, 8),                                        \
           PIN(sigeo_proxy_options_t, swap_mu, 96, 8),                                        \
           PIN(sigeo_proxy_options_t, swap_sigma, 104, 8),                                    \
           PIN(sigeo_proxy_options_t, zen_mixup_gamma, 112, 8),                               \
           PIN(sigeo_proxy_options_t, zen_repeat, 120, 4),                                    \
           PIN(sigeo_proxy_options_t, reserved2, 124, 4)),                                     \
    LAYOUT(sigeo_proxy_result_t, 256,                                                         \
           PIN(sigeo_proxy_result_t, struct_size, 0, 4),                                      \
           PIN(sigeo_proxy_result_t, flags, 4, 4),                                            \
           PIN(sigeo_proxy_result_t, score, 8, 8),                                            \
           PIN(sigeo_proxy_result_t, seconds, 16, 8),                                         \
           PIN(sigeo_proxy_result_t, zico, 24, 8),                                            \
           PIN(sigeo_proxy_result_t, fr, 32, 8),                                              \
           PIN(sigeo_proxy_result_t, log_fr, 40, 8),                                          \
           PIN(sigeo_proxy_result_t, loss, 48, 8),                                            \
           PIN(sigeo_proxy_result_t, lambda1, 56, 8),                                         \
           PIN(sigeo_proxy_result_t, lambda2, 64, 8),                                         \
           PIN(sigeo_proxy_result_t, lambda3, 72, 8),                                         \
           PIN(sigeo_proxy_result_t, kind, 80, 4),                                            \
           PIN(sigeo_proxy_result_t, zico_variant, 84, 4),                                    \
           PIN(sigeo_proxy_result_t, fr_estimator, 88, 4),                                    \
           PIN(sigeo_proxy_result_t, loss_term, 92, 4),                                       \
           PIN(sigeo_proxy_result_t, std_ddof, 96, 4),                                        \
           PIN(sigeo_proxy_result_t, k, 100, 4),                                              \
           PIN(sigeo_proxy_result_t, n_samples, 104, 8),                                      \
           PIN(sigeo_proxy_result_t, batch_size, 112, 8),                                     \
           PIN(sigeo_proxy_result_t, n_modules, 120, 4),                                      \
           PIN(sigeo_proxy_result_t, n_modules_skipped, 124, 4),                              \
           PIN(sigeo_proxy_result_t, seed, 128, 8),                                           \
           PIN(sigeo_proxy_result_t, threads, 136, 4),                                        \
           PIN(sigeo_proxy_result_t, library_version, 140, 4),                                \
           PIN(sigeo_proxy_result_t, raw_score, 144, 8),                                  \
           PIN(sigeo_proxy_result_t, loss_mean, 152, 8),                                  \
           PIN(sigeo_proxy_result_t, loss_last, 160, 8),                                  \
           PIN(sigeo_proxy_result_t, fr_exact, 168, 8),                                   \
           PIN(sigeo_proxy_result_t, log_fr_exact, 176, 8),                               \
           PIN(sigeo_proxy_result_t, fr_identity, 184, 8),                                \
           PIN(sigeo_proxy_result_t, log_fr_identity, 192, 8),                            \
           PIN(sigeo_proxy_result_t, fr_reference_recsys, 200, 8),                        \
           PIN(sigeo_proxy_result_t, log_fr_reference_recsys, 208, 8),                    \
           PIN(sigeo_proxy_result_t, fr_reference_cv, 216, 8),                            \
           PIN(sigeo_proxy_result_t, log_fr_reference_cv, 224, 8),                        \
           PIN(sigeo_proxy_result_t, zico_module_wise, 232, 8),                           \
           PIN(sigeo_proxy_result_t, zico_neuron_wise, 240, 8),                           \
           PIN(sigeo_proxy_result_t, zico_reference_recsys, 248, 8)),                         \
    LAYOUT(sigeo_proxy_layer_t, 40,                                                          \
           PIN(sigeo_proxy_layer_t, struct_size, 0, 4),                                       \
           PIN(sigeo_proxy_layer_t, module, 4, 4),                                            \
           PIN(sigeo_proxy_layer_t, name, 8, 8),                                              \
           PIN(sigeo_proxy_layer_t, value, 16, 8),                                            \
           PIN(sigeo_proxy_layer_t, zico_term, 24, 8),                                        \
           PIN(sigeo_proxy_layer_t, theta_dot_grad_sum, 32, 8))

/* ------------------------------------------------------- sigeo/train.h */
#define SIGEO_ABI_LAYOUTS_TRAIN_H                                                            \
    LAYOUT(sigeo_optimizer_options_t, 72,                                                     \
           PIN(sigeo_optimizer_options_t, struct_size, 0, 4),                                 \
           PIN(sigeo_optimizer_options_t, kind, 4, 4),                                        \
           PIN(sigeo_optimizer_options_t, lr, 8, 8),                                          \
           PIN(sigeo_optimizer_options_t, momentum, 16, 8),                                   \
           PIN(sigeo_optimizer_options_t, weight_decay, 24, 8),                               \
           PIN(sigeo_optimizer_options_t, beta1, 32, 8),                                      \
           PIN(sigeo_optimizer_options_t, beta2, 40, 8),                                      \
           PIN(sigeo_optimizer_options_t, eps, 48, 8),                                        \
           PIN(sigeo_optimizer_options_t, clip_norm, 56, 8),                                  \
           PIN(sigeo_optimizer_options_t, nesterov, 64, 4),                                   \
           PIN(sigeo_optimizer_options_t, reserved0, 68, 4)),                                 \
    LAYOUT(sigeo_lr_schedule_t, 56,                                                           \
           PIN(sigeo_lr_schedule_t, struct_size, 0, 4),                                       \
           PIN(sigeo_lr_schedule_t, kind, 4, 4),                                              \
           PIN(sigeo_lr_schedule_t, lr, 8, 8),                                                \
           PIN(sigeo_lr_schedule_t, lr_min, 16, 8),                                           \
           PIN(sigeo_lr_schedule_t, total_steps, 24, 8),                                      \
           PIN(sigeo_lr_schedule_t, warmup_steps, 32, 8),                                     \
           PIN(sigeo_lr_schedule_t, step_size, 40, 8),                                        \
           PIN(sigeo_lr_schedule_t, gamma, 48, 8)),                                           \
    LAYOUT(sigeo_train_progress_t, 64,                                                        \
           PIN(sigeo_train_progress_t, struct_size, 0, 4),                                    \
           PIN(sigeo_train_progress_t, phase, 4, 4),                                          \
           PIN(sigeo_train_progress_t, step, 8, 8),                                           \
           PIN(sigeo_train_progress_t, samples, 16, 8),                                       \
           PIN(sigeo_train_progress_t, total_steps, 24, 8),                                   \
           PIN(sigeo_train_progress_t, loss, 32, 8),                                          \
           PIN(sigeo_train_progress_t, samples_per_second, 40, 8),                            \
           PIN(sigeo_train_progress_t, val_auc, 48, 8),                                       \
           PIN(sigeo_train_progress_t, val_accuracy, 56, 8)),                                 \
    LAYOUT(sigeo_train_options_t, 112,                                                         \
           PIN(sigeo_train_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_train_options_t, sampling, 4, 4),                                        \
           PIN(sigeo_train_options_t, batch_size, 8, 8),                                      \
           PIN(sigeo_train_options_t, max_samples, 16, 8),                                    \
           PIN(sigeo_train_options_t, epochs, 24, 8),                                         \
           PIN(sigeo_train_options_t, shuffle_seed, 32, 8),                                   \
           PIN(sigeo_train_options_t, report_every, 40, 8),                                   \
           PIN(sigeo_train_options_t, validate_every, 48, 8),                                 \
           PIN(sigeo_train_options_t, drop_last, 56, 4),                                      \
           PIN(sigeo_train_options_t, reserved0, 60, 4),                                      \
           PIN(sigeo_train_options_t, full_path_steps, 64, 8),                                \
           PIN(sigeo_train_options_t, seed, 72, 8),                                          \
           PIN(sigeo_train_options_t, shard_count, 80, 4),                                   \
           PIN(sigeo_train_options_t, shard_first, 84, 4),                                   \
           PIN(sigeo_train_options_t, shard_n, 88, 4),                                       \
           PIN(sigeo_train_options_t, reserved1, 92, 4),                                     \
           PIN(sigeo_train_options_t, grad_hook, 96, 8),                                     \
           PIN(sigeo_train_options_t, grad_user, 104, 8)),                                   \
    LAYOUT(sigeo_grad_step_t, 48,                                                            \
           PIN(sigeo_grad_step_t, struct_size, 0, 4),                                        \
           PIN(sigeo_grad_step_t, status, 4, 4),                                             \
           PIN(sigeo_grad_step_t, step, 8, 8),                                               \
           PIN(sigeo_grad_step_t, part, 16, 4),                                              \
           PIN(sigeo_grad_step_t, last, 20, 4),                                              \
           PIN(sigeo_grad_step_t, rows, 24, 8),                                              \
           PIN(sigeo_grad_step_t, batch_rows, 32, 8),                                        \
           PIN(sigeo_grad_step_t, loss, 40, 8)),                                          \
    LAYOUT(sigeo_train_result_t, 64,                                                          \
           PIN(sigeo_train_result_t, struct_size, 0, 4),                                      \
           PIN(sigeo_train_result_t, reserved0, 4, 4),                                        \
           PIN(sigeo_train_result_t, steps, 8, 8),                                            \
           PIN(sigeo_train_result_t, samples, 16, 8),                                         \
           PIN(sigeo_train_result_t, final_loss, 24, 8),                                      \
           PIN(sigeo_train_result_t, seconds, 32, 8),                                         \
           PIN(sigeo_train_result_t, val_logloss, 40, 8),                                     \
           PIN(sigeo_train_result_t, val_auc, 48, 8),                                         \
           PIN(sigeo_train_result_t, val_accuracy, 56, 8))

/* ------------------------------------------------------ sigeo/search.h */
#define SIGEO_ABI_LAYOUTS_SEARCH_H                                                           \
    LAYOUT(sigeo_search_options_t, 168,                                                       \
           PIN(sigeo_search_options_t, struct_size, 0, 4),                                    \
           PIN(sigeo_search_options_t, kind, 4, 4),                                           \
           PIN(sigeo_search_options_t, population, 8, 4),                                     \
           PIN(sigeo_search_options_t, sample_size, 12, 4),                                   \
           PIN(sigeo_search_options_t, children, 16, 4),                                      \
           PIN(sigeo_search_options_t, cycles, 20, 4),                                        \
           PIN(sigeo_search_options_t, seed, 24, 8),                                          \
           PIN(sigeo_search_options_t, max_evaluations, 32, 8),                               \
           PIN(sigeo_search_options_t, max_seconds, 40, 8),                                   \
           PIN(sigeo_search_options_t, init_sampling, 48, 4),                                 \
           PIN(sigeo_search_options_t, mutation_schedule, 52, 4),                             \
           PIN(sigeo_search_options_t, max_attempts, 56, 4),                                  \
           PIN(sigeo_search_options_t, reserved0, 60, 4),                                     \
           PIN(sigeo_search_options_t, n_ensemble, 64, 4),                                    \
           PIN(sigeo_search_options_t, ensemble_aggregate, 68, 4),                            \
           PIN(sigeo_search_options_t, ensemble_kinds, 72, 32),                               \
           PIN(sigeo_search_options_t, ensemble_weights, 104, 64)),                           \
    LAYOUT(sigeo_evaluation_t, 120,                                                           \
           PIN(sigeo_evaluation_t, struct_size, 0, 4),                                        \
           PIN(sigeo_evaluation_t, status, 4, 4),                                             \
           PIN(sigeo_evaluation_t, index, 8, 8),                                              \
           PIN(sigeo_evaluation_t, hash, 16, 8),                                              \
           PIN(sigeo_evaluation_t, cycle, 24, 8),                                             \
           PIN(sigeo_evaluation_t, score, 32, 8),                                             \
           PIN(sigeo_evaluation_t, seconds, 40, 8),                                           \
           PIN(sigeo_evaluation_t, arch, 48, 8),                                              \
           PIN(sigeo_evaluation_t, n_arch, 56, 4),                                            \
           PIN(sigeo_evaluation_t, reserved0, 60, 4),                                         \
           PIN(sigeo_evaluation_t, arch_text, 64, 8),                                         \
           PIN(sigeo_evaluation_t, message, 72, 8),                                           \
           PIN(sigeo_evaluation_t, proxy, 80, 8),                                             \
           PIN(sigeo_evaluation_t, n_members, 88, 4),                                         \
           PIN(sigeo_evaluation_t, reserved1, 92, 4),                                         \
           PIN(sigeo_evaluation_t, member_scores, 96, 8),                                     \
           PIN(sigeo_evaluation_t, aggregate, 104, 8),                                        \
           PIN(sigeo_evaluation_t, aggregate_over, 112, 8)),                                  \
    LAYOUT(sigeo_cycle_report_t, 64,                                                          \
           PIN(sigeo_cycle_report_t, struct_size, 0, 4),                                      \
           PIN(sigeo_cycle_report_t, population, 4, 4),                                       \
           PIN(sigeo_cycle_report_t, cycle, 8, 8),                                            \
           PIN(sigeo_cycle_report_t, evaluations, 16, 8),                                     \
           PIN(sigeo_cycle_report_t, failed, 24, 8),                                          \
           PIN(sigeo_cycle_report_t, best_score, 32, 8),                                      \
           PIN(sigeo_cycle_report_t, median_score, 40, 8),                                    \
           PIN(sigeo_cycle_report_t, best_ever, 48, 8),                                       \
           PIN(sigeo_cycle_report_t, seconds, 56, 8)),                                        \
    LAYOUT(sigeo_search_callbacks_t, 104,                                                      \
           PIN(sigeo_search_callbacks_t, struct_size, 0, 4),                                  \
           PIN(sigeo_search_callbacks_t, reserved0, 4, 4),                                    \
           PIN(sigeo_search_callbacks_t, score, 8, 8),                                        \
           PIN(sigeo_search_callbacks_t, score_user, 16, 8),                                  \
           PIN(sigeo_search_callbacks_t, valid, 24, 8),                                       \
           PIN(sigeo_search_callbacks_t, valid_user, 32, 8),                                  \
           PIN(sigeo_search_callbacks_t, record, 40, 8),                                      \
           PIN(sigeo_search_callbacks_t, record_user, 48, 8),                                 \
           PIN(sigeo_search_callbacks_t, cycle, 56, 8),                                       \
           PIN(sigeo_search_callbacks_t, cycle_user, 64, 8),                                  \
           PIN(sigeo_search_callbacks_t, cancel, 72, 8),                                      \
           PIN(sigeo_search_callbacks_t, cancel_user, 80, 8),                                 \
           PIN(sigeo_search_callbacks_t, map, 88, 8),                                         \
           PIN(sigeo_search_callbacks_t, map_user, 96, 8)),                                \
    LAYOUT(sigeo_search_info_t, 72,                                                           \
           PIN(sigeo_search_info_t, struct_size, 0, 4),                                       \
           PIN(sigeo_search_info_t, population, 4, 4),                                        \
           PIN(sigeo_search_info_t, evaluations, 8, 8),                                       \
           PIN(sigeo_search_info_t, failed, 16, 8),                                           \
           PIN(sigeo_search_info_t, distinct, 24, 8),                                         \
           PIN(sigeo_search_info_t, rejected, 32, 8),                                         \
           PIN(sigeo_search_info_t, revisits, 40, 8),                                         \
           PIN(sigeo_search_info_t, cycles_done, 48, 8),                                      \
           PIN(sigeo_search_info_t, seconds, 56, 8),                                          \
           PIN(sigeo_search_info_t, best_score, 64, 8)),                                      \
    LAYOUT(sigeo_space_options_t, 40,                                                         \
           PIN(sigeo_space_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_space_options_t, preset, 4, 4),                                          \
           PIN(sigeo_space_options_t, n_dense, 8, 8),                                         \
           PIN(sigeo_space_options_t, n_sparse_fields, 16, 4),                                \
           PIN(sigeo_space_options_t, n_classes, 20, 4),                                      \
           PIN(sigeo_space_options_t, table_rows, 24, 8),                                     \
           PIN(sigeo_space_options_t, max_depth, 32, 4),                                      \
           PIN(sigeo_space_options_t, blocks, 36, 4))

/* ---------------------------------------------------------- sigeo/io.h */
#define SIGEO_ABI_LAYOUTS_IO_H                                                               \
    LAYOUT(sigeo_criteo_options_t, 240,                                                       \
           PIN(sigeo_criteo_options_t, struct_size, 0, 4),                                    \
           PIN(sigeo_criteo_options_t, on_bad_line, 4, 4),                                    \
           PIN(sigeo_criteo_options_t, tables, 8, 4),                                         \
           PIN(sigeo_criteo_options_t, reserved0, 12, 4),                                     \
           PIN(sigeo_criteo_options_t, table_size, 16, 8),                                    \
           PIN(sigeo_criteo_options_t, max_line_bytes, 24, 8),                                \
           PIN(sigeo_criteo_options_t, table_sizes, 32, 208)),                                \
    LAYOUT(sigeo_criteo_stats_t, 88,                                                          \
           PIN(sigeo_criteo_stats_t, struct_size, 0, 4),                                      \
           PIN(sigeo_criteo_stats_t, first_bad_problem, 4, 4),                                \
           PIN(sigeo_criteo_stats_t, lines, 8, 8),                                            \
           PIN(sigeo_criteo_stats_t, rows, 16, 8),                                            \
           PIN(sigeo_criteo_stats_t, bad_lines, 24, 8),                                       \
           PIN(sigeo_criteo_stats_t, first_bad_line, 32, 8),                                  \
           PIN(sigeo_criteo_stats_t, first_bad_field, 40, 4),                                 \
           PIN(sigeo_criteo_stats_t, reserved0, 44, 4),                                       \
           PIN(sigeo_criteo_stats_t, bad_field_count, 48, 8),                                 \
           PIN(sigeo_criteo_stats_t, bad_label, 56, 8),                                       \
           PIN(sigeo_criteo_stats_t, bad_integer, 64, 8),                                     \
           PIN(sigeo_criteo_stats_t, bad_hex, 72, 8),                                         \
           PIN(sigeo_criteo_stats_t, too_long, 80, 8)),                                       \
    LAYOUT(sigeo_synth_options_t, 40,                                                         \
           PIN(sigeo_synth_options_t, struct_size, 0, 4),                                     \
           PIN(sigeo_synth_options_t, n_cross_pairs, 4, 4),                                   \
           PIN(sigeo_synth_options_t, seed, 8, 8),                                            \
           PIN(sigeo_synth_options_t, n_rows, 16, 8),                                         \
           PIN(sigeo_synth_options_t, base_rate, 24, 8),                                      \
           PIN(sigeo_synth_options_t, n_gates, 32, 4),                                        \
           PIN(sigeo_synth_options_t, max_cardinality, 36, 4)),                               \
    LAYOUT(sigeo_synth_result_t, 80,                                                          \
           PIN(sigeo_synth_result_t, struct_size, 0, 4),                                      \
           PIN(sigeo_synth_result_t, reserved0, 4, 4),                                        \
           PIN(sigeo_synth_result_t, n_rows, 8, 8),                                           \
           PIN(sigeo_synth_result_t, n_positives, 16, 8),                                     \
           PIN(sigeo_synth_result_t, bias, 24, 8),                                            \
           PIN(sigeo_synth_result_t, mean_probability, 32, 8),                                \
           PIN(sigeo_synth_result_t, bayes_log_loss, 40, 8),                                  \
           PIN(sigeo_synth_result_t, share_first_order, 48, 8),                               \
           PIN(sigeo_synth_result_t, share_cross, 56, 8),                                     \
           PIN(sigeo_synth_result_t, share_gates, 64, 8),                                     \
           PIN(sigeo_synth_result_t, share_dense, 72, 8))

/* --------------------------------------------------------- sigeo/nas.h */
#define SIGEO_ABI_LAYOUTS_NAS_H \
    LAYOUT(sigeo_one_shot_options_t, 64,                                                     \
           PIN(sigeo_one_shot_options_t, struct_size, 0, 4),                                 \
           PIN(sigeo_one_shot_options_t, reserved0, 4, 4),                                   \
           PIN(sigeo_one_shot_options_t, finetune_steps, 8, 8),                              \
           PIN(sigeo_one_shot_options_t, finetune_batch, 16, 8),                             \
           PIN(sigeo_one_shot_options_t, lr, 24, 8),                                         \
           PIN(sigeo_one_shot_options_t, eps, 32, 8),                                        \
           PIN(sigeo_one_shot_options_t, clip_norm, 40, 8),                                  \
           PIN(sigeo_one_shot_options_t, eval_batch, 48, 8),                                 \
           PIN(sigeo_one_shot_options_t, max_eval_rows, 56, 8)),                             \
    LAYOUT(sigeo_nas_progress_t, 48,                                                         \
           PIN(sigeo_nas_progress_t, struct_size, 0, 4),                                     \
           PIN(sigeo_nas_progress_t, phase, 4, 4),                                           \
           PIN(sigeo_nas_progress_t, step, 8, 8),                                            \
           PIN(sigeo_nas_progress_t, total, 16, 8),                                          \
           PIN(sigeo_nas_progress_t, elapsed, 24, 8),                                        \
           PIN(sigeo_nas_progress_t, value, 32, 8),                                          \
           PIN(sigeo_nas_progress_t, candidate, 40, 4),                                      \
           PIN(sigeo_nas_progress_t, reserved0, 44, 4)),                                     \
    LAYOUT(sigeo_nas_options_t, 248,                                                         \
           PIN(sigeo_nas_options_t, struct_size, 0, 4),                                      \
           PIN(sigeo_nas_options_t, scorer, 4, 4),                                           \
           PIN(sigeo_nas_options_t, seed, 8, 8),                                             \
           PIN(sigeo_nas_options_t, batch_size, 16, 8),                                      \
           PIN(sigeo_nas_options_t, warmup_fraction, 24, 8),                                 \
           PIN(sigeo_nas_options_t, warmup_sampling, 32, 4),                                 \
           PIN(sigeo_nas_options_t, lambda_by_warmup, 36, 4),                                \
           PIN(sigeo_nas_options_t, full_path_fraction, 40, 8),                              \
           PIN(sigeo_nas_options_t, warmup_optimizer, 48, 8),                                \
           PIN(sigeo_nas_options_t, search, 56, 8),                                          \
           PIN(sigeo_nas_options_t, proxy, 64, 8),                                           \
           PIN(sigeo_nas_options_t, one_shot, 72, 8),                                        \
           PIN(sigeo_nas_options_t, k, 80, 4),                                               \
           PIN(sigeo_nas_options_t, top_k, 84, 4),                                           \
           PIN(sigeo_nas_options_t, retrain_epochs, 88, 8),                                  \
           PIN(sigeo_nas_options_t, retrain_optimizer, 96, 8),                               \
           PIN(sigeo_nas_options_t, eval_batch, 104, 8),                                     \
           PIN(sigeo_nas_options_t, progress, 112, 8),                                       \
           PIN(sigeo_nas_options_t, progress_user, 120, 8),                                  \
           PIN(sigeo_nas_options_t, progress_every, 128, 8),                                 \
           PIN(sigeo_nas_options_t, record, 136, 8),                                         \
           PIN(sigeo_nas_options_t, record_user, 144, 8),                                    \
           PIN(sigeo_nas_options_t, cycle, 152, 8),                                          \
           PIN(sigeo_nas_options_t, cycle_user, 160, 8),                                     \
           PIN(sigeo_nas_options_t, map, 168, 8),                                            \
           PIN(sigeo_nas_options_t, map_user, 176, 8),                                       \
           PIN(sigeo_nas_options_t, warmup_shard_count, 184, 4),                             \
           PIN(sigeo_nas_options_t, warmup_shard_first, 188, 4),                             \
           PIN(sigeo_nas_options_t, warmup_shard_n, 192, 4),                                 \
           PIN(sigeo_nas_options_t, reserved0, 196, 4),                                      \
           PIN(sigeo_nas_options_t, warmup_grad_hook, 200, 8),                               \
           PIN(sigeo_nas_options_t, warmup_grad_user, 208, 8),                               \
           PIN(sigeo_nas_options_t, checkpoint_dir, 216, 8),                                 \
           PIN(sigeo_nas_options_t, checkpoint_every, 224, 4),                               \
           PIN(sigeo_nas_options_t, resume, 228, 4),                                         \
           PIN(sigeo_nas_options_t, checkpoint_no_write, 232, 4),                            \
           PIN(sigeo_nas_options_t, reserved1, 236, 4),                                     \
           PIN(sigeo_nas_options_t, workers, 240, 4),                                       \
           PIN(sigeo_nas_options_t, reserved2, 244, 4)),                                    \
    LAYOUT(sigeo_nas_summary_t, 184,                                                         \
           PIN(sigeo_nas_summary_t, struct_size, 0, 4),                                      \
           PIN(sigeo_nas_summary_t, n_arch, 4, 4),                                           \
           PIN(sigeo_nas_summary_t, top_n, 8, 4),                                            \
           PIN(sigeo_nas_summary_t, best, 12, 4),                                            \
           PIN(sigeo_nas_summary_t, evaluations, 16, 8),                                     \
           PIN(sigeo_nas_summary_t, failed, 24, 8),                                          \
           PIN(sigeo_nas_summary_t, warmup_steps, 32, 8),                                    \
           PIN(sigeo_nas_summary_t, warmup_seconds, 40, 8),                                  \
           PIN(sigeo_nas_summary_t, search_seconds, 48, 8),                                  \
           PIN(sigeo_nas_summary_t, retrain_seconds, 56, 8),                                 \
           PIN(sigeo_nas_summary_t, val_logloss, 64, 8),                                     \
           PIN(sigeo_nas_summary_t, val_auc, 72, 8),                                         \
           PIN(sigeo_nas_summary_t, val_accuracy, 80, 8),                                    \
           PIN(sigeo_nas_summary_t, test_logloss, 88, 8),                                    \
           PIN(sigeo_nas_summary_t, test_auc, 96, 8),                                        \
           PIN(sigeo_nas_summary_t, test_accuracy, 104, 8),                                  \
           PIN(sigeo_nas_summary_t, params, 112, 8),                                         \
           PIN(sigeo_nas_summary_t, flops, 120, 8),                                          \
           PIN(sigeo_nas_summary_t, library_version, 128, 4),                                \
           PIN(sigeo_nas_summary_t, scorer, 132, 4),                                         \
           PIN(sigeo_nas_summary_t, proxy_kind, 136, 4),                                     \
           PIN(sigeo_nas_summary_t, lambda_preset, 140, 4),                                  \
           PIN(sigeo_nas_summary_t, search_kind, 144, 4),                                    \
           PIN(sigeo_nas_summary_t, k, 148, 4),                                              \
           PIN(sigeo_nas_summary_t, seed, 152, 8),                                           \
           PIN(sigeo_nas_summary_t, warmup_fraction, 160, 8),                                \
           PIN(sigeo_nas_summary_t, batch_size, 168, 8),                                     \
           PIN(sigeo_nas_summary_t, finetune_steps, 176, 8)),                                \
    LAYOUT(sigeo_nas_candidate_t, 96,                                                        \
           PIN(sigeo_nas_candidate_t, struct_size, 0, 4),                                    \
           PIN(sigeo_nas_candidate_t, status, 4, 4),                                         \
           PIN(sigeo_nas_candidate_t, rank, 8, 4),                                           \
           PIN(sigeo_nas_candidate_t, reserved0, 12, 4),                                     \
           PIN(sigeo_nas_candidate_t, score, 16, 8),                                         \
           PIN(sigeo_nas_candidate_t, val_logloss, 24, 8),                                   \
           PIN(sigeo_nas_candidate_t, val_auc, 32, 8),                                       \
           PIN(sigeo_nas_candidate_t, val_accuracy, 40, 8),                                  \
           PIN(sigeo_nas_candidate_t, test_logloss, 48, 8),                                  \
           PIN(sigeo_nas_candidate_t, test_auc, 56, 8),                                      \
           PIN(sigeo_nas_candidate_t, test_accuracy, 64, 8),                                 \
           PIN(sigeo_nas_candidate_t, params, 72, 8),                                        \
           PIN(sigeo_nas_candidate_t, flops, 80, 8),                                         \
           PIN(sigeo_nas_candidate_t, seconds, 88, 8))

/* A header added later (proxy.h, train.h, search.h, io.h, ...): include it
 * above, add a SIGEO_ABI_LAYOUTS_<HEADER>_H block with one LAYOUT() per
 * struct, and list it here. A struct added to an existing header gets its
 * LAYOUT() in that header's block. */
#define SIGEO_ABI_ALL_LAYOUTS \
    SIGEO_ABI_LAYOUTS_SIGEO_H, SIGEO_ABI_LAYOUTS_STATS_H, SIGEO_ABI_LAYOUTS_DATA_H, SIGEO_ABI_LAYOUTS_MODEL_H, SIGEO_ABI_LAYOUTS_PROXY_H, SIGEO_ABI_LAYOUTS_TRAIN_H, SIGEO_ABI_LAYOUTS_SEARCH_H, SIGEO_ABI_LAYOUTS_IO_H, SIGEO_ABI_LAYOUTS_NAS_H

static int check(const layout_t *l)
{
    int bad = 0;
    size_t end = 0;
    if (l->n_pins == 0 || strcmp(l->pins[0].member, "struct_size") != 0 || l->pins[0].real_offset != 0 ||
        l->pins[0].real_size != sizeof(uint32_t) || !l->struct_size_is_u32) {
        printf("FAIL %s: must start with `uint32_t struct_size` at offset 0 (docs/design.md §3)\n", l->type);
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
