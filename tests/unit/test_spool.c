/*
 * test_spool.c - the output spool: bytes stay in memory up to the limit,
 * then move to an unnamed file with nothing lost or reordered, reads at any
 * offset see exactly what was written, and free leaves it reusable.
 */
#include "common/cmn.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/unit/check.h"

static int files_in(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void check_reads(const cmn_spool *s, const unsigned char *want, size_t len)
{
    unsigned char buf[300];
    for (size_t off = 0; off <= len; off += 97) {
        ssize_t n = cmn_spool_pread(s, buf, sizeof buf, (int64_t)off);
        size_t expect = len - off < sizeof buf ? len - off : sizeof buf;
        CHECK(n == (ssize_t)expect && !memcmp(buf, want + off, expect), "pread at %zu: %zd bytes", off, n);
    }
    CHECK(cmn_spool_pread(s, buf, sizeof buf, (int64_t)len + 5) == 0, "read past the end is not 0");
}

int main(void)
{
    char dir[] = "/tmp/test_spool.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);

    cmn_spool s;
    cmn_spool_init(&s, dir, 256);
    CHECK(cmn_spool_write(&s, data, 200) == 0 && s.fd < 0, "200 bytes left memory");
    check_reads(&s, data, 200);
    CHECK(cmn_spool_write(&s, data + 200, 800) == 0 && s.fd >= 0, "1000 bytes stayed in memory");
    CHECK(s.len == 1000 && s.mem.len == 0, "len %lld, mem %zu", (long long)s.len, s.mem.len);
    check_reads(&s, data, sizeof data);
    CHECK(files_in(dir) == 0, "the spill file has a name in %s", dir);

    cmn_spool_free(&s);
    CHECK(s.fd < 0 && s.len == 0, "free left state");
    CHECK(cmn_spool_write(&s, "abc", 3) == 0 && s.len == 3 && s.fd < 0, "reuse after free");
    cmn_spool_free(&s);

    cmn_spool_init(&s, "/nonexistent/dir", 4);
    CHECK(cmn_spool_write(&s, "abc", 3) == 0, "small write needs no file");
    CHECK(cmn_spool_write(&s, "defgh", 5) < 0, "a spill into a missing dir succeeded");
    cmn_spool_free(&s);
    rmdir(dir);
    return CHECK_RESULT();
}
