/*
 * store.c - the mountpaths: opening them (and dropping what a crash left),
 * and where an object or a bucket lives on them (buckets: bucketdir.c).
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

static int remove_tree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int tgt_store_remove_tree(const char *path)
{
    return nftw(path, remove_tree_cb, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

/* Work files of PUTs in flight at a crash, and destroyed buckets, are garbage: drop them. */
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
        tgt_store_remove_tree(path);
    }
    closedir(d);
}

int tgt_store_open(tgt_store *s, char **dirs, int n)
{
    memset(s, 0, sizeof *s);
    if (n < 1 || n > TGT_MAX_MPATHS)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        if (cmn_mkdir_p(dirs[i]) != 0 || !realpath(dirs[i], real)) {
            cmn_error("mountpath %s: %s", dirs[i], strerror(errno));
            return -EIO;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(s->mpaths[j], real)) {
                cmn_error("mountpath %s given twice", real);
                return -EIO;
            }
        s->mpaths[s->nmpaths++] = cmn_xstrdup(real);
        const char *sub[] = {"@ais", ".etlfs/tmp", ".etlfs/trash"};
        for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++) {
            snprintf(path, sizeof path, "%s/%s", real, sub[k]);
            if (cmn_mkdir_p(path) != 0) {
                cmn_error("mountpath %s: cannot create %s: %s", real, path, strerror(errno));
                return -EIO;
            }
        }
        snprintf(path, sizeof path, "%s/.etlfs/tmp", real);
        clean_dir(path);
    }
    /* destroyed buckets: first gather the shares a crash left behind */
    tgt_bucket_finish_destroys(s);
    for (int i = 0; i < s->nmpaths; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/.etlfs/trash", s->mpaths[i]);
        clean_dir(path);
    }
    return 0;
}

void tgt_store_close(tgt_store *s)
{
    for (int i = 0; i < s->nmpaths; i++)
        free(s->mpaths[i]);
    memset(s, 0, sizeof *s);
}

/* Appends str at out[n] within cap (always terminated, as snprintf) and
 * returns the length the whole would have: paths are built per object, and
 * snprintf's format parsing was most of their cost. */
static size_t put(char *out, size_t cap, size_t n, const char *str)
{
    size_t len = strlen(str);
    if (n < cap) {
        size_t k = len < cap - 1 - n ? len : cap - 1 - n;
        memcpy(out + n, str, k);
        out[n + k] = '\0';
    }
    return n + len;
}

int tgt_store_mpath_of(const tgt_store *s, const char *bck, const char *obj)
{
    if (s->nmpaths == 1)
        return 0;
    char key[PATH_MAX];
    size_t n = put(key, sizeof key, put(key, sizeof key, put(key, sizeof key, 0, bck), "/"), obj);
    if (n >= sizeof key)
        n = sizeof key - 1;
    return (int)(XXH64(key, n, 0) % (uint64_t)s->nmpaths);
}

int tgt_store_fqn(const tgt_store *s, const char *bck, const char *obj, char *out, size_t outlen)
{
    int i = tgt_store_mpath_of(s, bck, obj);
    size_t n = put(out, outlen, 0, s->mpaths[i]);
    n = put(out, outlen, n, "/@ais/");
    n = put(out, outlen, n, bck);
    n = put(out, outlen, n, "/");
    n = put(out, outlen, n, obj);
    return n >= outlen ? -ENAMETOOLONG : 0;
}

int tgt_store_bdir(const tgt_store *s, int i, const char *bck, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/@ais/%s", s->mpaths[i], bck);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}
