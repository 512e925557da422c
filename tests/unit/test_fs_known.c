/*
 * test_fs_known.c - directories whose names the daemon knows (fs/known.c): a
 * name not in a directory found empty is missing without a request, a name
 * the daemon makes there (or below) is not, learning that overlaps a make
 * keeps it, and a directory older than attr_timeout is listed again (the
 * listing here is what the target would answer).
 */
#include "fs/cache.c"
#include "fs/known.c"
#include "fs/path.c"
#include "fs/state.c"

#include <errno.h>
#include <unistd.h>

#include "tests/unit/check.h"

fs_config fs_cfg = {.attr_timeout = 0.2};

/* The target's listing of bucket b, prefix "d/": two pages. */
static int lists;
static const char *listed[] = {"old1", "old2", "sub"};
int fs_api_list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg)
{
    memset(pg, 0, sizeof *pg);
    lists++;
    if (strcmp(bck, "b") != 0 || strcmp(prefix, "d/") != 0)
        return -ENOENT;
    size_t from = *token ? 2 : 0, to = *token ? 3 : 2;
    pg->v = calloc(3, sizeof *pg->v);
    for (size_t i = from; i < to; i++)
        pg->v[pg->n++] = (fs_entry){.name = strdup(listed[i])};
    snprintf(pg->token, sizeof pg->token, "%s", *token ? "" : "next");
    return 0;
}
void fs_page_free(fs_page *pg)
{
    for (size_t i = 0; i < pg->n; i++)
        free(pg->v[i].name);
    free(pg->v);
}

int main(void)
{
    fs_cache_init();
    CHECK(!fs_known_missing("/b/d/x"), "an unknown directory answers nothing");

    uint64_t id = fs_known_begin("/b/d");
    CHECK(id != 0);
    int64_t since = cmn_mono_ns();
    CHECK(!fs_known_missing("/b/d/x"), "nothing while learning");
    fs_cache_forget("/b/d/made-meanwhile"); /* a name made while the target was asked */
    fs_known_end(id, since, true);
    CHECK(fs_known_missing("/b/d/x"), "an empty directory: a new name is missing");
    CHECK(!fs_known_missing("/b/d/made-meanwhile"), "made while learning: kept");
    CHECK(!fs_known_missing("/b/d"), "the directory itself is not in it");
    CHECK(!fs_known_missing("/b/e/x"), "another directory");

    fs_cache_forget("/b/d/x"); /* create, copy, rename onto... */
    CHECK(!fs_known_missing("/b/d/x"), "a name made by the daemon may exist");
    fs_cache_forget("/b/d/a/b/c"); /* deeper: its first component */
    CHECK(!fs_known_missing("/b/d/a"));
    CHECK(fs_known_missing("/b/d/a2"));
    CHECK(!fs_known_missing("/b/d/a/zz"), "below a subdirectory: not known");

    /* not found empty: nothing is known */
    id = fs_known_begin("/b/f");
    fs_known_end(id, cmn_mono_ns(), false);
    CHECK(!fs_known_missing("/b/f/x"));

    /* older than attr_timeout: listed again (two pages), names made before kept */
    usleep(250 * 1000);
    lists = 0;
    CHECK(fs_known_missing("/b/d/new"), "listed again, still missing");
    CHECK(lists == 2, "two pages, got %d", lists);
    CHECK(!fs_known_missing("/b/d/old1") && !fs_known_missing("/b/d/sub"), "listed names exist");
    CHECK(!fs_known_missing("/b/d/x"), "made by the daemon before: kept");
    CHECK(lists == 2, "fresh again: no listing, got %d", lists);

    /* bounded: more directories than slots drop the least recently used */
    for (int i = 0; i < FS_KNOWN_DIRS + 2; i++) {
        char dir[32];
        snprintf(dir, sizeof dir, "/b/many%d", i);
        fs_known_end(fs_known_begin(dir), cmn_mono_ns(), true);
    }
    CHECK(fs_known_missing("/b/many9/x"));
    CHECK(!fs_known_missing("/b/many0/x"), "the oldest was dropped");

    /* attr_timeout 0: nothing is kept */
    fs_cfg.attr_timeout = 0;
    CHECK(fs_known_begin("/b/g") == 0);
    fs_known_end(0, cmn_mono_ns(), true);
    CHECK(!fs_known_missing("/b/g/x"));

    fs_cache_destroy();
    return CHECK_RESULT();
}
