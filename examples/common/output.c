/* Atomic output files and early path checks (see output.h). */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interrupt.h"

/* The directory part of `path` ("." when it has none) in a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

FILE *output_open(output_file_t *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->slot = -1;
    if (!path || !*path) {
        errno = EINVAL;
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        errno = EISDIR;
        return NULL;
    }
    size_t dir_len = (size_t)(base - path);
    size_t n = dir_len + 1 + strlen(base) + 8;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(o->tmp, n, "%.*s.%s.XXXXXX", (int)dir_len, path, base);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->path);
        free(o->tmp);
        o->path = o->tmp = NULL;
        errno = e;
        return NULL;
    }
    o->slot = interrupt_register_temp(o->tmp);
    /* mkstemp makes 0600; an output file gets what fopen would give it. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        output_abort(o);
        errno = e;
        return NULL;
    }
    return o->f;
}

static void release(output_file_t *o)
{
    interrupt_unregister_temp(o->slot);
    o->slot = -1;
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    o->f = NULL;
}

void output_abort(output_file_t *o)
{
    if (!o->tmp && !o->path)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    release(o);
}

int output_commit(output_file_t *o)
{
    if (!o->f || !o->tmp) {
        errno = EINVAL;
        return -1;
    }
    int e = 0;
    if (fflush(o->f) != 0 || ferror(o->f))
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(o->f)) != 0 && errno != EINVAL && errno != EROFS)
        e = errno; /* EINVAL: a file system without fsync (a pipe, /dev) */
    if (fclose(o->f) != 0 && !e)
        e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && rename(o->tmp, o->path) != 0)
        e = errno;
    if (e) {
        unlink(o->tmp);
        release(o);
        errno = e;
        return -1;
    }
    /* The rename itself survives a crash once the directory is on disk. */
    char *dir = dir_of(o->path);
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    release(o);
    return 0;
}

static int dir_writable(const char *dir, char *why, size_t why_size)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            snprintf(why, why_size, "the directory '%s' does not exist", dir);
        else
            snprintf(why, why_size, "the directory '%s' cannot be read: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "'%s' is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, why_size, "the directory '%s' is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int output_check_file(const char *path, char *why, size_t why_size)
{
    if (!path || !*path) {
        snprintf(why, why_size, "an empty file name");
        return -1;
    }
    size_t len = strlen(path);
    struct stat st;
    if (path[len - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(why, why_size, "'%s' is a directory, not a file name", path);
        return -1;
    }
    char *dir = dir_of(path);
    if (!dir) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    int r = dir_writable(dir, why, why_size);
    free(dir);
    return r;
}

int output_check_dir(const char *dir, int create, char *why, size_t why_size)
{
    if (!dir || !*dir) {
        snprintf(why, why_size, "an empty directory name");
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) == 0 || !create)
        return dir_writable(dir, why, why_size);
    /* Missing: its parent must be able to take it (trailing slashes aside). */
    char *copy = strdup(dir);
    if (!copy) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *parent = dir_of(copy);
    int r = parent ? dir_writable(parent, why, why_size) : -1;
    if (!parent)
        snprintf(why, why_size, "out of memory");
    free(parent);
    free(copy);
    return r;
}

int output_validate_file(const char *prog, const char *option, const char *path)
{
    char why[4200];
    if (!path || output_check_file(path, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "%s: %s %s: %s\n", prog, option, path, why);
    return -1;
}

int output_validate_dir(const char *prog, const char *option, const char *dir, int create)
{
    char why[4200];
    if (!dir || output_check_dir(dir, create, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "%s: %s %s: %s\n", prog, option, dir, why);
    return -1;
}

int output_write_json(const char *prog, const char *option, const char *path, int pretty, output_json_fn body,
                      const void *user)
{
    output_file_t o;
    FILE *f = output_open(&o, path);
    if (!f) {
        fprintf(stderr, "%s: %s %s: %s\n", prog, option, path, strerror(errno));
        return -1;
    }
    json_out_t j;
    json_out_init(&j, f, pretty);
    body(&j, user);
    const char *why;
    if (json_out_finish(&j, &why) != 0) {
        output_abort(&o);
        fprintf(stderr, "%s: %s %s: %s\n", prog, option, path, why);
        return -1;
    }
    if (output_commit(&o) != 0) {
        fprintf(stderr, "%s: %s %s: %s\n", prog, option, path, strerror(errno));
        return -1;
    }
    return 0;
}
