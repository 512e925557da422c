/*
 * ws_unix.c - ws:// over a Unix socket between the target and an ETL it
 * started locally: the same WebSocket stream without the loopback TCP stack
 * under every send and receive (bench/RESULTS.md, "A Unix socket between
 * the target and its ETL"). The ETL's side listens (cmn_ws_listen_unix)
 * and checks who connected (cmn_ws_peer_is); the target's side dials and
 * checks who listens. Both checks because the socket file lives in a
 * folder the ETL owns and other ETLs of the same user may reach.
 */
#include "common/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* sock as an address: itself, or /proc/self/fd/DIR/NAME when too long
 * (*dfd then holds the folder, for the caller to close). */
static int addr_of(const char *sock, struct sockaddr_un *a, int *dfd)
{
    *dfd = -1;
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(sock) < sizeof a->sun_path) {
        memcpy(a->sun_path, sock, strlen(sock));
        return 0;
    }
    char *copy = cmn_xstrdup(sock), *copy2 = cmn_xstrdup(sock);
    *dfd = open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
    int n = *dfd < 0 ? -1 : snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/%s", *dfd, basename(copy2));
    int rc = *dfd < 0 ? -errno : n < 0 || (size_t)n >= sizeof a->sun_path ? -ENAMETOOLONG : 0;
    free(copy);
    free(copy2);
    if (rc && *dfd >= 0) {
        close(*dfd);
        *dfd = -1;
    }
    return rc;
}

bool cmn_ws_peer_is(int fd, pid_t pid)
{
    struct ucred cr;
    socklen_t l = sizeof cr;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0 && cr.pid == pid;
}

int cmn_ws_connect_unix(const char *sock, pid_t peer_pgid, const char *path, int64_t deadline_ns, const char *hdr,
                        char **hdr_val, cmn_ws **out, cmn_err *err)
{
    *out = NULL;
    if (hdr_val)
        *hdr_val = NULL;
    struct sockaddr_un a;
    int dfd, rc = addr_of(sock, &a, &dfd);
    int fd = rc ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!rc && fd < 0)
        rc = -errno;
    /* a Unix connect does not wait: it connects, or says EAGAIN when the
     * listener's queue is full (the caller dials TCP instead) */
    if (!rc && connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        rc = -errno;
    if (dfd >= 0)
        close(dfd);
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (!rc && peer_pgid > 0 &&
        (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || getpgid(cr.pid) != peer_pgid))
        rc = -EPERM;
    if (rc) {
        if (fd >= 0)
            close(fd);
        return cmn_err_set(err, -rc, "ws+unix:%s%s: connect: %s", sock, path,
                           rc == -EPERM ? "the listener is not the ETL's" : strerror(-rc));
    }
    char where[4200];
    snprintf(where, sizeof where, "ws+unix:%s%s", sock, path);
    return cmn_ws_handshake(fd, "localhost", where, path, deadline_ns, hdr, hdr_val, out, err);
}

int cmn_ws_listen_unix(const char *sock, int backlog)
{
    struct sockaddr_un a;
    int dfd, rc = addr_of(sock, &a, &dfd);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        rc = -errno;
    if (!rc && unlink(sock) != 0 && errno != ENOENT)
        rc = -errno;
    /* 0600 from the start: the ETL's user and root only, never a moment open */
    mode_t old = umask(0177);
    if (!rc && bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        rc = -errno;
    umask(old);
    if (!rc && listen(fd, backlog) != 0)
        rc = -errno;
    if (dfd >= 0)
        close(dfd);
    if (rc && fd >= 0)
        close(fd);
    return rc ? rc : fd;
}
