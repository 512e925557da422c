/*
 * ws.h - WebSocket connections (RFC 6455) for etlfs's programs: the target's
 * ws:// communicator dials them (client), the native transformers answer
 * them (server). libwslay's frame layer does the framing; ws.c adds
 * buffered non-blocking I/O bounded by a deadline and whole messages in and
 * out, ws_client.c the HTTP/1.1 Upgrade handshake. Prefix cmn_ws_.
 *
 * One thread at a time sends and one receives (the same thread, or two:
 * full duplex, senders then take the send side with cmn_ws_send_lock). Sends
 * are buffered until the receiving thread next reads the socket (or
 * cmn_ws_flush), so a request of several messages leaves in one write, and
 * so do the answers to messages that arrived together. No extensions (no
 * compression) are negotiated.
 */
#ifndef ETLFS_WS_H
#define ETLFS_WS_H

#include "common/cmn.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct cmn_ws cmn_ws;

enum { CMN_WS_TEXT = 1, CMN_WS_BINARY = 2 }; /* message opcodes */

#define CMN_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)). */
void cmn_ws_accept_key(const char *key, char out[CMN_WS_ACCEPT_LEN + 1]);

/* Dials host:port and upgrades GET path to a WebSocket, all before deadline_ns
 * (monotonic; 0: none). 0 and *out, or -errno (-ECONNREFUSED, -ETIMEDOUT,
 * -EPROTO: the answer was not a WebSocket's) with err saying
 * "ws://HOST:PORT/PATH: why". hdr (or NULL): a header of the 101 whose
 * value goes to *hdr_val (malloc'd; NULL when absent). (ws_client.c) */
int cmn_ws_connect(const char *host, int port, const char *path, int64_t deadline_ns, const char *hdr,
                   char **hdr_val, cmn_ws **out, cmn_err *err);
/* The Upgrade on a connected socket fd (taken: closed on failure), as
 * cmn_ws_connect's: host for the Host header, where for messages. */
int cmn_ws_handshake(int fd, const char *host, const char *where, const char *path, int64_t deadline_ns,
                     const char *hdr, char **hdr_val, cmn_ws **out, cmn_err *err);

/* ws:// over a Unix socket between the target and an ETL it started
 * (ws_unix.c). The ETL listens on the path its launcher names
 * (ETLFS_SOCKET, in its work folder) beside its TCP port and takes
 * connections from one process only (ETLFS_SOCKET_PEER, the target's pid);
 * the target dials it and accepts the stream only when the listener is a
 * process of the ETL's group (peer_pgid; 0: any), so a link the ETL put in
 * the socket's place leads nowhere else. A path longer than a socket
 * address holds goes through /proc/self/fd/ of its folder. */
int cmn_ws_connect_unix(const char *sock, pid_t peer_pgid, const char *path, int64_t deadline_ns, const char *hdr,
                        char **hdr_val, cmn_ws **out, cmn_err *err);
/* A listening socket (non-blocking, close-on-exec, mode 0600) at sock,
 * replacing what was there; fd or -errno. */
int cmn_ws_listen_unix(const char *sock, int backlog);
/* Whether fd's peer is process pid (SO_PEERCRED). */
bool cmn_ws_peer_is(int fd, pid_t pid);

/* Wraps a connected socket whose handshake is done; takes fd (closed by
 * cmn_ws_free) and makes it non-blocking. A client masks what it sends and
 * expects unmasked frames; a server the reverse. pre: bytes read from fd
 * after the handshake, the stream's first (copied). */
cmn_ws *cmn_ws_new(int fd, bool client, const void *pre, size_t prelen);
/* Sends a close frame if the connection is sound, then closes. NULL is fine. */
void cmn_ws_free(cmn_ws *ws);
/* Bounds every later send and receive (monotonic ns; 0: none); the two
 * others one side only (full duplex: each side its own object's). */
void cmn_ws_set_deadline(cmn_ws *ws, int64_t deadline_ns);
void cmn_ws_set_send_deadline(cmn_ws *ws, int64_t deadline_ns);
void cmn_ws_set_recv_deadline(cmn_ws *ws, int64_t deadline_ns);
/* Full duplex: a sender holds the send side around its messages and their
 * flush while another thread receives; a pong owed goes out first. */
void cmn_ws_send_lock(cmn_ws *ws);
/* The send side if it is free now (false: another sender holds it), for a
 * thread that must not wait. */
bool cmn_ws_send_trylock(cmn_ws *ws);
void cmn_ws_send_unlock(cmn_ws *ws);
/* 1 when the socket has input, 0 after ms without, -errno when the
 * connection failed. Input already buffered is not looked at (so a thread
 * may wait here while another receives): for a reader that waits for the
 * answer to a message it has not yet seen sent. */
int cmn_ws_wait_input(cmn_ws *ws, int ms);
/* Fails the connection with why (-ECONNRESET from then on) and wakes a
 * thread waiting on it, sending or receiving. */
void cmn_ws_shutdown(cmn_ws *ws, const char *why);
/* Whether another message may follow: nothing failed and no message was cut. */
bool cmn_ws_usable(const cmn_ws *ws);
/* Why the connection failed ("closed by the peer", "recv: ..."), or "". */
const char *cmn_ws_why(const cmn_ws *ws);

/* Every call below returns 0 or -errno: -ETIMEDOUT (the deadline passed),
 * -ECONNRESET / -EPIPE (closed or broken), -EPROTO (not WebSocket framing);
 * after any of them the connection is not usable. */

/* Queues one message of len bytes. */
int cmn_ws_send(cmn_ws *ws, int opcode, const void *data, size_t len);
/* Queues one message of the len bytes at the start of fd (pread from
 * offset 0); -EIO when fd ends early or fails (*read_errno says how, 0
 * for a short file). */
int cmn_ws_send_fd(cmn_ws *ws, int opcode, int fd, int64_t len, int *read_errno);
/* Writes what is queued. */
int cmn_ws_flush(cmn_ws *ws);

/* Where a received message goes: begin once, before any byte (also for an
 * empty message), with the message's length when one frame carries it
 * (-1 otherwise); then data for each piece. A nonzero return from either
 * stops the receive (cmn_ws_recv returns it, the message is left cut). */
typedef struct cmn_ws_reader {
    void *ctx;
    int (*begin)(void *ctx, int opcode, int64_t len);
    int (*data)(void *ctx, const void *buf, size_t len);
} cmn_ws_reader;

/* Flushes, then receives the next data message into r, answering pings on
 * the way. A close frame is -ECONNRESET. */
int cmn_ws_recv(cmn_ws *ws, const cmn_ws_reader *r);
/* As cmn_ws_recv, without waiting: -EAGAIN when the socket has no more
 * input now, mid-message or between messages; the next call (with the same
 * r while a message is begun) goes on from there. For a loop that owns the
 * connection and calls this when its fd is readable (common/loop.c). */
int cmn_ws_recv_some(cmn_ws *ws, const cmn_ws_reader *r);
/* The loop saw the socket readable: cmn_ws_recv_some reads it again. After
 * a read shorter than its buffer (the socket emptied) it does not, and so
 * saves a recv that would only say EAGAIN. */
void cmn_ws_readable(cmn_ws *ws);
/* The socket, to watch for input; and whether input is already buffered
 * here (the fd may then stay quiet). */
int cmn_ws_fd(const cmn_ws *ws);
bool cmn_ws_buffered(const cmn_ws *ws);
/* The next message whole into out (reset first), at most max bytes
 * (-EMSGSIZE beyond, the connection then unusable); *opcode set. */
int cmn_ws_recv_buf(cmn_ws *ws, int *opcode, cmn_buf *out, size_t max);

#endif
