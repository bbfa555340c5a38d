/* Opening files the library reads and replacing files it writes, the same
 * way everywhere (model load and save, IDX, Criteo, safetensors, synthetic
 * TSV). Internal. */
#ifndef SIGEO_CORE_FILE_H
#define SIGEO_CORE_FILE_H

#include <stdio.h>
#include <sys/stat.h>

#include "core/core.h"

/* Opens `path` read-only for a reader. The open itself never blocks: a FIFO
 * with no writer, a terminal or a device would otherwise hang open() or the
 * first read, so the file is opened O_NONBLOCK (and O_CLOEXEC), checked with
 * fstat, refused unless it is a regular file, and only then switched back
 * to blocking reads. On success *fd_out is the descriptor; on failure -1
 * and SIGEO_ERR_IO with "<what> '<path>': ..." (the system's reason, or
 * which kind of file it is) in `err` and the thread's message. */
sigeo_status_t sigeo__open_regular(int *fd_out, const char *path, const char *what, sigeo__errbuf_t *err);

/* The same without the messages, for callers with their own: opens without
 * blocking and fstats into *sb; a regular file is switched back to blocking
 * reads, anything else is returned still O_NONBLOCK for the caller to
 * refuse (nothing was read). Returns 0 or the errno. */
int sigeo__open_nonblocking(int *fd_out, const char *path, struct stat *sb);

/* "a FIFO (named pipe)", "a directory", ... for messages. */
const char *sigeo__file_kind(mode_t mode);

/* Atomic replacement of `path` (temporary file in the same directory, then
 * rename). sigeo__save_prepare checks the target and names the temporary:
 *   - `path` must not exist, or be a regular file: a symbolic link, FIFO,
 *     device, socket or directory there is refused (SIGEO_ERR_IO) and left
 *     alone, since renaming over it would destroy it (a link is not
 *     followed: save to the link's target instead);
 *   - the temporary is "<dir>/.<base>.sigeo-tmp.<pid>", so a later save
 *     recognises the leftovers of a killed one: every such file of `path`
 *     whose process no longer exists (kill(pid, 0) fails with ESRCH), that
 *     is a regular file owned by this user, is removed first.
 * Returns the temporary's name in *tmp_out (free with sigeo__free). */
sigeo_status_t sigeo__save_prepare(char **tmp_out, const char *path, const char *what, sigeo__errbuf_t *err);

/* The part of the above that removes stale temporaries of `path`; returns
 * how many it removed. Exposed for tests. */
int sigeo__save_remove_stale(const char *path);

/* fsync of the directory holding `path` (the temporary's name, after the
 * rename), so the rename is durable. Best effort: some file systems refuse
 * fsync on directories. Truncates `path` to the directory (no allocation). */
void sigeo__sync_parent_dir(char *path);

#endif
