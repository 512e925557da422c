/*
 * vsplice.c - a view's output in memory handed to libfuse without a copy.
 * Given a buffer, the high-level API frees it after the reply (so it would
 * need a copy of ours) and writes it into its pipe before splicing that to
 * the kernel (a second copy). Instead the calling thread vmsplices the
 * output's pages into a pipe of its own, which libfuse takes as a file:
 * pipe to pipe moves page references, and the kernel copies the bytes once,
 * into the reader's pages. The pages must not change until that copy: a
 * loaded output is never written again, and its handle outlives its READs.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

/* the pipe's capacity, less a page: the largest read handed this way; a READ
 * of the kernel's 1 MiB at most from an unaligned buffer spans 257 pages */
#define VS_PIPE (2 << 20)

typedef struct vs_pipe {
    int fd[2];
    size_t cap; /* bytes it takes from any buffer (one page left for an unaligned start) */
} vs_pipe;

static pthread_key_t vs_key;
static pthread_once_t vs_once = PTHREAD_ONCE_INIT;

static void pipe_free(void *p)
{
    vs_pipe *v = p;
    close(v->fd[0]);
    close(v->fd[1]);
    free(v);
}

static void key_make(void) { pthread_key_create(&vs_key, pipe_free); }

/* The calling thread's pipe, empty, or NULL. */
static vs_pipe *thread_pipe(void)
{
    pthread_once(&vs_once, key_make);
    vs_pipe *v = pthread_getspecific(vs_key);
    if (v) {
        int left = 0; /* a reply that failed midway leaves bytes behind: never send them */
        if (ioctl(v->fd[0], FIONREAD, &left) == 0 && left == 0)
            return v;
        pthread_setspecific(vs_key, NULL);
        pipe_free(v);
    }
    v = cmn_xmalloc(sizeof *v);
    if (pipe2(v->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(v);
        return NULL;
    }
    int cap = fcntl(v->fd[1], F_SETPIPE_SZ, VS_PIPE);
    if (cap < 0) /* above pipe-max-size without root */
        cap = fcntl(v->fd[1], F_SETPIPE_SZ, VS_PIPE / 2);
    if (cap < 0)
        cap = fcntl(v->fd[1], F_GETPIPE_SZ);
    long page = sysconf(_SC_PAGESIZE);
    v->cap = cap > page ? (size_t)(cap - page) : 0;
    pthread_setspecific(vs_key, v);
    return v;
}

int fs_vsplice(const char *mem, size_t len, struct fuse_bufvec *bv)
{
    if (len < 2 * (size_t)sysconf(_SC_PAGESIZE))
        return -1; /* libfuse writes a short reply from memory without its pipe: a buffer is cheaper */
    vs_pipe *v = thread_pipe();
    if (!v || len > v->cap)
        return -1;
    struct iovec iov = {.iov_base = (void *)mem, .iov_len = len};
    while (iov.iov_len) {
        ssize_t n = vmsplice(v->fd[1], &iov, 1, SPLICE_F_NONBLOCK);
        if (n <= 0) { /* the pipe holds part of it: a new one next time */
            pthread_setspecific(vs_key, NULL);
            pipe_free(v);
            return -1;
        }
        iov.iov_base = (char *)iov.iov_base + n;
        iov.iov_len -= (size_t)n;
    }
    *bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(len);
    bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_RETRY;
    bv->buf[0].fd = v->fd[0];
    return 0;
}
