/*
 * cache.c - what the daemon remembers between calls: attributes of paths it
 * listed or HEADed (trusted for attr_timeout, so `ls -l` and `find` over a
 * listed directory cost no extra requests), the version each path had when a
 * reader last opened it (equal -> the kernel keeps its page cache), the size of
 * ETL outputs once fetched, and directories made by mkdir that hold no object
 * yet (object stores have no empty directories).
 *
 * One hash table under one mutex; when it grows past a bound it is dropped
 * whole, which only costs requests, never correctness.
 *
 * Node-local objects (fqn) skip most requests: an expired entry whose file
 * still has the identity (inode, size, mtime, ctime) it had when last opened
 * is unchanged (the target replaces an object by renaming a new file over it),
 * so one stat revalidates it instead of a HEAD. And the directories in which
 * the target keeps a bucket's files are learned from the fqns it names, so an
 * object just listed can be opened there without asking (see fs_fqn_guess).
 */
#include "fs/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NSLOTS 65536
#define MAX_ENTRIES 262144

typedef struct fs_centry {
    struct fs_centry *next;
    char *path;
    fs_attr a;
    int64_t expires;       /* monotonic ns; 0 = attributes not known */
    char seen_version[32]; /* last version a reader opened */
    int64_t seen_mtime, seen_size;
    bool seen;
    int64_t outsize;       /* ETL output size, -1 unknown */
    int64_t told_min;      /* a view path: the least size the kernel was told or cut it to, -1 none */
    uint32_t gen;          /* changes through the mount (fs_cache_forget) */
    bool kept;             /* a view path: the kernel holds an output of kept_len bytes ... */
    int64_t kept_len;
    fs_attr kept_src;      /* ... made from the source as this describes it, */
    uint64_t kept_gen;     /* at this gen of the source's plain path */
    int64_t missing_until; /* monotonic ns: the target said no such object or directory */
    char *fqn;             /* node-local file named by the last HEAD, NULL if none */
    bool has_id;           /* fqn's identity when a reader last opened it */
    dev_t dev;
    ino_t ino;
    int64_t id_size, id_mtime, id_ctime;
} centry;


static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void clear_locked(void)
{
    fs_st.cache.drops++;
    for (size_t i = 0; fs_st.cache.slots && i < NSLOTS; i++) {
        for (centry *e = fs_st.cache.slots[i], *n; e; e = n) {
            n = e->next;
            free(e->fqn);
            free(e->path);
            free(e);
        }
        fs_st.cache.slots[i] = NULL;
    }
    fs_st.cache.count = 0;
}

static bool same_id(const centry *e, const struct stat *st)
{
    return e->has_id && e->dev == st->st_dev && e->ino == st->st_ino && e->id_size == (int64_t)st->st_size &&
           e->id_mtime == (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec &&
           e->id_ctime == (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

void fs_cache_init(void)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    if (!fs_st.cache.slots)
        fs_st.cache.slots = cmn_xcalloc(NSLOTS, sizeof *fs_st.cache.slots);
    pthread_mutex_unlock(&fs_st.cache.mu);
}

void fs_cache_destroy(void)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    clear_locked();
    free(fs_st.cache.slots);
    fs_st.cache.slots = NULL;
    for (size_t i = 0; i < fs_st.cache.nvdirs; i++)
        free(fs_st.cache.vdirs[i]);
    free(fs_st.cache.vdirs);
    fs_st.cache.vdirs = NULL;
    fs_st.cache.nvdirs = 0;
    for (size_t i = 0; i < fs_st.cache.nroots; i++)
        free(fs_st.cache.roots[i].dir);
    fs_st.cache.nroots = 0;
    pthread_mutex_unlock(&fs_st.cache.mu);
    fs_known_destroy();
}

static centry *find_locked(const char *path, bool create)
{
    if (!fs_st.cache.slots)
        return NULL;
    size_t i = hash(path) % NSLOTS;
    for (centry *e = fs_st.cache.slots[i]; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    if (!create)
        return NULL;
    if (fs_st.cache.count >= MAX_ENTRIES)
        clear_locked();
    centry *e = cmn_xcalloc(1, sizeof *e);
    e->path = cmn_xstrdup(path);
    e->outsize = -1;
    e->told_min = -1;
    e->next = fs_st.cache.slots[i];
    fs_st.cache.slots[i] = e;
    fs_st.cache.count++;
    return e;
}

bool fs_cache_get(const char *path, fs_attr *a)
{
    bool hit = false;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    if (e && e->expires && e->expires > cmn_mono_ns()) {
        *a = e->a;
        hit = true;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    return hit;
}

void fs_cache_put_obj(const char *path, const fs_attr *a, const char *fqn)
{
    int64_t ttl = (int64_t)(fs_cfg.attr_timeout * 1e9);
    if (ttl <= 0)
        return;
    char *copy = fqn && *fqn ? cmn_xstrdup(fqn) : NULL;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true);
    if (e) {
        e->a = *a;
        e->expires = cmn_mono_ns() + ttl;
        e->missing_until = 0;
        if (!copy || !e->fqn || strcmp(copy, e->fqn) != 0)
            e->has_id = false;
        free(e->fqn);
        e->fqn = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    free(copy);
}

void fs_cache_put(const char *path, const fs_attr *a) { fs_cache_put_obj(path, a, NULL); }

bool fs_cache_get_obj(const char *path, fs_attr *a, char *fqn, size_t cap)
{
    bool hit = false;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    if (e && e->expires && e->expires > cmn_mono_ns()) {
        *a = e->a;
        snprintf(fqn, cap, "%s", e->fqn ? e->fqn : "");
        hit = true;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    return hit;
}

void fs_cache_forget(const char *path)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true); /* made, to count the change */
    if (e) {
        e->gen++;
        e->expires = 0;
        e->outsize = -1;
        e->has_id = false;
        e->missing_until = 0;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    fs_known_touch(path);
}

void fs_cache_put_missing(const char *path)
{
    int64_t ttl = (int64_t)(fs_cfg.attr_timeout * 1e9);
    if (ttl <= 0)
        return;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true);
    if (e) {
        e->expires = 0;
        e->missing_until = cmn_mono_ns() + ttl;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

bool fs_cache_missing(const char *path)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    bool missing = e && e->missing_until > cmn_mono_ns();
    pthread_mutex_unlock(&fs_st.cache.mu);
    return missing;
}

bool fs_cache_same_version(const char *path, const char *version, int64_t mtime_ns, int64_t size)
{
    bool same = false;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true);
    if (e) {
        same = e->seen && *version && strcmp(e->seen_version, version) == 0 && e->seen_mtime == mtime_ns &&
               e->seen_size == size;
        snprintf(e->seen_version, sizeof e->seen_version, "%s", version);
        e->seen_mtime = mtime_ns;
        e->seen_size = size;
        e->seen = true;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    return same;
}

void fs_cache_set_outsize(const char *path, int64_t size)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true);
    if (e)
        e->outsize = size;
    pthread_mutex_unlock(&fs_st.cache.mu);
}

int64_t fs_cache_outsize(const char *path)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    int64_t n = e ? e->outsize : -1;
    pthread_mutex_unlock(&fs_st.cache.mu);
    return n;
}

void fs_cache_told_size(const char *path, int64_t size)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, true);
    if (e && (e->told_min < 0 || size < e->told_min))
        e->told_min = size;
    pthread_mutex_unlock(&fs_st.cache.mu);
}

/* The least size, never the last: a reply the kernel dropped as older than a
 * short read, or an entry of a listing it kept, may still be what it holds.
 * An entry the table dropped knows nothing: no page cache. */
bool fs_cache_fits_told(const char *path, int64_t len)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    bool fits = e && e->told_min >= 0 && len <= e->told_min;
    if (fits)
        e->told_min = len;
    pthread_mutex_unlock(&fs_st.cache.mu);
    return fits;
}

bool fs_cache_get_known(const char *path, fs_attr *a)
{
    bool hit = false;
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    if (e && e->expires && !e->a.is_dir) {
        *a = e->a;
        hit = true;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    return hit;
}

uint64_t fs_cache_gen(const char *path)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    uint64_t gen = fs_st.cache.drops << 32 | (e ? e->gen : 0);
    pthread_mutex_unlock(&fs_st.cache.mu);
    return gen;
}

void fs_cache_keep_set(const char *path, const fs_attr *src, uint64_t gen, int64_t len)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    if (e) {
        e->kept = true;
        e->kept_len = len;
        e->kept_src = *src;
        e->kept_gen = gen;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

/* A change through the mount moves gen; one by another client shows in the
 * attributes once they are learned again (after attr_timeout), as for
 * plain files. */
bool fs_cache_keep_match(const char *path, const fs_attr *src, uint64_t gen)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    bool same = e && e->kept && e->kept_gen == gen && e->told_min == e->kept_len && *src->version &&
                strcmp(e->kept_src.version, src->version) == 0 && e->kept_src.mtime_ns == src->mtime_ns &&
                e->kept_src.size == src->size;
    if (e && !same)
        e->kept = false;
    pthread_mutex_unlock(&fs_st.cache.mu);
    return same;
}

void fs_cache_refresh_obj(const char *path, fs_attr *a, const char *fqn)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    /* HEAD answers atime in ns, listings to the minute: for an unchanged object
     * keep the time the kernel already has, or it drops its page cache */
    if (e && !e->a.is_dir && !a->is_dir && *a->version && strcmp(e->a.version, a->version) == 0 &&
        e->a.size == a->size)
        a->mtime_ns = e->a.mtime_ns;
    pthread_mutex_unlock(&fs_st.cache.mu);
    fs_cache_put_obj(path, a, fqn);
}

void fs_cache_set_fileid(const char *path, const char *fqn, const struct stat *st)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    if (e && e->expires) {
        if (!e->fqn || strcmp(e->fqn, fqn) != 0) {
            free(e->fqn);
            e->fqn = cmn_xstrdup(fqn);
        }
        e->has_id = e->fqn != NULL;
        e->dev = st->st_dev;
        e->ino = st->st_ino;
        e->id_size = (int64_t)st->st_size;
        e->id_mtime = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
        e->id_ctime = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

bool fs_cache_revalidate(const char *path, fs_attr *a)
{
    int64_t ttl = (int64_t)(fs_cfg.attr_timeout * 1e9);
    if (ttl <= 0 || !fs_cfg.fqn)
        return false;
    char fqn[4096];
    pthread_mutex_lock(&fs_st.cache.mu);
    centry *e = find_locked(path, false);
    bool cand = e && e->has_id && e->fqn && snprintf(fqn, sizeof fqn, "%s", e->fqn) < (int)sizeof fqn;
    pthread_mutex_unlock(&fs_st.cache.mu);
    struct stat st;
    if (!cand || stat(fqn, &st) != 0)
        return false;
    bool ok = false;
    pthread_mutex_lock(&fs_st.cache.mu);
    e = find_locked(path, false); /* may have changed meanwhile */
    if (e && e->fqn && strcmp(e->fqn, fqn) == 0 && same_id(e, &st)) {
        e->expires = cmn_mono_ns() + ttl;
        *a = e->a;
        ok = true;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    return ok;
}

/* ---------------------------------------------------------------- where the target keeps files */

void fs_fqn_learn(const char *bck, const char *obj, const char *fqn)
{
    size_t fl = strlen(fqn), ol = strlen(obj);
    if (!*obj || fl <= ol || strcmp(fqn + fl - ol, obj) != 0 || fqn[fl - ol - 1] != '/')
        return; /* not <dir>/<obj>: nothing to learn */
    pthread_mutex_lock(&fs_st.cache.mu);
    bool have = false;
    for (size_t i = 0; i < fs_st.cache.nroots && !have; i++)
        have = strcmp(fs_st.cache.roots[i].bck, bck) == 0 && strlen(fs_st.cache.roots[i].dir) == fl - ol &&
               strncmp(fs_st.cache.roots[i].dir, fqn, fl - ol) == 0;
    if (!have && fs_st.cache.nroots < FS_FQN_ROOTS && strlen(bck) < sizeof fs_st.cache.roots[0].bck) {
        snprintf(fs_st.cache.roots[fs_st.cache.nroots].bck, sizeof fs_st.cache.roots[fs_st.cache.nroots].bck, "%s", bck);
        fs_st.cache.roots[fs_st.cache.nroots++].dir = cmn_xstrndup(fqn, fl - ol);
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

bool fs_fqn_guess(const char *bck, const char *obj, int64_t size, char *fqn, size_t cap, struct stat *st)
{
    char dirs[FS_FQN_ROOTS][4096];
    size_t n = 0;
    pthread_mutex_lock(&fs_st.cache.mu);
    for (size_t i = 0; i < fs_st.cache.nroots; i++)
        if (strcmp(fs_st.cache.roots[i].bck, bck) == 0)
            snprintf(dirs[n++], sizeof dirs[0], "%s", fs_st.cache.roots[i].dir);
    pthread_mutex_unlock(&fs_st.cache.mu);
    for (size_t i = 0; i < n; i++)
        if (snprintf(fqn, cap, "%s%s", dirs[i], obj) < (int)cap && stat(fqn, st) == 0 && S_ISREG(st->st_mode) &&
            st->st_size == size)
            return true;
    fqn[0] = '\0';
    return false;
}

/* ---------------------------------------------------------------- virtual directories */

void fs_vdir_add(const char *path)
{
    pthread_mutex_lock(&fs_st.cache.mu);
    bool have = false;
    for (size_t i = 0; i < fs_st.cache.nvdirs && !have; i++)
        have = strcmp(fs_st.cache.vdirs[i], path) == 0;
    if (!have) {
        fs_st.cache.vdirs = cmn_xrealloc(fs_st.cache.vdirs, (fs_st.cache.nvdirs + 1) * sizeof *fs_st.cache.vdirs);
        fs_st.cache.vdirs[fs_st.cache.nvdirs++] = cmn_xstrdup(path);
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

bool fs_vdir_has(const char *path)
{
    bool have = false;
    size_t plen = strlen(path);
    pthread_mutex_lock(&fs_st.cache.mu);
    for (size_t i = 0; i < fs_st.cache.nvdirs && !have; i++) /* itself, or a directory made below it */
        have = strncmp(fs_st.cache.vdirs[i], path, plen) == 0 &&
               (fs_st.cache.vdirs[i][plen] == '\0' || fs_st.cache.vdirs[i][plen] == '/');
    pthread_mutex_unlock(&fs_st.cache.mu);
    return have;
}

void fs_vdir_del(const char *path, bool below)
{
    size_t plen = strlen(path);
    pthread_mutex_lock(&fs_st.cache.mu);
    for (size_t i = 0; i < fs_st.cache.nvdirs;) {
        if (strncmp(fs_st.cache.vdirs[i], path, plen) == 0 && (fs_st.cache.vdirs[i][plen] == '\0' || (below && fs_st.cache.vdirs[i][plen] == '/'))) {
            free(fs_st.cache.vdirs[i]);
            fs_st.cache.vdirs[i] = fs_st.cache.vdirs[--fs_st.cache.nvdirs];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
}

void fs_vdir_del_parents(const char *path)
{
    char *p = cmn_xstrdup(path);
    for (char *s = strrchr(p, '/'); s && s != p; s = strrchr(p, '/')) {
        *s = '\0';
        fs_vdir_del(p, false);
    }
    free(p);
}

void fs_vdir_children(const char *dir, void (*fn)(void *ctx, const char *name), void *ctx)
{
    size_t dlen = strlen(dir);
    if (dlen == 1)
        dlen = 0; /* "/" */
    /* the first name below dir of every remembered directory under it, once */
    char **seen = NULL;
    size_t nseen = 0;
    pthread_mutex_lock(&fs_st.cache.mu);
    for (size_t i = 0; i < fs_st.cache.nvdirs; i++) {
        const char *v = fs_st.cache.vdirs[i];
        if (strncmp(v, dir, dlen) != 0 || v[dlen] != '/' || !v[dlen + 1])
            continue;
        char *name = cmn_xstrndup(v + dlen + 1, strcspn(v + dlen + 1, "/"));
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = strcmp(seen[k], name) == 0;
        if (dup) {
            free(name);
            continue;
        }
        seen = cmn_xrealloc(seen, (nseen + 1) * sizeof *seen);
        seen[nseen++] = name;
    }
    pthread_mutex_unlock(&fs_st.cache.mu);
    for (size_t k = 0; k < nseen; k++) {
        fn(ctx, seen[k]);
        free(seen[k]);
    }
    free(seen);
}
