/*
 * walk.c - visits a bucket's objects in name order without loading the bucket.
 *
 * Each mountpath holds part of the bucket as a directory tree. A depth-first
 * walk that sorts each directory by "key" (the entry's name, plus '/' for a
 * directory) yields names in global byte order, because everything under
 * "a/" sorts between the siblings around the key "a/". The per-mountpath
 * walks are merged by smallest key. Subtrees wholly before start_after or
 * outside prefix are never opened, and a directory's sorted names are kept
 * while it does not change (below), so a page costs work in proportion to
 * the page, not to the directory.
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct entry {
    const char *key; /* relative name; directories end with '/' */
    bool is_dir;
} entry;

/* One directory's entries, sorted by key; shared by the walks that read it
 * (refs) and, when it is worth keeping, held by the cache below. */
typedef struct dlist {
    entry *ents;
    int n;
    char *arena;  /* the keys, one after the other */
    size_t bytes; /* what it costs: entries and keys */
    int refs;     /* under cache_mu */
    bool cached;  /* in cache[] */
    char *path;
    dev_t dev;
    ino_t ino;
    struct timespec ctime;
    uint64_t used; /* LRU clock */
} dlist;

typedef struct walk_args {
    const char *prefix, *start_after;
    bool no_recursion;
} walk_args;

typedef struct frame {
    dlist *d; /* NULL: the directory does not exist */
    int next;
} frame;

typedef struct walker {
    const char *root; /* bucket directory on one mountpath */
    frame stack[128];
    int depth;
    char cur[PATH_MAX]; /* current head key, "" when exhausted */
    bool cur_dir;
    bool done;
} walker;

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* s into dst (cap bytes), cut to fit; its length. Per name where an
 * snprintf("%s") cost a job a tenth of its instructions. */
static size_t copy_str(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return n;
}

static int cmp_entry(const void *a, const void *b) { return strcmp(((const entry *)a)->key, ((const entry *)b)->key); }

/* The sorted-directory cache. A page resumes at its token by binary search
 * in the directory's sorted names instead of reading and sorting it again,
 * so a page costs the same at 10k objects as at 1M. An entry is valid while
 * the directory's device, inode and ctime are those it was read with: any
 * name added or removed moves the ctime, whoever does it (the target, a job,
 * a hand on the disk). The ctime comes from a coarse clock, so a directory
 * whose ctime is less than SETTLED_NS older than the start of its read is
 * not kept (a change in the same tick would not show). Only directories of
 * CACHE_MIN_ENTRIES or more are kept (smaller ones cost a page to read), at
 * most CACHE_DIRS of them and CACHE_BYTES in all, least recently used out
 * first; a 1M-name directory of 12-byte names costs about 28 MiB. */
#define CACHE_MIN_ENTRIES 256
#define CACHE_DIRS 64
#define CACHE_BYTES ((size_t)96 << 20)
#define SETTLED_NS 1000000000LL

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static dlist *cache[CACHE_DIRS];
static size_t cache_bytes;
static uint64_t cache_clock;

static void dlist_free(dlist *d)
{
    free(d->ents);
    free(d->arena);
    free(d->path);
    free(d);
}

static void dlist_put(dlist *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&cache_mu);
    bool last = --d->refs == 0 && !d->cached;
    pthread_mutex_unlock(&cache_mu);
    if (last)
        dlist_free(d);
}

/* Under cache_mu: drops slot i from the cache (freed now if no walk holds it). */
static void cache_drop_locked(int i)
{
    dlist *d = cache[i];
    cache[i] = NULL;
    cache_bytes -= d->bytes;
    d->cached = false;
    if (d->refs == 0)
        dlist_free(d);
}

static bool same_dir(const dlist *d, const struct stat *st)
{
    return d->ino == st->st_ino && d->dev == st->st_dev && d->ctime.tv_sec == st->st_ctim.tv_sec &&
           d->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* The cached list of path when it is still what the disk holds; a ref taken. */
static dlist *cache_get(const char *path, const struct stat *st)
{
    dlist *got = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_DIRS; i++) {
        if (!cache[i] || strcmp(cache[i]->path, path))
            continue;
        if (same_dir(cache[i], st)) {
            got = cache[i];
            got->refs++;
            got->used = ++cache_clock;
        } else {
            cache_drop_locked(i); /* changed since */
        }
        break;
    }
    pthread_mutex_unlock(&cache_mu);
    return got;
}

static void cache_put(dlist *d)
{
    if (d->n < CACHE_MIN_ENTRIES || d->bytes > CACHE_BYTES / 2)
        return;
    pthread_mutex_lock(&cache_mu);
    int free_slot = -1;
    for (int i = 0; i < CACHE_DIRS; i++) {
        if (cache[i] && !strcmp(cache[i]->path, d->path))
            cache_drop_locked(i); /* another walk read it meanwhile */
        if (!cache[i] && free_slot < 0)
            free_slot = i;
    }
    while (free_slot < 0 || cache_bytes + d->bytes > CACHE_BYTES) {
        int lru = -1;
        for (int i = 0; i < CACHE_DIRS; i++)
            if (cache[i] && (lru < 0 || cache[i]->used < cache[lru]->used))
                lru = i;
        if (lru < 0)
            break;
        cache_drop_locked(lru);
        free_slot = free_slot < 0 ? lru : free_slot;
    }
    if (free_slot >= 0 && cache_bytes + d->bytes <= CACHE_BYTES) {
        cache[free_slot] = d;
        d->cached = true;
        d->used = ++cache_clock;
        cache_bytes += d->bytes;
    }
    pthread_mutex_unlock(&cache_mu);
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reads and sorts the directory path (relative key rel: "" or "a/b/"). */
static int dir_read(const char *path, const char *rel, dlist **out)
{
    int64_t started = realtime_ns();
    DIR *dir = opendir(path);
    if (!dir)
        return -errno;
    dlist *d = cmn_xcalloc(1, sizeof *d);
    size_t *offs = NULL, arena_cap = 0, arena_len = 0;
    bool *dirs = NULL;
    int cap = 0;
    size_t rl = strlen(rel);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        /* only a file placed by hand can have such a name: no request reaches
         * it, and it would make the listing invalid JSON */
        size_t nl = strlen(de->d_name);
        if (!cmn_utf8_valid(de->d_name, nl))
            continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (d->n == cap) {
            cap = cap ? cap * 2 : 64;
            offs = cmn_xrealloc(offs, sizeof *offs * (size_t)cap);
            dirs = cmn_xrealloc(dirs, sizeof *dirs * (size_t)cap);
        }
        size_t need = rl + nl + 2;
        if (arena_len + need > arena_cap) {
            arena_cap = (arena_len + need) * 2;
            d->arena = cmn_xrealloc(d->arena, arena_cap);
        }
        char *key = d->arena + arena_len;
        memcpy(key, rel, rl);
        memcpy(key + rl, de->d_name, nl);
        if (is_dir)
            key[rl + nl++] = '/';
        key[rl + nl] = '\0';
        offs[d->n] = arena_len;
        dirs[d->n] = is_dir;
        arena_len += rl + nl + 1;
        d->n++;
    }
    struct stat st = {0};
    bool settled = fstat(dirfd(dir), &st) == 0 &&
                   (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec < started - SETTLED_NS;
    closedir(dir);
    /* the keys moved with every realloc: point at them now, in an arena of
     * their own size (a kept 1M-name directory would otherwise carry up to
     * twice its keys) */
    if (arena_len && arena_len < arena_cap) {
        d->arena = cmn_xrealloc(d->arena, arena_len);
        arena_cap = arena_len;
    }
    d->ents = cmn_xmalloc(sizeof(entry) * (size_t)(d->n ? d->n : 1));
    for (int i = 0; i < d->n; i++)
        d->ents[i] = (entry){d->arena + offs[i], dirs[i]};
    free(offs);
    free(dirs);
    if (d->n)
        qsort(d->ents, (size_t)d->n, sizeof(entry), cmp_entry);
    d->bytes = sizeof *d + sizeof(entry) * (size_t)d->n + arena_cap;
    d->path = cmn_xstrdup(path);
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    d->ctime = st.st_ctim;
    d->refs = 1;
    if (settled)
        cache_put(d);
    *out = d;
    return 0;
}

/* The first entry whose key is s or after it, or the directory just before
 * it when that directory holds s (its key is a prefix of s): nothing before
 * it can be listed after s. */
static int seek(const dlist *d, const char *s)
{
    int lo = 0, hi = d->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(d->ents[mid].key, s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && d->ents[lo - 1].is_dir && starts_with(s, d->ents[lo - 1].key))
        lo--;
    return lo;
}

static void frame_free(frame *f)
{
    dlist_put(f->d);
    memset(f, 0, sizeof *f);
}

/* One directory's sorted entries (from the cache when it has not changed),
 * positioned at the first that can follow start_after and match prefix;
 * rel is its relative key ("" or "a/b/"). */
static int frame_load(frame *f, const char *root, const char *rel, const walk_args *a)
{
    char path[PATH_MAX];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    f->d = cache_get(path, &st);
    if (!f->d) {
        int rc = dir_read(path, rel, &f->d);
        if (rc)
            return rc == -ENOENT ? 0 : rc;
    }
    int from_sa = seek(f->d, a->start_after), from_prefix = seek(f->d, a->prefix);
    f->next = from_sa > from_prefix ? from_sa : from_prefix;
    return 0;
}

/* Advances w to its next visible key (file, or directory in no_recursion mode). */
static void walker_next(walker *w, const walk_args *a)
{
    while (w->depth > 0) {
        frame *f = &w->stack[w->depth - 1];
        if (!f->d || f->next == f->d->n) {
            frame_free(f);
            w->depth--;
            continue;
        }
        const entry *e = &f->d->ents[f->next++];
        const char *sa = a->start_after;
        /* sorted: past the prefix's names, nothing more of this directory matches */
        if (!starts_with(e->key, a->prefix) && !starts_with(a->prefix, e->key) && strcmp(e->key, a->prefix) > 0) {
            f->next = f->d->n;
            continue;
        }
        if (e->is_dir) {
            if (!starts_with(e->key, a->prefix) && !starts_with(a->prefix, e->key))
                continue;
            if (strcmp(sa, e->key) > 0 && !starts_with(sa, e->key))
                continue; /* the whole subtree sorts before start_after */
            if (a->no_recursion && starts_with(e->key, a->prefix) && strcmp(e->key, a->prefix)) {
                if (strcmp(e->key, sa) <= 0)
                    continue;
                copy_str(w->cur, sizeof w->cur, e->key);
                w->cur_dir = true;
                return;
            }
            if (w->depth == (int)(sizeof w->stack / sizeof w->stack[0]))
                continue;
            frame_load(&w->stack[w->depth], w->root, e->key, a);
            w->depth++;
            continue;
        }
        if (!starts_with(e->key, a->prefix) || strcmp(e->key, sa) <= 0)
            continue;
        if (a->no_recursion && strchr(e->key + strlen(a->prefix), '/'))
            continue;
        copy_str(w->cur, sizeof w->cur, e->key);
        w->cur_dir = false;
        return;
    }
    w->done = true;
}

struct tgt_walk_it {
    walk_args a;
    int n;
    walker *ws;
    char (*roots)[PATH_MAX];
    char prefix_buf[PATH_MAX], after_buf[PATH_MAX];
    char fqn[PATH_MAX], name[PATH_MAX], key[PATH_MAX];
};

int tgt_walk_open(const tgt_store *s, const char *bck, const char *prefix, const char *start_after,
                  bool no_recursion, tgt_walk_it **out)
{
    tgt_walk_it *it = cmn_xcalloc(1, sizeof *it);
    /* copies: the caller's strings may go before the walk does */
    snprintf(it->prefix_buf, sizeof it->prefix_buf, "%s", prefix ? prefix : "");
    snprintf(it->after_buf, sizeof it->after_buf, "%s", start_after ? start_after : "");
    it->a = (walk_args){it->prefix_buf, it->after_buf, no_recursion};
    it->n = s->nmpaths;
    it->ws = cmn_xcalloc((size_t)it->n, sizeof(walker));
    it->roots = cmn_xcalloc((size_t)it->n, PATH_MAX);
    int rc = 0;
    for (int i = 0; i < it->n; i++) {
        tgt_store_bdir(s, i, bck, it->roots[i], PATH_MAX);
        it->ws[i].root = it->roots[i];
        if (frame_load(&it->ws[i].stack[0], it->roots[i], "", &it->a) != 0)
            rc = -EIO;
        it->ws[i].depth = 1;
        walker_next(&it->ws[i], &it->a);
    }
    *out = it;
    return rc;
}

bool tgt_walk_next(tgt_walk_it *it, tgt_walk_entry *e)
{
    int best = -1;
    for (int i = 0; i < it->n; i++)
        if (!it->ws[i].done && (best < 0 || strcmp(it->ws[i].cur, it->ws[best].cur) < 0))
            best = i;
    if (best < 0)
        return false;
    bool is_dir = it->ws[best].cur_dir;
    size_t nl = copy_str(it->name, sizeof it->name, it->ws[best].cur);
    if (is_dir && nl)
        it->name[--nl] = '\0';
    size_t rl = copy_str(it->fqn, sizeof it->fqn, it->roots[best]);
    if (rl + 1 < sizeof it->fqn) {
        it->fqn[rl] = '/';
        copy_str(it->fqn + rl + 1, sizeof it->fqn - rl - 1, it->name);
    }
    /* the same directory exists on several mountpaths: report it once */
    copy_str(it->key, sizeof it->key, it->ws[best].cur);
    for (int i = 0; i < it->n; i++)
        if (!it->ws[i].done && strcmp(it->ws[i].cur, it->key) == 0)
            walker_next(&it->ws[i], &it->a);
    *e = (tgt_walk_entry){it->name, it->fqn, is_dir};
    return true;
}

void tgt_walk_close(tgt_walk_it *it)
{
    if (!it)
        return;
    for (int i = 0; i < it->n; i++)
        while (it->ws[i].depth > 0)
            frame_free(&it->ws[i].stack[--it->ws[i].depth]);
    free(it->ws);
    free(it->roots);
    free(it);
}

int tgt_walk(const tgt_store *s, const char *bck, const char *prefix, const char *start_after,
             bool no_recursion, tgt_walk_fn fn, void *ctx)
{
    tgt_walk_it *it;
    int rc = tgt_walk_open(s, bck, prefix, start_after, no_recursion, &it);
    tgt_walk_entry e;
    while (tgt_walk_next(it, &e) && fn(ctx, e.name, e.fqn, e.is_dir))
        ;
    tgt_walk_close(it);
    return rc;
}
