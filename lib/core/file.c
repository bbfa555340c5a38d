/* Opening regular files without blocking, and the checks and temporary
 * names of atomic saves (file.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/file.h"

#define TMP_TAG ".sigeo-tmp."

static const char *sys_text(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
    return buf;
}

const char *sigeo__file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "not a regular file";
}

int sigeo__open_nonblocking(int *fd_out, const char *path, struct stat *sb)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno ? errno : EIO;
    if (fstat(fd, sb) != 0) {
        int e = errno ? errno : EIO;
        close(fd);
        return e;
    }
    if (S_ISREG(sb->st_mode)) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
            int e = errno ? errno : EIO;
            close(fd);
            return e;
        }
    }
    *fd_out = fd;
    return 0;
}

sigeo_status_t sigeo__open_regular(int *fd_out, const char *path, const char *what, sigeo__errbuf_t *err)
{
    *fd_out = -1;
    char text[128];
    struct stat sb;
    int fd, rc = sigeo__open_nonblocking(&fd, path, &sb);
    if (rc != 0)
        return sigeo__fail_on(err, SIGEO_ERR_IO, "%s '%s': cannot open: %s", what, path, sys_text(rc, text, sizeof text));
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sigeo__fail_on(err, SIGEO_ERR_IO, "%s '%s': is %s, not a regular file", what, path,
                              sigeo__file_kind(sb.st_mode));
    }
    *fd_out = fd;
    return SIGEO_OK;
}

/* Splits path into its directory ("." if none) and base name. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        return sigeo__strdup(".");
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    char *dir = sigeo__alloc(len + 1);
    if (dir) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* pid of a temporary of `base` ("." base TMP_TAG digits), or 0. */
static long temp_pid(const char *name, const char *base)
{
    const size_t bl = strlen(base), tl = strlen(TMP_TAG);
    if (name[0] != '.' || strncmp(name + 1, base, bl) != 0 || strncmp(name + 1 + bl, TMP_TAG, tl) != 0)
        return 0;
    const char *digits = name + 1 + bl + tl;
    if (*digits < '1' || *digits > '9')
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (*end != '\0' || errno != 0 || pid <= 0 || (long)(pid_t)pid != pid)
        return 0;
    return pid;
}

/* Removes the stale temporaries of `base` in `dir` (no allocation: the
 * directory's descriptor names the files). */
static int remove_stale_in(const char *dir, const char *base)
{
    int removed = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    const int dfd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        long pid = temp_pid(e->d_name, base);
        if (pid == 0 || pid == (long)getpid())
            continue; /* ours may be another thread's save in progress */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* that process is alive (or not ours to ask): maybe saving */
        struct stat sb;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
            unlinkat(dfd, e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int sigeo__save_remove_stale(const char *path)
{
    const char *base;
    char *dir = dir_of(path, &base);
    int removed = dir && base[0] ? remove_stale_in(dir, base) : 0;
    sigeo__free(dir);
    return removed;
}

sigeo_status_t sigeo__save_prepare(char **tmp_out, const char *path, const char *what, sigeo__errbuf_t *err)
{
    *tmp_out = NULL;
    char text[128];
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return sigeo__fail_on(err, SIGEO_ERR_IO, "%s '%s': is %s; refusing to replace it (save to a regular file%s)",
                                  what, path, sigeo__file_kind(sb.st_mode),
                                  S_ISLNK(sb.st_mode) ? ", e.g. the link's target" : "");
    } else if (errno != ENOENT) {
        return sigeo__fail_on(err, SIGEO_ERR_IO, "%s '%s': cannot stat: %s", what, path, sys_text(errno, text, sizeof text));
    }
    const char *base;
    char *dir = dir_of(path, &base);
    if (!dir)
        return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "%s '%s': out of memory for the temporary file name", what, path);
    if (!base[0]) {
        sigeo__free(dir);
        return sigeo__fail_on(err, SIGEO_ERR_INVALID_ARG, "%s '%s': names a directory, not a file", what, path);
    }
    (void)remove_stale_in(dir, base);
    const size_t cap = strlen(dir) + strlen(base) + strlen(TMP_TAG) + 32;
    char *tmp = sigeo__alloc(cap);
    if (!tmp) {
        sigeo__free(dir);
        return sigeo__fail_on(err, SIGEO_ERR_NO_MEMORY, "%s '%s': out of memory for the temporary file name", what, path);
    }
    const bool has_dir = strchr(path, '/') != NULL;
    snprintf(tmp, cap, "%s%s.%s" TMP_TAG "%ld", has_dir ? dir : "", has_dir && strcmp(dir, "/") ? "/" : "", base,
             (long)getpid());
    sigeo__free(dir);
    *tmp_out = tmp;
    return SIGEO_OK;
}

void sigeo__sync_parent_dir(char *path)
{
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash) {
        slash[slash == path ? 1 : 0] = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
}
