/*
 * test_ws.c - WebSocket connections: RFC 6455's example Sec-WebSocket-Accept,
 * the Upgrade handshake against a small server (bytes that arrive with the
 * 101 kept, a wrong accept or a non-101 refused), messages round trip
 * through libwslay's framing (text, empty, larger than every buffer, from a
 * file), pings answered on the way, and a close, a silent peer or a closed
 * port ending in the errors callers act on; full duplex: one thread
 * receiving while others send, in order, and a shutdown waking a receiver;
 * a receive that never waits (cmn_ws_recv_some) stops mid-header and
 * mid-payload and goes on from there, answering a ping on the way.
 */
#include "common/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "tests/unit/check.h"

#define BIG (300 * 1024 + 17)

/* Echoes every message with its opcode until the connection ends; the text
 * "bye" closes it from this side. */
static void *echo(void *arg)
{
    cmn_ws *ws = arg;
    cmn_buf b;
    cmn_buf_init(&b);
    for (int op; cmn_ws_recv_buf(ws, &op, &b, 1 << 20) == 0;) {
        if (op == CMN_WS_TEXT && b.len == 3 && !memcmp(b.data, "bye", 3))
            break;
        if (cmn_ws_send(ws, op, b.data, b.len) || cmn_ws_flush(ws))
            break;
    }
    cmn_buf_free(&b);
    cmn_ws_free(ws);
    return NULL;
}

static void round_trip(cmn_ws *c, int op, const void *data, size_t len, const char *what)
{
    cmn_buf got;
    cmn_buf_init(&got);
    int gop = 0;
    CHECK(cmn_ws_send(c, op, data, len) == 0, "%s: send", what);
    int rc = cmn_ws_recv_buf(c, &gop, &got, 1 << 20);
    CHECK(rc == 0 && gop == op && got.len == len && (len == 0 || !memcmp(got.data, data, len)),
          "%s: rc %d op %d len %zu (want %zu): %s", what, rc, gop, got.len, len, cmn_ws_why(c));
    cmn_buf_free(&got);
}

static void test_accept_key(void)
{
    char out[CMN_WS_ACCEPT_LEN + 1];
    cmn_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455, section 1.3 */
    CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "accept key %s", out);
}

static void test_framing(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    cmn_ws *c = cmn_ws_new(sv[0], true, NULL, 0);
    pthread_t th;
    pthread_create(&th, NULL, echo, cmn_ws_new(sv[1], false, NULL, 0));
    unsigned char *big = cmn_xmalloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i * 31 + (i >> 9));
    round_trip(c, CMN_WS_TEXT, "hello", 5, "text");
    round_trip(c, CMN_WS_BINARY, "", 0, "empty");
    round_trip(c, CMN_WS_BINARY, big, 125, "125 bytes (7-bit length)");
    round_trip(c, CMN_WS_BINARY, big, 65535, "64 KiB - 1 (16-bit length)");
    round_trip(c, CMN_WS_BINARY, big, BIG, "300 KiB (64-bit length)");

    /* two messages queued, one flush: both arrive, in order */
    cmn_buf got;
    cmn_buf_init(&got);
    int op;
    CHECK(cmn_ws_send(c, CMN_WS_BINARY, "one", 3) == 0 && cmn_ws_send(c, CMN_WS_TEXT, "two", 3) == 0, "queue");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 100) == 0 && op == CMN_WS_BINARY && got.len == 3 &&
              !memcmp(got.data, "one", 3), "first of two");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 100) == 0 && op == CMN_WS_TEXT && got.len == 3 &&
              !memcmp(got.data, "two", 3), "second of two");

    /* from a file, and a file shorter than promised */
    char path[] = "/tmp/test_ws.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && cmn_write_all(fd, big, BIG) == 0, "temp file");
    unlink(path);
    int rerr = -1;
    CHECK(cmn_ws_send_fd(c, CMN_WS_BINARY, fd, BIG, &rerr) == 0 && rerr == 0, "send_fd");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 1 << 20) == 0 && got.len == BIG && !memcmp(got.data, big, BIG),
          "send_fd echo: %zu bytes", got.len);
    /* a message over the receiver's bound */
    CHECK(cmn_ws_send(c, CMN_WS_BINARY, big, 1000) == 0, "send 1000");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 999) == -EMSGSIZE && !cmn_ws_usable(c), "1000 bytes into 999");
    cmn_ws_free(c);
    pthread_join(th, NULL);

    /* a file that ends early: the message is cut, the connection unusable */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    c = cmn_ws_new(sv[0], true, NULL, 0);
    CHECK(ftruncate(fd, 1000) == 0, "truncate");
    CHECK(cmn_ws_send_fd(c, CMN_WS_BINARY, fd, 2000, &rerr) == -EIO && rerr == 0 && !cmn_ws_usable(c),
          "short file");
    cmn_ws_free(c);
    close(sv[1]);
    close(fd);

    /* the peer closes: -ECONNRESET; a silent peer: -ETIMEDOUT */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    c = cmn_ws_new(sv[0], true, NULL, 0);
    pthread_create(&th, NULL, echo, cmn_ws_new(sv[1], false, NULL, 0));
    CHECK(cmn_ws_send(c, CMN_WS_TEXT, "bye", 3) == 0, "bye");
    int rc = cmn_ws_recv_buf(c, &op, &got, 100);
    CHECK(rc == -ECONNRESET && strstr(cmn_ws_why(c), "1000"), "after close: %d %s", rc, cmn_ws_why(c));
    cmn_ws_free(c);
    pthread_join(th, NULL);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    c = cmn_ws_new(sv[0], true, NULL, 0);
    cmn_ws_set_deadline(c, cmn_mono_ns() + 50 * 1000000LL);
    rc = cmn_ws_recv_buf(c, &op, &got, 100);
    CHECK(rc == -ETIMEDOUT && !cmn_ws_usable(c), "silent peer: %d", rc);
    cmn_ws_free(c);
    close(sv[1]);

    /* a masked frame from a server is a protocol error */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    c = cmn_ws_new(sv[0], true, NULL, 0);
    static const unsigned char masked[] = {0x82, 0x81, 1, 2, 3, 4, 'x' ^ 1};
    CHECK(write(sv[1], masked, sizeof masked) == sizeof masked, "write");
    rc = cmn_ws_recv_buf(c, &op, &got, 100);
    CHECK(rc == -EPROTO, "masked from a server: %d", rc);
    cmn_ws_free(c);
    close(sv[1]);
    cmn_buf_free(&got);
    free(big);
}

/* ---- the handshake against a server written here */
enum mode { GOOD, BAD_ACCEPT, NOT_FOUND };
struct srv {
    int lfd;
    enum mode mode;
};

static void *serve_one(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char head[4096];
    size_t hl = 0;
    while (hl < sizeof head - 1) {
        ssize_t n = read(fd, head + hl, sizeof head - 1 - hl);
        if (n <= 0)
            break;
        hl += (size_t)n;
        head[hl] = '\0';
        if (strstr(head, "\r\n\r\n"))
            break;
    }
    head[hl] = '\0';
    char key[64] = "";
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    if (k)
        sscanf(k + 19, "%63[^\r]", key);
    char acc[CMN_WS_ACCEPT_LEN + 1];
    cmn_ws_accept_key(s->mode == BAD_ACCEPT ? "not-the-key" : key, acc);
    cmn_buf out;
    cmn_buf_init(&out);
    if (s->mode == NOT_FOUND)
        cmn_buf_printf(&out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    else
        cmn_buf_printf(&out, "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: %s\r\nEtlfs-Worker: 3\r\n\r\n", acc);
    /* a ping and a message in the same write as the 101 */
    static const unsigned char early[] = {0x89, 0x02, 'h', 'i', 0x82, 0x03, 'a', 'b', 'c'};
    if (s->mode == GOOD)
        cmn_buf_append(&out, early, sizeof early);
    cmn_write_all(fd, out.data, out.len);
    cmn_buf_free(&out);
    if (s->mode == GOOD)
        echo(cmn_ws_new(fd, false, NULL, 0));
    else
        close(fd);
    return NULL;
}

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    listen(fd, 4);
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_handshake(void)
{
    for (enum mode m = GOOD; m <= NOT_FOUND; m++) {
        int port;
        struct srv s = {listener(&port), m};
        pthread_t th;
        pthread_create(&th, NULL, serve_one, &s);
        cmn_ws *c = NULL;
        cmn_err err = {0};
        char *worker = NULL;
        int rc = cmn_ws_connect("127.0.0.1", port, "/ws", cmn_mono_ns() + 5000 * 1000000LL, "etlfs-worker", &worker,
                                &c, &err);
        if (m == GOOD) {
            CHECK(rc == 0 && c, "connect: %d %s", rc, err.msg);
            CHECK(worker && strcmp(worker, "3") == 0, "the 101's header asked for: %s", worker ? worker : "(none)");
            if (c) {
                cmn_buf got;
                cmn_buf_init(&got);
                int op;
                rc = cmn_ws_recv_buf(c, &op, &got, 100);
                CHECK(rc == 0 && op == CMN_WS_BINARY && got.len == 3 && !memcmp(got.data, "abc", 3),
                      "the message sent with the 101: %d %s", rc, cmn_ws_why(c));
                cmn_buf_free(&got);
                round_trip(c, CMN_WS_BINARY, "after the ping", 14, "handshake echo");
                cmn_ws_free(c);
            }
        } else {
            CHECK(rc == -EPROTO && !c && !worker, "mode %d: %d", m, rc);
            CHECK(strstr(err.msg, m == NOT_FOUND ? "404" : "Sec-WebSocket-Accept") && strstr(err.msg, "/ws"),
                  "mode %d: %s", m, err.msg);
        }
        free(worker);
        pthread_join(th, NULL);
        close(s.lfd);
    }
    /* nobody listening */
    int port;
    int lfd = listener(&port);
    close(lfd);
    cmn_ws *c = NULL;
    cmn_err err = {0};
    int rc = cmn_ws_connect("127.0.0.1", port, "/ws", cmn_mono_ns() + 5000 * 1000000LL, NULL, NULL, &c, &err);
    CHECK(rc == -ECONNREFUSED && !c && strstr(err.msg, "connect"), "closed port: %d %s", rc, err.msg);
}

/* ---- ws:// over a Unix socket (ws_unix.c): a path too long for a socket
 * address, the file's mode, the listener's process group checked */
static void test_unix(void)
{
    signal(SIGPIPE, SIG_IGN); /* the refused round: the server answers a closed socket */
    char dir[] = "/tmp/etlfs-ws-unix-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char sub[300], sock[400];
    snprintf(sub, sizeof sub, "%s/%0120d", dir, 0); /* the path alone is longer than sun_path */
    CHECK(mkdir(sub, 0700) == 0, "mkdir");
    snprintf(sock, sizeof sock, "%s/etlfs.sock", sub);
    cmn_ws *c = NULL;
    cmn_err err = {0};
    int rc = cmn_ws_connect_unix(sock, 0, "/ws", cmn_mono_ns() + 5000 * 1000000LL, NULL, NULL, &c, &err);
    CHECK(rc == -ENOENT && !c && strstr(err.msg, "connect"), "nobody listening: %d %s", rc, err.msg);
    int lfd = cmn_ws_listen_unix(sock, 4);
    CHECK(lfd >= 0, "listen: %d", lfd);
    struct stat st;
    CHECK(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "the socket file: %o",
          (unsigned)st.st_mode);
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK); /* serve_one accepts blocking */
    for (int round = 0; round < 2; round++) {
        struct srv s = {lfd, GOOD};
        pthread_t th;
        pthread_create(&th, NULL, serve_one, &s);
        char *worker = NULL;
        pid_t want = round == 0 ? getpgid(0) : 1; /* ours, then init's: not the listener's */
        rc = cmn_ws_connect_unix(sock, want, "/ws", cmn_mono_ns() + 5000 * 1000000LL, "etlfs-worker", &worker, &c,
                                 &err);
        if (round == 0) {
            CHECK(rc == 0 && c && worker && !strcmp(worker, "3"), "connect: %d %s", rc, err.msg);
            if (c) {
                cmn_buf got;
                cmn_buf_init(&got);
                int op;
                rc = cmn_ws_recv_buf(c, &op, &got, 100);
                CHECK(rc == 0 && got.len == 3, "the message sent with the 101: %d", rc);
                cmn_buf_free(&got);
                round_trip(c, CMN_WS_BINARY, "over a unix socket", 18, "unix echo");
                cmn_ws_free(c);
            }
        } else {
            CHECK(rc == -EPERM && !c && strstr(err.msg, "not the ETL's"), "another group's listener: %d %s", rc,
                  err.msg);
        }
        free(worker);
        pthread_join(th, NULL);
    }
    close(lfd);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    CHECK(cmn_ws_peer_is(sv[0], getpid()) && !cmn_ws_peer_is(sv[0], getpid() + 1), "peer credentials");
    close(sv[0]);
    close(sv[1]);
    unlink(sock);
    rmdir(sub);
    rmdir(dir);
}

/* ---- full duplex: senders under the send side, one receiver meanwhile */
static void *shutdown_later(void *arg)
{
    usleep(100 * 1000);
    cmn_ws_shutdown(arg, "shut by the test");
    return NULL;
}

#define DUPLEX_N 400

typedef struct duplex {
    cmn_ws *c;
    int next; /* the next message number to send (under the send side) */
} duplex;

static void *duplex_sender(void *arg)
{
    duplex *d = arg;
    for (;;) {
        cmn_ws_send_lock(d->c);
        int i = d->next++;
        int rc = 0;
        if (i < DUPLEX_N) {
            char msg[64];
            size_t len = (size_t)snprintf(msg, sizeof msg, "message %d", i);
            rc = cmn_ws_send(d->c, CMN_WS_BINARY, msg, len);
            if (!rc)
                rc = cmn_ws_flush(d->c);
        }
        cmn_ws_send_unlock(d->c);
        if (i >= DUPLEX_N || rc)
            return NULL;
    }
}

static void test_duplex(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    duplex d = {cmn_ws_new(sv[0], true, NULL, 0), 0};
    pthread_t th, s1, s2;
    pthread_create(&th, NULL, echo, cmn_ws_new(sv[1], false, NULL, 0));
    cmn_ws_set_recv_deadline(d.c, cmn_mono_ns() + 20 * 1000000000LL);
    cmn_ws_set_send_deadline(d.c, cmn_mono_ns() + 20 * 1000000000LL);
    pthread_create(&s1, NULL, duplex_sender, &d);
    pthread_create(&s2, NULL, duplex_sender, &d);
    cmn_buf got;
    cmn_buf_init(&got);
    int ok = 0;
    for (int i = 0, op; i < DUPLEX_N; i++) {
        char want[64];
        snprintf(want, sizeof want, "message %d", i);
        if (cmn_ws_recv_buf(d.c, &op, &got, 100) != 0 || got.len != strlen(want) || memcmp(got.data, want, got.len))
            break;
        ok++;
    }
    CHECK(ok == DUPLEX_N, "duplex: %d of %d echoes in order (%s)", ok, DUPLEX_N, cmn_ws_why(d.c));
    pthread_join(s1, NULL);
    pthread_join(s2, NULL);

    /* a receiver waiting for an answer that will not come is woken by a
     * shutdown from another thread */
    cmn_ws_set_recv_deadline(d.c, cmn_mono_ns() + 20 * 1000000000LL);
    int64_t t0 = cmn_mono_ns();
    pthread_t sh;
    pthread_create(&sh, NULL, shutdown_later, d.c);
    int op;
    int rc = cmn_ws_recv_buf(d.c, &op, &got, 100);
    pthread_join(sh, NULL);
    CHECK(rc == -ECONNRESET && !cmn_ws_usable(d.c) && cmn_mono_ns() - t0 < 10 * 1000000000LL,
          "shutdown wakes the receiver: %d %s", rc, cmn_ws_why(d.c));
    cmn_buf_free(&got);
    cmn_ws_free(d.c);
    pthread_join(th, NULL);
}

/* A receiver's answers to messages that arrived together stay queued until
 * it reads the socket again, and then leave together; cmn_ws_wait_input
 * sees input on the socket and nothing else. */
static void test_answers_together(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    cmn_ws *c = cmn_ws_new(sv[0], true, NULL, 0), *s = cmn_ws_new(sv[1], false, NULL, 0);
    cmn_buf got;
    cmn_buf_init(&got);
    int op;
    CHECK(cmn_ws_wait_input(c, 0) == 0, "no input yet");
    CHECK(cmn_ws_send(c, CMN_WS_BINARY, "q1", 2) == 0 && cmn_ws_send(c, CMN_WS_BINARY, "q2", 2) == 0 &&
              cmn_ws_flush(c) == 0,
          "two questions, one write");
    CHECK(cmn_ws_wait_input(s, 1000) == 1, "the server sees them");
    CHECK(cmn_ws_recv_buf(s, &op, &got, 100) == 0 && got.len == 2 && !memcmp(got.data, "q1", 2), "q1");
    CHECK(cmn_ws_send(s, CMN_WS_BINARY, "a1", 2) == 0, "a1 queued");
    CHECK(cmn_ws_recv_buf(s, &op, &got, 100) == 0 && got.len == 2 && !memcmp(got.data, "q2", 2), "q2");
    CHECK(cmn_ws_send(s, CMN_WS_BINARY, "a2", 2) == 0, "a2 queued");
    CHECK(cmn_ws_wait_input(c, 0) == 0, "q2 came with q1: no answer has left yet");
    cmn_ws_set_deadline(s, cmn_mono_ns() + 20 * 1000000LL);
    CHECK(cmn_ws_recv_buf(s, &op, &got, 100) == -ETIMEDOUT, "the server waits for more (and flushes first)");
    CHECK(cmn_ws_wait_input(c, 1000) == 1, "the answers left");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 100) == 0 && got.len == 2 && !memcmp(got.data, "a1", 2), "a1");
    CHECK(cmn_ws_recv_buf(c, &op, &got, 100) == 0 && got.len == 2 && !memcmp(got.data, "a2", 2), "a2");
    cmn_buf_free(&got);
    cmn_ws_free(s);
    cmn_ws_free(c);
}

struct collect {
    cmn_buf *b;
    int op;
};

static int collect_begin(void *ctx, int op, int64_t len)
{
    (void)len;
    ((struct collect *)ctx)->op = op;
    return 0;
}

static int collect_data(void *ctx, const void *buf, size_t len)
{
    cmn_buf_append(((struct collect *)ctx)->b, buf, len);
    return 0;
}

static void *send_big(void *arg)
{
    cmn_ws *s = arg;
    unsigned char *big = cmn_xmalloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i * 7);
    cmn_ws_send(s, CMN_WS_BINARY, big, BIG);
    cmn_ws_flush(s);
    free(big);
    return NULL;
}

static void test_recv_some(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    cmn_ws *c = cmn_ws_new(sv[0], true, NULL, 0);
    cmn_buf got;
    cmn_buf_init(&got);
    struct collect col = {&got, 0};
    cmn_ws_reader r = {&col, collect_begin, collect_data};
    /* a server's frame, a byte at a time: nothing whole until the last */
    static const unsigned char hello[] = {0x82, 0x05, 'h', 'e', 'l', 'l', 'o'};
    int eagain = 0;
    for (size_t i = 0; i < sizeof hello; i++) {
        CHECK(write(sv[1], hello + i, 1) == 1, "write");
        int rc = cmn_ws_recv_some(c, &r);
        if (rc == -EAGAIN) /* the byte was read with the one before it: no new readiness yet */
            rc = cmn_ws_recv_some(c, &r);
        cmn_ws_readable(c); /* as a loop does when the fd is readable again */
        if (i + 1 < sizeof hello)
            eagain += rc == -EAGAIN;
        else
            CHECK(rc == 0, "the last byte completes the message: %d", rc);
    }
    CHECK(eagain == (int)sizeof hello - 1, "-EAGAIN after each byte before the last: %d", eagain);
    CHECK(col.op == CMN_WS_BINARY && got.len == 5 && !memcmp(got.data, "hello", 5), "hello whole");
    CHECK(cmn_ws_recv_some(c, &r) == -EAGAIN, "nothing more");
    /* a ping before a message: answered, and the message comes whole */
    static const unsigned char ping_msg[] = {0x89, 0x02, 'p', 'i', 0x81, 0x02, 'o', 'k'};
    CHECK(write(sv[1], ping_msg, sizeof ping_msg) == (ssize_t)sizeof ping_msg, "write");
    cmn_ws_readable(c);
    cmn_buf_reset(&got);
    CHECK(cmn_ws_recv_some(c, &r) == 0 && col.op == CMN_WS_TEXT && got.len == 2 && !memcmp(got.data, "ok", 2),
          "the message after a ping");
    unsigned char pong[16];
    CHECK(read(sv[1], pong, sizeof pong) >= 2 && pong[0] == 0x8a, "the pong went out");
    /* a message larger than the socket holds: many partial reads, one whole */
    cmn_ws *s = cmn_ws_new(sv[1], false, NULL, 0);
    pthread_t th;
    pthread_create(&th, NULL, send_big, s);
    cmn_buf_reset(&got);
    int rc, parts = 0;
    for (int i = 0; i < 100000 && (rc = cmn_ws_recv_some(c, &r)) == -EAGAIN; i++) {
        parts++;
        struct pollfd p = {.fd = cmn_ws_fd(c), .events = POLLIN};
        if (poll(&p, 1, 1000) == 1)
            cmn_ws_readable(c);
    }
    pthread_join(th, NULL);
    int ok = got.len == BIG;
    for (size_t i = 0; ok && i < BIG; i++)
        ok = (unsigned char)got.data[i] == (unsigned char)(i * 7);
    CHECK(rc == 0 && ok, "300 KiB whole after %d partial reads: rc %d, %zu bytes", parts, rc, got.len);
    CHECK(parts > 0, "it stopped mid-message at least once");
    cmn_buf_free(&got);
    cmn_ws_free(s);
    cmn_ws_free(c);
}

int main(void)
{
    test_accept_key();
    test_framing();
    test_handshake();
    test_unix();
    test_duplex();
    test_answers_together();
    test_recv_some();
    return CHECK_RESULT();
}
