/*
 * test_objmeta.c - the object metadata record (target/objmeta.c): text
 * encoding round trips, anything that is not our record is refused, and the
 * xattr store/load path works for small and large records and for files
 * that never had one. A multipart upload's chunk info takes the "etlfs2"
 * record; records without it stay "etlfs1".
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "tests/unit/check.h"


static tgt_objmeta sample(const char *custom)
{
    tgt_objmeta m = {0};
    m.size = 12345;
    strcpy(m.cksum_type, "xxhash");
    strcpy(m.cksum, "0123456789abcdef");
    m.version = 42;
    m.atime_ns = 1700000000123456789LL;
    m.custom = custom ? strdup(custom) : NULL;
    return m;
}

/* Decodes from an exact-size heap copy, so a read past len is caught by ASan. */
static int decode_exact(const char *text, size_t len, tgt_objmeta *m)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = tgt_objmeta_decode(copy, len, m);
    free(copy);
    return rc;
}

static void same(const tgt_objmeta *a, const tgt_objmeta *b, const char *what)
{
    CHECK(!strcmp(a->cksum_type, b->cksum_type), "%s: cksum_type %s != %s", what, a->cksum_type, b->cksum_type);
    CHECK(!strcmp(a->cksum, b->cksum), "%s: cksum %s != %s", what, a->cksum, b->cksum);
    CHECK(a->version == b->version, "%s: version %lld != %lld", what, (long long)a->version, (long long)b->version);
    CHECK(a->atime_ns == b->atime_ns, "%s: atime %lld != %lld", what, (long long)a->atime_ns, (long long)b->atime_ns);
    bool ca = a->custom && *a->custom, cb = b->custom && *b->custom;
    CHECK(ca == cb && (!ca || !strcmp(a->custom, b->custom)), "%s: custom \"%s\" != \"%s\"", what,
          a->custom ? a->custom : "(null)", b->custom ? b->custom : "(null)");
}

static void test_round_trip(void)
{
    const char *customs[] = {NULL, "{\"k\":\"v\"}", "{\"multi\":\"line\\nvalue\",\n\"x\":1}"};
    for (size_t i = 0; i < sizeof customs / sizeof customs[0]; i++) {
        tgt_objmeta m = sample(customs[i]), d;
        char buf[512];
        int n = tgt_objmeta_encode(&m, buf, sizeof buf);
        CHECK(n > 0 && (size_t)n == strlen(buf), "encode %zu: %d", i, n);
        CHECK(!strncmp(buf, "etlfs1\n", 7), "encode %zu: no magic line: %s", i, buf);
        CHECK(decode_exact(buf, (size_t)n, &d) == 0, "decode %zu of \"%s\"", i, buf);
        same(&m, &d, "round trip");
        tgt_objmeta_free(&d);
        CHECK(d.custom == NULL, "free leaves custom set");
        tgt_objmeta_free(&m);
    }
    /* extremes of the numeric fields */
    tgt_objmeta m = sample(NULL), d;
    m.version = INT64_MAX;
    m.atime_ns = 0;
    char buf[512];
    int n = tgt_objmeta_encode(&m, buf, sizeof buf);
    CHECK(n > 0 && decode_exact(buf, (size_t)n, &d) == 0, "decode extremes");
    same(&m, &d, "extremes");
    tgt_objmeta_free(&d);
}

static void decode_bad(const char *text, size_t len, const char *what);

/* chunk info: etlfs2 only when there is some; both read back */
static void test_chunks(void)
{
    tgt_objmeta m = sample("{\"k\":\"v\"}"), d;
    char buf[512];
    int n = tgt_objmeta_encode(&m, buf, sizeof buf);
    CHECK(n > 0 && !strncmp(buf, "etlfs1\n", 7), "no chunks: not etlfs1: %s", buf);
    CHECK(decode_exact(buf, (size_t)n, &d) == 0 && d.chunks == 0 && d.chunk_max == 0, "etlfs1 reads without chunks");
    tgt_objmeta_free(&d);
    m.chunks = 3;
    m.chunk_max = 5242880;
    n = tgt_objmeta_encode(&m, buf, sizeof buf);
    CHECK(n > 0 && !strncmp(buf, "etlfs2\n", 7), "chunks: not etlfs2: %s", buf);
    CHECK(decode_exact(buf, (size_t)n, &d) == 0, "decode etlfs2: %s", buf);
    same(&m, &d, "chunks round trip");
    CHECK(d.chunks == 3 && d.chunk_max == 5242880, "chunks %lld max %lld", (long long)d.chunks, (long long)d.chunk_max);
    tgt_objmeta_free(&d);
    /* every cut of an etlfs2 record before its custom text is refused */
    for (int cut = 0; cut < n - (int)strlen(m.custom); cut++)
        decode_bad(buf, (size_t)cut, "truncated etlfs2 record");
    tgt_objmeta_free(&m);
}

static void test_encode_bounds(void)
{
    tgt_objmeta m = sample("{\"k\":\"v\"}");
    char buf[512];
    int n = tgt_objmeta_encode(&m, buf, sizeof buf);
    char *small = malloc((size_t)n);
    CHECK(tgt_objmeta_encode(&m, small, (size_t)n) == -ERANGE, "encode into %d bytes (no room for NUL) succeeded", n);
    CHECK(tgt_objmeta_encode(&m, small, 4) == -ERANGE, "encode into 4 bytes succeeded");
    free(small);
    tgt_objmeta_free(&m);
}

/* The record is built by hand; it must be byte for byte what the format
 * string of the format's description gives (records already on disk). */
static void test_encode_exact(void)
{
    const long long ints[] = {0, 1, 9, 10, 42, -1, -1234567, 1700000000123456789LL, 9223372036854775807LL,
                              -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        tgt_objmeta m = sample(i % 2 ? "{\"k\":\"v\"}" : NULL);
        m.version = ints[i];
        m.atime_ns = ints[(i + 3) % (sizeof ints / sizeof *ints)];
        m.chunks = i % 3 ? (int64_t)i : 0;
        m.chunk_max = ints[(i + 5) % (sizeof ints / sizeof *ints)];
        char got[512], want[512];
        int n = tgt_objmeta_encode(&m, got, sizeof got);
        if (m.chunks > 0)
            snprintf(want, sizeof want, "etlfs2\n%s\n%s\n%lld\n%lld\n%lld %lld\n%s", m.cksum_type, m.cksum,
                     (long long)m.version, (long long)m.atime_ns, (long long)m.chunks, (long long)m.chunk_max,
                     m.custom ? m.custom : "");
        else
            snprintf(want, sizeof want, "etlfs1\n%s\n%s\n%lld\n%lld\n%s", m.cksum_type, m.cksum,
                     (long long)m.version, (long long)m.atime_ns, m.custom ? m.custom : "");
        CHECK(n == (int)strlen(want) && !strcmp(got, want), "encode %zu: got \"%s\", want \"%s\"", i, got, want);
        tgt_objmeta_free(&m);
    }
}

static void decode_bad(const char *text, size_t len, const char *what)
{
    tgt_objmeta d;
    int rc = decode_exact(text, len, &d);
    CHECK(rc == -EINVAL, "garbage accepted (%s): \"%.*s\"", what, (int)len, text);
    if (rc == 0)
        tgt_objmeta_free(&d);
}

/* a literal's length without its terminator */
#define DECODE_BAD(lit, what) decode_bad(lit, sizeof(lit) - 1, what)

static void test_garbage(void)
{
    char good[512];
    tgt_objmeta m = sample(NULL);
    int n = tgt_objmeta_encode(&m, good, sizeof good);
    tgt_objmeta_free(&m);

    DECODE_BAD("", "empty");
    DECODE_BAD("etlfs1", "magic only");
    DECODE_BAD("etlfs9\nxxhash\n0123456789abcdef\n1\n2\n", "other version of the format");
    /* etlfs2 needs its chunk line: two numbers, at least one chunk */
    DECODE_BAD("etlfs2\nxxhash\n0123456789abcdef\n1\n2\n", "chunk line missing");
    DECODE_BAD("etlfs2\nxxhash\n0123456789abcdef\n1\n2\n3\n", "chunk line with one number");
    DECODE_BAD("etlfs2\nxxhash\n0123456789abcdef\n1\n2\n0 5\n", "zero chunks");
    DECODE_BAD("etlfs2\nxxhash\n0123456789abcdef\n1\n2\n3 4x\n", "chunk size not a number");
    DECODE_BAD("etlfs2\nxxhash\n0123456789abcdef\n1\n2\n3 -4\n", "negative chunk size");
    DECODE_BAD("ETLFS1\nxxhash\n0123456789abcdef\n1\n2\n", "magic in upper case");
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef\n1\n", "atime line missing");
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef\n1\n2", "atime line unterminated");
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef0\n1\n2\n", "checksum longer than 16 digits");
    DECODE_BAD("etlfs1\nthis-type-name-is-too-long\n0123456789abcdef\n1\n2\n", "checksum type too long");
    DECODE_BAD("\x00\x01\x02\x03\xff\xfe", "binary");
    /* every proper prefix of a valid record (cut before its last newline) is refused */
    for (int cut = 0; cut < n; cut++)
        decode_bad(good, (size_t)cut, "truncated record");
    /* numeric fields must be numbers: a record with words there is not ours */
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef\nabc\n2\n", "version is not a number");
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef\n1\nlater\n", "atime is not a number");
    DECODE_BAD("etlfs1\nxxhash\n0123456789abcdef\n\n2\n", "version is empty");
}

static void test_store_load(void)
{
    char dir[] = "/tmp/test_objmeta.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/obj", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s", path);
    CHECK(write(fd, "hello world", 11) == 11, "write");

    /* a file placed by hand, with no record: described from stat */
    tgt_objmeta d;
    CHECK(tgt_objmeta_load(fd, &d) == 0, "load without xattr");
    CHECK(d.size == 11 && d.version == 1 && !strcmp(d.cksum_type, "none"),
          "no-xattr load: size %lld version %lld type %s", (long long)d.size, (long long)d.version, d.cksum_type);
    tgt_objmeta_free(&d);

    /* small record (fits the first read buffer) */
    tgt_objmeta m = sample("{\"a\":\"b\"}");
    CHECK(tgt_objmeta_store(fd, &m) == 0, "store small");
    CHECK(tgt_objmeta_load(fd, &d) == 0, "load small");
    same(&m, &d, "store/load small");
    CHECK(d.size == 11, "size comes from the file: %lld", (long long)d.size);
    tgt_objmeta_free(&d);
    tgt_objmeta_free(&m);

    /* a large custom record takes the second, larger buffer */
    size_t big = 3000;
    char *custom = malloc(big + 16);
    strcpy(custom, "{\"k\":\"");
    memset(custom + 6, 'v', big);
    strcpy(custom + 6 + big, "\"}");
    m = sample(custom);
    free(custom);
    CHECK(tgt_objmeta_store(fd, &m) == 0, "store large");
    CHECK(tgt_objmeta_load(fd, &d) == 0, "load large");
    same(&m, &d, "store/load large");
    tgt_objmeta_free(&d);
    tgt_objmeta_free(&m);

    /* a foreign value in our attribute name: treated as "no record", not trusted */
    CHECK(fsetxattr(fd, "user.etlfs.meta", "garbage", 7, 0) == 0, "setxattr");
    CHECK(tgt_objmeta_load(fd, &d) == 0, "load garbage xattr");
    CHECK(d.version == 1 && !strcmp(d.cksum_type, "none") && d.custom == NULL,
          "garbage xattr: version %lld type %s", (long long)d.version, d.cksum_type);
    tgt_objmeta_free(&d);

    close(fd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_round_trip();
    test_chunks();
    test_encode_bounds();
    test_encode_exact();
    test_garbage();
    test_store_load();
    return CHECK_RESULT();
}
