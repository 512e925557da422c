"""ws://, AIStore 5.0's streaming communicator, on the server side of a
stdlib HTTP handler: GET /ws upgrades (RFC 6455), then object after object
arrives on the connection, in order: a binary control message (JSON:
"path", "fqn" when the ETL reads the file itself, "etl_args"), then the
bytes as a binary message unless "fqn" is given. Each object is answered
with one message: the output (binary), or "Transform error: <reason>"
(text), after which the stream goes on. Used by the shipped transformers
(transformer_http.py) and the init-code runner.

Design: the connection keeps the handler's thread (a transform that hangs
holds only its own connection); framing with the standard library: frames
unmasked with one big-integer XOR, pings answered, no extensions. An
object's path is short because the target waits on it at two objects in
flight (bench/RESULTS.md, "The Python runtime's ws:// loop"): the socket is
read through the stream's own buffer (one recv for a control message, none
when it came with the previous one), the target's own control message
({"fqn":"...","path":"..."}, nothing JSON-escaped) is split without json,
a file is read with open, read and close, and each answer is written with
one system call. When the caller gives transform_file, such a message,
its frame parsed in one step, goes straight to one call with the file's
path (no dict). The 101 names the worker process serving the stream and
how many there are (Etlfs-Worker: N/M, prefork.py's slot) when there are
several, so that the target spreads the objects it has in flight over the
processes.
"""
import base64
import hashlib
import json
import os
import struct
import urllib.parse

import prefork

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10
RECV_SIZE = 1 << 16  # bytes asked of the socket per recv: a control message and more
BIG = 1 << 20  # a message or answer above this is not copied into one buffer with its header
READ_GUESS = 1 << 16  # a file read whole with one read when shorter than this (no fstat)
_HEADS = {op: [bytes([0x80 | op, n]) for n in range(126)] for op in (TEXT, BINARY, CLOSE, PING, PONG)}
_H16, _H64 = struct.Struct("!BBH"), struct.Struct("!BBQ")
_CTRL_FQN, _CTRL_PATH = b'{"fqn":"', b'","path":"'


class Closed(Exception):
    """The peer closed the WebSocket, or the stream broke."""


def head(op, n):
    """A server frame's header (unmasked) for n bytes of payload."""
    if n < 126:
        return _HEADS[op][n]
    return _H16.pack(0x80 | op, 126, n) if n < 65536 else _H64.pack(0x80 | op, 127, n)


class Stream:
    """One upgraded connection: frames read through its own buffer, each
    answer sent with one system call."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.buf = pending  # bytes received and not parsed yet, from pos
        self.pos = 0

    def _fill(self, n):
        """At least n bytes in buf from pos (receiving more: Closed at the end)."""
        rest = self.buf[self.pos:]
        while len(rest) < n:
            data = self.sock.recv(RECV_SIZE)
            if not data:
                raise Closed("connection closed mid-frame")
            rest += data
        self.buf, self.pos = rest, 0
        return rest

    def _payload(self, n):
        """The next n bytes, received into one buffer when they did not come
        with the header (a large message is not copied piece by piece)."""
        buf, pos = self.buf, self.pos
        if pos + n <= len(buf):
            self.pos = pos + n
            return buf[pos:pos + n]
        out = bytearray(n)
        have = len(buf) - pos
        out[:have] = buf[pos:]
        self.buf, self.pos = b"", 0
        view = memoryview(out)
        while have < n:
            got = self.sock.recv_into(view[have:])
            if not got:
                raise Closed("connection closed mid-frame")
            have += got
        return out

    def send(self, op, data):
        n = len(data)
        if n <= BIG:
            self.sock.sendall(head(op, n) + data)
            return
        h = head(op, n)
        sent = self.sock.sendmsg([h, data])  # no copy of a large answer
        if sent < len(h):
            self.sock.sendall(h[sent:])
            sent = len(h)
        if sent - len(h) < n:
            self.sock.sendall(memoryview(data)[sent - len(h):])

    def recv(self):
        """The next data message: (opcode, bytes). Pings are answered; a close
        frame is echoed and raises Closed."""
        buf, pos = self.buf, self.pos
        if len(buf) - pos < 6:
            buf, pos = self._fill(6), 0
        # the target's control message: one masked binary frame under 126
        # bytes, whole in the buffer ("Python at two objects in flight" in
        # bench/RESULTS.md)
        if buf[pos] == 0x82 and 0x80 <= buf[pos + 1] < 0xFE:
            n = buf[pos + 1] - 0x80
            end = pos + 6 + n
            if end <= len(buf):
                self.pos = end
                key = int.from_bytes((buf[pos + 2:pos + 6] * (n // 4 + 1))[:n], "little")
                return BINARY, (int.from_bytes(buf[pos + 6:end], "little") ^ key).to_bytes(n, "little")
        return self._recv_frames()

    def _recv_frames(self):
        """recv's general case: any frame size, fragments, control frames."""
        op, parts = None, []
        while True:
            buf, pos = self.buf, self.pos
            if len(buf) - pos < 6:  # a client's frame: at least its header and mask
                buf, pos = self._fill(6), 0
            b0, b1 = buf[pos], buf[pos + 1]
            fin, fop, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b0 & 0x70 or not b1 & 0x80:
                raise Closed("reserved bits or an unmasked frame from the client")
            hl = 6 if n < 126 else 8 if n == 126 else 14
            if len(buf) - pos < hl:
                buf, pos = self._fill(hl), 0
            if n == 126:
                n = int.from_bytes(buf[pos + 2:pos + 4], "big")
            elif n == 127:
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
            mask = buf[pos + hl - 4:pos + hl]
            self.pos = pos + hl
            data = self._payload(n) if n else b""
            if n:
                key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
                data = (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")
            if fop == PING:
                self.send(PONG, data)
            elif fop == CLOSE:
                self.send(CLOSE, data[:2])
                raise Closed("closed by the peer")
            elif fop != PONG:
                if (fop == 0) != (op is not None):
                    raise Closed("bad fragmentation")
                op = op or fop
                parts.append(data)
                if fin:
                    return op, data if len(parts) == 1 else b"".join(parts)


def control(msg):
    """A control message as a dict. The target's own shape,
    {"fqn":"...","path":"..."} with nothing escaped (its PathEscape'd fqn
    never needs JSON's escapes), is split by hand; anything else goes to
    json. ValueError or AttributeError: not a control message."""
    if msg[:8] == _CTRL_FQN and msg[-2:] == b'"}' and b"\\" not in msg and msg.count(b'"') == 8:
        i = msg.find(_CTRL_PATH, 8)
        if i > 0:
            try:
                return {"fqn": msg[8:i].decode("ascii"), "path": msg[i + 10:-2].decode()}
            except UnicodeDecodeError:
                pass
    ctrl = json.loads(msg)
    if not isinstance(ctrl, dict):
        raise ValueError("a control message is a JSON object")
    return ctrl


def fqn_path(fqn):
    """The file a control message's "fqn" names (PathEscape'd). Every '%' of
    it starts an escape ('%' itself is one), so each "%2F" is a '/'."""
    path = fqn.replace("%2F", "/")
    if "%" in path:
        path = urllib.parse.unquote(fqn)
    return path if path.startswith("/") else "/" + path


def read_fqn(fqn):
    """The bytes of the file a control message's "fqn" names."""
    return read_file(fqn_path(fqn))


def read_file(path):
    """The bytes of the file at path: open, read, close. A regular file's
    read stops short only at its end, so a read shorter than READ_GUESS is
    the whole file (no fstat); a longer file is read on to its end."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, READ_GUESS)
        if len(data) < READ_GUESS:
            return data
        parts = [data]
        want = os.fstat(fd).st_size - len(data) + 1  # the rest at once while the size holds
        while True:
            want = want if 0 < want < (1 << 30) else 1 << 20
            data = os.read(fd, want)
            parts.append(data)
            if len(data) < want:
                return b"".join(parts)
            want = 1 << 20
    finally:
        os.close(fd)


def _pending(rfile, sock):
    """What the handler's buffered reader holds beyond the upgrade request
    (frames a client sent at once), without waiting for more."""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return rfile.read1(RECV_SIZE) or b""
    except OSError:
        return b""
    finally:
        sock.settimeout(timeout)


def _plain_fqn(msg):
    """The file the target's own control message, {"fqn":"...","path":"..."}
    with nothing escaped, names; None for any other message (control's
    general way)."""
    if msg[:8] != _CTRL_FQN or msg[-2:] != b'"}' or b"\\" in msg or msg.count(b'"') != 8:
        return None
    i = msg.find(_CTRL_PATH, 8)
    if i <= 8:  # none, or an empty fqn: the bytes follow
        return None
    try:
        return fqn_path(msg[8:i].decode("ascii"))
    except UnicodeDecodeError:
        return None


def serve(handler, transform_object, describe_error, transform_file=None):
    """Upgrades handler's GET /ws and serves the stream until it ends.
    transform_object(ctrl, data) -> bytes, data None when ctrl names the
    file; describe_error(ctrl, exc) -> the reason sent for a failed object.
    transform_file(path) -> bytes, when given, takes an object that only
    names its file (no etl_args): no dict made, one call (the path the
    target waits on at two objects in flight)."""
    key = handler.headers.get("Sec-WebSocket-Key")
    if (handler.headers.get("Upgrade") or "").lower() != "websocket" or not key:
        body = b"/ws needs a WebSocket upgrade (RFC 6455)"
        handler.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(body), body))
        return
    accept = base64.b64encode(hashlib.sha1(key.strip().encode() + GUID).digest())
    slot = prefork.worker()
    handler.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept + b"\r\n"
                        + (b"Etlfs-Worker: %d/%d\r\n" % (slot, prefork.serving()) if slot >= 0 else b"")
                        + b"\r\n")
    handler.close_connection = True
    sock = handler.connection  # TCP_NODELAY: the handlers' disable_nagle_algorithm
    ws = Stream(sock, _pending(handler.rfile, sock))
    recv, send, sendall = ws.recv, ws.send, sock.sendall
    small = _HEADS[BINARY]
    try:
        while True:
            msg = recv()[1]
            path = _plain_fqn(msg) if transform_file is not None else None
            if path is not None:
                try:
                    out = transform_file(path)
                except Exception as exc:  # this object's error; the stream goes on
                    send(TEXT, f"Transform error: {describe_error(control(msg), exc)}".encode("utf-8", "replace"))
                    continue
                if len(out) < 126:
                    sendall(small[len(out)] + out)
                else:
                    send(BINARY, out)
                continue
            ctrl = control(msg)
            data = None if ctrl.get("fqn") else recv()[1]
            try:
                out = transform_object(ctrl, data)
            except Exception as exc:  # this object's error; the stream goes on
                send(TEXT, f"Transform error: {describe_error(ctrl, exc)}".encode("utf-8", "replace"))
                continue
            send(BINARY, out)
    except (Closed, OSError):
        pass
    except (ValueError, AttributeError):  # not a control message: the stream is lost
        try:
            send(CLOSE, struct.pack("!H", 1003) + b"bad control message")
        except OSError:
            pass
