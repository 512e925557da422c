/*
 * objread.c - opening an object for reading: the one place that turns
 * bucket/name into an open file and its size, for the GET handler, inline
 * transforms and the jobs that read objects.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

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
