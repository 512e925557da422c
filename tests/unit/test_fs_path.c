/*
 * test_fs_path.c - what a mount path names (fs/path.c): buckets, objects,
 * @etl views, and names the target would refuse reported as absent.
 * Includes the file under test so it needs no FUSE or HTTP at link time.
 */
#include "fs/path.c"

#include <stdio.h>
#include "tests/unit/check.h"


static void ok(const char *path, const char *etl, const char *bck, const char *obj, bool view_root)
{
    fs_path p;
    int rc = fs_path_parse(path, &p);
    if (rc != 0 || strcmp(p.etl, etl) || strcmp(p.bck, bck) || strcmp(p.obj, obj) || p.is_view_root != view_root) {
        fprintf(stderr, "parse %s: rc %d etl '%s' bck '%s' obj '%s' view_root %d\n", path, rc, p.etl, p.bck, p.obj,
                p.is_view_root);
        failures++;
    }
}

static void absent(const char *path)
{
    fs_path p;
    if (fs_path_parse(path, &p) != -ENOENT) {
        fprintf(stderr, "parse %s: expected ENOENT\n", path);
        failures++;
    }
}

int main(void)
{
    ok("/", "", "", "", false);
    ok("/b1", "", "b1", "", false);
    ok("/b1/a/b/c.txt", "", "b1", "a/b/c.txt", false);
    ok("/@etl-md5", "etl-md5", "", "", true);
    ok("/@etl-md5/b1", "etl-md5", "b1", "", false);
    ok("/@etl-md5/b1/x/y", "etl-md5", "b1", "x/y", false);
    ok("/my_bucket.v2/obj", "", "my_bucket.v2", "obj", false);
    absent("");
    absent("relative");
    absent("/@");
    absent("/bad name");
    absent("/..");
    absent("/b1/a/../x");
    absent("/@e//b");
    printf("test_fs_path: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
