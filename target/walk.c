/*
 * walk.c - visits a bucket's objects in name order without loading the bucket.
 *
 * Each mountpath holds part of the bucket as a directory tree. A depth-first
 * walk that sorts each directory by "key" (the entry's name, plus '/' for a
 * directory) yields names in global byte order, because everything under
 * "a/" sorts between the siblings around the key "a/". The per-mountpath
 * walks are merged by smallest key. Subtrees wholly before start_after or
 * outside prefix are never opened, so paging costs one directory per level.
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct entry {
    char *key; /* relative name; directories end with '/' */
    bool is_dir;
} entry;

typedef struct frame {
    entry *ents;
    int n, next;
} frame;

typedef struct walker {
    const char *root; /* bucket directory on one mountpath */
    frame stack[128];
    int depth;
    char cur[PATH_MAX]; /* current head key, "" when exhausted */
    bool cur_dir;
    bool done;
} walker;

typedef struct walk_args {
    const char *prefix, *start_after;
    bool no_recursion;
} walk_args;

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int cmp_entry(const void *a, const void *b) { return strcmp(((const entry *)a)->key, ((const entry *)b)->key); }

static void frame_free(frame *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->ents[i].key);
    free(f->ents);
    memset(f, 0, sizeof *f);
}

/* Reads and sorts one directory; rel is its relative key ("" or "a/b/"). */
static int frame_load(frame *f, const char *root, const char *rel)
{
    char path[PATH_MAX];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        /* only a file placed by hand can have such a name: no request reaches
         * it, and it would make the listing invalid JSON */
        if (!cmn_utf8_valid(de->d_name, strlen(de->d_name)))
            continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (f->n == cap) {
            cap = cap ? cap * 2 : 64;
            entry *e = cmn_xrealloc(f->ents, sizeof(entry) * (size_t)cap);
            f->ents = e;
        }
        size_t rl = strlen(rel), nl = strlen(de->d_name);
        char *key = cmn_xmalloc(rl + nl + 2);
        memcpy(key, rel, rl);
        memcpy(key + rl, de->d_name, nl);
        if (is_dir)
            key[rl + nl++] = '/';
        key[rl + nl] = '\0';
        f->ents[f->n].key = key;
        f->ents[f->n].is_dir = is_dir;
        f->n++;
    }
    closedir(d);
    if (f->n)
        qsort(f->ents, (size_t)f->n, sizeof(entry), cmp_entry);
    return 0;
}

/* Advances w to its next visible key (file, or directory in no_recursion mode). */
static void walker_next(walker *w, const walk_args *a)
{
    while (w->depth > 0) {
        frame *f = &w->stack[w->depth - 1];
        if (f->next == f->n) {
            frame_free(f);
            w->depth--;
            continue;
        }
        entry *e = &f->ents[f->next++];
        const char *sa = a->start_after;
        if (e->is_dir) {
            if (!starts_with(e->key, a->prefix) && !starts_with(a->prefix, e->key))
                continue;
            if (strcmp(sa, e->key) > 0 && !starts_with(sa, e->key))
                continue; /* the whole subtree sorts before start_after */
            if (a->no_recursion && starts_with(e->key, a->prefix) && strcmp(e->key, a->prefix)) {
                if (strcmp(e->key, sa) <= 0)
                    continue;
                snprintf(w->cur, sizeof w->cur, "%s", e->key);
                w->cur_dir = true;
                return;
            }
            if (w->depth == (int)(sizeof w->stack / sizeof w->stack[0]))
                continue;
            frame_load(&w->stack[w->depth], w->root, e->key);
            w->depth++;
            continue;
        }
        if (!starts_with(e->key, a->prefix) || strcmp(e->key, sa) <= 0)
            continue;
        if (a->no_recursion && strchr(e->key + strlen(a->prefix), '/'))
            continue;
        snprintf(w->cur, sizeof w->cur, "%s", e->key);
        w->cur_dir = false;
        return;
    }
    w->done = true;
}

int tgt_walk(const tgt_store *s, const char *bck, const char *prefix, const char *start_after,
             bool no_recursion, tgt_walk_fn fn, void *ctx)
{
    walk_args a = {prefix ? prefix : "", start_after ? start_after : "", no_recursion};
    walker *ws = cmn_xcalloc((size_t)s->nmpaths, sizeof(walker));
    char (*roots)[PATH_MAX] = cmn_xcalloc((size_t)s->nmpaths, PATH_MAX);
    int rc = 0;
    for (int i = 0; i < s->nmpaths; i++) {
        tgt_store_bdir(s, i, bck, roots[i], PATH_MAX);
        ws[i].root = roots[i];
        if (frame_load(&ws[i].stack[0], roots[i], "") != 0)
            rc = -EIO;
        ws[i].depth = 1;
        walker_next(&ws[i], &a);
    }
    char fqn[PATH_MAX], name[PATH_MAX];
    for (;;) {
        int best = -1;
        for (int i = 0; i < s->nmpaths; i++)
            if (!ws[i].done && (best < 0 || strcmp(ws[i].cur, ws[best].cur) < 0))
                best = i;
        if (best < 0)
            break;
        bool is_dir = ws[best].cur_dir;
        snprintf(name, sizeof name, "%s", ws[best].cur);
        if (is_dir)
            name[strlen(name) - 1] = '\0';
        snprintf(fqn, sizeof fqn, "%s/%s", roots[best], name);
        /* the same directory exists on several mountpaths: report it once */
        char key[PATH_MAX];
        snprintf(key, sizeof key, "%s", ws[best].cur);
        for (int i = 0; i < s->nmpaths; i++)
            if (!ws[i].done && strcmp(ws[i].cur, key) == 0)
                walker_next(&ws[i], &a);
        if (!fn(ctx, name, fqn, is_dir))
            break;
    }
    for (int i = 0; i < s->nmpaths; i++)
        while (ws[i].depth > 0)
            frame_free(&ws[i].stack[--ws[i].depth]);
    free(ws);
    free(roots);
    return rc;
}
