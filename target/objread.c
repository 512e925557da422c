/*
 * objread.c - opening an object for reading: the one place that turns
 * bucket/name into an open file and its size, for the GET handler, inline
 * transforms and the jobs that read objects; and reading one back in full
 * to check it against its stored checksum (GET ?validate=true). GET and
 * HEAD take the metadata with the open, from a small cache when the file has
 * not changed since it was last read.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static int open_st(const tgt_store *s, const char *bck, const char *obj, int *fd, struct stat *st)
{
    char fqn[PATH_MAX];
    if (tgt_store_fqn(s, bck, obj, fqn, sizeof fqn) != 0)
        return -ENAMETOOLONG;
    int f = open(fqn, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    if (fstat(f, st) != 0 || !S_ISREG(st->st_mode)) {
        close(f);
        return -ENOENT;
    }
    *fd = f;
    return 0;
}

int tgt_object_stat(const char *fqn, int64_t *size)
{
    struct stat st;
    if (stat(fqn, &st) != 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    *size = st.st_size;
    return 0;
}

int tgt_object_open(const tgt_store *s, const char *bck, const char *obj, int *fd, int64_t *size)
{
    struct stat st;
    int rc = open_st(s, bck, obj, fd, &st);
    if (rc == 0)
        *size = st.st_size;
    return rc;
}

/* The metadata of objects read before, so that a GET of an unchanged object
 * reads no xattr. A slot is keyed by the file's device, inode and ctime: every
 * change of the xattr or the bytes moves the ctime, and a new object is a new
 * file (objwrite.c renames over). File times come from a coarse clock, so a
 * change within the same tick as the one cached would keep the ctime: a file
 * whose ctime is less than META_SETTLED_NS old is never cached (git's "racy
 * clean" rule). Metadata with custom pairs is not cached (unbounded size).
 * Fixed size: META_SLOTS slots of ~100 bytes, direct-mapped by inode. */
#define META_SLOTS 4096
#define META_LOCKS 64
#define META_SETTLED_NS 1000000000LL

typedef struct meta_slot {
    dev_t dev;
    ino_t ino;
    struct timespec ctime;
    off_t size;
    tgt_objmeta m; /* custom always NULL */
} meta_slot;

static meta_slot meta_slots[META_SLOTS];
static pthread_mutex_t meta_locks[META_LOCKS] = {[0 ... META_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

static bool same_file(const meta_slot *e, const struct stat *st)
{
    return e->ino == st->st_ino && e->dev == st->st_dev && e->size == st->st_size &&
           e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static bool meta_cached(const struct stat *st, tgt_objmeta *m)
{
    size_t i = (size_t)st->st_ino % META_SLOTS;
    pthread_mutex_t *mu = &meta_locks[i % META_LOCKS];
    pthread_mutex_lock(mu);
    bool hit = meta_slots[i].ino != 0 && same_file(&meta_slots[i], st);
    if (hit)
        *m = meta_slots[i].m;
    pthread_mutex_unlock(mu);
    return hit;
}

static void meta_remember(const struct stat *st, const tgt_objmeta *m)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age = (int64_t)(now.tv_sec - st->st_ctim.tv_sec) * 1000000000LL + (now.tv_nsec - st->st_ctim.tv_nsec);
    if (m->custom || age < META_SETTLED_NS || st->st_ino == 0)
        return;
    size_t i = (size_t)st->st_ino % META_SLOTS;
    pthread_mutex_t *mu = &meta_locks[i % META_LOCKS];
    pthread_mutex_lock(mu);
    meta_slots[i] = (meta_slot){.dev = st->st_dev, .ino = st->st_ino, .ctime = st->st_ctim, .size = st->st_size, .m = *m};
    pthread_mutex_unlock(mu);
}

int tgt_object_open_meta(const tgt_store *s, const char *bck, const char *obj, int *fd, struct stat *st,
                         tgt_objmeta *m)
{
    int rc = open_st(s, bck, obj, fd, st);
    if (rc != 0)
        return rc;
    if (meta_cached(st, m))
        return 0;
    tgt_objmeta_load_st(*fd, st, m);
    meta_remember(st, m);
    return 0;
}

int tgt_object_verify(int fd, int64_t size, const tgt_objmeta *m, const char *bck, const char *obj, cmn_err *err)
{
    if (strcmp(m->cksum_type, "xxhash") != 0 || !m->cksum[0])
        return 0;
    enum { CHUNK = 1 << 20 };
    char *buf = cmn_xmalloc(CHUNK);
    XXH64_state_t *xx = XXH64_createState();
    XXH64_reset(xx, 0);
    int rc = 0;
    for (int64_t off = 0; off < size;) {
        ssize_t n = pread(fd, buf, CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            rc = cmn_err_set(err, EIO, "ais://%s/%s: cannot read at offset %lld: %s", bck, obj, (long long)off,
                             n < 0 ? strerror(e) : "the file is shorter than its size");
            break;
        }
        XXH64_update(xx, buf, (size_t)n);
        off += n;
    }
    if (rc == 0) {
        char got[17];
        cmn_xxhash_hex(XXH64_digest(xx), got);
        if (strcmp(got, m->cksum) != 0)
            rc = cmn_err_set(err, EUCLEAN, "ais://%s/%s: BAD DATA CHECKSUM: xxhash(%s != %s)", bck, obj, got,
                             m->cksum);
    }
    XXH64_freeState(xx);
    free(buf);
    return rc;
}
