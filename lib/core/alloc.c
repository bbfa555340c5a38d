/* The one allocator of the library. Each block carries a small header in
 * front (its size and the host pointer), so the bytes in use can be counted
 * and a host allocator with only alloc/release suffices. */
/* madvise and MADV_HUGEPAGE (sigeo__calloc_scattered) are not in POSIX. */
#define _DEFAULT_SOURCE 1
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/core.h"

#define DEFAULT_ALIGNMENT 64u
#define MAX_ALIGNMENT 4096u

typedef struct block_header {
    void *base;   /* what the host allocator returned */
    size_t size;  /* bytes the caller asked for */
} block_header_t;

static void *system_alloc(size_t size, size_t alignment, void *user)
{
    (void)user;
    void *p = NULL;
    if (posix_memalign(&p, alignment < sizeof(void *) ? sizeof(void *) : alignment, size) != 0)
        return NULL;
    return p;
}

static void system_release(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static sigeo_allocator_t current = { sizeof(sigeo_allocator_t), 0, system_alloc, system_release, NULL };
static _Atomic uint64_t bytes_in_use;
static _Atomic uint64_t blocks_in_use;

void *sigeo__alloc_aligned(size_t size, size_t alignment)
{
    if (alignment < DEFAULT_ALIGNMENT)
        alignment = DEFAULT_ALIGNMENT;
    if (alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) != 0)
        return NULL;
    if (size == 0)
        size = 1;
    /* The header sits in the `alignment` bytes before the returned pointer. */
    if (size > SIZE_MAX - alignment)
        return NULL;
    char *base = current.alloc(size + alignment, alignment, current.user);
    if (!base)
        return NULL;
    char *p = base + alignment;
    block_header_t *h = (block_header_t *)(void *)(p - sizeof(block_header_t));
    h->base = base;
    h->size = size;
    atomic_fetch_add(&bytes_in_use, size);
    atomic_fetch_add(&blocks_in_use, 1);
    return p;
}

void *sigeo__calloc_skewed(size_t count, size_t size, size_t skew)
{
    size_t total;
    if (skew >= DEFAULT_ALIGNMENT || skew % sizeof(block_header_t) != 0 || !sigeo__mul_size(&total, count, size) ||
        total > SIZE_MAX - skew)
        return NULL;
    /* a block skew bytes longer; the pointer handed out is skew bytes in,
     * its header (what sigeo__free reads) again right before it */
    char *p = sigeo__alloc(total + skew);
    if (!p)
        return NULL;
    memset(p, 0, total + skew);
    if (skew == 0)
        return p;
    const block_header_t *h = (const block_header_t *)(void *)(p - sizeof(block_header_t));
    block_header_t *moved = (block_header_t *)(void *)(p + skew - sizeof(block_header_t));
    *moved = *h;
    return p + skew;
}

void *sigeo__alloc(size_t size)
{
    return sigeo__alloc_aligned(size, DEFAULT_ALIGNMENT);
}

void *sigeo__calloc(size_t count, size_t size)
{
    size_t total;
    if (!sigeo__mul_size(&total, count, size))
        return NULL;
    void *p = sigeo__alloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

void *sigeo__alloc_scattered(size_t count, size_t size)
{
    size_t total;
    if (!sigeo__mul_size(&total, count, size))
        return NULL;
    void *p = sigeo__alloc(total);
    if (!p)
        return NULL;
#ifdef MADV_HUGEPAGE
    enum { HUGE = 2u << 20 };
    const uintptr_t begin = ((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
    const uintptr_t end = ((uintptr_t)p + total) & ~(uintptr_t)(HUGE - 1);
    if (end > begin)
        (void)madvise((void *)begin, end - begin, MADV_HUGEPAGE);
#endif
    return p;
}

void *sigeo__calloc_scattered(size_t count, size_t size)
{
    size_t total;
    if (!sigeo__mul_size(&total, count, size))
        return NULL;
    void *p = sigeo__alloc_scattered(count, size);
    if (!p)
        return NULL;
    memset(p, 0, total);
    return p;
}

void sigeo__free(void *ptr)
{
    if (!ptr)
        return;
    block_header_t *h = (block_header_t *)(void *)((char *)ptr - sizeof(block_header_t));
    atomic_fetch_sub(&bytes_in_use, h->size);
    atomic_fetch_sub(&blocks_in_use, 1);
    current.release(h->base, current.user);
}

void *sigeo__realloc_array(void *ptr, size_t old_count, size_t new_count, size_t elem_size)
{
    size_t new_bytes, old_bytes;
    if (!sigeo__mul_size(&new_bytes, new_count, elem_size) || !sigeo__mul_size(&old_bytes, old_count, elem_size))
        return NULL;
    void *p = sigeo__alloc(new_bytes);
    if (!p)
        return NULL;
    if (ptr) {
        memcpy(p, ptr, old_bytes < new_bytes ? old_bytes : new_bytes);
        sigeo__free(ptr);
    }
    return p;
}

char *sigeo__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sigeo__alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

SIGEO_API sigeo_status_t sigeo_allocator_init(sigeo_allocator_t *allocator, uint32_t struct_size)
{
    static const sigeo_allocator_t defaults = SIGEO_ALLOCATOR_INIT;
    return sigeo__struct_init(allocator, struct_size, &defaults, sizeof defaults, "allocator");
}

SIGEO_API sigeo_status_t sigeo_set_allocator(const sigeo_allocator_t *allocator)
{
    sigeo_allocator_t next = { sizeof(sigeo_allocator_t), 0, system_alloc, system_release, NULL };
    if (allocator) {
        sigeo_status_t st = sigeo__struct_in(&next, sizeof next, allocator, "allocator", NULL);
        if (st != SIGEO_OK)
            return st;
        if (next.reserved0 != 0)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_set_allocator: reserved0 must be 0");
        if (!next.alloc || !next.release)
            return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                               "sigeo_set_allocator: both alloc and release must be set (alloc %s, release %s)",
                               next.alloc ? "set" : "NULL", next.release ? "set" : "NULL");
    }
    uint64_t blocks = atomic_load(&blocks_in_use);
    if (blocks != 0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG,
                           "sigeo_set_allocator: the library still holds %llu blocks; destroy every handle first",
                           (unsigned long long)blocks);
    current = next;
    return SIGEO_OK;
}

SIGEO_API void sigeo_memory_in_use(uint64_t *bytes, uint64_t *blocks)
{
    if (bytes)
        *bytes = atomic_load(&bytes_in_use);
    if (blocks)
        *blocks = atomic_load(&blocks_in_use);
}
