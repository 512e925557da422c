/*
 * test_fs_cache.c - the daemon's memory (fs/cache.c): attributes expire after
 * attr_timeout, versions decide whether the page cache is kept, forgotten
 * paths are asked again, and mkdir'd directories are listed under their parent.
 */
#include "fs/cache.c"
#include "fs/known.c"
#include "fs/path.c"
#include "fs/state.c"

#include <stdio.h>

#include <unistd.h>
#include "tests/unit/check.h"

fs_config fs_cfg = {.attr_timeout = 0.2};

/* known.c lists a directory again only when asked about it: never here */
int fs_api_list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg)
{
    memset(pg, 0, sizeof *pg);
    return -EIO;
}
void fs_page_free(fs_page *pg) { free(pg->v); }

static int nchildren;
static void count_child(void *ctx, const char *name)
{
    (void)ctx;
    CHECK(strcmp(name, "d1") == 0 || strcmp(name, "d2") == 0 || strcmp(name, "d3") == 0);
    nchildren++;
}

int main(void)
{
    fs_cache_init();
    fs_attr a = {.is_dir = false, .size = 42, .mtime_ns = 7}, got;
    snprintf(a.version, sizeof a.version, "3");
    CHECK(!fs_cache_get("/b/x", &got));
    fs_cache_put("/b/x", &a);
    CHECK(fs_cache_get("/b/x", &got) && got.size == 42 && !strcmp(got.version, "3"));
    usleep(250 * 1000);
    CHECK(!fs_cache_get("/b/x", &got)); /* expired */
    fs_cache_put("/b/x", &a);
    fs_cache_forget("/b/x");
    CHECK(!fs_cache_get("/b/x", &got));

    /* the first open of a version never keeps the cache; the same version does */
    CHECK(!fs_cache_same_version("/b/x", "1", 5, 10));
    CHECK(fs_cache_same_version("/b/x", "1", 5, 10));
    CHECK(!fs_cache_same_version("/b/x", "2", 5, 10));
    CHECK(!fs_cache_same_version("/b/x", "2", 6, 10));
    CHECK(!fs_cache_same_version("/b/y", "", 0, 0) && !fs_cache_same_version("/b/y", "", 0, 0));

    CHECK(fs_cache_outsize("/@e/b/x") == -1);
    fs_cache_set_outsize("/@e/b/x", 32);
    CHECK(fs_cache_outsize("/@e/b/x") == 32);

    fs_vdir_add("/b/d1");
    fs_vdir_add("/b/d2");
    fs_vdir_add("/b/d2/deeper");
    fs_vdir_add("/b/d1");
    fs_vdir_add("/b/d3/x/y"); /* only a deep one: d3 is listed once, as a directory */
    fs_vdir_add("/b/d3/z");
    CHECK(fs_vdir_has("/b/d2/deeper"));
    fs_vdir_children("/b", count_child, NULL);
    CHECK(nchildren == 3);
    fs_vdir_del("/b/d2", false);
    /* d2 itself is forgotten, but a directory made below it keeps it there */
    CHECK(fs_vdir_has("/b/d2") && fs_vdir_has("/b/d2/deeper"));
    CHECK(fs_vdir_has("/b/d3") && !fs_vdir_has("/b/d4") && !fs_vdir_has("/b/d"));
    fs_vdir_del("/b", true);
    CHECK(!fs_vdir_has("/b/d1") && !fs_vdir_has("/b/d2/deeper"));
    fs_cache_destroy();
    printf("test_fs_cache: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
