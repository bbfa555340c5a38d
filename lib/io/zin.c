/* The possibly-gzip file reader (zin.h) over zlib's inflate. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/file.h"
#include "io/zin.h"

#define IN_BYTES ((size_t)1 << 17)

struct sigeo__zin {
    int fd;
    const char *path, *what;
    bool gzip, in_member, eof;
    z_stream zs;
    bool zs_ready;
    unsigned char *in;
    size_t in_have, in_pos;  /* unread input is in[in_pos .. in_have) */
    uint64_t raw_offset;     /* file bytes consumed before in[0] */
    uint64_t out_total, budget;
};

static const char *sys_text(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
}

/* Refills the input buffer; false at end of file (no byte added). */
static sigeo_status_t fill(sigeo__zin_t *z, bool *more)
{
    if (z->in_pos < z->in_have) {
        *more = true;
        return SIGEO_OK;
    }
    z->raw_offset += z->in_have;
    z->in_have = z->in_pos = 0;
    for (;;) {
        ssize_t k = read(z->fd, z->in, IN_BYTES);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            char text[128];
            return sigeo__fail(SIGEO_ERR_IO, "%s '%s': read failed at byte offset %llu: %s", z->what, z->path,
                               (unsigned long long)z->raw_offset, sys_text(errno, text, sizeof text));
        }
        z->in_have = (size_t)k;
        *more = k > 0;
        return SIGEO_OK;
    }
}

sigeo_status_t sigeo__zin_open(sigeo__zin_t **out, const char *path, const char *what, uint64_t budget)
{
    *out = NULL;
    sigeo__zin_t *z = sigeo__calloc(1, sizeof *z);
    unsigned char *in = z ? sigeo__alloc(IN_BYTES) : NULL;
    if (!in) {
        sigeo__free(z);
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s '%s': out of memory for the read buffer", what, path);
    }
    z->in = in;
    z->path = path;
    z->what = what;
    z->budget = budget;
    sigeo_status_t st = sigeo__open_regular(&z->fd, path, what, NULL);
    bool more = false;
    if (st == SIGEO_OK)
        st = fill(z, &more);
    /* Gzip if it starts with the magic; read the rest of a short first read. */
    while (st == SIGEO_OK && more && z->in_have < 2) {
        ssize_t k = read(z->fd, z->in + z->in_have, IN_BYTES - z->in_have);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        z->in_have += (size_t)k;
    }
    if (st == SIGEO_OK && z->in_have >= 2 && z->in[0] == 0x1f && z->in[1] == 0x8b) {
        z->gzip = true;
        if (inflateInit2(&z->zs, 15 + 16) != Z_OK)
            st = sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s '%s': zlib could not allocate its state", what, path);
        else
            z->zs_ready = z->in_member = true;
    }
    if (st != SIGEO_OK) {
        sigeo__zin_close(z);
        return st;
    }
    *out = z;
    return SIGEO_OK;
}

bool sigeo__zin_compressed(const sigeo__zin_t *z)
{
    return z->gzip;
}

void sigeo__zin_set_budget(sigeo__zin_t *z, uint64_t budget)
{
    z->budget = budget;
}

static sigeo_status_t read_plain(sigeo__zin_t *z, unsigned char *dst, size_t n, size_t *got)
{
    while (*got < n) {
        bool more;
        sigeo_status_t st = fill(z, &more);
        if (st != SIGEO_OK)
            return st;
        if (!more)
            break;
        size_t take = z->in_have - z->in_pos < n - *got ? z->in_have - z->in_pos : n - *got;
        memcpy(dst + *got, z->in + z->in_pos, take);
        z->in_pos += take;
        *got += take;
    }
    return SIGEO_OK;
}

static sigeo_status_t read_gzip(sigeo__zin_t *z, unsigned char *dst, size_t n, size_t *got)
{
    while (*got < n && !z->eof) {
        bool more;
        sigeo_status_t st = fill(z, &more);
        if (st != SIGEO_OK)
            return st;
        const uint64_t at = z->raw_offset + z->in_pos;
        if (!z->in_member) {
            /* Between members: the end, or another member's magic. */
            if (!more) {
                z->eof = true;
                break;
            }
            if (z->in[z->in_pos] != 0x1f || (z->in_have - z->in_pos >= 2 && z->in[z->in_pos + 1] != 0x8b))
                return sigeo__fail(SIGEO_ERR_FORMAT,
                                   "%s '%s': %s after the gzip data at byte offset %llu (not another gzip member)",
                                   z->what, z->path, "unexpected bytes", (unsigned long long)at);
            if (inflateReset(&z->zs) != Z_OK)
                return sigeo__fail(SIGEO_ERR_INTERNAL, "%s '%s': inflateReset failed", z->what, z->path);
            z->in_member = true;
            continue;
        }
        if (!more)
            return sigeo__fail(SIGEO_ERR_FORMAT,
                               "%s '%s': truncated gzip stream: the file ends at byte offset %llu inside a member "
                               "(decompressed byte offset %llu)",
                               z->what, z->path, (unsigned long long)at, (unsigned long long)z->out_total);
        size_t want = n - *got;
        if (z->budget != UINT64_MAX && z->budget - z->out_total < want)
            want = (size_t)(z->budget - z->out_total) + 1; /* one byte past shows the overrun */
        if (want > UINT32_MAX)
            want = UINT32_MAX;
        z->zs.next_in = z->in + z->in_pos;
        z->zs.avail_in = (uInt)(z->in_have - z->in_pos > UINT32_MAX ? UINT32_MAX : z->in_have - z->in_pos);
        z->zs.next_out = dst + *got;
        z->zs.avail_out = (uInt)want;
        int rc = inflate(&z->zs, Z_NO_FLUSH);
        const size_t used = (size_t)(z->zs.next_in - (z->in + z->in_pos));
        const size_t made = want - z->zs.avail_out;
        z->in_pos += used;
        *got += made;
        z->out_total += made;
        if (rc == Z_STREAM_END)
            z->in_member = false;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return sigeo__fail(SIGEO_ERR_FORMAT, "%s '%s': corrupt gzip data at byte offset %llu (decompressed %llu): %s",
                               z->what, z->path, (unsigned long long)at, (unsigned long long)z->out_total,
                               z->zs.msg ? z->zs.msg : "inflate failed");
        if (z->budget != UINT64_MAX && z->out_total > z->budget)
            return sigeo__fail(SIGEO_ERR_UNSUPPORTED,
                               "%s '%s': the gzip data expands past %llu bytes, the most this read accepts", z->what,
                               z->path, (unsigned long long)z->budget);
    }
    return SIGEO_OK;
}

sigeo_status_t sigeo__zin_read(sigeo__zin_t *z, void *dst, size_t n, size_t *got)
{
    *got = 0;
    return z->gzip ? read_gzip(z, dst, n, got) : read_plain(z, dst, n, got);
}

void sigeo__zin_close(sigeo__zin_t *z)
{
    if (!z)
        return;
    if (z->zs_ready)
        inflateEnd(&z->zs);
    if (z->fd >= 0)
        close(z->fd);
    sigeo__free(z->in);
    sigeo__free(z);
}
