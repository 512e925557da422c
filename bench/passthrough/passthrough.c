/*
 * passthrough.c - the benchmark's FUSE anchor: a trivial read-only libfuse3
 * passthrough of one directory (high-level API, multi-threaded fuse_main,
 * pread per read, libfuse's default timeouts and no caching hints), so a
 * mount's cost is compared with the least any FUSE file system pays.
 * Built by bench/mount.sh: cc passthrough.c $(pkg-config --cflags --libs fuse3)
 * usage: passthrough SRC MOUNTPOINT [-f] [-o opts]
 */
#define FUSE_USE_VERSION 31
#include <fuse3/fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char src[PATH_MAX];

static void real(char *out, const char *path) { snprintf(out, PATH_MAX, "%s%s", src, path); }

static int pt_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    char p[PATH_MAX];
    real(p, path);
    return lstat(p, st) == 0 ? 0 : -errno;
}

static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    char p[PATH_MAX];
    real(p, path);
    DIR *d = opendir(p);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st = {.st_ino = e->d_ino, .st_mode = (mode_t)DTTOIF(e->d_type)};
        if (fill(buf, e->d_name, &st, 0, 0))
            break;
    }
    closedir(d);
    return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi)
{
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    char p[PATH_MAX];
    real(p, path);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    ssize_t n = pread((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int pt_release(const char *path, struct fuse_file_info *fi)
{
    close((int)fi->fh);
    return 0;
}

static const struct fuse_operations ops = {
    .getattr = pt_getattr,
    .readdir = pt_readdir,
    .open = pt_open,
    .read = pt_read,
    .release = pt_release,
};

int main(int argc, char **argv)
{
    if (argc < 3 || !realpath(argv[1], src)) {
        fprintf(stderr, "usage: %s SRC MOUNTPOINT [fuse options]\n", argv[0]);
        return 1;
    }
    argv[1] = argv[0]; /* fuse_main sees: prog MOUNTPOINT [options] */
    return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
