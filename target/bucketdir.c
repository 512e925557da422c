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

/* Destroy commits with one rename: the first mountpath's directory (the one
 * that says the bucket exists, with its props) moves into the trash as
 * "ID-BUCKET". The other mountpaths' shares follow under the same name, then
 * everything of ID is removed. A crash at any point leaves the bucket whole
 * or gone: shares left behind by a crash right after the commit are moved to
 * the trash at start-up (tgt_bucket_finish_destroys), before anyone could
 * create the bucket again and see them. */
int tgt_bucket_destroy(const tgt_store *s, const char *bck)
{
    if (!tgt_bucket_exists(s, bck))
        return -ENOENT;
    char id[CMN_UUID_LEN + 1], dir[PATH_MAX], trash[PATH_MAX];
    cmn_gen_uuid(id);
    for (int i = 0; i < s->nmpaths; i++) {
        tgt_store_bdir(s, i, bck, dir, sizeof dir);
        snprintf(trash, sizeof trash, "%s/.etlfs/trash/%s-%s", s->mpaths[i], id, bck);
        if (rename(dir, trash) == 0)
            continue;
        if (i == 0)
            return -errno; /* nothing changed (-ENOENT: destroyed meanwhile) */
        if (errno == ENOENT)
            continue; /* no share here */
        /* committed already: remove this share in place */
        cmn_warn("destroy ais://%s: cannot move %s to the trash (%s); removing it in place", bck, dir,
                 strerror(errno));
        tgt_store_remove_tree(dir);
    }
    for (int i = 0; i < s->nmpaths; i++) {
        snprintf(trash, sizeof trash, "%s/.etlfs/trash/%s-%s", s->mpaths[i], id, bck);
        tgt_store_remove_tree(trash);
    }
    return 0;
}

void tgt_bucket_finish_destroys(const tgt_store *s)
{
    char dir[PATH_MAX], trash[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/.etlfs/trash", s->mpaths[0]);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        /* "ID-BUCKET": ID is CMN_UUID_LEN characters */
        if (strlen(de->d_name) <= CMN_UUID_LEN + 1 || de->d_name[CMN_UUID_LEN] != '-')
            continue;
        const char *bck = de->d_name + CMN_UUID_LEN + 1;
        if (!cmn_bucket_name_valid(bck) || tgt_bucket_exists(s, bck))
            continue;
        for (int i = 1; i < s->nmpaths; i++) {
            tgt_store_bdir(s, i, bck, dir, sizeof dir);
            snprintf(trash, sizeof trash, "%s/.etlfs/trash/%s", s->mpaths[i], de->d_name);
            if (rename(dir, trash) == 0)
                cmn_info("destroy of ais://%s was cut short: its share on %s is removed now", bck, s->mpaths[i]);
        }
    }
    closedir(d);
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
