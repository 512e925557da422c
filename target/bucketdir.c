/*
 * bucketdir.c - buckets on disk. A bucket is a directory "@ais/<name>" on
 * every mountpath; the first mountpath's directory is the one that says the
 * bucket exists (created first, removed last).
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BPROPS_XATTR "user.etlfs.bck"

bool tgt_bucket_exists(const tgt_store *s, const char *bck)
{
    char dir[PATH_MAX];
    struct stat st;
    if (tgt_store_bdir(s, 0, bck, dir, sizeof dir) != 0)
        return false;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int tgt_bucket_create(const tgt_store *s, const char *bck)
{
    char dir[PATH_MAX];
    tgt_store_bdir(s, 0, bck, dir, sizeof dir);
    if (mkdir(dir, 0755) != 0)
        return -errno;
    char created[32];
    int n = snprintf(created, sizeof created, "%lld", (long long)cmn_now_ns());
    setxattr(dir, BPROPS_XATTR, created, (size_t)n, 0);
    for (int i = 1; i < s->nmpaths; i++) {
        tgt_store_bdir(s, i, bck, dir, sizeof dir);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -errno;
    }
    return 0;
}

int64_t tgt_bucket_created(const tgt_store *s, const char *bck)
{
    char dir[PATH_MAX], v[32] = {0};
    tgt_store_bdir(s, 0, bck, dir, sizeof dir);
    ssize_t n = getxattr(dir, BPROPS_XATTR, v, sizeof v - 1);
    return n > 0 ? strtoll(v, NULL, 10) : 0;
}

/* Moves the bucket's directories out of sight first (rename is atomic), then
 * removes them, so a concurrent reader never sees half a bucket. */
int tgt_bucket_destroy(const tgt_store *s, const char *bck)
{
    if (!tgt_bucket_exists(s, bck))
        return -ENOENT;
    char id[CMN_UUID_LEN + 1];
    cmn_gen_uuid(id);
    for (int i = s->nmpaths - 1; i >= 0; i--) {
        char dir[PATH_MAX], trash[PATH_MAX];
        tgt_store_bdir(s, i, bck, dir, sizeof dir);
        snprintf(trash, sizeof trash, "%s/.etlfs/trash/%s", s->mpaths[i], id);
        if (rename(dir, trash) != 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        tgt_store_remove_tree(trash);
    }
    return 0;
}

int tgt_bucket_rename(const tgt_store *s, const char *from, const char *to)
{
    if (!tgt_bucket_exists(s, from))
        return -ENOENT;
    if (tgt_bucket_exists(s, to))
        return -EEXIST;
    /* Rename the secondaries first: the bucket "moves" when mountpath 0 does. */
    for (int i = s->nmpaths - 1; i >= 0; i--) {
        char a[PATH_MAX], b[PATH_MAX];
        tgt_store_bdir(s, i, from, a, sizeof a);
        tgt_store_bdir(s, i, to, b, sizeof b);
        if (rename(a, b) != 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tgt_bucket_names(const tgt_store *s, char ***names, int *n)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/@ais", s->mpaths[0]);
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = cmn_xrealloc(*names, sizeof(char *) * (size_t)cap);
            *names = p;
        }
        (*names)[(*n)++] = cmn_xstrdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return 0;
}

void tgt_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
