/*
 * conn.c - one flag of the INIT reply that libfuse 3.14 cannot set:
 * FUSE_HANDLE_KILLPRIV_V2 ("the file system clears set-user-ID, set-group-ID
 * and capabilities on write itself").
 *
 * Without it the kernel asks for security.capability (a GETXATTR round trip)
 * before every write(2) and copy_file_range, to decide whether to clear it:
 * a file written in 128 KiB pieces cost two requests a piece. With it the
 * kernel marks an inode S_NOSEC after its first check and asks no more. The
 * promise is true here: objects carry no mode bits or capabilities to clear
 * (modes are fixed, chmod is ignored, no xattr can be set). The first write
 * to each new inode is still checked: the kernel clears S_NOSEC whenever it
 * refreshes an inode's attributes, which a create does.
 *
 * How: fs_init (the high-level init, which libfuse calls while it builds the
 * INIT reply) swaps the session's I/O for plain read/writev/splice through
 * fuse_session_custom_io, and the first reply written after that, the INIT
 * reply, gets the flag. Every later message passes through unchanged. (A
 * second worker that libfuse started meanwhile may already wait in read() on
 * the same descriptor: plain read either way.)
 */
#include "fs/fs.h"

#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

static int init_sent; /* atomic: the INIT reply went out */

static ssize_t conn_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    if (!__atomic_load_n(&init_sent, __ATOMIC_ACQUIRE) && count == 2 &&
        iov[0].iov_len == sizeof(struct fuse_out_header) && iov[1].iov_len == sizeof(struct fuse_init_out) &&
        ((struct fuse_out_header *)iov[0].iov_base)->error == 0) {
        ((struct fuse_init_out *)iov[1].iov_base)->flags |= FUSE_HANDLE_KILLPRIV_V2;
    }
    __atomic_store_n(&init_sent, 1, __ATOMIC_RELEASE);
    return writev(fd, iov, count);
}

static ssize_t conn_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    return read(fd, buf, len);
}

static ssize_t conn_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len, unsigned int flags,
                           void *userdata)
{
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}

void fs_conn_killpriv_v2(struct fuse *f)
{
    struct fuse_session *se = f ? fuse_get_session(f) : NULL;
    if (!se || fuse_session_fd(se) < 0)
        return;
    static const struct fuse_custom_io io = {
        .writev = conn_writev,
        .read = conn_read,
        .splice_receive = conn_splice,
        .splice_send = conn_splice,
    };
    if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0)
        cmn_warn("etlfs: cannot set FUSE_HANDLE_KILLPRIV_V2: every write asks for security.capability");
}
