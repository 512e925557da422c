/*
 * copy.c - copy_file_range as a server-side copy: `cp` from MNT/@etl/src/x (or
 * MNT/src/x) to MNT/dst/y asks the target to copy (and transform) the object
 * itself, so no object byte crosses FUSE.
 *
 * The kernel clamps each call's length to the source's st_size, which for an
 * @etl file is the source object's size, not the unknown output size. So the
 * whole copy happens on the first call (both offsets 0) and that call returns
 * min(len, output size); later calls return what is left of the output from
 * off_in, and 0 at the end, which ends cp's loop. An output longer than the
 * source is still complete on the target; only cp's byte count is short.
 */
#include "fs/fs.h"

#include <errno.h>

ssize_t fs_copy_range(fs_handle *in, off_t off_in, fs_handle *out, off_t off_out, size_t len)
{
    if (in->writer || !out->writer || out->etl[0])
        return -EXDEV; /* cp falls back to read/write */
    ssize_t ret;
    pthread_mutex_lock(&out->mu);
    if (out->server_copied) {
        int64_t left = out->copied_size - off_in;
        ret = left <= 0 ? 0 : (ssize_t)((int64_t)len < left ? (int64_t)len : left);
    } else if (off_in != 0 || off_out != 0 || out->wrote) {
        ret = -EXDEV;
    } else {
        int64_t size = -1;
        int rc = fs_api_copy_obj(in->bck, in->obj, out->bck, out->obj, in->etl, &size);
        if (rc == 0 && size < 0) {
            fs_objattr a; /* a target without ais-size: ask */
            rc = fs_api_head(out->bck, out->obj, &a);
            size = a.size;
        }
        if (rc == -EOPNOTSUPP) {
            ret = -EXDEV; /* a target without copy-obj: the bytes go through FUSE after all */
        } else if (rc < 0) {
            ret = rc == -ENOENT ? -ENOENT : -EIO;
        } else {
            out->server_copied = true;
            out->copied_size = size;
            out->dirty = out->created = false;
            fs_cache_forget(out->path);
            fs_vdir_del_parents(out->path);
            if (in->etl[0])
                fs_cache_set_outsize(in->path, size);
            fs_stat_add(FS_ST_SERVER_COPIES, 1);
            fs_stat_add(FS_ST_SERVER_COPY_BYTES, size);
            ret = (ssize_t)((int64_t)len < size ? (int64_t)len : size);
        }
    }
    pthread_mutex_unlock(&out->mu);
    return ret;
}
