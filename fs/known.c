/*
 * known.c - directories whose every name the daemon knows, so that looking
 * up a name that is not there costs no request. `cp` looks each new name up
 * twice (its stat, then the kernel's own lookup before an O_EXCL create,
 * which no cached "no such name" spares); cache.c answers the second from
 * the first, and a known directory answers the first too.
 *
 * A directory becomes known when the daemon learns all its names at once:
 * mkdir through the mount found it empty (a new bucket is empty); in a
 * directory made elsewhere (a bucket made over REST), LEARN_AFTER names the
 * target said are missing within attr_timeout (cp -r into it; one miss is
 * only a stat) have it listed, when its names fit in one page (a bigger one
 * is marked unknown for attr_timeout, so it is not listed on every miss); and
 * again, when that knowledge is older than attr_timeout, by listing it whole
 * (so a name another client made shows up within attr_timeout, as attributes
 * do). A directory only counting misses never takes a known one's slot.
 * Every name the daemon makes or changes passes fs_cache_forget, which adds
 * it here (fs_known_touch): a name in the set may exist and is asked for; a
 * name removed stays in the set (it costs a HEAD, never a wrong answer).
 * Bounded: FS_KNOWN_DIRS directories, each up to MAX_NAMES names; a
 * directory grown past RELIST_MAX is not listed again but forgotten.
 */
#include "fs/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 65536  /* names kept per directory; more: forgotten */
#define RELIST_MAX 8192  /* names listed again after attr_timeout, at most (9 pages) */
#define PAGE 1000
#define LEARN_AFTER 3    /* missing names in an unknown directory before it is listed */

#define KN fs_st.known

typedef struct fs_known {
    char *dir;        /* plain FUSE path, no trailing slash: "/b" or "/b/a/c" */
    char **set;       /* open addressing, cap a power of two, at most half full */
    size_t cap, n;
    int64_t until_ns; /* monotonic: the names are trusted until then; 0 while learning */
    int64_t used_ns;
    uint64_t id;      /* of the learning in progress (fs_known_begin), or 0 */
    bool learning;
    bool unknown;     /* not known: counting misses, or too big to list, until until_ns */
    bool big;         /* unknown: too big or unlistable, not listed again until until_ns */
    int misses;       /* unknown: names the target said are missing since the count began */
} known;

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static bool set_has(const known *k, const char *name, size_t len)
{
    if (!k->cap)
        return false;
    for (size_t i = name_hash(name, len) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        if (!k->set[i])
            return false;
        if (strlen(k->set[i]) == len && memcmp(k->set[i], name, len) == 0)
            return true;
    }
}

static void set_put(known *k, char *name) /* takes name */
{
    size_t i = name_hash(name, strlen(name)) & (k->cap - 1);
    while (k->set[i])
        i = (i + 1) & (k->cap - 1);
    k->set[i] = name;
}

static void set_add(known *k, const char *name, size_t len)
{
    if (set_has(k, name, len))
        return;
    if (2 * (k->n + 1) > k->cap) {
        known old = *k;
        k->cap = k->cap ? 2 * k->cap : 64;
        k->set = cmn_xcalloc(k->cap, sizeof *k->set);
        for (size_t i = 0; i < old.cap; i++)
            if (old.set[i])
                set_put(k, old.set[i]);
        free(old.set);
    }
    char *copy = cmn_xmalloc(len + 1);
    memcpy(copy, name, len);
    copy[len] = '\0';
    set_put(k, copy);
    k->n++;
}

static void drop(size_t slot)
{
    known *k = KN.dirs[slot];
    if (!k)
        return;
    for (size_t i = 0; i < k->cap; i++)
        free(k->set[i]);
    free(k->set);
    free(k->dir);
    free(k);
    KN.dirs[slot] = NULL;
}

static int find(const char *dir, size_t len)
{
    for (size_t i = 0; i < FS_KNOWN_DIRS; i++)
        if (KN.dirs[i] && strlen(KN.dirs[i]->dir) == len && memcmp(KN.dirs[i]->dir, dir, len) == 0)
            return (int)i;
    return -1;
}

static int find_id(uint64_t id)
{
    for (size_t i = 0; id && i < FS_KNOWN_DIRS; i++)
        if (KN.dirs[i] && KN.dirs[i]->id == id)
            return (int)i;
    return -1;
}

/* Starts learning dir's names (mu held): its record, emptied, collects the
 * names the daemon makes until fs_known_end; the id, 0 when off. A record
 * that only counts misses (counting) takes a free slot or one of another
 * unknown directory, never a known one's: 0 when there is none. */
static uint64_t begin_locked(const char *dir, bool counting)
{
    int slot = find(dir, strlen(dir));
    if (slot < 0) { /* a free slot, else the least recently used */
        for (size_t i = 0; i < FS_KNOWN_DIRS; i++) {
            known *k = KN.dirs[i];
            if (!k) {
                slot = (int)i;
                break;
            }
            if ((!counting || k->unknown) && (slot < 0 || k->used_ns < KN.dirs[slot]->used_ns))
                slot = (int)i;
        }
        if (slot < 0)
            return 0;
    }
    drop((size_t)slot);
    known *k = cmn_xcalloc(1, sizeof *k);
    k->dir = cmn_xstrdup(dir);
    k->id = ++KN.next_id;
    k->learning = true;
    k->used_ns = cmn_mono_ns();
    KN.dirs[slot] = k;
    return k->id;
}

uint64_t fs_known_begin(const char *dir)
{
    if (fs_cfg.attr_timeout <= 0)
        return 0;
    pthread_mutex_lock(&KN.mu);
    uint64_t id = begin_locked(dir, false);
    pthread_mutex_unlock(&KN.mu);
    return id;
}

static void end_locked(uint64_t id, const fs_page *names, size_t npages, int64_t since_ns, bool ok)
{
    int slot = find_id(id);
    if (slot < 0)
        return; /* replaced meanwhile */
    known *k = KN.dirs[slot];
    for (size_t p = 0; ok && p < npages; p++)
        for (size_t i = 0; i < names[p].n; i++)
            set_add(k, names[p].v[i].name, strlen(names[p].v[i].name));
    if (!ok || k->n > MAX_NAMES) {
        drop((size_t)slot);
        return;
    }
    k->learning = false;
    k->id = 0;
    k->until_ns = since_ns + (int64_t)(fs_cfg.attr_timeout * 1e9);
}

void fs_known_end(uint64_t id, int64_t since_ns, bool empty)
{
    if (!id)
        return;
    pthread_mutex_lock(&KN.mu);
    end_locked(id, NULL, 0, since_ns, empty);
    pthread_mutex_unlock(&KN.mu);
}

/* Lists dir whole into pages (at most RELIST_MAX names): true when complete. */
static bool list_all(const char *dir, fs_page **pages, size_t *npages)
{
    fs_path p;
    if (fs_path_parse(dir, &p) != 0 || p.etl[0] || !p.bck[0])
        return false;
    char *prefix = cmn_xasprintf("%s%s", p.obj, *p.obj ? "/" : "");
    char token[sizeof((fs_page *)0)->token] = "";
    size_t total = 0;
    bool ok = true;
    *pages = NULL;
    *npages = 0;
    do {
        *pages = cmn_xrealloc(*pages, (*npages + 1) * sizeof **pages);
        fs_page *pg = &(*pages)[*npages];
        if (fs_api_list_page(p.bck, prefix, token, PAGE, pg) != 0) {
            fs_page_free(pg);
            ok = false;
            break;
        }
        ++*npages;
        total += pg->n;
        snprintf(token, sizeof token, "%s", pg->token);
    } while (token[0] && (ok = total <= RELIST_MAX));
    free(prefix);
    return ok;
}

/* Learns dir (mu held, released meanwhile) from one listing page: known when
 * the page holds all its names, else marked unknown until attr_timeout. */
static void learn_locked(const char *dir, int64_t now)
{
    char *d = cmn_xstrdup(dir);
    uint64_t id = begin_locked(d, false);
    pthread_mutex_unlock(&KN.mu);
    fs_path p;
    fs_page pg = {0};
    bool ok = fs_path_parse(d, &p) == 0 && !p.etl[0] && p.bck[0];
    if (ok) {
        char *prefix = cmn_xasprintf("%s%s", p.obj, *p.obj ? "/" : "");
        ok = fs_api_list_page(p.bck, prefix, "", PAGE, &pg) == 0;
        free(prefix);
    }
    pthread_mutex_lock(&KN.mu);
    if (ok && !pg.token[0]) {
        end_locked(id, &pg, 1, now, true);
    } else {
        int slot = find_id(id);
        if (slot >= 0) {
            known *k = KN.dirs[slot];
            k->learning = false;
            k->unknown = k->big = true;
            k->id = 0;
            k->until_ns = now + (int64_t)(fs_cfg.attr_timeout * 1e9);
        }
    }
    fs_page_free(&pg);
    free(d);
}

bool fs_known_missing(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1] || slash == path)
        return false; /* the root, or a bucket: not a name in a directory */
    size_t dlen = (size_t)(slash - path);
    const char *base = slash + 1;
    int64_t now = cmn_mono_ns();
    pthread_mutex_lock(&KN.mu);
    int slot = find(path, dlen);
    known *k = slot < 0 ? NULL : KN.dirs[slot];
    if (!k || k->learning || k->unknown) {
        pthread_mutex_unlock(&KN.mu);
        return false;
    }
    k->used_ns = now;
    if (k->until_ns <= now) {
        if (k->n > RELIST_MAX) {
            drop((size_t)slot);
            pthread_mutex_unlock(&KN.mu);
            return false;
        }
        /* older than attr_timeout: list it again into the same set (names
         * the daemon made stay; what it makes meanwhile joins) */
        char *dir = cmn_xstrdup(k->dir);
        uint64_t id = k->id = ++KN.next_id;
        k->learning = true;
        pthread_mutex_unlock(&KN.mu);
        fs_page *pages;
        size_t npages;
        bool ok = list_all(dir, &pages, &npages);
        pthread_mutex_lock(&KN.mu);
        end_locked(id, pages, npages, now, ok);
        for (size_t i = 0; i < npages; i++)
            fs_page_free(&pages[i]);
        free(pages);
        free(dir);
        slot = find(path, dlen);
        k = slot < 0 || KN.dirs[slot]->learning ? NULL : KN.dirs[slot];
    }
    bool missing = k && k->until_ns > now && !set_has(k, base, strlen(base));
    pthread_mutex_unlock(&KN.mu);
    return missing;
}

void fs_known_learn(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (fs_cfg.attr_timeout <= 0 || !slash || !slash[1] || slash == path)
        return;
    size_t dlen = (size_t)(slash - path);
    int64_t now = cmn_mono_ns();
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)dlen, path);
    pthread_mutex_lock(&KN.mu);
    int slot = find(path, dlen);
    known *k = slot < 0 ? NULL : KN.dirs[slot];
    if (k && (!k->unknown || (k->big && k->until_ns > now))) {
        pthread_mutex_unlock(&KN.mu);
        return; /* known or learning already, or too big for now */
    }
    if (!k || k->until_ns <= now) { /* start counting: one miss is a stat, many are a copy */
        if (!begin_locked(dir, true)) { /* every slot holds a known directory: keep them */
            pthread_mutex_unlock(&KN.mu);
            return;
        }
        k = KN.dirs[find(path, dlen)];
        k->learning = false;
        k->id = 0;
        k->unknown = true;
        k->until_ns = now + (int64_t)(fs_cfg.attr_timeout * 1e9);
    }
    if (++k->misses >= LEARN_AFTER)
        learn_locked(dir, now);
    pthread_mutex_unlock(&KN.mu);
}

void fs_known_touch(const char *path)
{
    pthread_mutex_lock(&KN.mu);
    for (size_t i = 0; i < FS_KNOWN_DIRS; i++) {
        known *k = KN.dirs[i];
        size_t dlen = k ? strlen(k->dir) : 0;
        if (!k || strncmp(path, k->dir, dlen) != 0 || path[dlen] != '/' || !path[dlen + 1])
            continue;
        const char *name = path + dlen + 1;
        const char *end = strchr(name, '/');
        set_add(k, name, end ? (size_t)(end - name) : strlen(name));
        if (k->n > MAX_NAMES)
            drop(i);
    }
    pthread_mutex_unlock(&KN.mu);
}

void fs_known_destroy(void)
{
    pthread_mutex_lock(&KN.mu);
    for (size_t i = 0; i < FS_KNOWN_DIRS; i++)
        drop(i);
    pthread_mutex_unlock(&KN.mu);
}
