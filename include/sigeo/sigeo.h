/*
 * libsigeo — sub-one-shot neural architecture search with the SiGeo proxy.
 *
 * Umbrella header: version, status codes, error messages, the allocator hook
 * and the context. A host includes this header (or one of the per-noun
 * headers, which include it).
 *
 * Conventions that hold for every public function of the library:
 *  - Every fallible call returns a sigeo_status_t: SIGEO_OK (0) or a negative
 *    error class. The detail ("what and where") is in sigeo_last_error() on
 *    the calling thread and, for calls on a handle, also in that handle's
 *    own last-error text (readable from any thread, see sigeo_context_last_error).
 *  - Output parameters come first; `T **out` means the caller owns the result
 *    and *out is NULL after a failure.
 *  - Input pointers are borrowed for the duration of the call only: the
 *    library keeps no pointer to caller memory after it returns.
 *  - Every `_create` has a `_destroy` that accepts NULL.
 *  - A failed call leaves its handle usable and unchanged unless its
 *    documentation says otherwise.
 *  - The library never aborts, exits or prints.
 *  - Structs that cross the ABI start with `uint32_t struct_size`, have an
 *    `_INIT` macro and an `_init()` function, and only ever grow at the end.
 *  - Public enums carry no COUNT/LAST sentinel: their numbers are forever.
 *
 * Threads:
 *  - Different handles may be used from different threads at once, also
 *    handles created from one context (two models of one context scoring
 *    on two threads give bit for bit what they give one after the other).
 *    One handle must be used by one thread at a time; a handle that borrows
 *    another (an optimizer its model, a search its model) counts as using it.
 *  - What handles of one context share, and how: the options (read-only),
 *    the oneDNN engine (created by the first model, under the context's
 *    lock), the context's message buffer (written under that lock). Each
 *    model has its own oneDNN stream and its own random stream: the k-th
 *    model of a context to be finalised draws stream k of the context's
 *    seed, so a model's weights and samples depend on the seed and the
 *    order models were finalised in, never on what another model draws
 *    afterwards (a build that fails before finalisation uses no stream).
 *    Finalise models (sigeo_model_extract finalises one too) from one
 *    thread, or in a fixed order, when that order matters to you.
 *  - Process state is never changed behind the host's back: oneDNN's OpenMP
 *    team is sized by the context's thread policy (sigeo_thread_policy_t)
 *    for the duration of each backend call only (the calling thread's omp_get_max_threads() is put
 *    back before the call returns), and OpenBLAS's process-wide thread
 *    count is changed only by sigeo_set_option(SIGEO_OPTION_BLAS_THREADS).
 *  - The library starts threads of its own only for independent work, and
 *    only while a call that documents it runs (sigeo_nas_run's top-k
 *    retrain, sigeo_nas_options_t.workers): each task there gets its own
 *    model and dataset handle and runs every backend call on one thread;
 *    callbacks still run on the calling thread, and every such thread has
 *    ended when the call returns.
 *  - sigeo_set_allocator and sigeo_set_option are process-wide: call them
 *    before other threads use the library.
 *
 * Non-C callers: fill structs with their _init() functions (the _INIT
 * macros are C only) and check layouts with sigeo_struct_size().
 */
#ifndef SIGEO_SIGEO_H
#define SIGEO_SIGEO_H

#include <stddef.h>
#include <stdint.h>

#include "sigeo/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SIGEO_BUILDING) && defined(__GNUC__)
#  define SIGEO_API __attribute__((visibility("default")))
#else
#  define SIGEO_API
#endif

/* Status of every fallible call. Numbers are forever: a retired code keeps
 * its slot as a comment. A caller can switch on every value; the message
 * from sigeo_last_error() carries the detail. */
typedef enum sigeo_status {
    SIGEO_OK = 0,
    SIGEO_ERR_INVALID_ARG = -1, /* NULL where a value is needed, value out of range, misuse of the API order */
    SIGEO_ERR_NO_MEMORY = -2,   /* an allocation failed; nothing was changed */
    SIGEO_ERR_SHAPE = -3,       /* sizes or shapes that do not fit together */
    SIGEO_ERR_NONFINITE = -4,   /* NaN or Inf in an input, gradient, parameter or loss */
    SIGEO_ERR_IO = -5,          /* the operating system failed a read or a write */
    SIGEO_ERR_FORMAT = -6,      /* a file or text is malformed */
    SIGEO_ERR_UNSUPPORTED = -7, /* valid request this build or version cannot serve */
    SIGEO_ERR_INTERNAL = -8,    /* a bug in libsigeo or a backend failure; please report */
    SIGEO_ERR_CANCELLED = -9    /* a callback asked to stop */
} sigeo_status_t;

/* Static English name of a status class ("invalid argument"); never NULL,
 * also for numbers this version does not know. Thread-safe. */
SIGEO_API const char *sigeo_status_string(sigeo_status_t status);

/* The message of the latest failed call on the calling thread, e.g.
 * "stats: module 'fc1.weight' gradient element 17 is NaN (batch 2)".
 * Never NULL ("" if nothing failed yet). Valid until this thread's next call
 * into the library; copy it if you need it longer. */
SIGEO_API const char *sigeo_last_error(void);

/* Sets the calling thread's message (SIGEO_1.1) and returns `status`: for
 * host code that fails inside a libsigeo callback (a score function, a
 * gradient hook, a map), so the library's message says why. NULL = "". */
SIGEO_API sigeo_status_t sigeo_set_last_error(sigeo_status_t status, const char *message);

/* Run-time version of the library ("0.1.0") and its number
 * (SIGEO_VERSION_NUMBER of the headers it was built with). */
SIGEO_API const char *sigeo_version(void);
SIGEO_API uint32_t sigeo_version_number(void);

/* ---------------------------------------------------------------- memory */

/* A host allocator. `alloc` must return memory aligned to at least
 * `alignment` bytes (a power of two, at most 4096) or NULL; `release` frees
 * what `alloc` returned (never called with NULL). Both may be called from any
 * thread that uses the library and must be thread-safe. `user` is passed
 * through untouched. */
typedef struct sigeo_allocator {
    uint32_t struct_size;
    uint32_t reserved0; /* must be 0 */
    void *(*alloc)(size_t size, size_t alignment, void *user);
    void (*release)(void *ptr, void *user);
    void *user;
} sigeo_allocator_t;

#define SIGEO_ALLOCATOR_INIT { (uint32_t)sizeof(sigeo_allocator_t), 0u, NULL, NULL, NULL }
SIGEO_API sigeo_status_t sigeo_allocator_init(sigeo_allocator_t *allocator, uint32_t struct_size);

/* Installs the allocator every allocation of the library goes through
 * (NULL restores the C library's). Process-wide; allowed only while the
 * library holds no memory (no live handle), otherwise SIGEO_ERR_INVALID_ARG,
 * since memory from one allocator must never reach the other's release. */
SIGEO_API sigeo_status_t sigeo_set_allocator(const sigeo_allocator_t *allocator);

/* Bytes and blocks the library currently holds through its allocator
 * (for leak checks in hosts and tests). Either pointer may be NULL. */
SIGEO_API void sigeo_memory_in_use(uint64_t *bytes, uint64_t *blocks);

/* -------------------------------------------------- process-wide options */

/* Knobs that belong to the process, not to a context (a backend's global
 * setting, shared with the host): the library never changes them itself. */
typedef enum sigeo_option {
    /* OpenBLAS's thread count (openblas_set_num_threads: every OpenBLAS user
     * in the process). The library uses OpenBLAS only for small LAPACK
     * solves off the hot path; hosts that run it next to oneDNN's OpenMP
     * team may set 1 so the two pools do not compete for the cores.
     * Values 1..1024. */
    SIGEO_OPTION_BLAS_THREADS = 1
} sigeo_option_t;

/* Sets a process-wide option. Errors: SIGEO_ERR_INVALID_ARG (unknown option,
 * value out of range). */
SIGEO_API sigeo_status_t sigeo_set_option(sigeo_option_t option, int64_t value);
/* Reads a process-wide option's current value (also when the host changed
 * it directly). */
SIGEO_API sigeo_status_t sigeo_get_option(int64_t *value, sigeo_option_t option);

/* --------------------------------------------------------------- context */

typedef struct sigeo_context sigeo_context_t;

/* How a context spends its `threads` on one call (oneDNN primitive, or the
 * statistics update of one parameter block).
 *
 * Why not always every thread: OpenMP (libgomp) threads spin at the
 * barrier that ends each parallel region, and a team is as fast as its
 * slowest member. On a busy machine one member is often descheduled, and
 * the others spin (burning the CPU it needs) until it runs again: a step
 * made of many small calls then runs several times slower on 2 threads than
 * on 1. Small calls gain little from a second thread even on an idle
 * machine (the fork/join costs microseconds), so AUTO gives them none.
 *
 * - AUTO (default): a call runs on `threads` threads only if its work (FLOPs;
 *   memory-bound calls count 16 per element touched) is at least
 *   `parallel_min_flops`, otherwise on the calling thread alone, where no
 *   team and no barrier exist. The choice depends only on the call's shape,
 *   never on the load, so a run's results do not depend on the machine's
 *   load: with AUTO, results are bit for bit those of FIXED with the same
 *   `threads` for every call above the threshold, and those of `threads = 1`
 *   for every call below it (docs/design.md §3).
 * - FIXED: every call runs on `threads` threads (the behaviour before 1.1).
 *
 * Waiting: the library cannot change how OpenMP threads wait (libgomp reads
 * OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when the process starts). Hosts on
 * shared machines (CI, clusters, laptops) should start with
 * OMP_WAIT_POLICY=PASSIVE in the environment, or use threads = 1 and run
 * independent work (candidates, studies) in parallel processes or on
 * several contexts from several threads, which needs no barrier at all. */
typedef enum sigeo_thread_policy {
    SIGEO_THREADS_AUTO = 0,
    SIGEO_THREADS_FIXED = 1
} sigeo_thread_policy_t;

/* The default of sigeo_context_options_t.parallel_min_flops: 2^23 FLOPs
 * (2^24 before 1.1's second speed pass), about 30-80 us of one core's GEMM
 * time, a matmul of 64 x 256 x 256 or an elementwise pass over 512 K
 * floats. bench-threads measured on Zen 5 (idle, and next to one busy
 * process) that a second thread pays from 8.4 MFLOP GEMMs on and loses at
 * 2.1 MFLOP under load (bench/README.md); it measures the crossover on
 * any machine. */
#define SIGEO_PARALLEL_MIN_FLOPS_DEFAULT (UINT64_C(1) << 23)

/* Options of sigeo_context_create. */
typedef struct sigeo_context_options {
    uint32_t struct_size;
    uint32_t threads; /* compute threads (oneDNN's team per backend call); 0 = the number of online cores */
    uint64_t seed;    /* seed of every model stream of this context (see "Threads" above) */
    /* since 1.1: */
    uint32_t thread_policy;      /* a sigeo_thread_policy_t value */
    uint32_t reserved0;          /* must be 0 */
    uint64_t parallel_min_flops; /* AUTO's work threshold; 0 = SIGEO_PARALLEL_MIN_FLOPS_DEFAULT */
} sigeo_context_options_t;

#define SIGEO_CONTEXT_OPTIONS_INIT { (uint32_t)sizeof(sigeo_context_options_t), 0u, 0u, SIGEO_THREADS_AUTO, 0u, 0u }
SIGEO_API sigeo_status_t sigeo_context_options_init(sigeo_context_options_t *options, uint32_t struct_size);

/* Creates a context: the owner of the compute engine, the thread policy and
 * the seed the random streams of the models created from it derive from.
 * `options` may be NULL (all defaults). Errors: SIGEO_ERR_INVALID_ARG,
 * SIGEO_ERR_UNSUPPORTED (options from a newer libsigeo that set new fields),
 * SIGEO_ERR_NO_MEMORY. */
SIGEO_API sigeo_status_t sigeo_context_create(sigeo_context_t **out, const sigeo_context_options_t *options);

/* Destroys a context; NULL is a no-op. Every handle created from it must be
 * destroyed first. */
SIGEO_API void sigeo_context_destroy(sigeo_context_t *ctx);

/* The options the context runs with (threads and parallel_min_flops
 * resolved to the real values).
 * Writes min(out->struct_size, sizeof) bytes. */
SIGEO_API sigeo_status_t sigeo_context_get_options(sigeo_context_options_t *out, const sigeo_context_t *ctx);

/* The message of the latest failure of a call on this context (or a handle
 * created from it that has no text of its own), readable from any thread.
 * Borrowed: valid until the next failing call on the context. Never NULL. */
SIGEO_API const char *sigeo_context_last_error(const sigeo_context_t *ctx);

/* ------------------------------------------------ layouts for bindings
 * Non-C callers (Python ctypes, Rust, Go, ...) cannot use the _INIT macros:
 * they fill a struct with its _init() function (sigeo_stats_batch_init(&b,
 * sizeof b), ...), which sets struct_size and every default. A hand-written
 * binding checks its own struct definitions against the library it loaded
 * with sigeo_struct_size() at start-up. */

/* One number per public struct (forever; new structs get new numbers). */
typedef enum sigeo_struct_id {
    SIGEO_STRUCT_ALLOCATOR = 1,           /* sigeo_allocator_t (sigeo/sigeo.h) */
    SIGEO_STRUCT_CONTEXT_OPTIONS = 2,     /* sigeo_context_options_t */
    SIGEO_STRUCT_STATS_OPTIONS = 3,       /* sigeo_stats_options_t (sigeo/stats.h) */
    SIGEO_STRUCT_STATS_BATCH = 4,         /* sigeo_stats_batch_t */
    SIGEO_STRUCT_STATS_RESULT = 5,        /* sigeo_stats_result_t */
    SIGEO_STRUCT_STATS_MODULE_INFO = 6,   /* sigeo_stats_module_info_t */
    SIGEO_STRUCT_STATS_FLAT_BATCH = 7,    /* sigeo_stats_flat_batch_t */
    SIGEO_STRUCT_BATCH = 8,               /* sigeo_batch_t (sigeo/data.h) */
    SIGEO_STRUCT_DATASET_INFO = 9,        /* sigeo_dataset_info_t */
    SIGEO_STRUCT_SPLIT_OPTIONS = 10,      /* sigeo_split_options_t */
    SIGEO_STRUCT_CRITEO_OPTIONS = 11,     /* sigeo_criteo_options_t (sigeo/io.h) */
    SIGEO_STRUCT_CRITEO_STATS = 12,       /* sigeo_criteo_stats_t */
    SIGEO_STRUCT_SYNTH_OPTIONS = 13,      /* sigeo_synth_options_t */
    SIGEO_STRUCT_SYNTH_RESULT = 14,       /* sigeo_synth_result_t */
    SIGEO_STRUCT_INPUT_DESC = 15,         /* sigeo_input_desc_t (sigeo/model.h) */
    SIGEO_STRUCT_LAYER_DESC = 16,         /* sigeo_layer_desc_t */
    SIGEO_STRUCT_PARAM_INFO = 17,         /* sigeo_param_info_t */
    SIGEO_STRUCT_PROXY_OPTIONS = 18,      /* sigeo_proxy_options_t (sigeo/proxy.h) */
    SIGEO_STRUCT_PROXY_RESULT = 19,       /* sigeo_proxy_result_t */
    SIGEO_STRUCT_SEARCH_OPTIONS = 20,     /* sigeo_search_options_t (sigeo/search.h) */
    SIGEO_STRUCT_EVALUATION = 21,         /* sigeo_evaluation_t */
    SIGEO_STRUCT_CYCLE_REPORT = 22,       /* sigeo_cycle_report_t */
    SIGEO_STRUCT_SEARCH_CALLBACKS = 23,   /* sigeo_search_callbacks_t */
    SIGEO_STRUCT_SEARCH_INFO = 24,        /* sigeo_search_info_t */
    SIGEO_STRUCT_SPACE_OPTIONS = 25,      /* sigeo_space_options_t */
    SIGEO_STRUCT_OPTIMIZER_OPTIONS = 26,  /* sigeo_optimizer_options_t (sigeo/train.h) */
    SIGEO_STRUCT_LR_SCHEDULE = 27,        /* sigeo_lr_schedule_t */
    SIGEO_STRUCT_TRAIN_PROGRESS = 28,     /* sigeo_train_progress_t */
    SIGEO_STRUCT_TRAIN_OPTIONS = 29,      /* sigeo_train_options_t */
    SIGEO_STRUCT_TRAIN_RESULT = 30,       /* sigeo_train_result_t */
    SIGEO_STRUCT_GRAD_STEP = 31,          /* sigeo_grad_step_t */
    SIGEO_STRUCT_NAS_OPTIONS = 32,        /* sigeo_nas_options_t (sigeo/nas.h) */
    SIGEO_STRUCT_NAS_PROGRESS = 33,       /* sigeo_nas_progress_t */
    SIGEO_STRUCT_NAS_SUMMARY = 34,        /* sigeo_nas_summary_t */
    SIGEO_STRUCT_NAS_CANDIDATE = 35,      /* sigeo_nas_candidate_t */
    SIGEO_STRUCT_ONE_SHOT_OPTIONS = 36,   /* sigeo_one_shot_options_t */
    SIGEO_STRUCT_PROXY_LAYER = 37         /* sigeo_proxy_layer_t (sigeo/proxy.h) */
} sigeo_struct_id_t;

/* sizeof the struct `id` names in this library build, in bytes; 0 for a
 * number this version does not know. Thread-safe, never fails. */
SIGEO_API uint32_t sigeo_struct_size(sigeo_struct_id_t id);

#ifdef __cplusplus
}
#endif

#endif /* SIGEO_SIGEO_H */
