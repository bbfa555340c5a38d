/* Reading a file that may be gzip-compressed, for the IDX and Criteo
 * readers: opened through core/file.h (regular files only, never blocking
 * on a FIFO), gzip members inflated one after another, anything after the
 * last member that is not another gzip member refused (zlib's gzread
 * silently drops it), and a budget on the decompressed bytes so a small
 * file cannot expand without bound (a 1 MiB gzip holds ~1 GB of zeros).
 * Plain files are read as they are (the budget applies only to gzip). */
#ifndef SIGEO_IO_ZIN_H
#define SIGEO_IO_ZIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct sigeo__zin sigeo__zin_t;

/* Opens `path`; messages start "<what> '<path>': ". budget = the most
 * decompressed bytes a gzip file may yield (UINT64_MAX = no limit). */
sigeo_status_t sigeo__zin_open(sigeo__zin_t **out, const char *path, const char *what, uint64_t budget);

/* Reads up to n bytes into dst; *got < n only at the end of the data.
 * SIGEO_ERR_FORMAT for corrupt or cut gzip data and trailing garbage,
 * SIGEO_ERR_UNSUPPORTED past the budget, SIGEO_ERR_IO for read errors. */
sigeo_status_t sigeo__zin_read(sigeo__zin_t *z, void *dst, size_t n, size_t *got);

/* Whether the file is gzip (else plain). */
bool sigeo__zin_compressed(const sigeo__zin_t *z);

/* Lowers the budget once the caller knows what it will accept. */
void sigeo__zin_set_budget(sigeo__zin_t *z, uint64_t budget);

void sigeo__zin_close(sigeo__zin_t *z);

#endif
