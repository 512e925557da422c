/*
 * objwrite.c - every way an object's file changes: atomic writes (work file,
 * fsync, metadata, rename) and removal (reads: objread.c). Readers that
 * already hold the old file keep reading it; new readers see the new one.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Zeroes all but the path buffers (the last fields): a job opens a writer
 * per object, and 8 KiB of memset was a seventh of its instructions. */
static void writer_reset(tgt_writer *w)
{
    memset(w, 0, offsetof(tgt_writer, tmp));
    w->fd = -1;
    w->tmp[0] = w->fqn[0] = '\0';
}

/* A work file's name: random, without a getrandom(2) per object. Each
 * thread draws a seed once and steps a xorshift64* generator; O_EXCL
 * catches the unlikely repeat, and the folder is emptied at start-up. */
static void work_name(char out[CMN_UUID_LEN + 1])
{
    static _Thread_local uint64_t x;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (!x) {
        char seed[CMN_UUID_LEN + 1];
        cmn_gen_uuid(seed);
        x = XXH64(seed, CMN_UUID_LEN, (uint64_t)cmn_mono_ns()) | 1;
    }
    for (int i = 0; i < CMN_UUID_LEN; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out[i] = alnum[((x * 0x2545F4914F6CDD1DULL) >> 32) % (sizeof alnum - 1)];
    }
    out[CMN_UUID_LEN] = '\0';
}

static int open_work(tgt_writer *w, const tgt_store *s, int mp, const char *path, tgt_batch *b);
static bool batch_hold(tgt_batch *b);
static void batch_unhold(tgt_batch *b, bool unsupported);

int tgt_writer_open(tgt_writer *w, const tgt_store *s, const char *bck, const char *obj)
{
    char fqn[sizeof w->fqn];
    if (tgt_store_fqn(s, bck, obj, fqn, sizeof fqn) != 0) {
        writer_reset(w);
        return -ENAMETOOLONG;
    }
    return tgt_writer_open_at(w, s, tgt_store_mpath_of(s, bck, obj), fqn);
}

int tgt_writer_open_at(tgt_writer *w, const tgt_store *s, int mp, const char *path)
{
    return open_work(w, s, mp, path, NULL);
}

/* A work file in MP/.etlfs/tmp: named (a crash leaves it there, removed at
 * start-up), or, for a group that has file descriptors to spare, unnamed
 * (O_TMPFILE): it needs no directory entry made, looked up and removed
 * (three searches of a directory block and the work folder's lock, a
 * seventh of a job's system time), and the group links it to its name
 * after the sync. tmp gets a fresh name either way; an unnamed file's is
 * used only if its object's name is taken (publish_fd). */
static int open_work(tgt_writer *w, const tgt_store *s, int mp, const char *path, tgt_batch *b)
{
    writer_reset(w);
    size_t len = strlen(path);
    if (len >= sizeof w->fqn)
        return -ENAMETOOLONG;
    memcpy(w->fqn, path, len + 1);
    size_t ml = strlen(s->mpaths[mp]); /* bounded by the store's paths, which fit PATH_MAX with room */
    if (ml + sizeof "/.etlfs/tmp/" + CMN_UUID_LEN > sizeof w->tmp)
        return -ENAMETOOLONG;
    memcpy(w->tmp, s->mpaths[mp], ml);
    memcpy(w->tmp + ml, "/.etlfs/tmp/", sizeof "/.etlfs/tmp/" - 1);
    char *id = w->tmp + ml + sizeof "/.etlfs/tmp/" - 1;
    if (b && batch_hold(b)) {
        id[-1] = '\0'; /* the folder */
        w->fd = open(w->tmp, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0644);
        id[-1] = '/';
        if (w->fd >= 0) {
            w->unnamed = true;
            work_name(id);
        } else {
            batch_unhold(b, errno != EMFILE && errno != ENFILE && errno != ENOSPC && errno != EDQUOT);
        }
    }
    for (int attempt = 0; w->fd < 0 && attempt < 3; attempt++) {
        work_name(id);
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd >= 0 || errno != EEXIST)
            break;
    }
    if (w->fd < 0) {
        w->tmp[0] = '\0';
        return -errno;
    }
    w->batch = b;
    w->xx = XXH64_createState();
    XXH64_reset(w->xx, 0);
    return 0;
}

int tgt_writer_open_batch(tgt_writer *w, const tgt_store *s, const char *bck, const char *obj, tgt_batch *b)
{
    char fqn[sizeof w->fqn];
    if (tgt_store_fqn(s, bck, obj, fqn, sizeof fqn) != 0) {
        writer_reset(w);
        return -ENAMETOOLONG;
    }
    return open_work(w, s, tgt_store_mpath_of(s, bck, obj), fqn, b);
}

int tgt_store_check_space(const tgt_store *s, const char *bck, const char *obj, int64_t size, cmn_err *err)
{
    struct statvfs vfs;
    const char *mp = s->mpaths[tgt_store_mpath_of(s, bck, obj)];
    if (statvfs(mp, &vfs) != 0)
        return 0; /* cannot tell: the writes will */
    int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (size > avail)
        return cmn_err_set(err, ENOSPC, "ais://%s/%s: %lld bytes do not fit: %lld bytes free on mountpath %s", bck,
                           obj, (long long)size, (long long)avail, mp);
    return 0;
}

int tgt_writer_write(tgt_writer *w, const void *data, size_t len)
{
    int rc = cmn_write_all(w->fd, data, len);
    if (rc)
        return rc;
    XXH64_update(w->xx, data, len);
    w->bytes += (int64_t)len;
    return 0;
}

bool tgt_writer_matches(const tgt_writer *w, const char *want, char got[17])
{
    XXH64_state_t *copy = XXH64_createState(); /* the writer's own goes on to commit */
    XXH64_copyState(copy, w->xx);
    cmn_xxhash_hex(XXH64_digest(copy), got);
    XXH64_freeState(copy);
    return strcmp(got, want) == 0;
}

void tgt_writer_abort(tgt_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd); /* an unnamed work file goes with it */
        if (w->unnamed)
            batch_unhold(w->batch, false);
        else if (*w->tmp)
            unlink(w->tmp);
        w->fd = -1;
    }
    if (w->xx)
        XXH64_freeState(w->xx);
    w->xx = NULL;
    free(w->custom);
    w->custom = NULL;
}

/* The folders above fqn, for a name whose rename or link said ENOENT. */
static int make_parent(const char *fqn)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", fqn);
    *strrchr(dir, '/') = '\0';
    if (cmn_mkdir_p(dir) != 0)
        return errno == EEXIST || errno == ENOTDIR ? -ENOTDIR : -errno;
    return 0;
}

/* The parent directories of a nested name are created on demand; a
 * concurrent delete may remove an empty one between mkdir and rename, so
 * the pair is retried. */
static int publish(const char *tmp, const char *fqn)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (rename(tmp, fqn) == 0)
            return 0;
        if (errno != ENOENT)
            return -errno;
        int rc = make_parent(fqn);
        if (rc)
            return rc;
    }
    return -EAGAIN;
}

/* The work file's record says version 1, written before anyone looked:
 * an object holds the name, so ours is its next version. Rewritten before
 * the rename: a journal that has the rename has this too. */
static int bump_version_fd(int fd, const char *fqn)
{
    tgt_objmeta m;
    int rc = tgt_objmeta_load(fd, &m);
    if (!rc) {
        m.version = tgt_objmeta_version_at(fqn) + 1;
        rc = tgt_objmeta_store(fd, &m);
    }
    tgt_objmeta_free(&m);
    return rc;
}

static int bump_version(const char *tmp, const char *fqn)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = bump_version_fd(fd, fqn);
    close(fd);
    return rc;
}

/* A group's output whose version was not looked up at commit: most outputs
 * of a job are new names, and renaming without replacing finds that out
 * for free, where a lookup per output cost a getxattr. An existing name
 * (or a file system without RENAME_NOREPLACE) pays the lookup here. */
static int publish_new(const char *tmp, const char *fqn)
{
    int e = EAGAIN;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, fqn, RENAME_NOREPLACE) == 0)
            return 0;
        if ((e = errno) != ENOENT)
            break;
        int rc = make_parent(fqn);
        if (rc)
            return rc;
        e = EAGAIN;
    }
    if (e != EEXIST && e != EINVAL) /* EINVAL: a file system without the flag */
        return -e;
    int rc = bump_version(tmp, fqn);
    return rc ? rc : publish(tmp, fqn);
}

/* Links an unnamed file to a name: by its descriptor where the kernel lets
 * us (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, and says ENOENT without it),
 * else through /proc, whose path walk cost a quarter of the link. *empty:
 * 0 not known yet, 1 allowed, -1 refused (only the flush links: no race). */
static int link_fd(int fd, const char *to, int *empty)
{
    if (*empty >= 0) {
        if (linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH) == 0) {
            *empty = 1;
            return 0;
        }
        if (errno != ENOENT || *empty == 1)
            return -errno;
    }
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) != 0)
        return -errno; /* ENOENT here: to's folder is missing */
    if (*empty == 0)
        *empty = -1;
    return 0;
}

/* A group's unnamed work file (fd) gets its name: a link that, like
 * publish_new's rename, finds a taken name for free. A taken name is
 * replaced through tmp (the version looked up first when it was not at
 * commit), as a named work file's. */
static int publish_fd(int fd, const char *tmp, const char *fqn, bool fresh, int *empty)
{
    int e = EAGAIN;
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((e = -link_fd(fd, fqn, empty)) == 0)
            return 0;
        if (e != ENOENT)
            break;
        int rc = make_parent(fqn);
        if (rc)
            return rc;
        e = EAGAIN;
    }
    if (e != EEXIST)
        return -e;
    int rc = fresh ? bump_version_fd(fd, fqn) : 0;
    if (rc)
        return rc;
    if ((rc = link_fd(fd, tmp, empty)) != 0)
        return rc;
    if ((rc = publish(tmp, fqn)) != 0)
        unlink(tmp);
    return rc;
}

/* A group is flushed once BATCH_MAX outputs are pending (and at a job's
 * end). The flush runs on the group's own thread, so no worker or ETL
 * reader stops for the sync: meanwhile the next outputs pend, and a flush
 * takes all that pended, so a slow sync makes the next group larger (fewer
 * syncs per output) instead of stalling the job. BATCH_CAP bounds the
 * pending list: past it a commit waits for the flush. */
#define BATCH_MAX 256
#define BATCH_CAP 4096

/* Work files wait in pending until a flush takes them all; the flush syncs
 * and renames outside the lock, so the workers go on writing the next
 * batch meanwhile. One flush at a time. */
/* An output in a group: named (or linked) after the group's sync. */
typedef struct {
    char *paths; /* the work file's path, '\0', the object's */
    bool fresh;  /* its version is 1 unless the name is taken (publish_new) */
    int fd;      /* an unnamed work file's descriptor, or -1 */
} batch_ent;

struct tgt_batch {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* a flush ended */
    pthread_cond_t work; /* to the flusher: a group is ready, or stop */
    const tgt_store *store;
    bool flushing;
    bool renamed; /* a flush renamed outputs that no sync has covered yet (mu) */
    bool started, stop; /* the flusher thread runs; it is to leave */
    pthread_t flusher;
    int failed; /* outputs a flush could not publish, not yet reported */
    int n;
    batch_ent *ent;       /* BATCH_CAP outputs waiting for the group's sync */
    batch_ent *spare_ent; /* the other list, swapped in while a flush runs */
    /* unnamed work files open (each a descriptor until its flush) and their
     * bound: a quarter of RLIMIT_NOFILE, at most what two lists hold;
     * 0 where /proc (the link's way) or O_TMPFILE is missing */
    int held, hold_max;
    int empty_path; /* link_fd's: whether AT_EMPTY_PATH links (flush only) */
};

/* Whether a writer of b may open an unnamed work file (counted until
 * batch_unhold); unsupported: the file system cannot, so none is tried again. */
static bool batch_hold(tgt_batch *b)
{
    if (__atomic_add_fetch(&b->held, 1, __ATOMIC_RELAXED) <= __atomic_load_n(&b->hold_max, __ATOMIC_RELAXED))
        return true;
    __atomic_sub_fetch(&b->held, 1, __ATOMIC_RELAXED);
    return false;
}

static void batch_unhold(tgt_batch *b, bool unsupported)
{
    if (unsupported)
        __atomic_store_n(&b->hold_max, 0, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&b->held, 1, __ATOMIC_RELAXED);
}

tgt_batch *tgt_batch_new(const tgt_store *s)
{
    tgt_batch *b = cmn_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->idle, NULL);
    pthread_cond_init(&b->work, NULL);
    b->store = s;
    b->ent = cmn_xmalloc(BATCH_CAP * sizeof *b->ent);
    b->spare_ent = cmn_xmalloc(BATCH_CAP * sizeof *b->spare_ent);
    struct rlimit rl;
    if (access("/proc/self/fd", X_OK) == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        b->hold_max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 4 > 2 * BATCH_CAP ? 2 * BATCH_CAP
                                                                                      : (int)(rl.rlim_cur / 4);
    return b;
}

/* Syncs each file system of the mountpaths once (syncfs). */
static void sync_mpaths(const tgt_store *s)
{
    dev_t synced[TGT_MAX_MPATHS];
    int nsynced = 0;
    for (int i = 0; i < s->nmpaths; i++) {
        int fd = open(s->mpaths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        bool seen = fstat(fd, &st) != 0;
        for (int j = 0; !seen && j < nsynced; j++)
            seen = synced[j] == st.st_dev;
        if (!seen) {
            syncfs(fd);
            synced[nsynced++] = st.st_dev;
        }
        close(fd);
    }
}

/* Syncs the work files' bytes, then names them. */
static int flush_list(tgt_batch *b, int n, const batch_ent *ent)
{
    if (n)
        sync_mpaths(b->store);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const batch_ent *e = &ent[i];
        const char *tmp = e->paths, *fqn = tmp + strlen(tmp) + 1;
        int rc = e->fd >= 0 ? publish_fd(e->fd, tmp, fqn, e->fresh, &b->empty_path)
                 : e->fresh ? publish_new(tmp, fqn)
                            : publish(tmp, fqn);
        if (rc) {
            cmn_error("cannot publish %s: %s", fqn, strerror(-rc));
            if (e->fd < 0)
                unlink(tmp);
            failed++;
        }
        if (e->fd >= 0) { /* named now, or gone with its descriptor */
            close(e->fd);
            batch_unhold(b, false);
        }
        free(e->paths);
    }
    return failed;
}

/* Takes the pending list and flushes it; called with mu held and no flush
 * running, returns with mu held. */
static void flush_locked(tgt_batch *b)
{
    batch_ent *ent = b->ent;
    int n = b->n;
    b->ent = b->spare_ent;
    b->n = 0;
    b->flushing = true;
    pthread_mutex_unlock(&b->mu);
    int failed = flush_list(b, n, ent);
    pthread_mutex_lock(&b->mu);
    b->spare_ent = ent;
    b->renamed |= n > 0;
    b->failed += failed;
    b->flushing = false;
    pthread_cond_broadcast(&b->idle);
    if (b->n >= BATCH_MAX)
        pthread_cond_signal(&b->work); /* what pended meanwhile is a group already */
}

static void *flusher_main(void *p)
{
    tgt_batch *b = p;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        if (b->n >= BATCH_MAX && !b->flushing)
            flush_locked(b);
        else
            pthread_cond_wait(&b->work, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static int batch_add(tgt_batch *b, const char *tmp, const char *fqn, bool fresh, int fd)
{
    size_t tl = strlen(tmp) + 1, fl = strlen(fqn) + 1;
    char *e = cmn_xmalloc(tl + fl); /* one allocation for both paths */
    memcpy(e, tmp, tl);
    memcpy(e + tl, fqn, fl);
    pthread_mutex_lock(&b->mu);
    while (b->n == BATCH_CAP) {
        if (b->flushing)
            pthread_cond_wait(&b->idle, &b->mu);
        else
            flush_locked(b);
    }
    b->ent[b->n++] = (batch_ent){.paths = e, .fresh = fresh, .fd = fd};
    if (b->n >= BATCH_MAX && !b->flushing) {
        if (!b->started)
            b->started = pthread_create(&b->flusher, NULL, flusher_main, b) == 0;
        if (b->started)
            pthread_cond_signal(&b->work);
        else
            flush_locked(b); /* no thread: the committer flushes, as it waits anyway */
    }
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int tgt_batch_flush(tgt_batch *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->flushing)
        pthread_cond_wait(&b->idle, &b->mu);
    flush_locked(b);
    int failed = b->failed;
    b->failed = 0;
    pthread_mutex_unlock(&b->mu);
    return failed;
}

void tgt_batch_sync(tgt_batch *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->flushing)
        pthread_cond_wait(&b->idle, &b->mu);
    bool renamed = b->renamed;
    b->renamed = false;
    pthread_mutex_unlock(&b->mu);
    if (renamed)
        sync_mpaths(b->store);
}

void tgt_batch_free(tgt_batch *b)
{
    if (!b)
        return;
    tgt_batch_flush(b);
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->mu);
    if (b->started)
        pthread_join(b->flusher, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->idle);
    pthread_cond_destroy(&b->work);
    free(b->ent);
    free(b->spare_ent);
    free(b);
}

int tgt_writer_commit(tgt_writer *w, tgt_objmeta *out)
{
    tgt_objmeta m = {0};
    m.size = w->bytes;
    strcpy(m.cksum_type, "xxhash");
    if (*w->cksum)
        memcpy(m.cksum, w->cksum, sizeof m.cksum);
    else
        cmn_xxhash_hex(XXH64_digest(w->xx), m.cksum);
    /* a group's output learns at its rename whether the name was taken
     * (publish_new); a caller that wants the record back gets it looked up */
    bool fresh = w->batch && w->version <= 0 && !out;
    m.version = w->version > 0 ? w->version : fresh ? 1 : tgt_objmeta_version_at(w->fqn) + 1;
    m.atime_ns = cmn_now_ns();
    m.custom = w->custom;
    m.chunks = w->chunks;
    m.chunk_max = w->chunk_max;
    int rc = 0;
    if (w->batch) {
        if (tgt_objmeta_store(w->fd, &m) != 0)
            rc = -errno;
        else if ((rc = batch_add(w->batch, w->tmp, w->fqn, fresh, w->unnamed ? w->fd : -1)) == 0) {
            if (w->unnamed)
                w->fd = -1; /* the batch owns the work file now: its descriptor */
            else
                w->tmp[0] = '\0'; /* ... its name */
        }
    } else if (fsync(w->fd) != 0 || tgt_objmeta_store(w->fd, &m) != 0) {
        rc = -errno;
    }
    if (rc == 0 && !w->batch)
        rc = publish(w->tmp, w->fqn);
    if (rc == 0) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        if (out) {
            *out = m;
            out->custom = m.custom ? cmn_xstrdup(m.custom) : NULL;
        }
    }
    tgt_writer_abort(w); /* frees state; unlinks the work file only if not published */
    return rc;
}

/* Copies with copy_file_range(2): the bytes stay in the kernel (or are
 * shared, on file systems that reflink). The source's stored checksum is
 * the copy's; only a source without one is read to compute it. */
int tgt_store_copy_file(const tgt_store *s, const char *src_fqn, const char *bck, const char *obj,
                        tgt_objmeta *out, tgt_batch *batch)
{
    int in = open(src_fqn, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    tgt_objmeta src;
    tgt_objmeta_load(in, &src);
    tgt_writer w;
    int rc = tgt_writer_open_batch(&w, s, bck, obj, batch);
    if (rc) {
        close(in);
        tgt_objmeta_free(&src);
        return rc;
    }
    if (!strcmp(src.cksum_type, "xxhash")) {
        memcpy(w.cksum, src.cksum, sizeof w.cksum);
        loff_t off_in = 0;
        while (off_in < src.size) {
            ssize_t n = copy_file_range(in, &off_in, w.fd, NULL, (size_t)(src.size - off_in), 0);
            if (n <= 0) {
                rc = n == 0 ? -EIO : -errno;
                break;
            }
        }
        w.bytes = off_in;
    } else {
        char *buf = cmn_xmalloc(1 << 20);
        ssize_t n = 0;
        while (buf && (n = read(in, buf, 1 << 20)) > 0)
            if ((rc = tgt_writer_write(&w, buf, (size_t)n)))
                break;
        if (!buf || n < 0)
            rc = -EIO;
        free(buf);
    }
    tgt_objmeta_free(&src);
    close(in);
    if (rc) {
        tgt_writer_abort(&w);
        return rc;
    }
    return tgt_writer_commit(&w, out);
}

int tgt_object_remove(const tgt_store *s, const char *bck, const char *obj)
{
    char fqn[PATH_MAX], root[PATH_MAX];
    if (tgt_store_fqn(s, bck, obj, fqn, sizeof fqn) != 0)
        return -ENAMETOOLONG;
    struct stat st;
    if (lstat(fqn, &st) != 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -ENOENT;
    if (unlink(fqn) != 0)
        return -errno;
    /* drop the now-empty virtual directories up to the bucket's root */
    tgt_store_bdir(s, tgt_store_mpath_of(s, bck, obj), bck, root, sizeof root);
    char *slash;
    while ((slash = strrchr(fqn, '/')) && (size_t)(slash - fqn) > strlen(root)) {
        *slash = '\0';
        if (rmdir(fqn) != 0)
            break;
    }
    return 0;
}
