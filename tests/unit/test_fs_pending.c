/*
 * test_fs_pending.c - the set of names queued copies touch (fs/pending.c):
 * objects and every directory above them, counted per role, gone at zero.
 * Includes the file under test so it needs no FUSE or HTTP at link time.
 */
#include "fs/pending.c"
#include "fs/state.c"

#include "tests/unit/check.h"

int main(void)
{
    fs_pending_add(FS_PEND_DST, "b", "a/b/c.txt");
    CHECK(fs_pending_has(FS_PEND_DST, "b", "a/b/c.txt"), "the object");
    CHECK(fs_pending_has(FS_PEND_DST_DIR, "b", ""), "the bucket");
    CHECK(fs_pending_has(FS_PEND_DST_DIR, "b", "a/"), "a/");
    CHECK(fs_pending_has(FS_PEND_DST_DIR, "b", "a/b/"), "a/b/");
    CHECK(!fs_pending_has(FS_PEND_DST_DIR, "b", "a/b/c.txt/"), "not a directory");
    CHECK(!fs_pending_has(FS_PEND_DST_DIR, "b", "a"), "directories end in /");
    CHECK(!fs_pending_has(FS_PEND_SRC, "b", "a/b/c.txt"), "roles are apart");
    CHECK(!fs_pending_has(FS_PEND_DST, "bb", "a/b/c.txt"), "buckets are apart");
    CHECK(!fs_pending_has(FS_PEND_DST, "b", "a/b/c.tx"), "whole names only");

    /* counted: two copies into one directory, one leaves */
    fs_pending_add(FS_PEND_DST, "b", "a/x");
    fs_pending_del(FS_PEND_DST, "b", "a/b/c.txt");
    CHECK(!fs_pending_has(FS_PEND_DST, "b", "a/b/c.txt"), "removed");
    CHECK(!fs_pending_has(FS_PEND_DST_DIR, "b", "a/b/"), "its directory is empty");
    CHECK(fs_pending_has(FS_PEND_DST_DIR, "b", "a/"), "a/x is still queued");
    fs_pending_add(FS_PEND_DST, "b", "a/x");
    fs_pending_del(FS_PEND_DST, "b", "a/x");
    CHECK(fs_pending_has(FS_PEND_DST, "b", "a/x"), "queued twice, landed once");
    fs_pending_del(FS_PEND_DST, "b", "a/x");
    CHECK(!fs_pending_has(FS_PEND_DST_DIR, "b", ""), "all landed");

    /* names longer than the stack key */
    char longname[3000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    longname[1500] = '/';
    fs_pending_add(FS_PEND_SRC, "b", longname);
    CHECK(fs_pending_has(FS_PEND_SRC, "b", longname), "long name");
    fs_pending_del(FS_PEND_SRC, "b", longname);
    CHECK(!fs_pending_has(FS_PEND_SRC_DIR, "b", ""), "long name gone");

    /* many: every slot chain grows and shrinks back */
    char name[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "d%d/o%d", i % 7, i);
        fs_pending_add(FS_PEND_DST, "b", name);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "d%d/o%d", i % 7, i);
        fs_pending_del(FS_PEND_DST, "b", name);
    }
    for (size_t i = 0; i < FS_PENDING_SLOTS; i++)
        CHECK(fs_st.pending[i] == NULL, "slot %zu not empty", i);
    printf("test_fs_pending: %s\n", failures ? "FAILED" : "ok");
    return CHECK_RESULT();
}
