/*
 * objmeta.c - an object's metadata in one extended attribute of its file.
 * Text, one field per line, so it is readable with getfattr and versioned by
 * its first line:  "etlfs1\n<cksum type>\n<cksum>\n<version>\n<atime ns>\n<custom JSON>"
 * An object a multipart upload assembled also records its parts (count and
 * largest size), one line more before the custom JSON, under "etlfs2"; every
 * other record stays "etlfs1", so records written before read as they did.
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define META_XATTR "user.etlfs.meta"
#define META_MAGIC "etlfs1"
#define META_MAGIC_CHUNKS "etlfs2" /* with the line "<chunk count> <max chunk size>" */
#define META_MAX 65536

/* The record is built by hand: one is written per stored object, and
 * snprintf's format parsing cost more than the rest of a job's commit. */
typedef struct rec {
    char *out;
    size_t cap, n; /* n: the length the whole would have */
} rec;

static void rec_put(rec *r, const char *s, size_t len)
{
    if (r->n < r->cap) {
        size_t k = len < r->cap - r->n ? len : r->cap - r->n;
        memcpy(r->out + r->n, s, k);
    }
    r->n += len;
}

static void rec_str(rec *r, const char *s) { rec_put(r, s, strlen(s)); }

static void rec_int(rec *r, long long v)
{
    char buf[24], *p = buf + sizeof buf;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    rec_put(r, p, (size_t)(buf + sizeof buf - p));
}

int tgt_objmeta_encode(const tgt_objmeta *m, char *out, size_t outlen)
{
    rec r = {out, outlen, 0};
    rec_str(&r, m->chunks > 0 ? META_MAGIC_CHUNKS "\n" : META_MAGIC "\n");
    rec_str(&r, m->cksum_type);
    rec_put(&r, "\n", 1);
    rec_str(&r, m->cksum);
    rec_put(&r, "\n", 1);
    rec_int(&r, (long long)m->version);
    rec_put(&r, "\n", 1);
    rec_int(&r, (long long)m->atime_ns);
    rec_put(&r, "\n", 1);
    if (m->chunks > 0) {
        rec_int(&r, (long long)m->chunks);
        rec_put(&r, " ", 1);
        rec_int(&r, (long long)m->chunk_max);
        rec_put(&r, "\n", 1);
    }
    if (m->custom)
        rec_str(&r, m->custom);
    if (r.n >= outlen)
        return -ERANGE;
    out[r.n] = '\0';
    return (int)r.n;
}

static const char *next_line(const char *p, const char *end, char *field, size_t flen)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    size_t n = (size_t)(nl - p);
    if (n >= flen)
        return NULL;
    memcpy(field, p, n);
    field[n] = '\0';
    return nl + 1;
}

int tgt_objmeta_decode(const char *text, size_t len, tgt_objmeta *m)
{
    const char *p = text, *end = text + len;
    char magic[16], ver[32], atime[32], chunks[48];
    memset(m, 0, sizeof *m);
    if (!(p = next_line(p, end, magic, sizeof magic)) || (strcmp(magic, META_MAGIC) && strcmp(magic, META_MAGIC_CHUNKS)) ||
        !(p = next_line(p, end, m->cksum_type, sizeof m->cksum_type)) ||
        !(p = next_line(p, end, m->cksum, sizeof m->cksum)) || !(p = next_line(p, end, ver, sizeof ver)) ||
        !(p = next_line(p, end, atime, sizeof atime)))
        return -EINVAL;
    char *e1, *e2;
    m->version = strtoll(ver, &e1, 10);
    m->atime_ns = strtoll(atime, &e2, 10);
    if (e1 == ver || *e1 || e2 == atime || *e2)
        return -EINVAL; /* not a number: not our record */
    if (!strcmp(magic, META_MAGIC_CHUNKS)) {
        long long count, max;
        int used = 0;
        if (!(p = next_line(p, end, chunks, sizeof chunks)) ||
            sscanf(chunks, "%lld %lld%n", &count, &max, &used) != 2 || chunks[used] || count < 1 || max < 0)
            return -EINVAL;
        m->chunks = count;
        m->chunk_max = max;
    }
    if (p < end) {
        m->custom = cmn_xstrndup(p, (size_t)(end - p));
    }
    return 0;
}

int tgt_objmeta_load(int fd, tgt_objmeta *m)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    return tgt_objmeta_load_st(fd, &st, m);
}

int tgt_objmeta_load_st(int fd, const struct stat *stp, tgt_objmeta *m)
{
    char small[512];
    const struct stat st = *stp;
    ssize_t n = fgetxattr(fd, META_XATTR, small, sizeof small);
    int rc;
    if (n < 0 && errno == ERANGE) {
        char *big = cmn_xmalloc(META_MAX);
        n = fgetxattr(fd, META_XATTR, big, META_MAX);
        rc = n < 0 ? -errno : tgt_objmeta_decode(big, (size_t)n, m);
        free(big);
    } else {
        rc = n < 0 ? -errno : tgt_objmeta_decode(small, (size_t)n, m);
    }
    if (rc != 0) {
        /* A file without our metadata (placed by hand): describe what we can. */
        memset(m, 0, sizeof *m);
        strcpy(m->cksum_type, "none");
        m->version = 1;
        m->atime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    }
    m->size = st.st_size;
    return 0;
}

int tgt_objmeta_store(int fd, const tgt_objmeta *m)
{
    char small[512];
    int n = tgt_objmeta_encode(m, small, sizeof small);
    if (n >= 0)
        return fsetxattr(fd, META_XATTR, small, (size_t)n, 0) == 0 ? 0 : -errno;
    char *big = cmn_xmalloc(META_MAX);
    n = tgt_objmeta_encode(m, big, META_MAX);
    int rc = n < 0 ? n : fsetxattr(fd, META_XATTR, big, (size_t)n, 0) == 0 ? 0 : -errno;
    free(big);
    return rc;
}

int64_t tgt_objmeta_version_at(const char *path)
{
    char small[512], *big = NULL;
    ssize_t n = getxattr(path, META_XATTR, small, sizeof small);
    if (n < 0 && errno == ERANGE) {
        big = cmn_xmalloc(META_MAX);
        n = getxattr(path, META_XATTR, big, META_MAX);
    }
    int64_t v = 0;
    if (n < 0) {
        v = errno == ENODATA ? 1 : 0; /* a file without a record counts as version 1, as load describes it */
    } else {
        tgt_objmeta m;
        v = tgt_objmeta_decode(big ? big : small, (size_t)n, &m) == 0 ? m.version : 1;
        tgt_objmeta_free(&m);
    }
    free(big);
    return v;
}

void tgt_objmeta_free(tgt_objmeta *m)
{
    free(m->custom);
    m->custom = NULL;
}
