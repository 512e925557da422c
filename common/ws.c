/*
 * ws.c - WebSocket messages over a non-blocking socket (see ws.h): libwslay's
 * frame layer parses and builds frames; this file feeds it through its own
 * buffers (wslay reads and masks 4 KiB at a time, one system call each
 * without them), waits with poll() until the deadline, answers pings and
 * turns a close frame or a broken socket into a sticky error.
 *
 * Full duplex: wslay keeps its input and output state apart, so one thread
 * may send (holding the send side) while another receives. Each side has its
 * own deadline; a ping that arrives while a sender holds the output is
 * answered by the next sender (never mid-frame).
 */
#include "common/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#define IN_SIZE (64 * 1024)
#define OUT_SIZE (64 * 1024)
#define CTRL_MAX 125 /* RFC 6455: a control frame's payload */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct cmn_ws {
    int fd;
    bool client;
    int err;          /* sticky (atomic): positive errno once the connection failed */
    char why[200];    /* written once, before err */
    pthread_mutex_t emu;  /* the first failure */
    pthread_mutex_t smu;  /* the send side: out, the wslay output state, pong */
    int64_t sdeadline, rdeadline; /* mono ns per side, 0: none */
    unsigned char pong[CTRL_MAX]; /* a ping's payload waiting for the send side */
    int pong_len;     /* -1: none; pong and pong_len under emu */
    wslay_frame_context_ptr fr;
    unsigned char *in;
    size_t in_off, in_len;
    unsigned char *out;
    size_t out_len;
    uint64_t rng;     /* mask keys (xorshift64*, seeded from getrandom) */
    /* the receive side's place in a message, kept across calls so that a
     * receive that must not wait (cmn_ws_recv_some) stops mid-frame and
     * goes on at the next readiness */
    struct {
        bool in_msg;     /* a data message has begun */
        bool frame;      /* inside a frame (some of its payload seen) */
        uint64_t frame_off;
        int frame_op;
        bool frame_fin;
        unsigned char ctrl[CTRL_MAX];
        size_t ctrl_len;
    } rx;
    bool nowait;      /* the receiver returns at EAGAIN instead of polling */
    bool blocked;     /* ... and it did */
    bool drained;     /* a short read emptied the socket: nowait reads no more until cmn_ws_readable */
};

void cmn_ws_accept_key(const char *key, char out[CMN_WS_ACCEPT_LEN + 1])
{
    char *s = cmn_xasprintf("%s%s", key, WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
    free(s);
    EVP_EncodeBlock((unsigned char *)out, md, (int)n); /* 20 bytes: 28 characters and a NUL */
}

static int error(const cmn_ws *ws)
{
    return __atomic_load_n(&ws->err, __ATOMIC_ACQUIRE);
}

/* Records the first failure; later ones keep its words. */
static int fail(cmn_ws *ws, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cmn_ws *ws, int code, const char *fmt, ...)
{
    pthread_mutex_lock(&ws->emu);
    if (!__atomic_load_n(&ws->err, __ATOMIC_ACQUIRE)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ws->why, sizeof ws->why, fmt, ap);
        va_end(ap);
        __atomic_store_n(&ws->err, code, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ws->emu);
    return -error(ws);
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(cmn_ws *ws, short events)
{
    int64_t deadline = events == POLLOUT ? ws->sdeadline : ws->rdeadline;
    for (;;) {
        int ms = -1;
        if (error(ws))
            return -error(ws); /* the other side failed (cmn_ws_shutdown) */
        if (deadline) {
            int64_t left = deadline - cmn_mono_ns();
            if (left <= 0)
                return fail(ws, ETIMEDOUT, "no answer in time");
            ms = (int)((left + 999999) / 1000000);
        }
        struct pollfd p = {.fd = ws->fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return fail(ws, errno, "poll: %s", strerror(errno));
    }
}

/* Writes the whole output buffer, or data directly when given. */
static int write_all(cmn_ws *ws, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(ws->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(ws, POLLOUT))
                return -error(ws);
        } else if (n < 0 && errno != EINTR) {
            return fail(ws, errno == EPIPE ? EPIPE : ECONNRESET, "send: %s", strerror(errno));
        }
    }
    return 0;
}

int cmn_ws_flush(cmn_ws *ws)
{
    if (error(ws))
        return -error(ws);
    int rc = write_all(ws, ws->out, ws->out_len);
    ws->out_len = 0;
    return rc;
}

/* wslay's output: into our buffer, which goes out when full or at a flush. */
static ssize_t on_send(const uint8_t *data, size_t len, int flags, void *user)
{
    cmn_ws *ws = user;
    if (error(ws))
        return -1;
    if (ws->out_len + len > OUT_SIZE && cmn_ws_flush(ws))
        return -1;
    if (len >= OUT_SIZE)
        return write_all(ws, data, len) ? -1 : (ssize_t)len;
    memcpy(ws->out + ws->out_len, data, len);
    ws->out_len += len;
    return (ssize_t)len;
}

/* What this thread queued goes out before it may wait for input (a
 * concurrent sender flushes its own): so answers to messages that arrived
 * together leave together, in one write. */
static int flush_own(cmn_ws *ws)
{
    if (pthread_mutex_trylock(&ws->smu) != 0)
        return 0;
    int rc = ws->out_len ? cmn_ws_flush(ws) : 0;
    pthread_mutex_unlock(&ws->smu);
    return rc;
}

/* wslay's input: from our buffer, refilled by one recv of up to IN_SIZE. */
static ssize_t on_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    cmn_ws *ws = user;
    if (error(ws))
        return -1;
    while (ws->in_off == ws->in_len) {
        if (flush_own(ws))
            return -1;
        if (ws->nowait && ws->drained) { /* a recv now would find nothing: the loop says when */
            ws->blocked = true;
            return -1;
        }
        ssize_t n = recv(ws->fd, ws->in, IN_SIZE, 0);
        if (n > 0) {
            ws->in_off = 0;
            ws->in_len = (size_t)n;
            ws->drained = n < IN_SIZE;
        } else if (n == 0) {
            fail(ws, ECONNRESET, "the peer closed the connection");
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (ws->nowait) {
                ws->blocked = true;
                return -1; /* wslay's WANT_READ: its state is kept */
            }
            if (wait_fd(ws, POLLIN))
                return -1;
        } else if (errno != EINTR) {
            fail(ws, ECONNRESET, "recv: %s", strerror(errno));
            return -1;
        }
    }
    size_t n = ws->in_len - ws->in_off < len ? ws->in_len - ws->in_off : len;
    memcpy(buf, ws->in + ws->in_off, n);
    ws->in_off += n;
    return (ssize_t)n;
}

static int on_genmask(uint8_t *buf, size_t len, void *user)
{
    cmn_ws *ws = user;
    for (size_t i = 0; i < len; i++) {
        ws->rng ^= ws->rng >> 12;
        ws->rng ^= ws->rng << 25;
        ws->rng ^= ws->rng >> 27;
        buf[i] = (uint8_t)((ws->rng * UINT64_C(2685821657736338717)) >> 56);
    }
    return 0;
}

cmn_ws *cmn_ws_new(int fd, bool client, const void *pre, size_t prelen)
{
    cmn_ws *ws = cmn_xcalloc(1, sizeof *ws);
    ws->fd = fd;
    ws->client = client;
    ws->pong_len = -1;
    pthread_mutex_init(&ws->emu, NULL);
    pthread_mutex_init(&ws->smu, NULL);
    ws->in = cmn_xmalloc(prelen > IN_SIZE ? prelen : IN_SIZE);
    ws->out = cmn_xmalloc(OUT_SIZE);
    if (prelen) {
        memcpy(ws->in, pre, prelen);
        ws->in_len = prelen;
    }
    if (getrandom(&ws->rng, sizeof ws->rng, GRND_NONBLOCK) != sizeof ws->rng)
        ws->rng = (uint64_t)cmn_mono_ns() ^ (uint64_t)(uintptr_t)ws;
    ws->rng |= 1;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct wslay_frame_callbacks cb = {on_send, on_recv, on_genmask};
    if (wslay_frame_context_init(&ws->fr, &cb, ws) != 0) {
        fprintf(stderr, "etlfs: out of memory (wslay)\n");
        abort();
    }
    return ws;
}

void cmn_ws_set_deadline(cmn_ws *ws, int64_t deadline_ns)
{
    ws->sdeadline = ws->rdeadline = deadline_ns;
}

void cmn_ws_set_send_deadline(cmn_ws *ws, int64_t deadline_ns)
{
    ws->sdeadline = deadline_ns;
}

void cmn_ws_set_recv_deadline(cmn_ws *ws, int64_t deadline_ns)
{
    ws->rdeadline = deadline_ns;
}

bool cmn_ws_usable(const cmn_ws *ws)
{
    return error(ws) == 0;
}

int cmn_ws_wait_input(cmn_ws *ws, int ms)
{
    if (error(ws))
        return -error(ws);
    struct pollfd p = {.fd = ws->fd, .events = POLLIN};
    int n = poll(&p, 1, ms);
    if (n < 0 && errno != EINTR)
        return fail(ws, errno, "poll: %s", strerror(errno));
    return n > 0;
}

void cmn_ws_shutdown(cmn_ws *ws, const char *why)
{
    char copy[sizeof ws->why]; /* why may be cmn_ws_why(ws) */
    snprintf(copy, sizeof copy, "%s", why);
    fail(ws, ECONNRESET, "%s", copy);
    shutdown(ws->fd, SHUT_RDWR); /* wakes the other side from poll */
}

static int send_piece(cmn_ws *ws, int opcode, uint64_t total, const void *data, size_t len);

/* A pong owed (the caller holds smu): it goes before the next message. */
static int send_pong(cmn_ws *ws)
{
    unsigned char p[CTRL_MAX];
    pthread_mutex_lock(&ws->emu);
    int n = ws->pong_len;
    if (n > 0)
        memcpy(p, ws->pong, (size_t)n);
    ws->pong_len = -1;
    pthread_mutex_unlock(&ws->emu);
    return n < 0 ? 0 : send_piece(ws, WSLAY_PONG, (uint64_t)n, p, (size_t)n);
}

static void owe_pong(cmn_ws *ws, const unsigned char *p, size_t len)
{
    pthread_mutex_lock(&ws->emu);
    memcpy(ws->pong, p, len);
    ws->pong_len = (int)len;
    pthread_mutex_unlock(&ws->emu);
}

void cmn_ws_send_lock(cmn_ws *ws)
{
    pthread_mutex_lock(&ws->smu);
    send_pong(ws);
}

bool cmn_ws_send_trylock(cmn_ws *ws)
{
    if (pthread_mutex_trylock(&ws->smu) != 0)
        return false;
    send_pong(ws);
    return true;
}

void cmn_ws_send_unlock(cmn_ws *ws)
{
    pthread_mutex_unlock(&ws->smu);
}

const char *cmn_ws_why(const cmn_ws *ws)
{
    return ws->why;
}

/* One frame's payload, in pieces: the first call builds the header from
 * total, each call passes len more bytes (all of them: our sender takes
 * everything or fails). */
static int send_piece(cmn_ws *ws, int opcode, uint64_t total, const void *data, size_t len)
{
    struct wslay_frame_iocb io = {
        .fin = 1, .opcode = (uint8_t)opcode, .payload_length = total, .mask = ws->client,
        .data = data, .data_length = len,
    };
    ssize_t n = wslay_frame_send(ws->fr, &io);
    if (error(ws))
        return -error(ws);
    if (n < 0 || (size_t)n != len)
        return fail(ws, EPROTO, "cannot frame a message (wslay %zd)", n);
    return 0;
}

int cmn_ws_send(cmn_ws *ws, int opcode, const void *data, size_t len)
{
    if (error(ws))
        return -error(ws);
    return send_piece(ws, opcode, len, data, len);
}

int cmn_ws_send_fd(cmn_ws *ws, int opcode, int fd, int64_t len, int *read_errno)
{
    *read_errno = 0;
    if (error(ws))
        return -error(ws);
    if (len == 0)
        return send_piece(ws, opcode, 0, NULL, 0);
    unsigned char *buf = cmn_xmalloc(OUT_SIZE);
    int rc = 0;
    for (int64_t off = 0; off < len && rc == 0;) {
        size_t want = len - off < OUT_SIZE ? (size_t)(len - off) : OUT_SIZE;
        ssize_t n = cmn_pread_full(fd, buf, want, off);
        if (n <= 0 || (size_t)n < want) {
            /* the frame's header promised len bytes: the stream is cut */
            *read_errno = n < 0 ? (int)-n : 0;
            fail(ws, EIO, "the source ended after %lld of %lld bytes", (long long)(off + (n > 0 ? n : 0)),
                 (long long)len);
            rc = -EIO;
            break;
        }
        rc = send_piece(ws, opcode, (uint64_t)len, buf, (size_t)n);
        off += n;
    }
    free(buf);
    return rc;
}

/* A control frame whole: ping (answered with a pong), pong, close. */
static int control(cmn_ws *ws, int opcode, const unsigned char *p, size_t len)
{
    if (opcode == WSLAY_PING) {
        /* now if the send side is free (always, used by one thread), else
         * by the sender that holds it, before its next message */
        owe_pong(ws, p, len);
        if (pthread_mutex_trylock(&ws->smu) != 0)
            return 0;
        int rc = send_pong(ws);
        if (!rc)
            rc = cmn_ws_flush(ws);
        pthread_mutex_unlock(&ws->smu);
        return rc;
    }
    if (opcode == WSLAY_PONG)
        return 0;
    if (opcode == WSLAY_CONNECTION_CLOSE) {
        int code = len >= 2 ? (p[0] << 8 | p[1]) : 1005;
        char why[sizeof ws->why];
        snprintf(why, sizeof why, "the peer closed the WebSocket (code %d%s%.*s)", code, len > 2 ? ": " : "",
                 len > 2 ? (int)(len - 2) : 0, len > 2 ? (const char *)p + 2 : "");
        /* answer it so the peer's close completes (it may be gone: that
         * failure is not the one to report) */
        if (pthread_mutex_trylock(&ws->smu) == 0) { /* a busy sender will fail on its own */
            ws->sdeadline = cmn_mono_ns() + 1;
            send_piece(ws, WSLAY_CONNECTION_CLOSE, len >= 2 ? 2 : 0, p, len >= 2 ? 2 : 0);
            cmn_ws_flush(ws);
            pthread_mutex_unlock(&ws->smu);
        }
        pthread_mutex_lock(&ws->emu);
        __atomic_store_n(&ws->err, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&ws->emu);
        return fail(ws, ECONNRESET, "%s", why);
    }
    return fail(ws, EPROTO, "unknown control frame opcode %d", opcode);
}

/* Receives until a data message is whole (0), the socket has nothing more
 * when not waiting (-EAGAIN, the place kept), or a failure. */
static int recv_msg(cmn_ws *ws, const cmn_ws_reader *r)
{
    for (;;) {
        struct wslay_frame_iocb io;
        ssize_t n = wslay_frame_recv(ws->fr, &io);
        if (error(ws))
            return -error(ws);
        if (n == WSLAY_ERR_WANT_READ) {
            if (ws->blocked) {
                ws->blocked = false;
                return -EAGAIN;
            }
            continue; /* a header split across reads */
        }
        if (n < 0)
            return fail(ws, EPROTO, "bad WebSocket frame");
        if (!ws->rx.frame) { /* a new frame: check it once */
            ws->rx.frame = true;
            ws->rx.frame_off = 0;
            ws->rx.frame_op = io.opcode;
            ws->rx.frame_fin = io.fin;
            ws->rx.ctrl_len = 0;
            int op = io.opcode;
            if (io.rsv)
                return fail(ws, EPROTO, "a frame with reserved bits set (no extension was negotiated)");
            if (io.mask == ws->client)
                return fail(ws, EPROTO, "a %s frame from the %s", io.mask ? "masked" : "unmasked",
                            ws->client ? "server" : "client");
            if (!wslay_is_ctrl_frame(op)) {
                if ((op == WSLAY_CONTINUATION_FRAME) != ws->rx.in_msg)
                    return fail(ws, EPROTO, "%s", ws->rx.in_msg ? "a new message inside a fragmented one"
                                                                : "a continuation frame without a message");
                if (op != WSLAY_CONTINUATION_FRAME && op != WSLAY_TEXT_FRAME && op != WSLAY_BINARY_FRAME)
                    return fail(ws, EPROTO, "unknown frame opcode %d", op);
                if (!ws->rx.in_msg) {
                    ws->rx.in_msg = true;
                    int rc = r->begin ? r->begin(r->ctx, op, io.fin ? (int64_t)io.payload_length : -1) : 0;
                    if (rc) {
                        fail(ws, ECANCELED, "the receiver stopped");
                        return rc;
                    }
                }
            }
        }
        if (wslay_is_ctrl_frame(ws->rx.frame_op)) {
            memcpy(ws->rx.ctrl + ws->rx.ctrl_len, io.data, (size_t)n); /* wslay checks the 125-byte bound */
            ws->rx.ctrl_len += (size_t)n;
        } else if (n > 0 && r->data) {
            int rc = r->data(r->ctx, io.data, (size_t)n);
            if (rc) {
                fail(ws, ECANCELED, "the receiver stopped");
                return rc;
            }
        }
        ws->rx.frame_off += (uint64_t)n;
        if (ws->rx.frame_off < io.payload_length)
            continue;
        ws->rx.frame = false; /* the frame is complete */
        if (wslay_is_ctrl_frame(ws->rx.frame_op)) {
            if (control(ws, ws->rx.frame_op, ws->rx.ctrl, ws->rx.ctrl_len))
                return -error(ws);
        } else if (ws->rx.frame_fin) {
            ws->rx.in_msg = false;
            return 0;
        }
    }
}

int cmn_ws_recv(cmn_ws *ws, const cmn_ws_reader *r)
{
    ws->nowait = false;
    return recv_msg(ws, r);
}

int cmn_ws_recv_some(cmn_ws *ws, const cmn_ws_reader *r)
{
    ws->nowait = true;
    int rc = recv_msg(ws, r);
    ws->nowait = false;
    return rc;
}

void cmn_ws_readable(cmn_ws *ws)
{
    ws->drained = false;
}

int cmn_ws_fd(const cmn_ws *ws)
{
    return ws->fd;
}

bool cmn_ws_buffered(const cmn_ws *ws)
{
    return ws->in_off < ws->in_len;
}

struct buf_ctx {
    cmn_buf *out;
    size_t max;
    int opcode;
};

static int buf_begin(void *ctx, int opcode, int64_t len)
{
    struct buf_ctx *b = ctx;
    b->opcode = opcode;
    return len > (int64_t)b->max ? -EMSGSIZE : 0;
}

static int buf_data(void *ctx, const void *data, size_t len)
{
    struct buf_ctx *b = ctx;
    if (b->out->len + len > b->max)
        return -EMSGSIZE;
    cmn_buf_append(b->out, data, len);
    return 0;
}

int cmn_ws_recv_buf(cmn_ws *ws, int *opcode, cmn_buf *out, size_t max)
{
    cmn_buf_reset(out);
    struct buf_ctx b = {out, max, 0};
    cmn_ws_reader r = {&b, buf_begin, buf_data};
    int rc = cmn_ws_recv(ws, &r);
    *opcode = b.opcode;
    return rc;
}

void cmn_ws_free(cmn_ws *ws)
{
    if (!ws)
        return;
    if (!error(ws)) { /* a polite close, never waited for */
        static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
        ws->sdeadline = cmn_mono_ns() + 1; /* a full socket buffer fails at once */
        send_piece(ws, WSLAY_CONNECTION_CLOSE, 2, normal, 2);
        cmn_ws_flush(ws);
    }
    wslay_frame_context_free(ws->fr);
    close(ws->fd);
    pthread_mutex_destroy(&ws->emu);
    pthread_mutex_destroy(&ws->smu);
    free(ws->in);
    free(ws->out);
    free(ws);
}
