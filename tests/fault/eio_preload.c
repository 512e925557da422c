/*
 * eio_preload.c - a fault-injecting LD_PRELOAD shim for tests: reads of
 * regular files under a given path fail with EIO, as a failing disk's would.
 * read, pread, readv, preadv, sendfile and copy_file_range are covered (the
 * target reads objects with all of them); sockets, pipes and other files
 * pass through.
 *
 *   ETLFS_EIO_PATH   a path prefix: files whose real path starts with it fail
 *                    (unset: the shim does nothing)
 *   ETLFS_EIO_AFTER  this many matching calls succeed first (default 0)
 *   ETLFS_EIO_FLAG   a file: faults only while it exists (a test turns them
 *                    on and off without restarting the process)
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long calls;

/* Whether this call on fd is to fail: a regular file under the prefix, past
 * the first ETLFS_EIO_AFTER such calls, while the flag file exists. */
static int should_fail(int fd)
{
    const char *prefix = getenv("ETLFS_EIO_PATH");
    if (!prefix || !*prefix)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    if (strncmp(path, prefix, strlen(prefix)) != 0)
        return 0;
    const char *flag = getenv("ETLFS_EIO_FLAG");
    if (flag && *flag && access(flag, F_OK) != 0)
        return 0;
    const char *after = getenv("ETLFS_EIO_AFTER");
    long first_ok = after ? atol(after) : 0;
    return atomic_fetch_add(&calls, 1) >= first_ok;
}

#define REAL(name, ret, ...)                                                  \
    static ret (*real_##name)(__VA_ARGS__);                                   \
    if (!real_##name)                                                         \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

#define FAIL_IF(fd)                                                           \
    do {                                                                      \
        if (should_fail(fd)) {                                                \
            errno = EIO;                                                      \
            return -1;                                                        \
        }                                                                     \
    } while (0)

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(read, ssize_t, int, void *, size_t);
    FAIL_IF(fd);
    return real_read(fd, buf, n);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    REAL(pread, ssize_t, int, void *, size_t, off_t);
    FAIL_IF(fd);
    return real_pread(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
    REAL(pread64, ssize_t, int, void *, size_t, off_t);
    FAIL_IF(fd);
    return real_pread64(fd, buf, n, off);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    REAL(readv, ssize_t, int, const struct iovec *, int);
    FAIL_IF(fd);
    return real_readv(fd, iov, cnt);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(preadv, ssize_t, int, const struct iovec *, int, off_t);
    FAIL_IF(fd);
    return real_preadv(fd, iov, cnt, off);
}

ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    REAL(sendfile, ssize_t, int, int, off_t *, size_t);
    FAIL_IF(in);
    return real_sendfile(out, in, off, n);
}

ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    REAL(sendfile64, ssize_t, int, int, off_t *, size_t);
    FAIL_IF(in);
    return real_sendfile64(out, in, off, n);
}

ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t n, unsigned flags)
{
    REAL(copy_file_range, ssize_t, int, off_t *, int, off_t *, size_t, unsigned);
    FAIL_IF(in);
    return real_copy_file_range(in, inoff, out, outoff, n, flags);
}
