/*
 * store.c - mountpaths and buckets. A bucket is a directory "@ais/<name>" on
 * every mountpath; the first mountpath's directory is the one that says the
 * bucket exists (created first, removed last).
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BPROPS_XATTR "user.etlfs.bck"

static int remove_tree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int remove_tree(const char *path)
{
    return nftw(path, remove_tree_cb, 32, FTW_DEPTH | FTW_PHYS) == 0 ? CMN_OK : CMN_ERR;
}

/* Work files of PUTs that were in flight at a crash are garbage: drop them. */
static void clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        remove_tree(path);
    }
    closedir(d);
}

int tgt_store_open(tgt_store *s, char **dirs, int n)
{
    memset(s, 0, sizeof *s);
    if (n < 1 || n > TGT_MAX_MPATHS)
        return CMN_ERR;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        if (cmn_mkdir_p(dirs[i]) != CMN_OK || !realpath(dirs[i], real)) {
            cmn_error("mountpath %s: %s", dirs[i], strerror(errno));
            return CMN_ERR;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(s->mpaths[j], real)) {
                cmn_error("mountpath %s given twice", real);
                return CMN_ERR;
            }
        s->mpaths[s->nmpaths++] = strdup(real);
        const char *sub[] = {"@ais", ".etlfs/tmp", ".etlfs/trash"};
        for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++) {
            snprintf(path, sizeof path, "%s/%s", real, sub[k]);
            if (cmn_mkdir_p(path) != CMN_OK) {
                cmn_error("mountpath %s: cannot create %s: %s", real, path, strerror(errno));
                return CMN_ERR;
            }
        }
        snprintf(path, sizeof path, "%s/.etlfs/tmp", real);
        clean_dir(path);
        snprintf(path, sizeof path, "%s/.etlfs/trash", real);
        clean_dir(path);
    }
    return CMN_OK;
}

void tgt_store_close(tgt_store *s)
{
    for (int i = 0; i < s->nmpaths; i++)
        free(s->mpaths[i]);
    memset(s, 0, sizeof *s);
}

int tgt_store_mpath_of(const tgt_store *s, const char *bck, const char *obj)
{
    if (s->nmpaths == 1)
        return 0;
    char key[PATH_MAX];
    int n = snprintf(key, sizeof key, "%s/%s", bck, obj);
    if (n < 0 || (size_t)n >= sizeof key)
        n = (int)sizeof key - 1;
    return (int)(XXH64(key, (size_t)n, 0) % (uint64_t)s->nmpaths);
}

int tgt_store_fqn(const tgt_store *s, const char *bck, const char *obj, char *out, size_t outlen)
{
    int i = tgt_store_mpath_of(s, bck, obj);
    int n = snprintf(out, outlen, "%s/@ais/%s/%s", s->mpaths[i], bck, obj);
    return n < 0 || (size_t)n >= outlen ? CMN_ERR : CMN_OK;
}

int tgt_store_bdir(const tgt_store *s, int i, const char *bck, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/@ais/%s", s->mpaths[i], bck);
    return n < 0 || (size_t)n >= outlen ? CMN_ERR : CMN_OK;
}

bool tgt_bucket_exists(const tgt_store *s, const char *bck)
{
    char dir[PATH_MAX];
    struct stat st;
    if (tgt_store_bdir(s, 0, bck, dir, sizeof dir) != CMN_OK)
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
        remove_tree(trash);
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
        return CMN_ERR;
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(*names, sizeof(char *) * (size_t)cap);
            if (!p)
                break;
            *names = p;
        }
        (*names)[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return CMN_OK;
}

void tgt_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
