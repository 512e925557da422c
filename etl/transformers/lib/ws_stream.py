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
unmasked with one big-integer XOR, pings answered, no extensions, each
answer written with one call. The 101 names the worker process serving the
stream (Etlfs-Worker, prefork.py's slot) when there are several, so that the
target spreads the objects it has in flight over the processes.
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


class Closed(Exception):
    """The peer closed the WebSocket, or the stream broke."""


def _read(rfile, n):
    data = rfile.read(n) if n else b""
    if len(data) != n:
        raise Closed("connection closed mid-frame")
    return data


def send(wfile, op, data):
    n = len(data)
    head = bytes([0x80 | op]) + (bytes([n]) if n < 126 else struct.pack("!BH", 126, n) if n < 65536
                                 else struct.pack("!BQ", 127, n))
    if n <= (1 << 20):
        wfile.write(head + data)
    else:  # avoid copying large outputs
        wfile.write(head)
        wfile.write(data)
    wfile.flush()


def recv(rfile, wfile):
    """The next data message: (opcode, bytes). Pings are answered; a close
    frame is echoed and raises Closed."""
    op, parts = None, []
    while True:
        b0, b1 = _read(rfile, 2)
        fin, fop, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        if b0 & 0x70 or not b1 & 0x80:
            raise Closed("reserved bits or an unmasked frame from the client")
        if n == 126:
            n = struct.unpack("!H", _read(rfile, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", _read(rfile, 8))[0]
        mask = _read(rfile, 4)
        data = _read(rfile, n)
        if n:
            key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
            data = (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")
        if fop == PING:
            send(wfile, PONG, data)
        elif fop == CLOSE:
            send(wfile, CLOSE, data[:2])
            raise Closed("closed by the peer")
        elif fop != PONG:
            if (fop == 0) != (op is not None):
                raise Closed("bad fragmentation")
            op = op or fop
            parts.append(data)
            if fin:
                return op, b"".join(parts)


def read_fqn(fqn):
    """The bytes of the file a control message's "fqn" names (PathEscape'd).
    os.read of the size and one byte more: open, fstat, read, close, where
    open().read() made eight system calls and two Python file objects."""
    path = urllib.parse.unquote(fqn)
    fd = os.open(path if path.startswith("/") else "/" + path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) == size and size < (1 << 30):  # all of it: a file of that size is read at once
            return data
        parts = [data]  # it changed since the fstat, or is huge: read on to its end
        while data:
            data = os.read(fd, 1 << 20)
            parts.append(data)
        return b"".join(parts)
    finally:
        os.close(fd)


def serve(handler, transform_object, describe_error):
    """Upgrades handler's GET /ws and serves the stream until it ends.
    transform_object(ctrl, data) -> bytes, data None when ctrl names the
    file; describe_error(ctrl, exc) -> the reason sent for a failed object."""
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
                        + (b"Etlfs-Worker: %d\r\n" % slot if slot >= 0 else b"") + b"\r\n")
    handler.close_connection = True
    rfile, wfile = handler.rfile, handler.wfile
    try:
        while True:
            ctrl = json.loads(recv(rfile, wfile)[1])
            data = None if ctrl.get("fqn") else recv(rfile, wfile)[1]
            try:
                out = transform_object(ctrl, data)
            except Exception as exc:  # this object's error; the stream goes on
                send(wfile, TEXT, f"Transform error: {describe_error(ctrl, exc)}".encode("utf-8", "replace"))
                continue
            send(wfile, BINARY, out)
    except (Closed, OSError):
        pass
    except (ValueError, AttributeError):  # not a control message: the stream is lost
        send(wfile, CLOSE, struct.pack("!H", 1003) + b"bad control message")
