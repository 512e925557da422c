/*
 * ws_client.c - dialling a WebSocket: a TCP connection and RFC 6455's
 * HTTP/1.1 Upgrade (a random Sec-WebSocket-Key, the server's 101 with the
 * matching Sec-WebSocket-Accept), then the framed stream (ws.c). Small on
 * purpose: no proxies, no TLS, no extensions, one deadline for all of it.
 */
#include "common/ws.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#define HEAD_MAX 8192 /* the server's 101 and its headers */

/* Waits for events until deadline (0: none); 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline) {
            int64_t left = deadline - cmn_mono_ns();
            if (left <= 0)
                return -ETIMEDOUT;
            ms = (int)((left + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int dial(const char *host, int port, int64_t deadline, int *fd_out)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, ports, &hints, &ai);
    if (g != 0)
        return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    int rc = -ECONNREFUSED;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            rc = -errno;
            close(fd);
            continue;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
            rc = -soerr;
        if (rc) {
            close(fd);
            if (rc == -ETIMEDOUT)
                break;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        *fd_out = fd;
        break;
    }
    freeaddrinfo(ai);
    return rc;
}

/* The value of header name in the response head (malloc'd), or NULL. */
static char *header(char *head, const char *name)
{
    size_t nl = strlen(name);
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            char *v = line + nl + 1;
            v += strspn(v, " \t");
            size_t vl = strcspn(v, "\r\n");
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            return cmn_xstrndup(v, vl);
        }
    }
    return NULL;
}

int cmn_ws_connect(const char *host, int port, const char *path, int64_t deadline_ns, const char *hdr,
                   char **hdr_val, cmn_ws **out, cmn_err *err)
{
    *out = NULL;
    if (hdr_val)
        *hdr_val = NULL;
    int fd = -1;
    int rc = dial(host, port, deadline_ns, &fd);
    if (rc)
        return cmn_err_set(err, -rc, "ws://%s:%d%s: connect: %s", host, port, path,
                           rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
    char where[300], hosthdr[300];
    snprintf(where, sizeof where, "ws://%s:%d%s", host, port, path);
    snprintf(hosthdr, sizeof hosthdr, "%s:%d", host, port);
    return cmn_ws_handshake(fd, hosthdr, where, path, deadline_ns, hdr, hdr_val, out, err);
}

int cmn_ws_handshake(int fd, const char *host, const char *where, const char *path, int64_t deadline_ns,
                     const char *hdr, char **hdr_val, cmn_ws **out, cmn_err *err)
{
    *out = NULL;
    if (hdr_val)
        *hdr_val = NULL;
    int rc = 0;
    unsigned char nonce[16];
    if (getrandom(nonce, sizeof nonce, GRND_NONBLOCK) != sizeof nonce)
        for (size_t i = 0; i < sizeof nonce; i++)
            nonce[i] = (unsigned char)(cmn_mono_ns() >> (i % 8));
    char *key = cmn_base64_encode(nonce, sizeof nonce);
    char want[CMN_WS_ACCEPT_LEN + 1];
    cmn_ws_accept_key(key, want);
    char *req = cmn_xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                              path, host, key);
    free(key);
    char *head = cmn_xmalloc(HEAD_MAX + 1);
    size_t hl = 0;
    char *end = NULL;
    const char *why = NULL;
    for (size_t sent = 0, len = strlen(req); sent < len && !rc;) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            rc = wait_fd(fd, POLLOUT, deadline_ns);
        else if (n < 0 && errno != EINTR)
            rc = -errno;
    }
    while (!rc && !end) {
        if (hl == HEAD_MAX) {
            rc = -EPROTO;
            why = "the answer's head is too long";
            break;
        }
        ssize_t n = recv(fd, head + hl, HEAD_MAX - hl, 0);
        if (n > 0) {
            hl += (size_t)n;
            head[hl] = '\0';
            end = strstr(head, "\r\n\r\n");
        } else if (n == 0) {
            rc = -ECONNRESET;
            why = "closed before answering the upgrade";
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            rc = wait_fd(fd, POLLIN, deadline_ns);
        } else if (errno != EINTR) {
            rc = -errno;
        }
    }
    free(req);
    if (rc) {
        cmn_err_set(err, -rc, "%s: %s", where,
                    why ? why : rc == -ETIMEDOUT ? "no answer to the upgrade in time" : strerror(-rc));
        goto fail;
    }
    size_t head_len = (size_t)(end + 4 - head);
    end[2] = '\0'; /* the head's last line keeps its CRLF for header() */
    int status = 0;
    if (sscanf(head, "HTTP/1.%*1[01] %d", &status) != 1 || status != 101) {
        size_t l = strcspn(head, "\r\n");
        rc = cmn_err_set(err, EPROTO, "%s: answered \"%.*s\" instead of switching to WebSocket", where,
                         (int)(l > 200 ? 200 : l), head);
        goto fail;
    }
    char *upgrade = header(head, "Upgrade");
    char *accept = header(head, "Sec-WebSocket-Accept");
    char *ext = header(head, "Sec-WebSocket-Extensions");
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !accept || strcmp(accept, want) != 0 || ext)
        rc = cmn_err_set(err, EPROTO, "%s: a 101 answer that is not RFC 6455's (%s)", where,
                         !upgrade || strcasecmp(upgrade, "websocket") ? "Upgrade is not websocket"
                         : ext                                         ? "an extension nobody asked for"
                                                                       : "wrong Sec-WebSocket-Accept");
    free(upgrade);
    free(accept);
    free(ext);
    if (rc)
        goto fail;
    if (hdr && hdr_val)
        *hdr_val = header(head, hdr);
    *out = cmn_ws_new(fd, true, head + head_len, hl - head_len);
    free(head);
    return 0;
fail:
    free(head);
    close(fd);
    return rc;
}
