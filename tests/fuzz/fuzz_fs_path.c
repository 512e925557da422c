/*
 * fuzz_fs_path.c - the mount's path resolution (fs/path.c): what a path the
 * kernel hands to a FUSE operation names. Whatever it accepts must name a
 * valid bucket and object (or a root), so no request the daemon then sends
 * can reach outside a bucket.
 */
#include "fs/fs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *path = fuzz_cstr(data, size);
    fs_path p;
    int rc = fs_path_parse(path, &p);
    FUZZ_CHECK(rc == 0 || rc == -ENOENT);
    if (rc == 0) {
        FUZZ_CHECK(p.obj && (!*p.obj || (p.obj > path && p.obj < path + strlen(path))));
        FUZZ_CHECK(!*p.bck || cmn_bucket_name_valid(p.bck));
        FUZZ_CHECK(!*p.obj || (*p.bck && cmn_object_name_valid(p.obj, NULL, 0)));
        FUZZ_CHECK(!p.is_view_root || (*p.etl && !*p.bck));
        FUZZ_CHECK(!*p.etl || !strchr(p.etl, '/'));
    }
    free(path);
    return 0;
}
