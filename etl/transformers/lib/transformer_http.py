"""The HTTP side shared by every Python transformer: GET /health, PUT for
hpush://, GET /<escaped uname> for hpull:// and hrev://, ARG_TYPE=fqn
(the request path is the escaped path of the object's file), and GET /ws for
ws:// (AIStore 5.0's stream: a control message, then the bytes unless it
names the file; one answer message per object).

Design: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, TCP_NODELAY on
accepted sockets, and each reply written with one call (headers + body), so
that small objects do not stall on Nagle's algorithm. A transformer is just a
function bytes -> bytes plus a content type; serve() does the rest. A /ws
connection keeps its thread (ws_stream.py). NUM_WORKERS processes (default:
one per core) serve the port (prefork.py).
"""
import argparse
import http.client
import http.server
import os
import re
import sys
import threading
import traceback
import urllib.parse

import prefork
import ws_stream

_local = threading.local()
_SHELL_DEFAULT = re.compile(r"^\$\{\w+(?::-(.*))?\}$", re.S)


def env(name, default=""):
    """An env value; an unexpanded pod.yaml placeholder such as
    ${COMPRESS_OPTIONS:-"{}"} (the ais-etl files ship them) counts as its
    shell default, and ${FORMAT} as unset."""
    val = os.environ.get(name)
    if val is None:
        return default
    m = _SHELL_DEFAULT.match(val.strip())
    if m:
        val = m.group(1)
        if val is None:
            return default
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'":
            val = val[1:-1]
    return val if val != "" else default


def fetch(url):
    """GETs an object from the target on a kept-alive connection of this
    thread (stdlib http.client: cheap per call); (status, body). A connection
    the target closed is redialled once."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    conn = getattr(_local, "conn", None)
    if conn is None or (conn.host, conn.port) != (parts.hostname, parts.port):
        conn = _local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    for attempt in (0, 1):
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            if attempt:
                raise


def fqn_from_path(path):
    """The file an ARG_TYPE=fqn request names: the escaped path after '/'."""
    fqn = urllib.parse.unquote(path.split("?", 1)[0][1:])
    return fqn if fqn.startswith("/") else "/" + fqn


class TransformError(Exception):
    """Raised by a transform to answer with a given status and message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def etl_args_of(path):
    """The etl_args of a request path's query (AIStore 5.0), or None."""
    query = urllib.parse.urlsplit(path).query
    args = urllib.parse.parse_qs(query, keep_blank_values=True).get("etl_args")
    return args[0] if args else None


def make_handler(name, transform, content_type, error_body=None, with_args=False):
    """A request handler class around transform(bytes) -> bytes, or
    transform(bytes, etl_args) with with_args. error_body, when set, replaces
    the exception text in 500 replies (upstream compress)."""
    target_url = env("AIS_TARGET_URL").rstrip("/")
    arg_type = env("ARG_TYPE").strip().lower()
    transform = prefork.counted(transform)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = f"etlfs-{name}"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body, ctype):
            if isinstance(body, str):
                body = body.encode("utf-8", "replace")
            reason = self.responses.get(status, ("",))[0]
            if prefork.leave():  # a sibling idles: the client's next request goes there
                self.close_connection = True
            head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            if self.close_connection:
                head += "Connection: close\r\n"
            head = (head + "\r\n").encode("latin-1")
            if len(body) <= (1 << 20):
                self.wfile.write(head + body)
            else:
                self.wfile.write(head)
                self.wfile.write(body)

        def run(self, get_input):
            try:
                data = get_input()
                if isinstance(data, tuple):  # (status, body) from the target
                    status, data = data
                    if status >= 400:
                        self.reply(status, data, "application/json")
                        return
                out = transform(data, etl_args_of(self.path)) if with_args else transform(data)
                self.reply(200, out, content_type)
            except TransformError as e:
                self.reply(e.status, e.message, "text/plain")
            except Exception as e:  # report, keep serving
                sys.stderr.write(f"{name}: {self.command} {self.path}: {traceback.format_exc()}")
                msg = error_body or traceback.format_exception_only(type(e), e)[-1].strip()
                self.reply(500, msg, "text/plain")

        def read_body(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                parts = []
                while True:
                    size = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline(10)
            return self.rfile.read(length) if length > 0 else b""

        def read_fqn(self):
            with open(fqn_from_path(self.path), "rb") as f:
                return f.read()

        def ws_object(self, ctrl, data):
            if data is None:
                data = ws_stream.read_fqn(ctrl["fqn"])
            out = transform(data, ctrl.get("etl_args") or None) if with_args else transform(data)
            return out.encode() if isinstance(out, str) else bytes(out)

        def ws_error(self, ctrl, e):
            if isinstance(e, TransformError):
                return e.message
            sys.stderr.write(f"{name}: ws {ctrl.get('path')}: {traceback.format_exc()}")
            return error_body or traceback.format_exception_only(type(e), e)[-1].strip()

        def do_GET(self):
            if self.path == "/health":
                self.reply(200, b"Running", "text/plain")
            elif self.path.split("?", 1)[0] == "/ws":
                ws_stream.serve(self, self.ws_object, self.ws_error)
            elif arg_type == "fqn":
                self.run(self.read_fqn)
            else:
                self.run(lambda: fetch(target_url + self.path))

        def do_PUT(self):
            body = self.read_body()
            self.run(self.read_fqn if arg_type == "fqn" else lambda: body)

        do_POST = do_PUT

    return Handler


class Server(prefork.WorkerMixIn, http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve(name, transform, content_type="application/octet-stream", error_body=None, with_args=False):
    """Parses --listen/-l and --port/-p (env PORT as fallback) and serves
    with NUM_WORKERS processes (default: one per core)."""
    parser = argparse.ArgumentParser(description=f"{name} ETL transformer")
    parser.add_argument("-l", "--listen", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=int(env("PORT", "0")) or None,
                        help="port to listen on (default: env PORT)")
    args = parser.parse_args()
    if not args.port:
        parser.error("a port is required (--port or env PORT)")
    n = prefork.workers()
    server = Server((args.listen, args.port), make_handler(name, transform, content_type, error_body, with_args))
    sys.stderr.write(f"{name}: listening on {args.listen}:{args.port}\n")
    prefork.serve(server, n, name)
    server.server_close()

