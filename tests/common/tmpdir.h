/* A temporary directory per test case, for the tests that write files. */
#ifndef SIGEO_TEST_TMPDIR_H
#define SIGEO_TEST_TMPDIR_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Creates $TMPDIR/<prefix>_XXXXXX (or under /tmp) into dir[size]. */
static inline void tu_make_dir(char *dir, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/%s_XXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void tu_remove_dir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* "<dir>/<name>", in one of two rotating buffers (two paths can be live). */
static inline const char *tu_path_in(const char *dir, const char *name)
{
    static char p[2][400];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

#endif
