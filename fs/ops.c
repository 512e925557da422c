/*
 * ops.c - the FUSE operations, one function per operation (fs_<op>), and the
 * operations table at the end. High-level libfuse API, multi-threaded: paths
 * map directly onto bucket/object names, and the attribute cache (cache.c)
 * makes lookups after a listing free, which is where a path API costs most.
 *
 * Everything under MNT/@<etl>/ is read-only (EROFS); MNT itself holds only
 * buckets (mkdir creates one, rmdir of an empty one destroys it).
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define PAGE_SIZE_LIST 1000
#define STATS_XATTR "user.etlfs.stats"

/* ---------------------------------------------------------------- shared by the operations */

static void fill_stat(struct stat *st, bool is_dir, int64_t size, int64_t mtime_ns, bool ro)
{
    memset(st, 0, sizeof *st);
    if (!mtime_ns)
        mtime_ns = fs_st.mount_ns;
    st->st_uid = fs_st.uid; /* not a system call per entry a listing fills */
    st->st_gid = fs_st.gid;
    if (is_dir) {
        st->st_mode = S_IFDIR | (ro ? 0555 : 0755);
        st->st_nlink = 2;
        st->st_size = 4096;
    } else {
        st->st_mode = S_IFREG | (ro ? 0444 : 0644);
        st->st_nlink = 1;
        st->st_size = size;
        st->st_blocks = (size + 511) / 512;
    }
    /* what readers size their buffers by: 128 KiB (the kernel's readahead) keeps
     * cat's buffer in the CPU cache; 1 MiB made page-cache re-reads 2-3x slower */
    st->st_blksize = 128 * 1024;
    st->st_mtim.tv_sec = mtime_ns / 1000000000LL;
    st->st_mtim.tv_nsec = mtime_ns % 1000000000LL;
    st->st_atim = st->st_ctim = st->st_mtim;
}

/* The path of the same object outside any @view ("/@e/b/x" -> "/b/x"). */
static const char *plain_path(const char *path, const fs_path *p)
{
    return p->etl[0] ? path + 2 + strlen(p->etl) : path;
}

static fs_handle *fh(struct fuse_file_info *fi) { return (fs_handle *)(uintptr_t)fi->fh; }

static void etl_refresh_locked(bool force)
{
    if (!force && fs_st.etls.expires > cmn_mono_ns())
        return;
    char **names;
    size_t n;
    if (fs_api_list_etls(&names, &n) != 0)
        return; /* keep what we had */
    fs_free_names(fs_st.etls.names, fs_st.etls.n);
    fs_st.etls.names = names;
    fs_st.etls.n = n;
    fs_st.etls.expires = cmn_mono_ns() + (int64_t)(fs_cfg.attr_timeout * 1e9);
}

static bool one_running(const char *name)
{
    pthread_mutex_lock(&fs_st.etls.mu);
    etl_refresh_locked(false);
    bool found = false;
    for (size_t i = 0; i < fs_st.etls.n && !found; i++)
        found = strcmp(fs_st.etls.names[i], name) == 0;
    if (!found) {
        /* just started? ask once more */
        etl_refresh_locked(true);
        for (size_t i = 0; i < fs_st.etls.n && !found; i++)
            found = strcmp(fs_st.etls.names[i], name) == 0;
    }
    pthread_mutex_unlock(&fs_st.etls.mu);
    return found;
}

/* A view's ETL, or every stage of its pipeline (MNT/@A>>B/), is running. */
static bool etl_running(const char *name)
{
    char names[FS_CHAIN_MAX][256];
    size_t n = fs_chain_names(name, names, FS_CHAIN_MAX);
    for (size_t i = 0; i < n; i++)
        if (!one_running(names[i]))
            return false;
    return n > 0;
}

static int bucket_exists(const char *bck)
{
    int rc = fs_api_bucket_exists(bck);
    if (rc == 0 || rc == -ENOENT)
        return rc;
    /* a target without HEAD bucket: look in the list */
    char **names;
    size_t n;
    if ((rc = fs_api_list_buckets(&names, &n)) != 0)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], bck) == 0)
            rc = 0;
    fs_free_names(names, n);
    return rc;
}

/* Does any object live below prefix obj + "/"? */
static int has_children(const char *bck, const char *obj)
{
    char *prefix = cmn_xasprintf("%s%s", obj, *obj ? "/" : "");
    fs_page pg;
    int rc = fs_api_list_page(bck, prefix, "", 1, &pg);
    free(prefix);
    if (rc < 0)
        return rc;
    rc = pg.n > 0 || pg.token[0];
    fs_page_free(&pg);
    return rc;
}

/* Waits for queued copies below the directory obj ("" for the bucket). */
static void wait_dir(const char *bck, const char *obj, bool any_role)
{
    if (!fs_batch_queued())
        return;
    cmn_buf prefix;
    cmn_buf_init(&prefix);
    cmn_buf_printf(&prefix, "%s%s", obj, *obj ? "/" : "");
    fs_batch_wait_dir(bck, prefix.data, any_role);
    cmn_buf_free(&prefix);
}

/* The protocol every operation follows (docs/mount.md, "copy_file_range and
 * directory copies"): it enters through one op_enter_* for its kind, which
 * counts the request, parses the path once, refuses what the kind may not do
 * and waits for the queued copies that touch the name; a change leaves
 * through op_exit_write, which forgets what was cached about the name.
 *   op_enter_read   an object or directory looked at (stat, open, read)
 *   op_enter_stat   the same, but a file open for writing here answers from
 *                   its writer without waiting (cp's fstat after a queued copy)
 *   op_enter_write  a change of an object outside @views
 *   op_enter_dir    a directory listed or synced: copies into it land first
 *   op_enter_rmdir  a directory removed: copies into or out of it land first
 *   op_enter_mkdir  a directory made: refused under @views and in MNT's root
 *   op_enter_noop   chmod, chown, utimens: accepted and ignored
 *   op_enter_fh     an operation on an open handle: its open took the steps
 * rename checks both names before it waits for either (op_check_write), so a
 * move across buckets is refused at once. */
typedef struct fs_op {
    const char *path;
    fs_path p;
    int64_t open_size; /* op_enter_stat: the size of a file open for writing, else -1 */
} fs_op;

static void op_count(void) { fs_stat_add(FS_ST_FUSE_OPS, 1); }

static int op_parse(const char *path, fs_op *op)
{
    op->path = path;
    op->open_size = -1;
    return fs_path_parse(path, &op->p);
}

/* Where a new or changed object may live: an object path outside @views. */
static int op_check_write(const char *path, fs_op *op)
{
    int rc = op_parse(path, op);
    if (rc < 0)
        return op->p.etl[0] ? -EROFS : rc;
    if (op->p.etl[0] || op->p.is_view_root)
        return -EROFS;
    if (!op->p.bck[0] || !*op->p.obj)
        return -EPERM; /* MNT holds only buckets */
    return 0;
}

static int op_enter_write(const char *path, fs_op *op)
{
    op_count();
    int rc = op_check_write(path, op);
    if (rc == 0 && fs_batch_queued())
        fs_batch_wait_obj(op->p.bck, op->p.obj);
    return rc;
}

/* The name changed: its cached attributes and anything transformed ahead
 * from it are stale. Passes rc through. */
static int op_exit_write(const fs_op *op, int rc)
{
    fs_cache_forget(op->path);
    if (op->p.bck[0] && op->p.obj && *op->p.obj && !op->p.etl[0])
        fs_prefetch_forget(op->p.bck, op->p.obj);
    return rc;
}

static int op_enter_read(const char *path, fs_op *op)
{
    op_count();
    int rc = op_parse(path, op);
    if (rc == 0 && *op->p.obj && fs_batch_queued())
        fs_batch_wait_dst(op->p.bck, op->p.obj);
    return rc;
}

/* op_enter_stat without counting: the daemon's own look at a name (rename, mkdir) */
static int stat_enter(const char *path, fs_op *op)
{
    int rc = op_parse(path, op);
    if (rc < 0 || !*op->p.obj)
        return rc;
    if (!op->p.etl[0] && (op->open_size = fs_writer_size_of(path)) >= 0)
        return 0;
    if (fs_batch_queued())
        fs_batch_wait_dst(op->p.bck, op->p.obj);
    return 0;
}

static int op_enter_stat(const char *path, fs_op *op)
{
    op_count();
    return stat_enter(path, op);
}

static int op_enter_dir(const char *path, fs_op *op)
{
    op_count();
    int rc = op_parse(path, op);
    if (rc == 0 && op->p.bck[0])
        wait_dir(op->p.bck, op->p.obj, false);
    return rc;
}

static int op_enter_rmdir(const char *path, fs_op *op)
{
    op_count();
    int rc = op_parse(path, op);
    if (rc < 0)
        return rc;
    if (op->p.etl[0])
        return -EROFS;
    if (!op->p.bck[0])
        return -EBUSY;
    wait_dir(op->p.bck, op->p.obj, true);
    return 0;
}

static int op_enter_mkdir(const char *path, fs_op *op)
{
    op_count();
    if (op_parse(path, op) < 0)
        return -EINVAL;
    if (op->p.etl[0])
        return -EROFS;
    return op->p.bck[0] ? 0 : -EEXIST;
}

/* chmod, chown, utimens change nothing (objects carry no mode, owner or
 * times): nothing to wait for or forget. */
static int op_enter_noop(const char *path, fs_op *op)
{
    op_count();
    return path ? op_parse(path, op) : 0; /* an open file removed since has no path */
}

static fs_handle *op_enter_fh(struct fuse_file_info *fi)
{
    op_count();
    return fh(fi);
}

/* ---------------------------------------------------------------- attributes */

/* The attributes of an entered name (op_enter_stat). */
static int getattr_op(const fs_op *op, struct stat *st)
{
    const char *path = op->path;
    const fs_path p = op->p;
    int rc;
    bool ro = p.etl[0] != '\0';
    if (!p.bck[0] && !p.is_view_root) {
        fill_stat(st, true, 0, 0, false);
        return 0;
    }
    if (p.is_view_root) {
        if (!etl_running(p.etl))
            return -ENOENT;
        fill_stat(st, true, 0, 0, true);
        return 0;
    }
    if (op->open_size >= 0) {
        fill_stat(st, false, op->open_size, cmn_now_ns(), false);
        return 0;
    }
    fs_attr a;
    /* a view's attributes are its source's: the source file's identity vouches for both */
    if (fs_cache_get(path, &a) || (*p.obj && fs_cache_revalidate(path, &a))) {
        fs_stat_add(FS_ST_ATTR_HITS, 1);
    } else if (!*p.obj) {
        if ((rc = bucket_exists(p.bck)) < 0)
            return rc;
        a = (fs_attr){.is_dir = true};
        fs_cache_put(path, &a);
    } else if (!ro && (fs_cache_missing(path) || fs_known_missing(path))) {
        fs_stat_add(FS_ST_ATTR_HITS, 1);
        return -ENOENT;
    } else {
        wait_dir(p.bck, p.obj, false); /* a directory that queued copies will fill */
        fs_objattr oa;
        rc = fs_api_head(p.bck, p.obj, &oa);
        if (rc == 0) {
            a = (fs_attr){.is_dir = false, .size = oa.size, .mtime_ns = oa.mtime_ns};
            snprintf(a.version, sizeof a.version, "%s", oa.version);
            if (oa.fqn[0])
                fs_fqn_learn(p.bck, p.obj, oa.fqn);
            fs_cache_refresh_obj(path, &a, oa.fqn);
        } else if (rc != -ENOENT) {
            return rc;
        } else if (fs_vdir_has(plain_path(path, &p))) {
            a = (fs_attr){.is_dir = true};
        } else {
            if (!oa.not_dir && (rc = has_children(p.bck, p.obj)) < 0)
                return rc;
            if (oa.not_dir || !rc) { /* not_dir: the target said so, no listing needed */
                if (!ro) {
                    fs_cache_put_missing(path);
                    fs_known_learn(path); /* the next missing names in its directory cost nothing */
                }
                return -ENOENT;
            }
            a = (fs_attr){.is_dir = true};
        }
        if (a.is_dir)
            fs_cache_put(path, &a);
    }
    if (ro && !a.is_dir) {
        int64_t out = fs_cache_outsize(path);
        if (out >= 0)
            a.size = out;
        fs_cache_told_size(path, a.size); /* whether an output fits the kernel's size (reader.c) */
    }
    fill_stat(st, a.is_dir, a.size, a.mtime_ns, ro);
    return 0;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    fs_op op;
    int rc = op_enter_stat(path, &op);
    if (rc == 0)
        rc = getattr_op(&op, st);
    if (rc == -ENOENT && op.p.etl[0] && op.p.bck[0] && fs_notify_on())
        fs_notify_view_miss(op.p.etl); /* the kernel keeps this answer */
    return rc;
}

/* The same for a name the daemon looks at itself while serving another operation. */
static int lookup(const char *path, struct stat *st)
{
    fs_op op;
    int rc = stat_enter(path, &op);
    return rc < 0 ? rc : getattr_op(&op, st);
}

/* ---------------------------------------------------------------- directories */

/* An open directory. Bucket directories are listed a page at a time as the
 * kernel asks for offsets; only the current page is held. */
typedef struct dirh {
    pthread_mutex_t mu;
    char *path;
    fs_path p;
    char *prefix; /* object-name prefix of the children: "" or "a/b/" */
    fs_page page;
    size_t base;  /* index of page.v[0] among all children */
    bool started, done;
    char **vdirs; /* remembered empty directories, listed after the objects */
    size_t nv;
} dirh;

static void collect_vdir(void *ctx, const char *name)
{
    dirh *d = ctx;
    d->vdirs = cmn_xrealloc(d->vdirs, (d->nv + 1) * sizeof *d->vdirs);
    d->vdirs[d->nv++] = cmn_xstrdup(name);
}

/* The size a view's listing tells the kernel of a file (readdirplus): its
 * output's once known, as a lookup says (another size would make the kernel
 * drop the file's pages), else its source's. */
static int64_t view_size_in_dir(const char *dir, const char *name, int64_t size)
{
    char child[8192];
    if (snprintf(child, sizeof child, "%s/%s", strcmp(dir, "/") ? dir : "", name) >= (int)sizeof child)
        return size;
    int64_t out = fs_cache_outsize(child);
    if (out >= 0)
        size = out;
    fs_cache_told_size(child, size);
    return size;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
    fs_op op;
    int rc = op_enter_dir(path, &op);
    if (rc < 0)
        return rc;
    dirh *d = cmn_xcalloc(1, sizeof *d);
    d->path = cmn_xstrdup(path);
    pthread_mutex_init(&d->mu, NULL);
    fs_path_parse(d->path, &d->p); /* into d's own copy of the path */
    if (d->p.bck[0]) {
        const char *obj = d->p.obj;
        d->prefix = cmn_xasprintf("%s%s", obj, *obj ? "/" : "");
        fs_vdir_children(plain_path(d->path, &d->p), collect_vdir, d);
    }
    fi->fh = (uintptr_t)d;
    return 0;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
    op_count();
    dirh *d = (dirh *)(uintptr_t)fi->fh;
    fs_page_free(&d->page);
    for (size_t i = 0; i < d->nv; i++)
        free(d->vdirs[i]);
    free(d->vdirs);
    free(d->prefix);
    free(d->path);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return 0;
}

/* The root and @view roots: a few names, listed in one go. */
static int fill_top(dirh *d, void *buf, fuse_fill_dir_t filler)
{
    char **names;
    size_t n;
    int rc = fs_api_list_buckets(&names, &n);
    if (rc < 0)
        return rc;
    bool ro = d->p.is_view_root;
    struct stat st;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    char child[600];
    for (size_t i = 0; i < n; i++) {
        fill_stat(&st, true, 0, 0, ro);
        filler(buf, names[i], &st, 0, FUSE_FILL_DIR_PLUS);
        snprintf(child, sizeof child, "%s/%s", d->path[1] ? d->path : "", names[i]);
        fs_cache_put(child, &(fs_attr){.is_dir = true});
    }
    fs_free_names(names, n);
    if (ro)
        return 0;
    pthread_mutex_lock(&fs_st.etls.mu);
    etl_refresh_locked(true);
    for (size_t i = 0; i < fs_st.etls.n; i++) {
        snprintf(child, sizeof child, "@%s", fs_st.etls.names[i]);
        fill_stat(&st, true, 0, 0, true);
        filler(buf, child, &st, 0, FUSE_FILL_DIR_PLUS);
    }
    pthread_mutex_unlock(&fs_st.etls.mu);
    return 0;
}

/* A listed object and, when it is node-local, its file and the file's identity:
 * then neither the open nor a lookup after attr_timeout needs a request (cache.c).
 * The file is named by the listing (a target that sends etlfs_fqn) or found where
 * the target keeps the bucket's other files; a few HEADs per page learn where
 * that is, unless the target never names files (not on this node). */
#define LEARN_HEADS 2

static void put_listed(const dirh *d, const fs_entry *e, const char *path, const fs_attr *a, int *heads)
{
    char fqn[4096];
    struct stat st;
    bool found;
    cmn_buf obj;
    cmn_buf_init(&obj);
    cmn_buf_printf(&obj, "%s%s", d->prefix ? d->prefix : "", e->name);
    if (e->fqn) {
        snprintf(fqn, sizeof fqn, "%s", e->fqn);
        found = stat(fqn, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == a->size;
    } else {
        found = fs_fqn_guess(d->p.bck, obj.data, a->size, fqn, sizeof fqn, &st);
        if (!found && *heads < LEARN_HEADS && !__atomic_load_n(&fs_st.target_remote, __ATOMIC_RELAXED)) {
            fs_objattr oa;
            ++*heads;
            if (fs_api_head(d->p.bck, obj.data, &oa) == 0) {
                if (!oa.fqn[0])
                    __atomic_store_n(&fs_st.target_remote, true, __ATOMIC_RELAXED);
                else
                    fs_fqn_learn(d->p.bck, obj.data, oa.fqn);
                found = oa.fqn[0] && oa.size == a->size && strcmp(oa.version, a->version) == 0 &&
                        fs_fqn_guess(d->p.bck, obj.data, a->size, fqn, sizeof fqn, &st);
            }
        }
    }
    fs_cache_put_obj(path, a, found ? fqn : NULL);
    if (found)
        fs_cache_set_fileid(path, fqn, &st);
    cmn_buf_free(&obj);
}

static int next_page(dirh *d)
{
    fs_page pg;
    int rc = fs_api_list_page(d->p.bck, d->prefix, d->started ? d->page.token : "", PAGE_SIZE_LIST, &pg);
    if (rc < 0)
        return rc;
    if (d->started)
        d->base += d->page.n;
    fs_page_free(&d->page);
    d->page = pg;
    d->started = true;
    d->done = pg.token[0] == '\0';
    /* remember what we learned: the kernel's lookups of these names come next */
    int heads = 0;
    cmn_buf child;
    cmn_buf_init(&child);
    for (size_t i = 0; i < pg.n; i++) {
        cmn_buf_reset(&child);
        cmn_buf_printf(&child, "%s/%s", d->path, pg.v[i].name);
        fs_attr a = {.is_dir = pg.v[i].is_dir, .size = pg.v[i].size, .mtime_ns = pg.v[i].mtime_ns};
        snprintf(a.version, sizeof a.version, "%s", pg.v[i].version);
        if (!a.is_dir && fs_cfg.fqn)
            put_listed(d, &pg.v[i], child.data, &a, &heads);
        else
            fs_cache_put(child.data, &a);
        /* a remembered empty directory that now holds objects (written by
         * another client): list it once */
        for (size_t j = 0; pg.v[i].is_dir && j < d->nv; j++)
            if (strcmp(d->vdirs[j], pg.v[i].name) == 0) {
                free(d->vdirs[j]);
                d->vdirs[j] = d->vdirs[--d->nv];
                break;
            }
    }
    cmn_buf_free(&child);
    return 0;
}

static int fill_paged(dirh *d, void *buf, fuse_fill_dir_t filler, off_t off)
{
    /* offsets: "." 1, ".." 2, child i at i + 3 */
    if (off < 1 && filler(buf, ".", NULL, 1, 0))
        return 0;
    if (off < 2 && filler(buf, "..", NULL, 2, 0))
        return 0;
    size_t idx = off < 2 ? 0 : (size_t)off - 2;
    if (d->started && idx < d->base) { /* rewinddir: list again */
        fs_page_free(&d->page);
        d->base = 0;
        d->started = d->done = false;
    }
    bool ro = d->p.etl[0] != '\0';
    struct stat st;
    for (;;) {
        if (!d->started || (idx >= d->base + d->page.n && !d->done)) {
            int rc = next_page(d);
            if (rc < 0)
                return rc;
            continue;
        }
        if (idx < d->base + d->page.n) {
            fs_entry *e = &d->page.v[idx - d->base];
            fill_stat(&st, e->is_dir, ro && !e->is_dir ? view_size_in_dir(d->path, e->name, e->size) : e->size,
                      e->mtime_ns, ro);
            if (filler(buf, e->name, &st, (off_t)idx + 3, FUSE_FILL_DIR_PLUS))
                return 0;
            idx++;
            continue;
        }
        size_t vi = idx - (d->base + d->page.n);
        if (vi >= d->nv)
            return 0;
        fill_stat(&st, true, 0, 0, ro);
        if (filler(buf, d->vdirs[vi], &st, (off_t)idx + 3, FUSE_FILL_DIR_PLUS))
            return 0;
        idx++;
    }
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    op_count();
    dirh *d = (dirh *)(uintptr_t)fi->fh;
    pthread_mutex_lock(&d->mu);
    int rc = d->p.bck[0] ? fill_paged(d, buf, filler, off) : fill_top(d, buf, filler);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* `sync DIR`: returns once every copy queued into DIR has landed, so a
 * script can hand the results to clients that do not go through the mount. */
static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
    fs_op op;
    int rc = op_enter_dir(((dirh *)(uintptr_t)fi->fh)->path, &op); /* waits for copies into a bucket's directory */
    if (rc == 0 && !op.p.bck[0] && !op.p.etl[0] && !op.p.is_view_root)
        fs_batch_wait_all(); /* MNT: every copy */
    return rc;
}

/* The kernel may still hold the entry of a directory that the last unlink
 * below it emptied (high-level libfuse can invalidate its attributes, not its
 * name, and entry_timeout has not run out): ask for the parent ourselves. */
static int parent_is_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    struct stat st;
    int rc = lookup(dir, &st);
    return rc < 0 ? rc : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int fs_mkdir(const char *path, mode_t mode)
{
    fs_op op;
    int rc = op_enter_mkdir(path, &op);
    if (rc < 0)
        return rc;
    /* a directory made here is empty: its names are known (known.c), so cp's
     * lookups of new names in it cost no HEAD */
    uint64_t known = fs_known_begin(path);
    int64_t since = cmn_mono_ns();
    bool empty = false;
    if (!*op.p.obj) {
        rc = fs_api_create_bucket(op.p.bck);
        empty = rc == 0;
    } else {
        rc = bucket_exists(op.p.bck);
        if (rc == 0)
            rc = parent_is_dir(path);
        if (rc == 0) {
            fs_vdir_add(path);
            empty = has_children(op.p.bck, op.p.obj) == 0;
        }
    }
    fs_known_end(known, since, empty);
    if (rc == 0 && fs_notify_on())
        fs_notify_name_made(); /* in the views too */
    return op_exit_write(&op, rc);
}

static void count_child(void *ctx, const char *name)
{
    (void)name;
    ++*(int *)ctx;
}

static int fs_rmdir(const char *path)
{
    fs_op op;
    int rc = op_enter_rmdir(path, &op);
    if (rc < 0)
        return rc;
    if ((rc = has_children(op.p.bck, op.p.obj)) < 0)
        return rc;
    int vchildren = 0; /* an empty directory made below (mkdir) is a child too */
    fs_vdir_children(path, count_child, &vchildren);
    if (rc || vchildren)
        return -ENOTEMPTY;
    rc = *op.p.obj ? 0 : fs_api_destroy_bucket(op.p.bck);
    /* a virtual directory whose last object went is already gone: success */
    fs_vdir_del(path, true);
    return op_exit_write(&op, rc);
}

/* ---------------------------------------------------------------- files */

/* create and open for writing: a writer holds the object's new bytes until flush. */
static int open_writer(const char *path, bool create, bool trunc, struct fuse_file_info *fi)
{
    fs_op op;
    fs_handle *h;
    int rc = op_enter_write(path, &op);
    if (rc < 0)
        return rc;
    if ((rc = fs_writer_open(&op.p, path, create, trunc, &h)) < 0)
        return rc;
    fi->fh = (uintptr_t)h;
    return op_exit_write(&op, 0);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int rc = open_writer(path, true, true, fi);
    if (rc == 0 && fs_copy_expect(fh(fi), fuse_get_context()->pid))
        fi->noflush = 1; /* cp's next copy: its close costs no round trip */
    return rc;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return open_writer(path, false, (fi->flags & O_TRUNC) != 0, fi);
    fs_op op;
    fs_handle *h;
    int rc = op_enter_read(path, &op);
    if (rc < 0)
        return rc;
    bool page_cache = true, keep = false;
    if ((rc = fs_reader_open(&op.p, path, &h, &page_cache, &keep)) < 0)
        return rc;
    fi->fh = (uintptr_t)h;
    fi->noflush = 1; /* a reader has nothing to flush: close costs no round trip */
    fi->direct_io = !page_cache; /* a view's output whose length is not known yet, or longer than st_size */
    fi->keep_cache = keep;
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    return (int)fs_reader_read(op_enter_fh(fi), buf, size, off);
}

/* Node-local files, and a view's output spilled to its spool file, go back
 * as a file range: libfuse splices them into the reply (FUSE_CAP_SPLICE_WRITE),
 * so their bytes are never copied through us; a view's output in memory goes
 * as a pipe its pages were vmspliced into (vsplice.c). */
static int fs_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off, struct fuse_file_info *fi)
{
    fs_handle *h = op_enter_fh(fi);
    struct fuse_bufvec *bv = cmn_xmalloc(sizeof *bv);
    int fd = fs_reader_fd(h);
    if (fd >= 0) {
        fs_loop_blocking(); /* the splice may wait for the disk: readers of other files go on meanwhile */
        *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
        bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
        bv->buf[0].fd = fd;
        bv->buf[0].pos = off;
        if (off < h->size)
            fs_stat_add(FS_ST_READ_BYTES, (int64_t)size < h->size - off ? (int64_t)size : h->size - off);
    } else {
        if (h->etl[0] && !h->writer) { /* a view's output: a buffer of its size, not the kernel's 128 KiB */
            int64_t left = fs_reader_left(h, off);
            if (left < 0) {
                free(bv);
                return (int)left;
            }
            if ((int64_t)size > left)
                size = (size_t)left;
            if (!size) { /* the end of the file (a direct_io reader's last read): nothing to fetch or copy */
                *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(0);
                *bufp = bv;
                return 0;
            }
            int64_t len;
            const char *out = fs_reader_mem(h, &len);
            if (out && off + (int64_t)size <= len && fs_vsplice(out + off, size, bv) == 0) {
                fs_stat_add(FS_ST_READ_BYTES, (int64_t)size); /* in memory: its pages spliced, not copied */
                *bufp = bv;
                return 0;
            }
            int sfd = fs_reader_spool_fd(h);
            if (sfd >= 0) { /* spilled: spliced from the spool file too, not copied through a buffer */
                *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
                bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
                bv->buf[0].fd = sfd;
                bv->buf[0].pos = off;
                fs_stat_add(FS_ST_READ_BYTES, (int64_t)size);
                *bufp = bv;
                return 0;
            }
        }
        char *mem = cmn_xmalloc(size ? size : 1);
        ssize_t n = fs_reader_read(h, mem, size, off);
        if (n < 0) {
            free(mem);
            free(bv);
            return (int)n;
        }
        *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT((size_t)n);
        bv->buf[0].mem = mem;
    }
    *bufp = bv;
    return 0;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    fs_handle *h = op_enter_fh(fi);
    if (!h->writer)
        return -EBADF;
    return (int)fs_writer_write(h, buf, size, off);
}

static int flush_handle(fs_handle *h) { return h->writer ? fs_writer_flush(h) : 0; }

static int fs_flush(const char *path, struct fuse_file_info *fi) { return flush_handle(op_enter_fh(fi)); }

/* fsync of a file cp copied server-side: the copy is on the target's disks
 * (it writes atomically with fsync) once it has landed. */
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    fs_handle *h = op_enter_fh(fi);
    if (h->writer && h->server_copied)
        fs_batch_wait_dst(h->bck, h->obj);
    return flush_handle(h);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    fs_handle *h = op_enter_fh(fi);
    if (h->writer)
        fs_handle_release(h); /* its last flush */
    else
        fs_handle_free(h);
    return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    if (fi && fh(fi)->writer)
        return fs_writer_truncate(op_enter_fh(fi), size);
    fs_op op;
    int rc = op_enter_write(path, &op);
    if (rc < 0)
        return rc;
    return op_exit_write(&op, fs_truncate_path(&op.p, path, size));
}

/* An object left path: the directories above it may have gone with it (a
 * directory is only a prefix of objects), so neither our cache nor the
 * kernel's may answer for them from memory. The kernel holds the lock of
 * path's own directory now, not of its parent: invalidating the directory's
 * entry in its parent cannot deadlock. */
static void forget_parents(const fs_op *op)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", op->path);
    struct fuse_context *ctx = fuse_get_context();
    for (char *slash = strrchr(dir, '/'); slash && slash > dir; slash = strrchr(dir, '/')) {
        *slash = '\0';
        fs_path p;
        if (fs_path_parse(dir, &p) != 0 || !*p.obj || fs_vdir_has(dir))
            break; /* the bucket itself, or a directory mkdir keeps */
        fs_cache_forget(dir);
        if (ctx && ctx->fuse) {
            fs_loop_blocking(); /* the kernel may wait for a lookup that is still to be read */
            fuse_invalidate_path(ctx->fuse, dir);
        }
    }
}

static int fs_unlink(const char *path)
{
    fs_op op;
    int rc = op_enter_write(path, &op);
    if (rc < 0)
        return rc;
    rc = fs_api_delete(op.p.bck, op.p.obj);
    if (rc == 0)
        forget_parents(&op);
    return op_exit_write(&op, rc);
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    fs_op a, b;
    op_count();
    int rc = op_check_write(from, &a);
    if (rc == 0)
        rc = op_check_write(to, &b);
    if (rc < 0)
        return rc == -EPERM ? -EXDEV : rc;
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    if (strcmp(a.p.bck, b.p.bck) != 0)
        return -EXDEV; /* mv copies across buckets: refused before any wait */
    fs_batch_wait_obj(a.p.bck, a.p.obj);
    fs_batch_wait_obj(b.p.bck, b.p.obj);
    struct stat st;
    if ((rc = lookup(from, &st)) < 0)
        return rc;
    if (S_ISDIR(st.st_mode))
        return -EXDEV; /* a directory is many objects: let mv copy them */
    if ((flags & RENAME_NOREPLACE) && lookup(to, &st) == 0)
        return -EEXIST;
    rc = fs_api_rename(a.p.bck, a.p.obj, b.p.obj);
    if (rc == 0) {
        forget_parents(&a);
        fs_vdir_del_parents(to); /* as a write there: the object holds its directories now */
        if (fs_notify_on())
            fs_notify_name_made();
    }
    op_exit_write(&a, rc);
    return op_exit_write(&b, rc);
}

/* Objects carry no mode, owner or times of their own: accept and ignore, so
 * `cp -p`, `touch` and `rsync -a` work. */
static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    fs_op op;
    return op_enter_noop(path, &op);
}
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    fs_op op;
    return op_enter_noop(path, &op);
}
static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    fs_op op;
    return op_enter_noop(path, &op);
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
    op_count(); /* the file system's, not a name's: nothing to wait for */
    memset(sv, 0, sizeof *sv);
    sv->f_bsize = sv->f_frsize = 4096;
    sv->f_blocks = sv->f_bfree = sv->f_bavail = 1ULL << 32;
    sv->f_files = sv->f_ffree = 1ULL << 32;
    sv->f_namemax = 1023;
    return 0;
}

static ssize_t fs_copy_file_range(const char *path_in, struct fuse_file_info *fi_in, off_t off_in,
                                  const char *path_out, struct fuse_file_info *fi_out, off_t off_out, size_t len,
                                  int flags)
{
    op_count(); /* both handles' opens took the steps; the copy queues behind the barrier itself */
    return fs_copy_range(fh(fi_in), off_in, fh(fi_out), off_out, len);
}

/* ---------------------------------------------------------------- xattrs */

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
    op_count();
    if (strcmp(path, "/") != 0 || strcmp(name, STATS_XATTR) != 0)
        return -ENODATA;
    char *json = fs_stats_json();
    size_t n = strlen(json);
    int rc = (int)n;
    if (size) {
        if (size < n)
            rc = -ERANGE;
        else
            memcpy(value, json, n);
    }
    free(json);
    return rc;
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
    op_count();
    if (strcmp(path, "/") != 0)
        return 0;
    size_t n = sizeof STATS_XATTR; /* with its NUL */
    if (size && size < n)
        return -ERANGE;
    if (size)
        memcpy(list, STATS_XATTR, n);
    return (int)n;
}

/* ---------------------------------------------------------------- lifecycle */

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    fs_st.mount_ns = cmn_now_ns();
    fs_st.uid = getuid();
    fs_st.gid = getgid();
    fs_batch_start(); /* here, after libfuse has daemonized: threads do not survive fork */
    fs_prefetch_start();
    fs_notify_start(fuse_get_context()->fuse);
    fs_metrics_start();
    fs_conn_killpriv_v2(fuse_get_context()->fuse); /* before libfuse sends this INIT's reply */
    cfg->attr_timeout = fs_cfg.attr_timeout;
    cfg->entry_timeout = fs_cfg.entry_timeout;
    /* off by default: cp's O_EXCL create looks the name up again whatever
     * the kernel kept; when on, names made behind the kernel's back in views
     * are dropped (notify.c) */
    cfg->negative_timeout = fs_cfg.negative_timeout;
    cfg->hard_remove = 1; /* no .fuse_hidden renames: unlink is a DELETE */
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;  /* keep_cache is decided per open from the version */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->max_readahead = 1 << 20;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
    return NULL;
}

static void fs_destroy(void *data)
{
    fs_prefetch_stop(); /* first: a worker may wait for a queued copy */
    fs_notify_stop();
    fs_batch_stop();
    fs_metrics_stop();
    pthread_mutex_lock(&fs_st.etls.mu);
    fs_free_names(fs_st.etls.names, fs_st.etls.n);
    fs_st.etls.names = NULL;
    fs_st.etls.n = 0;
    pthread_mutex_unlock(&fs_st.etls.mu);
}

const struct fuse_operations fs_ops = {
    .init = fs_init,
    .destroy = fs_destroy,
    .getattr = fs_getattr,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .fsyncdir = fs_fsyncdir,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .create = fs_create,
    .open = fs_open,
    .read = fs_read,
    .read_buf = fs_read_buf,
    .write = fs_write,
    .flush = fs_flush,
    .fsync = fs_fsync,
    .release = fs_release,
    .truncate = fs_truncate,
    .unlink = fs_unlink,
    .rename = fs_rename,
    .utimens = fs_utimens,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .statfs = fs_statfs,
    .copy_file_range = fs_copy_file_range,
    .getxattr = fs_getxattr,
    .listxattr = fs_listxattr,
};
