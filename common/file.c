/*
 * file.c - small file-system helpers every program needs.
 */
#include "common/cmn.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmn_mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp)
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int cmn_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t cmn_pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int cmn_read_small_file(const char *path, size_t max, cmn_buf *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && out->len <= max)
        cmn_buf_append(out, chunk, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? -EIO : 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **cmn_dir_names(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return NULL;
    size_t n = 0, cap = 16;
    char **names = cmn_xmalloc(cap * sizeof *names);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n + 1 == cap)
            names = cmn_xrealloc(names, (cap *= 2) * sizeof *names);
        names[n++] = cmn_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    names[n] = NULL;
    return names;
}

void cmn_names_free(char **names)
{
    for (char **p = names; p && *p; p++)
        free(*p);
    free(names);
}
