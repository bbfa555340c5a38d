#include "guard_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CANARY_BYTES 64
#define CANARY_VALUE 0xCD
#define HEADER_MAGIC 0x5157A110C8ull

typedef struct guard_header {
    uint64_t magic;
    void *raw;
    size_t size;
    size_t alignment;
} guard_header_t;

static _Atomic uint64_t alloc_calls, alloc_failed, release_calls, live, bad_alignment, corruptions,
    foreign_release, fail_at;
static _Atomic size_t min_alignment;
static _Atomic bool fail_persistent;

void guard_reset(void)
{
    atomic_store(&alloc_calls, 0);
    atomic_store(&alloc_failed, 0);
    atomic_store(&release_calls, 0);
    atomic_store(&live, 0);
    atomic_store(&bad_alignment, 0);
    atomic_store(&corruptions, 0);
    atomic_store(&foreign_release, 0);
    atomic_store(&fail_at, 0);
    atomic_store(&fail_persistent, false);
    atomic_store(&min_alignment, 0);
}

void guard_fail_at(uint64_t n, bool persistent)
{
    atomic_store(&fail_at, n);
    atomic_store(&fail_persistent, persistent);
}

guard_stats_t guard_stats(void)
{
    guard_stats_t g;
    g.alloc_calls = atomic_load(&alloc_calls);
    g.alloc_failed = atomic_load(&alloc_failed);
    g.release_calls = atomic_load(&release_calls);
    g.live = atomic_load(&live);
    g.bad_alignment = atomic_load(&bad_alignment);
    g.corruptions = atomic_load(&corruptions);
    g.foreign_release = atomic_load(&foreign_release);
    g.min_alignment = atomic_load(&min_alignment);
    return g;
}

static void *guard_alloc_fn(size_t size, size_t alignment, void *user)
{
    (void)user;
    uint64_t n = atomic_fetch_add(&alloc_calls, 1) + 1;
    uint64_t f = atomic_load(&fail_at);
    if (f != 0 && (n == f || (atomic_load(&fail_persistent) && n > f))) {
        atomic_fetch_add(&alloc_failed, 1);
        return NULL;
    }
    if (alignment == 0 || alignment > 4096 || (alignment & (alignment - 1)) != 0) {
        atomic_fetch_add(&bad_alignment, 1);
        return NULL;
    }
    size_t cur = atomic_load(&min_alignment);
    while ((cur == 0 || alignment < cur) && !atomic_compare_exchange_weak(&min_alignment, &cur, alignment)) {
    }
    /* The header needs room in front of the returned pointer. */
    size_t front = alignment < sizeof(guard_header_t) ? sizeof(guard_header_t) : alignment;
    front = (front + alignment - 1) / alignment * alignment;
    /* Raw block aligned to 2*front, result at raw + front: aligned to
     * `alignment` (front is a multiple of it) but deliberately not to 2*front. */
    void *raw = NULL;
    if (size > SIZE_MAX - front - CANARY_BYTES)
        return NULL;
    if (posix_memalign(&raw, 2 * front, front + size + CANARY_BYTES) != 0)
        return NULL;
    unsigned char *p = (unsigned char *)raw + front;
    guard_header_t h = { HEADER_MAGIC, raw, size, alignment };
    memcpy(p - sizeof h, &h, sizeof h);
    memset(p + size, CANARY_VALUE, CANARY_BYTES);
    atomic_fetch_add(&live, 1);
    return p;
}

static void guard_release_fn(void *ptr, void *user)
{
    (void)user;
    atomic_fetch_add(&release_calls, 1);
    unsigned char *p = ptr;
    guard_header_t h;
    memcpy(&h, p - sizeof h, sizeof h);
    if (h.magic != HEADER_MAGIC) {
        /* Never ours (or its header was trampled): leak it rather than crash. */
        atomic_fetch_add(&foreign_release, 1);
        return;
    }
    for (size_t i = 0; i < CANARY_BYTES; i++)
        if (p[h.size + i] != CANARY_VALUE) {
            atomic_fetch_add(&corruptions, 1);
            break;
        }
    h.magic = 0;
    memcpy(p - sizeof h, &h, sizeof h);
    atomic_fetch_sub(&live, 1);
    free(h.raw);
}

sigeo_allocator_t guard_allocator(void)
{
    sigeo_allocator_t a = SIGEO_ALLOCATOR_INIT;
    a.alloc = guard_alloc_fn;
    a.release = guard_release_fn;
    a.user = NULL;
    return a;
}
