/* The Welford update loop for AVX512 (see welford_kernel.h): a per-ISA
 * object, compiled for the whole file by the pragma, called only after
 * welford.c has checked the CPU (__builtin_cpu_supports). */
#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#pragma GCC target("avx512f")
#define WELFORD_KERNEL sigeo__welford_kernel_avx512
#define WELFORD_SECOND sigeo__welford_second_avx512
#define WELFORD_ZICO sigeo__welford_zico_avx512
#define WELFORD_ZICO_ROW sigeo__welford_zico_row_avx512
#define WELFORD_LAST sigeo__welford_last_avx512
#define WELFORD_REPLAY sigeo__welford_replay_avx512
#include "stats/welford_kernel.h"
#endif
