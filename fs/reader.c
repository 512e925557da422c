/*
 * reader.c - files opened for reading, three ways:
 *   - fqn fast path: the target (on loopback) names the object's file in the
 *     etlfs-fqn header (or a listing entry), or the file is where the target
 *     keeps its siblings (cache.c); we pread it directly, without the handle's
 *     lock. Any failure falls back to HTTP.
 *   - ranged GETs with a readahead window that doubles (to 8 MiB) while the
 *     reader stays sequential.
 *   - @etl views: the output length is unknown until the transform ran, so the
 *     first read fetches the whole output once (memory up to mem_limit, then a
 *     spool file) and every read is served from it (opened with direct_io, so
 *     readers see exactly the output bytes whatever st_size said). A reader
 *     going through a directory in order finds the output made ahead
 *     (prefetch.c), already at open: then its length is known, and an output
 *     no longer than any size the kernel was told goes through the page cache
 *     (the kernel cuts its size to a short read's end), which spares the
 *     request that finds the end of the file.
 * Fetching lazily keeps `cp` (which opens then calls copy_file_range) from
 * running a transform it does not need.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RA_MIN (128 * 1024)
#define RA_MAX (8 * 1024 * 1024)

/* Opens the file the target named, if it is what HEAD described. */
static int open_fqn(const fs_objattr *a, struct stat *st)
{
    if (!fs_cfg.fqn || !a->fqn[0])
        return -1;
    int fd = open(a->fqn, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size != a->size) {
        close(fd);
        return -1;
    }
    return fd;
}

/* etl_keep_cache: the source's attributes now, as a lookup of the view
 * name learns them (cached, revalidated by its file, or a HEAD). */
static bool source_now(const fs_handle *h, fs_attr *a)
{
    if (fs_cache_get(h->path, a) || fs_cache_revalidate(h->path, a))
        return !a->is_dir;
    fs_objattr oa;
    if (fs_api_head(h->bck, h->obj, &oa) != 0)
        return false;
    *a = (fs_attr){.is_dir = false, .size = oa.size, .mtime_ns = oa.mtime_ns};
    snprintf(a->version, sizeof a->version, "%s", oa.version);
    fs_cache_refresh_obj(h->path, a, oa.fqn);
    return true;
}

/* A view file: with etl_keep_cache, the pages the kernel holds of an output
 * made from the source as it is now are kept, and nothing is transformed
 * unless the kernel asks to read; else an output made ahead is taken, and
 * read through the page cache when it fits the size the kernel holds. */
static int view_open(fs_handle *h, bool *page_cache, bool *keep_cache)
{
    *page_cache = false;
    fs_attr src;
    char *plain = cmn_xasprintf("/%s/%s", h->bck, h->obj);
    bool kept = fs_cfg.etl_keep_cache && source_now(h, &src) && fs_cache_keep_match(h->path, &src, fs_cache_gen(plain));
    free(plain);
    if (kept) {
        *page_cache = *keep_cache = true;
        fs_stat_add(FS_ST_VIEW_KEPT, 1);
        return 0;
    }
    if (!fs_prefetch_take(h))
        return 0;
    h->size = h->out.len;
    h->etl_loaded = true;
    fs_cache_set_outsize(h->path, h->size);
    *page_cache = fs_cache_fits_told(h->path, h->size);
    if (!*page_cache)
        return 0;
    fs_stat_add(FS_ST_VIEW_CACHED, 1);
    /* what was known of the source (the view name's attributes are its
     * source's) before its transform began: a later open keeps the output
     * only while the source is still that one and nothing changed it through
     * the mount since (prefetch.c) */
    if (fs_cfg.etl_keep_cache && h->out_src_ok)
        fs_cache_keep_set(h->path, &h->out_src, h->out_gen, h->size);
    return 0;
}

int fs_reader_open(const fs_path *p, const char *path, fs_handle **out, bool *page_cache, bool *keep_cache)
{
    *keep_cache = false;
    *page_cache = true;
    fs_handle *h = fs_handle_new(p, path);
    fs_stat_add(FS_ST_OBJ_READS, 1);
    if (h->etl[0]) {
        fs_stat_add(FS_ST_ETL_READS, 1);
        *out = h;
        return view_open(h, page_cache, keep_cache);
    }
    /* attributes from a listing or the lookup just before (within attr_timeout,
     * or revalidated by the file's identity) spare a HEAD when they say all we
     * need: the file to pread (named by the target, or in a directory where the
     * target keeps this bucket's files), or no fast path */
    fs_objattr a;
    fs_attr fa;
    struct stat st;
    bool cached = fs_cache_get_obj(path, &fa, a.fqn, sizeof a.fqn);
    if (!cached && fs_cache_revalidate(path, &fa))
        cached = fs_cache_get_obj(path, &fa, a.fqn, sizeof a.fqn);
    if (cached && !fa.is_dir) {
        a.size = fa.size;
        a.mtime_ns = fa.mtime_ns;
        snprintf(a.version, sizeof a.version, "%s", fa.version);
        if (a.fqn[0])
            h->fd = open_fqn(&a, &st);
        else if (fs_cfg.fqn && fs_fqn_guess(h->bck, h->obj, a.size, a.fqn, sizeof a.fqn, &st))
            h->fd = open_fqn(&a, &st);
        cached = h->fd >= 0 || !fs_cfg.fqn; /* changed since: ask again */
    } else {
        cached = false;
    }
    if (!cached) {
        int rc = fs_api_head(h->bck, h->obj, &a);
        if (rc < 0) {
            fs_handle_free(h);
            return rc;
        }
        if (a.fqn[0])
            fs_fqn_learn(h->bck, h->obj, a.fqn);
        h->fd = open_fqn(&a, &st);
        fa = (fs_attr){.is_dir = false, .size = a.size, .mtime_ns = a.mtime_ns};
        snprintf(fa.version, sizeof fa.version, "%s", a.version);
        fs_cache_refresh_obj(path, &fa, a.fqn);
        a.mtime_ns = fa.mtime_ns;
    }
    if (h->fd >= 0)
        fs_cache_set_fileid(path, a.fqn, &st);
    h->size = a.size;
    snprintf(h->version, sizeof h->version, "%s", a.version);
    if (h->fd >= 0)
        fs_stat_add(FS_ST_FQN_READS, 1);
    *keep_cache = fs_cache_same_version(path, a.version, a.mtime_ns, a.size);
    if (*keep_cache)
        fs_stat_add(FS_ST_CACHE_HITS, 1);
    *out = h;
    return 0;
}

/* ---------------------------------------------------------------- ETL output */

/* The first read: read-ahead learns of it (and may hold the output), else
 * the transform runs now. */
static int etl_load(fs_handle *h)
{
    bool took = false;
    if (!h->etl_noted) { /* once: a second note of the file would break the reader's order */
        struct fuse_context *ctx = fuse_get_context();
        took = fs_prefetch_read(h, ctx ? ctx->pid : 0);
        h->etl_noted = true;
    }
    if (h->etl_loaded)
        return 0;
    if (took) {
        h->size = h->out.len;
        h->etl_loaded = true;
        fs_cache_set_outsize(h->path, h->size);
        return 0;
    }
    int64_t got = 0;
    int rc = fs_api_get_all(h->bck, h->obj, h->etl, &h->out, -1, &got);
    if (rc < 0) {
        cmn_spool_free(&h->out); /* start over on the next read */
        h->size = 0;
        return rc;
    }
    h->size = h->out.len;
    h->etl_loaded = true;
    fs_cache_set_outsize(h->path, h->size);
    return 0;
}

/* ---------------------------------------------------------------- reads */

/* Serves from the readahead window, refilling it with one ranged GET. */
static ssize_t read_ranged(fs_handle *h, char *buf, size_t len, off_t off)
{
    if (off >= h->size)
        return 0;
    if ((int64_t)len > h->size - off)
        len = (size_t)(h->size - off);
    bool inside = off >= h->ra_off && off + (int64_t)len <= h->ra_off + (int64_t)h->ra_len;
    if (!inside) {
        size_t want = len;
        if (off == h->next_off) /* sequential: grow the window */
            want = h->ra_cap ? (h->ra_cap * 2 > RA_MAX ? RA_MAX : h->ra_cap * 2) : RA_MIN;
        if (want < len)
            want = len;
        if ((int64_t)want > h->size - off)
            want = (size_t)(h->size - off);
        if (want > h->ra_cap) {
            h->ra = cmn_xrealloc(h->ra, want);
            h->ra_cap = want;
        }
        ssize_t n = fs_api_get_range(h->bck, h->obj, h->ra, want, off);
        if (n < 0) {
            h->ra_len = 0;
            return n;
        }
        h->ra_off = off;
        h->ra_len = (size_t)n;
    }
    int64_t from = off - h->ra_off;
    size_t n = len;
    if ((int64_t)n > (int64_t)h->ra_len - from)
        n = from < (int64_t)h->ra_len ? (size_t)((int64_t)h->ra_len - from) : 0;
    memcpy(buf, h->ra + from, n);
    return (ssize_t)n;
}

int fs_reader_fd(const fs_handle *h) { return !h->writer && !h->etl[0] ? h->fd : -1; }

int fs_reader_spool_fd(fs_handle *h)
{
    pthread_mutex_lock(&h->mu);
    int fd = h->etl[0] && !h->writer && h->etl_loaded ? h->out.fd : -1;
    pthread_mutex_unlock(&h->mu);
    return fd;
}

const char *fs_reader_mem(fs_handle *h, int64_t *len)
{
    pthread_mutex_lock(&h->mu);
    bool mem = h->etl[0] && !h->writer && h->etl_loaded && h->out.fd < 0 && h->out.mem.data;
    const char *p = mem ? h->out.mem.data : NULL;
    *len = mem ? h->out.len : 0;
    pthread_mutex_unlock(&h->mu);
    return p;
}

int64_t fs_reader_left(fs_handle *h, off_t off)
{
    pthread_mutex_lock(&h->mu);
    int rc = h->etl[0] && !h->writer && !(h->etl_loaded && h->etl_noted) ? etl_load(h) : 0;
    int64_t size = h->etl[0] && !h->writer ? h->out.len : h->size;
    pthread_mutex_unlock(&h->mu);
    if (rc < 0)
        return rc;
    return off < size ? size - off : 0;
}

ssize_t fs_reader_read(fs_handle *h, char *buf, size_t len, off_t off)
{
    ssize_t n;
    if (!h->writer && !h->etl[0] && h->fd >= 0) {
        /* node-local file, fixed at open: pread needs no lock, so the kernel's
         * concurrent readahead requests on one file run in parallel */
        n = cmn_pread_full(h->fd, buf, len, off);
        if (n > 0)
            fs_stat_add(FS_ST_READ_BYTES, n);
        return n;
    }
    pthread_mutex_lock(&h->mu);
    if (h->writer) {
        n = h->fd < 0 ? 0 : cmn_pread_full(h->fd, buf, len, off); /* no spool yet: nothing written */
    } else if (h->etl[0]) {
        int rc = h->etl_loaded && h->etl_noted ? 0 : etl_load(h);
        n = rc < 0 ? rc : cmn_spool_pread(&h->out, buf, len, off);
    } else if (h->fd >= 0) {
        n = cmn_pread_full(h->fd, buf, len, off);
    } else {
        n = read_ranged(h, buf, len, off);
    }
    if (n > 0) {
        h->next_off = off + n;
        fs_stat_add(FS_ST_READ_BYTES, n);
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}
