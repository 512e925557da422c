/*
 * spool.c - the one place an output of unknown length waits to be served:
 * in memory up to a limit, then in an unnamed file, so a small ETL output
 * costs no file and a large one no memory. The target's inline transforms
 * and the mount's ETL views both keep outputs here.
 */
#include "common/cmn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cmn_spool_init(cmn_spool *s, const char *dir, size_t mem_limit)
{
    cmn_buf_init(&s->mem);
    s->fd = -1;
    s->len = 0;
    s->mem_limit = mem_limit;
    s->dir = dir;
}

void cmn_spool_free(cmn_spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    cmn_buf_free(&s->mem);
    cmn_spool_init(s, s->dir, s->mem_limit);
}

/* An unnamed file in dir: O_TMPFILE, or a named one unlinked at once where
 * the file system lacks it. Gone with its descriptor, even after a crash. */
static int unnamed_file(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd >= 0 ? fd : -errno;
    char tmpl[4200];
    snprintf(tmpl, sizeof tmpl, "%s/.spool-XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(tmpl);
    return fd;
}

int cmn_spool_write(cmn_spool *s, const void *data, size_t len)
{
    if (s->fd < 0 && s->mem.len + len > s->mem_limit) {
        int fd = unnamed_file(s->dir);
        if (fd < 0)
            return fd;
        int rc = cmn_write_all(fd, s->mem.data ? s->mem.data : "", s->mem.len);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        s->fd = fd;
        cmn_buf_free(&s->mem);
    }
    if (s->fd >= 0) {
        int rc = cmn_write_all(s->fd, data, len);
        if (rc < 0)
            return rc;
    } else {
        cmn_buf_append(&s->mem, data, len);
    }
    s->len += (int64_t)len;
    return 0;
}

void cmn_spool_expect(cmn_spool *s, int64_t len)
{
    if (s->fd < 0 && len > 0 && s->mem.len + (uint64_t)len <= s->mem_limit)
        cmn_buf_reserve(&s->mem, (size_t)len);
}

ssize_t cmn_spool_pread(const cmn_spool *s, void *buf, size_t len, int64_t off)
{
    if (off >= s->len)
        return 0;
    if ((int64_t)len > s->len - off)
        len = (size_t)(s->len - off);
    if (s->fd < 0) {
        memcpy(buf, s->mem.data + off, len);
        return (ssize_t)len;
    }
    return cmn_pread_full(s->fd, buf, len, (off_t)off);
}
