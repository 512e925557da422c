/*
 * writer.c - files opened for writing. Bytes go to an anonymous spool file;
 * flush, fsync and release PUT the whole file as one object, and the target
 * renames it into place, so other readers see the old object or the new one,
 * never a mix. Opening an existing object without O_TRUNC downloads it first
 * (read-modify-write of a whole object is the honest cost on an object store).
 *
 * A table of open writers lets getattr report the size being written.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void table_add(fs_handle *h)
{
    pthread_mutex_lock(&fs_st.writers.mu);
    h->next_writer = fs_st.writers.list;
    fs_st.writers.list = h;
    pthread_mutex_unlock(&fs_st.writers.mu);
}

static void table_del(fs_handle *h)
{
    pthread_mutex_lock(&fs_st.writers.mu);
    for (fs_handle **pp = &fs_st.writers.list; *pp; pp = &(*pp)->next_writer) {
        if (*pp == h) {
            *pp = h->next_writer;
            break;
        }
    }
    pthread_mutex_unlock(&fs_st.writers.mu);
}

static int64_t spool_size(fs_handle *h)
{
    if (h->server_copied)
        return h->copied_size;
    struct stat st;
    return h->fd >= 0 && fstat(h->fd, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The spool file is made when the first byte needs it, not at create: a file
 * that cp fills by a server-side copy never has one (a create and an unlink
 * in spool_dir were a tenth of the daemon's CPU per copied file). */
static int need_spool(fs_handle *h)
{
    if (h->fd < 0)
        h->fd = fs_spool_file();
    return h->fd < 0 ? h->fd : 0;
}

int64_t fs_writer_size_of(const char *path)
{
    int64_t size = -1;
    pthread_mutex_lock(&fs_st.writers.mu);
    for (fs_handle *h = fs_st.writers.list; h; h = h->next_writer)
        if (strcmp(h->path, path) == 0) {
            pthread_mutex_lock(&h->mu); /* order: table_mu, then a handle's mu */
            size = spool_size(h);
            pthread_mutex_unlock(&h->mu);
            break;
        }
    pthread_mutex_unlock(&fs_st.writers.mu);
    return size;
}

/* Fills h->fd with the object's current bytes (a missing object is empty). */
static int download(fs_handle *h)
{
    int64_t got = 0;
    int rc = need_spool(h);
    if (rc == 0)
        rc = fs_api_get_all(h->bck, h->obj, NULL, NULL, h->fd, &got);
    if (rc == -ENOENT)
        return 0;
    return rc;
}

int fs_writer_open(const fs_path *p, const char *path, bool create, bool trunc, fs_handle **out)
{
    fs_handle *h = fs_handle_new(p, path);
    h->writer = true;
    int rc = trunc ? 0 : download(h);
    if (rc < 0) {
        fs_handle_free(h);
        return rc;
    }
    h->created = create;
    h->dirty = trunc; /* O_TRUNC empties the object even if nothing is written */
    table_add(h);
    *out = h;
    return 0;
}

/* A file about to grow to size without its bytes being written (a truncate,
 * or a write past the end that leaves a hole) is refused up front when the
 * object could not be stored: past max_object_size (EFBIG) or past the
 * target's free space (ENOSPC). Otherwise the spool stays sparse and the
 * whole size would only fail at the PUT, after sending it all. */
static int check_growth(fs_handle *h, int64_t size)
{
    if (size <= spool_size(h))
        return 0;
    if (fs_cfg.max_object_size > 0 && size > fs_cfg.max_object_size) {
        cmn_warn("etlfs: %s: %lld bytes is more than max_object_size (%lld)", h->path, (long long)size,
                 (long long)fs_cfg.max_object_size);
        return -EFBIG;
    }
    int64_t avail;
    if (fs_api_free_space(&avail) == 0 && size > avail) {
        cmn_warn("etlfs: %s: %lld bytes do not fit: the target has %lld bytes free", h->path, (long long)size,
                 (long long)avail);
        return -ENOSPC;
    }
    return 0;
}

/* Writes after a server-side copy on the same descriptor change the copy:
 * fetch it (once it has landed) into the spool, which is PUT on close. */
static int take_back_copy(fs_handle *h)
{
    if (!h->server_copied)
        return 0;
    fs_batch_wait_dst(h->bck, h->obj);
    int rc = need_spool(h);
    if (rc < 0)
        return rc;
    if (ftruncate(h->fd, 0) != 0)
        return -errno;
    rc = download(h);
    if (rc == 0) {
        h->server_copied = false;
        h->dirty = true;
    }
    return rc;
}

ssize_t fs_writer_write(fs_handle *h, const char *buf, size_t len, off_t off)
{
    pthread_mutex_lock(&h->mu);
    ssize_t n = take_back_copy(h);
    if (n == 0 && fs_cfg.max_object_size > 0 && off + (int64_t)len > fs_cfg.max_object_size)
        n = -EFBIG;
    else if (n == 0 && off > spool_size(h))
        n = check_growth(h, off + (int64_t)len);
    if (n == 0)
        n = need_spool(h);
    if (n == 0 && (n = pwrite(h->fd, buf, len, off)) < 0)
        n = -errno;
    if (n >= 0) {
        h->dirty = h->wrote = true;
        fs_copy_unexpect(h);
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

int fs_writer_truncate(fs_handle *h, off_t size)
{
    pthread_mutex_lock(&h->mu);
    int rc = take_back_copy(h);
    if (rc == 0)
        rc = check_growth(h, size);
    if (rc == 0)
        rc = need_spool(h);
    if (rc == 0)
        rc = ftruncate(h->fd, size) == 0 ? 0 : -errno;
    if (rc == 0) {
        h->dirty = h->wrote = true;
        fs_copy_unexpect(h);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* flush (close of one descriptor) publishes written bytes and new files; a
 * bare O_TRUNC of an existing object waits for the final release. So the
 * shell's `echo x > f`, which closes a descriptor before it writes, never
 * shows an existing f empty in between. */
static int flush_locked(fs_handle *h, bool final)
{
    if (!h->writer || h->server_copied || !(h->wrote || h->created || (final && h->dirty)))
        return 0;
    int64_t size = spool_size(h);
    int rc = need_spool(h); /* an empty new file is PUT from an empty spool */
    if (rc < 0)
        return rc;
    rc = fs_api_put_fd(h->bck, h->obj, h->fd, size);
    fs_cache_forget(h->path);
    if (rc == 0) {
        h->dirty = h->created = h->wrote = false;
        fs_vdir_del_parents(h->path);
        if (fs_notify_on())
            fs_notify_name_made(); /* in the views too */
    }
    fs_prefetch_forget(h->bck, h->obj); /* outputs made from the bytes before */
    return rc;
}

int fs_writer_flush(fs_handle *h)
{
    pthread_mutex_lock(&h->mu);
    int rc = flush_locked(h, false);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fs_handle_release(fs_handle *h)
{
    int rc = 0;
    if (h->writer) {
        /* out of the table first: a truncate of the path that found this
         * handle has finished with it (table_del waits for it), and none
         * comes after; so the final flush publishes its bytes too */
        table_del(h);
        pthread_mutex_lock(&h->mu);
        rc = flush_locked(h, true);
        pthread_mutex_unlock(&h->mu);
    }
    fs_handle_free(h);
    return rc;
}

int fs_truncate_path(const fs_path *p, const char *path, off_t size)
{
    /* an open writer holds the newest bytes: truncate those */
    fs_handle *open_h = NULL;
    pthread_mutex_lock(&fs_st.writers.mu);
    for (fs_handle *w = fs_st.writers.list; w; w = w->next_writer)
        if (strcmp(w->path, path) == 0) {
            open_h = w;
            break;
        }
    if (open_h) {
        int rc = fs_writer_truncate(open_h, size);
        pthread_mutex_unlock(&fs_st.writers.mu);
        return rc;
    }
    pthread_mutex_unlock(&fs_st.writers.mu);

    fs_handle *h;
    int rc = fs_writer_open(p, path, false, size == 0, &h);
    if (rc < 0)
        return rc;
    rc = fs_writer_truncate(h, size);
    int rc2 = fs_handle_release(h);
    return rc < 0 ? rc : rc2;
}
