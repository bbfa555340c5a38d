/* sigeo_struct_size: the sizes a hand-written binding (Rust, Go, ctypes)
 * checks its own struct definitions against at start-up. Only sizeof of
 * the public headers' structs: no code of the other layers is used. */
#include "core/core.h"
#include "sigeo/data.h"
#include "sigeo/io.h"
#include "sigeo/model.h"
#include "sigeo/nas.h"
#include "sigeo/proxy.h"
#include "sigeo/search.h"
#include "sigeo/stats.h"
#include "sigeo/train.h"

SIGEO_API uint32_t sigeo_struct_size(sigeo_struct_id_t id)
{
    switch (id) {
    case SIGEO_STRUCT_ALLOCATOR: return sizeof(sigeo_allocator_t);
    case SIGEO_STRUCT_CONTEXT_OPTIONS: return sizeof(sigeo_context_options_t);
    case SIGEO_STRUCT_STATS_OPTIONS: return sizeof(sigeo_stats_options_t);
    case SIGEO_STRUCT_STATS_BATCH: return sizeof(sigeo_stats_batch_t);
    case SIGEO_STRUCT_STATS_RESULT: return sizeof(sigeo_stats_result_t);
    case SIGEO_STRUCT_STATS_MODULE_INFO: return sizeof(sigeo_stats_module_info_t);
    case SIGEO_STRUCT_STATS_FLAT_BATCH: return sizeof(sigeo_stats_flat_batch_t);
    case SIGEO_STRUCT_BATCH: return sizeof(sigeo_batch_t);
    case SIGEO_STRUCT_DATASET_INFO: return sizeof(sigeo_dataset_info_t);
    case SIGEO_STRUCT_SPLIT_OPTIONS: return sizeof(sigeo_split_options_t);
    case SIGEO_STRUCT_CRITEO_OPTIONS: return sizeof(sigeo_criteo_options_t);
    case SIGEO_STRUCT_CRITEO_STATS: return sizeof(sigeo_criteo_stats_t);
    case SIGEO_STRUCT_SYNTH_OPTIONS: return sizeof(sigeo_synth_options_t);
    case SIGEO_STRUCT_SYNTH_RESULT: return sizeof(sigeo_synth_result_t);
    case SIGEO_STRUCT_INPUT_DESC: return sizeof(sigeo_input_desc_t);
    case SIGEO_STRUCT_LAYER_DESC: return sizeof(sigeo_layer_desc_t);
    case SIGEO_STRUCT_PARAM_INFO: return sizeof(sigeo_param_info_t);
    case SIGEO_STRUCT_PROXY_OPTIONS: return sizeof(sigeo_proxy_options_t);
    case SIGEO_STRUCT_PROXY_RESULT: return sizeof(sigeo_proxy_result_t);
    case SIGEO_STRUCT_SEARCH_OPTIONS: return sizeof(sigeo_search_options_t);
    case SIGEO_STRUCT_EVALUATION: return sizeof(sigeo_evaluation_t);
    case SIGEO_STRUCT_CYCLE_REPORT: return sizeof(sigeo_cycle_report_t);
    case SIGEO_STRUCT_SEARCH_CALLBACKS: return sizeof(sigeo_search_callbacks_t);
    case SIGEO_STRUCT_SEARCH_INFO: return sizeof(sigeo_search_info_t);
    case SIGEO_STRUCT_SPACE_OPTIONS: return sizeof(sigeo_space_options_t);
    case SIGEO_STRUCT_OPTIMIZER_OPTIONS: return sizeof(sigeo_optimizer_options_t);
    case SIGEO_STRUCT_LR_SCHEDULE: return sizeof(sigeo_lr_schedule_t);
    case SIGEO_STRUCT_TRAIN_PROGRESS: return sizeof(sigeo_train_progress_t);
    case SIGEO_STRUCT_TRAIN_OPTIONS: return sizeof(sigeo_train_options_t);
    case SIGEO_STRUCT_TRAIN_RESULT: return sizeof(sigeo_train_result_t);
    case SIGEO_STRUCT_GRAD_STEP: return sizeof(sigeo_grad_step_t);
    case SIGEO_STRUCT_NAS_OPTIONS: return sizeof(sigeo_nas_options_t);
    case SIGEO_STRUCT_NAS_PROGRESS: return sizeof(sigeo_nas_progress_t);
    case SIGEO_STRUCT_NAS_SUMMARY: return sizeof(sigeo_nas_summary_t);
    case SIGEO_STRUCT_NAS_CANDIDATE: return sizeof(sigeo_nas_candidate_t);
    case SIGEO_STRUCT_ONE_SHOT_OPTIONS: return sizeof(sigeo_one_shot_options_t);
    case SIGEO_STRUCT_PROXY_LAYER: return sizeof(sigeo_proxy_layer_t);
    }
    return 0;
}
