/*
 * copy.c - copy_file_range as a server-side copy: `cp` from MNT/@etl/src/x (or
 * MNT/src/x) to MNT/dst/y asks the target to copy (and transform) the object
 * itself, so no object byte crosses FUSE.
 *
 * The copy is queued (batch.c) and sent with others as one job; cp goes on
 * at once, and whatever later looks at the destination waits for it. The
 * kernel has clamped len to the source's st_size, which for an @etl file is
 * the source object's size (or the output size once known), not the output
 * size: that is the count cp is told, and later calls answer 0, which ends
 * cp's loop. The object written is the whole output, shorter or longer.
 *
 * Without batching (-o copy_batch=0) the copy runs right here, and the count is the real output size.
 */
#include "fs/fs.h"

#include <errno.h>

/* out now stands for a server-side copy of size bytes (exact: the real output). */
static void copied(fs_handle *in, fs_handle *out, int64_t size, bool exact)
{
    if (out->pid > 0)
        __atomic_store_n(&fs_st.copier, out->pid, __ATOMIC_RELAXED);
    out->server_copied = true;
    out->copied_size = size;
    out->dirty = out->created = false;
    fs_cache_forget(out->path);
    fs_prefetch_forget(out->bck, out->obj); /* a view of the destination shows the copy */
    if (fs_notify_on())
        fs_notify_name_made();
    if (exact) {
        fs_vdir_del_parents(out->path); /* a queued copy does this when it lands */
        if (in->etl[0])
            fs_cache_set_outsize(in->path, size);
    }
    fs_stat_add(FS_ST_SERVER_COPIES, 1);
    fs_stat_add(FS_ST_SERVER_COPY_BYTES, size);
}

/* cp copies file after file the same way: a process whose last new file was
 * filled by a server-side copy fills its next one so too, and a copied file's
 * FLUSH has nothing to do (the copy is queued, and its errors are the job's).
 * Such a file is opened with FOPEN_NOFLUSH, so close(2) costs no round trip:
 * one request in nine per copied file. A guess gone wrong (the file is
 * written, or left empty) is published by its RELEASE, which the kernel sends
 * right after close(2) without waiting for it: close cannot report that PUT's
 * error (it is logged and counted, as a queued copy's is), and the process
 * gets no more guesses until its next server-side copy. */
bool fs_copy_expect(fs_handle *h, pid_t pid)
{
    h->pid = pid;
    h->noflush = pid > 0 && __atomic_load_n(&fs_st.copier, __ATOMIC_RELAXED) == pid;
    return h->noflush;
}

void fs_copy_unexpect(fs_handle *h)
{
    pid_t pid = h->pid;
    if (h->noflush) /* only if no newer copy said otherwise */
        __atomic_compare_exchange_n(&fs_st.copier, &pid, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

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
    } else if (fs_batch_copy(in->bck, in->obj, in->etl, out->bck, out->obj) == 0) {
        copied(in, out, (int64_t)len, false);
        ret = (ssize_t)len;
    } else {
        int64_t size = -1;
        fs_stat_add(FS_ST_SINGLE_COPIES, 1);
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
            copied(in, out, size, true);
            ret = (ssize_t)((int64_t)len < size ? (int64_t)len : size);
        }
    }
    pthread_mutex_unlock(&out->mu);
    return ret;
}
