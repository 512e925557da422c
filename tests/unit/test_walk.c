/*
 * test_walk.c - the bucket walker (target/walk.c) over a real store of three
 * mountpaths: one global byte order across mountpaths, paging by start_after
 * that yields each name exactly once, prefixes, and the no-recursion view
 * where each directory shows up once however many mountpaths hold it.
 * Files are placed by hand (not by the placement hash) so that the tricky
 * neighbours "a", "a-b", "a.b/c", "a/b" sit on different mountpaths.
 */
#include "target/target.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tests/unit/check.h"


#define NMP 3
#define MAXN 600
#define BCK "bck"

static tgt_store store;
static char *names[MAXN];
static int mp_of[MAXN];
static int nnames;

/* ---- building the store */

static bool conflicts(const char *name, int mp)
{
    size_t len = strlen(name);
    for (int i = 0; i < nnames; i++) {
        size_t l = strlen(names[i]);
        if (!strcmp(names[i], name))
            return true;
        if (mp_of[i] != mp)
            continue;
        /* a file where the other needs a directory, or the reverse */
        if ((l < len && !strncmp(name, names[i], l) && name[l] == '/') ||
            (len < l && !strncmp(names[i], name, len) && names[i][len] == '/'))
            return true;
    }
    return false;
}

static bool place(const char *name, int mp)
{
    if (nnames == MAXN || conflicts(name, mp))
        return false;
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/@ais/" BCK "/%s", store.mpaths[mp], name);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (cmn_mkdir_p(dir) != 0) {
        fprintf(stderr, "mkdir %s failed\n", dir);
        exit(2);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        fprintf(stderr, "create %s failed\n", path);
        exit(2);
    }
    close(fd);
    names[nnames] = strdup(name);
    mp_of[nnames++] = mp;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Pseudo-random names over an alphabet that stresses the ordering around '/'
 * ('-' 0x2d and '.' 0x2e sort just below it, '0' 0x30 just above), with
 * spaces and a two-byte UTF-8 letter. */
static void add_random_names(int count)
{
    static const char *atoms[] = {"a", "b", "-", ".x", "0", " ", "\xc3\xa4", "a-", "z"};
    unsigned seed = 12345;
    int added = 0, tries = 0;
    while (added < count && tries++ < count * 20) {
        char name[128] = "";
        int segs = 1 + (int)(rand_r(&seed) % 3);
        for (int s = 0; s < segs; s++) {
            if (s)
                strcat(name, "/");
            int n = 1 + (int)(rand_r(&seed) % 3);
            for (int k = 0; k < n; k++)
                strcat(name, atoms[rand_r(&seed) % (sizeof atoms / sizeof atoms[0])]);
        }
        char why[128];
        if (!cmn_object_name_valid(name, why, sizeof why))
            continue;
        if (place(name, tgt_store_mpath_of(&store, BCK, name)))
            added++;
    }
}

/* ---- collecting walks */

typedef struct seen {
    char *keys[MAXN * 2]; /* name, plus '/' for a directory */
    int n;
    int limit;            /* stop after this many (0 = no limit) */
    bool bad_fqn;
} seen;

static bool collect(void *ctx, const char *name, const char *fqn, bool is_dir)
{
    seen *s = ctx;
    struct stat st;
    if (stat(fqn, &st) != 0 || (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
        s->bad_fqn = true;
    size_t n = strlen(name);
    char *k = malloc(n + 2);
    memcpy(k, name, n);
    if (is_dir)
        k[n++] = '/';
    k[n] = '\0';
    if (s->n < (int)(sizeof s->keys / sizeof s->keys[0]))
        s->keys[s->n++] = k;
    else
        free(k);
    return !s->limit || s->n < s->limit;
}

static void seen_free(seen *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->keys[i]);
    s->n = 0;
}

/* The expected keys: names under prefix, or with no_recursion the immediate
 * children of prefix (directories as "dir/", once), sorted by byte order. */
static int expected(const char *prefix, bool no_recursion, char **out)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (int i = 0; i < nnames; i++) {
        if (strncmp(names[i], prefix, pl))
            continue;
        char *k;
        const char *slash = no_recursion ? strchr(names[i] + pl, '/') : NULL;
        if (slash)
            k = strndup(names[i], (size_t)(slash - names[i]) + 1);
        else
            k = strdup(names[i]);
        bool dup = false;
        for (int j = 0; j < n && !dup; j++)
            dup = !strcmp(out[j], k);
        if (dup)
            free(k);
        else
            out[n++] = k;
    }
    qsort(out, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

static void compare(const char *what, char **want, int nwant, seen *got)
{
    bool ok = nwant == got->n;
    for (int i = 0; ok && i < nwant; i++)
        ok = !strcmp(want[i], got->keys[i]);
    CHECK(ok, "%s: want %d keys, got %d", what, nwant, got->n);
    if (!ok) {
        int m = nwant > got->n ? nwant : got->n;
        for (int i = 0; i < m && i < 40; i++)
            fprintf(stderr, "  %3d want %-20s got %s\n", i, i < nwant ? want[i] : "-",
                    i < got->n ? got->keys[i] : "-");
    }
    CHECK(!got->bad_fqn, "%s: a callback's fqn is not the entry's file or directory", what);
}

static void check_walk(const char *prefix, bool no_recursion)
{
    char *want[MAXN * 2];
    int nwant = expected(prefix, no_recursion, want);
    char what[256];

    /* one walk */
    seen all = {0};
    CHECK(tgt_walk(&store, BCK, prefix, "", no_recursion, collect, &all) == 0, "walk");
    snprintf(what, sizeof what, "walk prefix \"%s\"%s", prefix, no_recursion ? " no-recursion" : "");
    compare(what, want, nwant, &all);
    seen_free(&all);

    /* pages of several sizes, each resuming after the previous page's last key */
    int sizes[] = {1, 2, 7, 100};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        seen pages = {0};
        char after[4096] = "";
        for (int guard = 0; guard < MAXN * 2 + 2; guard++) {
            seen pg = {0};
            pg.limit = sizes[z];
            tgt_walk(&store, BCK, prefix, after, no_recursion, collect, &pg);
            for (int i = 0; i < pg.n; i++)
                pages.keys[pages.n++] = pg.keys[i];
            pages.bad_fqn |= pg.bad_fqn;
            if (pg.n < sizes[z])
                break;
            snprintf(after, sizeof after, "%s", pg.keys[pg.n - 1]);
        }
        snprintf(what, sizeof what, "paged by %d, prefix \"%s\"%s", sizes[z], prefix,
                 no_recursion ? " no-recursion" : "");
        compare(what, want, nwant, &pages);
        seen_free(&pages);
    }
    for (int i = 0; i < nwant; i++)
        free(want[i]);
}

/* Walks bck as told and compares the names met with want (NULL-terminated). */
static void walk_is(const char *what, const char *prefix, const char *after, bool no_recursion,
                    const char *const *want)
{
    seen s = {0};
    tgt_walk(&store, BCK, prefix, after, no_recursion, collect, &s);
    int n = 0;
    while (want[n])
        n++;
    compare(what, (char **)want, n, &s);
    seen_free(&s);
}
#define WALK_IS(what, prefix, after, no_recursion, ...) \
    walk_is(what, prefix, after, no_recursion, (const char *const[]){__VA_ARGS__, NULL})

static void test_tricky(void)
{
    /* each on its own mountpath, so the merge has to order them */
    place("a", 0);
    place("a/b", 1);
    place("a-b", 2);
    place("a.b/c", 0);
    place("a/c", 2);
    place("b", 1);
    WALK_IS("tricky names", "", "", false, "a", "a-b", "a.b/c", "a/b", "a/c", "b");
    /* the directory "a/" exists on mountpaths 1 and 2: reported once */
    WALK_IS("tricky names, no recursion", "", "", true, "a", "a-b", "a.b/", "a/", "b");
    WALK_IS("tricky names, no recursion under a/", "a/", "", true, "a/b", "a/c");
    /* start_after falling between and inside the neighbours */
    WALK_IS("after a-b", "", "a-b", false, "a.b/c", "a/b", "a/c", "b");
    WALK_IS("after a/b", "", "a/b", false, "a/c", "b");
    /* "a.b/c" < "a/" < "a/b" in byte order ('.' is 0x2e, '/' 0x2f) */
    WALK_IS("after a/", "", "a/", false, "a/b", "a/c", "b");

    /* the callback stops the walk */
    seen s = {.limit = 2};
    tgt_walk(&store, BCK, "", "", false, collect, &s);
    CHECK(s.n == 2, "stop after 2: got %d", s.n);
    seen_free(&s);
}

static int rm_cb(const char *p, const struct stat *st, int f, struct FTW *ftw)
{
    (void)st;
    (void)f;
    (void)ftw;
    return remove(p);
}

/* The caller pulls: the first names of a walk left half-way (closed with
 * its directories still open: ASan reports any leak), then a whole walk that
 * ends in false and stays at its end. */
static void check_pull(void)
{
    seen all = {0};
    tgt_walk(&store, BCK, "", "", false, collect, &all);
    tgt_walk_it *it;
    tgt_walk_entry e = {"", "", false};
    CHECK(tgt_walk_open(&store, BCK, "", "", false, &it) == 0, "open");
    for (int i = 0; i < 5; i++)
        CHECK(tgt_walk_next(it, &e) && !strcmp(e.name, all.keys[i]), "entry %d: %s", i, e.name);
    tgt_walk_close(it);
    CHECK(tgt_walk_open(&store, BCK, "", "", false, &it) == 0, "open again");
    int n = 0;
    while (tgt_walk_next(it, &e))
        n++;
    CHECK(n == all.n && !tgt_walk_next(it, &e), "whole walk: %d of %d", n, all.n);
    tgt_walk_close(it);
    seen_free(&all);
}

int main(void)
{
    char root[] = "/tmp/test_walk.XXXXXX";
    if (!mkdtemp(root))
        return 2;
    char mp[NMP][4096], *dirs[NMP];
    for (int i = 0; i < NMP; i++) {
        snprintf(mp[i], sizeof mp[i], "%s/mp%d", root, i);
        dirs[i] = mp[i];
    }
    if (tgt_store_open(&store, dirs, NMP) != 0 || tgt_bucket_create(&store, BCK) != 0) {
        fprintf(stderr, "cannot make the store\n");
        return 2;
    }

    seen s = {0};
    CHECK(tgt_walk(&store, BCK, "", "", false, collect, &s) == 0 && s.n == 0, "empty bucket: %d", s.n);
    CHECK(tgt_walk(&store, "nosuch", "", "", false, collect, &s) == 0 && s.n == 0, "missing bucket: %d",
          s.n);

    test_tricky();
    add_random_names(400);
    CHECK(nnames > 300, "only %d names placed", nnames);
    int per_mp[NMP] = {0};
    for (int i = 0; i < nnames; i++)
        per_mp[mp_of[i]]++;
    for (int i = 0; i < NMP; i++)
        CHECK(per_mp[i] > 50, "mountpath %d holds only %d names", i, per_mp[i]);

    const char *prefixes[] = {"", "a", "a/", "a-", "a.", "a.x/", "b/", "\xc3\xa4", " ", "z", "nothing", "a/b"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        check_walk(prefixes[i], false);
    /* the no-recursion view is defined for "" and for directory prefixes */
    const char *dir_prefixes[] = {"", "a/", "b/", "a.x/", "z/", "nothing/"};
    for (size_t i = 0; i < sizeof dir_prefixes / sizeof dir_prefixes[0]; i++)
        check_walk(dir_prefixes[i], true);

    check_pull();

    for (int i = 0; i < nnames; i++)
        free(names[i]);
    tgt_store_close(&store);
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) {
        fprintf(stderr, "test_walk: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_walk: ok (%d names on %d mountpaths)\n", nnames, NMP);
    return 0;
}
