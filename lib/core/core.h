/* Internal core services shared by every layer: errors, allocation, ABI
 * struct handling. Not installed; never include from public headers. */
#ifndef SIGEO_CORE_CORE_H
#define SIGEO_CORE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigeo/sigeo.h"

#if defined(__GNUC__)
#  define SIGEO__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define SIGEO__PRINTF(fmt, args)
#endif

/* A hot element-wise loop compiled for AVX-512, AVX2 and baseline x86-64,
 * the copy chosen once by the loader (GCC's ifunc): the library targets
 * generic x86-64, where its double loops get 2 lanes. Only where no bit-
 * for-bit agreement across machines is promised (a reduction's vector
 * width changes its order); lib/stats keeps its own per-ISA objects for
 * that reason. GCC on x86-64 Linux (ifunc) only; elsewhere one plain copy. */
#ifndef SIGEO__MAX_ISA /* meson option max_isa: 3 AVX-512, 2 AVX2, 1 baseline */
#  define SIGEO__MAX_ISA 3
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && SIGEO__MAX_ISA >= 3
#  define SIGEO__ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && SIGEO__MAX_ISA == 2
#  define SIGEO__ISA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#  define SIGEO__ISA_CLONES
#endif

/* ------------------------------------------------------------------ errors */

#define SIGEO__ERRMSG_MAX 512

/* A handle's own copy of its latest failure, so a caller on another OS
 * thread (Go, Rust) can read it after the thread-local one is gone. */
typedef struct sigeo__errbuf {
    char msg[SIGEO__ERRMSG_MAX];
} sigeo__errbuf_t;

/* Records a failure in this thread's message and returns `status`.
 * Use: return sigeo__fail(SIGEO_ERR_SHAPE, "linear '%s': ...", name); */
sigeo_status_t sigeo__fail(sigeo_status_t status, const char *fmt, ...) SIGEO__PRINTF(2, 3);

/* Same, and copies the message into the handle's buffer (which may be NULL). */
sigeo_status_t sigeo__fail_on(sigeo__errbuf_t *handle, sigeo_status_t status, const char *fmt, ...)
    SIGEO__PRINTF(3, 4);

/* Prefixes context to the failure a callee just recorded: the message
 * becomes "<fmt...>: <the callee's message>" (also in `handle`, may be NULL).
 * Use this, never sigeo__fail*(..., "%s", sigeo_last_error()): every
 * formatter here formats into scratch first, so an argument may be the
 * thread's or a handle's message, but this states the intent. */
sigeo_status_t sigeo__fail_wrap(sigeo__errbuf_t *handle, sigeo_status_t status, const char *fmt, ...)
    SIGEO__PRINTF(3, 4);

/* How many failures this thread has recorded: a caller that runs a host
 * callback compares it before and after, to tell a message the callback's
 * library calls just set from an older one. */
uint64_t sigeo__failure_count(void);

/* Copies this thread's current message into `handle` (after a callee failed). */
sigeo_status_t sigeo__propagate(sigeo__errbuf_t *handle, sigeo_status_t status);

/* The thread-local buffer itself (for sigeo_last_error). */
const char *sigeo__thread_message(void);

/* -------------------------------------------------------------- allocation */

/* Every byte the library allocates goes through these, so a host allocator
 * and the tests' fail-the-n-th-allocation hook see all of it. They set no
 * error message: callers report SIGEO_ERR_NO_MEMORY with context. */
void *sigeo__alloc(size_t size);                  /* 64-byte aligned */
void *sigeo__alloc_aligned(size_t size, size_t alignment);
void *sigeo__calloc(size_t count, size_t size);   /* zeroed, overflow-checked */
/* Zeroed, `skew` bytes past a 64-byte boundary (skew < 64, a multiple of
 * 16); freed by sigeo__free. For matrices whose rows are whole 4 KiB pages
 * (lib/nn/model.c says why). */
void *sigeo__calloc_skewed(size_t count, size_t size, size_t skew);
/* The same for a large block read at scattered places (an embedding
 * table's statistics): on Linux, the 2 MiB pages inside it are advised as
 * transparent huge pages before the first touch, so a random row costs a
 * cache miss but no TLB miss (bench/README.md). Advice only: where it is not
 * taken the block is an ordinary one. */
void *sigeo__calloc_scattered(size_t count, size_t size);
/* The same advice without the zeroing, for a block whose every part is
 * written before it is read (a table's statistics: a row is reset when
 * first touched): only the pages the run touches are faulted in, instead
 * of all of them by a memset up front. */
void *sigeo__alloc_scattered(size_t count, size_t size);
void sigeo__free(void *ptr);                      /* NULL is a no-op */
/* Grows (or shrinks) an array of `old_count` to `new_count` elements;
 * on failure returns NULL and leaves `ptr` valid. */
void *sigeo__realloc_array(void *ptr, size_t old_count, size_t new_count, size_t elem_size);
char *sigeo__strdup(const char *s);

/* Overflow-checked size arithmetic (sigeo__mul_size, sigeo__mul_i64, ...). */
#include "core/checked.h"

/* ------------------------------------------------------ ABI-grown structs */

/* Copies a caller's struct over `defaults` (which already hold the library's
 * defaults) following the struct_size rules: too small -> INVALID_ARG; larger
 * than this library knows and any unknown byte non-zero -> UNSUPPORTED.
 * `what` names the struct in messages. */
sigeo_status_t sigeo__struct_in(void *defaults, size_t known_size, const void *user, const char *what,
                                sigeo__errbuf_t *err);

/* Element i of a caller's array of ABI-grown structs (`const sigeo_batch_t
 * *batches, n`), read as sigeo__struct_in reads one struct. The array is
 * walked by the caller's element size, element 0's struct_size (an older
 * binary's elements are smaller than this library's sizeof); every element
 * must carry that same struct_size (INVALID_ARG naming the element if not).
 * Every public function taking such an array reads it through here. */
sigeo_status_t sigeo__struct_array_in(void *defaults, size_t known_size, const void *array, uint32_t i,
                                      const char *what, sigeo__errbuf_t *err);

/* Writes min(out->struct_size, known_size) bytes of `value` into `out`
 * (keeping out->struct_size); INVALID_ARG if out->struct_size is too small. */
sigeo_status_t sigeo__struct_out(void *out, const void *value, size_t known_size, const char *what,
                                 sigeo__errbuf_t *err);

/* _init(): zero `s`, fill the known prefix from `defaults`, set struct_size. */
sigeo_status_t sigeo__struct_init(void *s, uint32_t struct_size, const void *defaults, size_t known_size,
                                  const char *what);

#endif
