/*
 * objread.c - opening an object for reading: the one place that turns
 * bucket/name into an open file and its size, for the GET handler, inline
 * transforms and the jobs that read objects; and reading one back in full
 * to check it against its stored checksum (GET ?validate=true).
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

int tgt_object_open(const tgt_store *s, const char *bck, const char *obj, int *fd, int64_t *size)
{
    char fqn[PATH_MAX];
    if (tgt_store_fqn(s, bck, obj, fqn, sizeof fqn) != 0)
        return -ENAMETOOLONG;
    int f = open(fqn, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return -ENOENT;
    }
    *fd = f;
    *size = st.st_size;
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
