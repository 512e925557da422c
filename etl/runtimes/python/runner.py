#!/usr/bin/python3
"""The init-code runner: serves a user's Python transform over HTTP the way
AIStore's runtime image does, as a local process next to the target.

Design: stdlib http.server with one thread per connection, HTTP/1.1 keep-alive
and TCP_NODELAY; non-streaming replies go out as one write (headers + body).
Streaming replies (CHUNK_SIZE > 0) use chunked encoding so that the target can
tell a finished body from a truncated one. For io:// the user's code is a
script, run once per request with the body on stdin: in one of a pool of
warm interpreters (--io-pool, which the target passes: each runs the script
object after object, framed over its pipes), else in a new process per
object. GET /ws serves ws://
(AIStore 5.0's stream of objects on one connection) with the shipped
transformers' framing (etl/transformers/lib/ws_stream.py), in the
connection's own thread. A function is served by NUM_WORKERS processes
(default: one per core; etl/transformers/lib/prefork.py), forked after the
user's module is imported; io:// keeps one server process (its pool is the
parallelism).

Environment (set by the launcher): MOD_NAME, ETLFS_CODE_DIR, FUNC_TRANSFORM,
COMM_TYPE, CHUNK_SIZE, ARG_TYPE, AIS_TARGET_URL, ETLFS_PORT, ETLFS_PYTHON;
NUM_WORKERS when the init message's env gives it. The runner sets
OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to each worker's
share of the cores (share_cores).
"""
import http.server
import importlib.util
import inspect
import io
import os
import queue
import select
import socket
import struct
import subprocess
import sys
import threading
import traceback
import urllib.parse

STREAM_FLUSH = 64 * 1024  # coalesce small writer.write() calls into one chunk
ERR_TAIL = 2048  # bytes of an io script's stderr returned with a 500
IO_POOL_FLAG = "--io-pool"  # argv[1] from the target (etl/comm_io.c): keep warm io:// processes
IO_WORKER_FLAG = "--io-worker"  # argv[1] of one warm process: python runner.py --io-worker CODE

# What this runner serves per communicator (the one place that knows them):
# "script": the code is a stdin->stdout script (io://), else a function;
# "ws": GET /ws upgrades to AIStore 5.0's stream.
COMMS = {
    "hpush://": {"script": False, "ws": True},
    "hpull://": {"script": False, "ws": True},
    "hrev://": {"script": False, "ws": True},
    "ws://": {"script": False, "ws": True},
    "io://": {"script": True, "ws": False},
}


def die(msg):
    sys.stderr.write(f"etlfs-runner: {msg}\n")
    sys.exit(2)


class Config:
    def __init__(self, env):
        self.mod_name = env.get("MOD_NAME") or "code"
        self.code_dir = env.get("ETLFS_CODE_DIR") or os.getcwd()
        self.func_name = env.get("FUNC_TRANSFORM") or "transform"
        self.comm = (env.get("COMM_TYPE") or "hpush://").strip()
        if self.comm not in COMMS:
            die(f"COMM_TYPE {self.comm!r} is none of {', '.join(COMMS)}")
        self.serves = COMMS[self.comm]
        self.arg_type = (env.get("ARG_TYPE") or "").strip().lower()
        self.target_url = (env.get("AIS_TARGET_URL") or "").rstrip("/")
        self.python = env.get("ETLFS_PYTHON") or sys.executable
        try:
            self.chunk_size = int(env.get("CHUNK_SIZE") or 0)
        except ValueError:
            die(f"CHUNK_SIZE {env.get('CHUNK_SIZE')!r} is not an integer")
        try:
            self.port = int(env.get("ETLFS_PORT") or "")
        except ValueError:
            die("ETLFS_PORT must be set to the port to listen on")
        self.code_path = os.path.join(self.code_dir, self.mod_name + ".py")
        if not os.path.isfile(self.code_path):
            die(f"code file {self.code_path} not found")

    @property
    def is_io(self):
        return self.serves["script"]



def load_transform(cfg):
    """Imports the user's module (hpush/hpull/hrev) and returns its function."""
    sys.path.insert(0, cfg.code_dir)
    spec = importlib.util.spec_from_file_location(cfg.mod_name, cfg.code_path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[cfg.mod_name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:  # a failing import must stop the launch, with the reason
        die(f"importing {cfg.code_path} failed:\n{traceback.format_exc()}")
    fn = getattr(mod, cfg.func_name, None)
    if not callable(fn):
        die(f"{cfg.code_path} has no function {cfg.func_name!r}")
    if cfg.chunk_size > 0:
        try:
            nparams = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            nparams = 2
        if nparams < 2:
            die(f"CHUNK_SIZE={cfg.chunk_size} needs {cfg.func_name}(reader, writer)")
    return fn


class BodyReader:
    """The request body as the streaming transform sees it: iterating yields
    chunk_size pieces (the last shorter); read_all() returns what is left."""

    def __init__(self, rfile, length, chunked, chunk_size):
        self._rfile = rfile
        self._left = length
        self._chunked = chunked
        self._chunk_size = chunk_size or 65536
        self._pending = b""
        self._eof = length == 0 and not chunked

    def _raw(self, n):
        """Up to n bytes of body, b"" at its end."""
        if self._eof:
            return b""
        if not self._chunked:
            data = self._rfile.read(min(n, self._left))
            if not data:
                raise ConnectionError("request body shorter than Content-Length")
            self._left -= len(data)
            self._eof = self._left == 0
            return data
        if not self._left:
            size = int(self._rfile.readline(100).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._eof = True
                return b""
            self._left = size
        data = self._rfile.read(min(n, self._left))
        if not data:
            raise ConnectionError("chunked request body cut short")
        self._left -= len(data)
        if not self._left:
            self._rfile.readline(10)  # CRLF after the chunk
        return data

    def read(self, n=-1):
        if n is None or n < 0:
            return self.read_all()
        out = [self._pending]
        have = len(self._pending)
        while have < n:
            data = self._raw(n - have)
            if not data:
                break
            out.append(data)
            have += len(data)
        buf = b"".join(out)
        self._pending = buf[n:]
        return buf[:n]

    def read_all(self):
        out = [self._pending]
        self._pending = b""
        while True:
            data = self._raw(1 << 20)
            if not data:
                return b"".join(out)
            out.append(data)

    def drain(self):
        while self._raw(1 << 20):
            pass

    def __iter__(self):
        while True:
            chunk = self.read(self._chunk_size)
            if not chunk:
                return
            yield chunk


class ChunkedWriter:
    """The response stream given to a streaming transform. Headers go out
    with the first flush, so an exception before it can still become a 500."""

    def __init__(self, handler):
        self._h = handler
        self._buf = []
        self._size = 0
        self.started = False

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return 0
        self._buf.append(bytes(data))
        self._size += len(data)
        if self._size >= STREAM_FLUSH:
            self.flush()
        return len(data)

    def flush(self):
        out = []
        if not self.started:
            out.append(self._h.head(200, "application/octet-stream", None))
            self.started = True
        if self._size:
            out += [b"%x\r\n" % self._size, *self._buf, b"\r\n"]
        self._buf, self._size = [], 0
        self._h.wfile.write(b"".join(out))

    def close(self):
        self.flush()
        self._h.wfile.write(b"0\r\n\r\n")


def lib_module(name):
    """A module of the shipped transformers' library (etl/transformers/lib);
    its folder goes last on sys.path, so it shadows none of the user's
    modules."""
    lib = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "transformers", "lib")
    if lib not in sys.path:
        sys.path.append(lib)
    return importlib.import_module(name)


# GETs from the target on a kept-alive connection of the thread, and the file
# an ARG_TYPE=fqn request names: the shipped transformers' own
fetch = lib_module("transformer_http").fetch
fqn_from_path = lib_module("transformer_http").fqn_from_path


def split_args(path):
    """The request path without etl_args (the rest of the query kept: an
    ARG_TYPE=url transform gets it), and the etl_args (None when absent)."""
    base, _, query = path.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    args = [v for k, v in pairs if k == "etl_args"]
    rest = urllib.parse.urlencode([(k, v) for k, v in pairs if k != "etl_args"])
    return base + ("?" + rest if rest else ""), (args[0] if args else None)


def takes_extra(fn, nargs):
    """Whether fn accepts one more positional argument than nargs (for etl_args)."""
    try:
        inspect.signature(fn).bind(*([None] * (nargs + 1)))
        return True
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it does
        return True


class ArgsRefused(Exception):
    """etl_args were given to a transform that takes none: a 400, not a crash."""


def as_bytes(out):
    if out is None:
        return b""
    if isinstance(out, str):
        return out.encode("utf-8")
    return bytes(out)


def last_line(exc):
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server_version = "etlfs-runner"
    cfg = None
    transform = None
    io_pool = None
    leave = staticmethod(lambda: False)  # prefork.leave once workers run

    def log_message(self, fmt, *args):
        pass  # failures are logged where handled; success is silent

    def head(self, status, ctype, length):
        reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
        if self.leave():  # a sibling process idles: the client's next request goes there
            self.close_connection = True
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}"]
        lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reply(self, status, body, ctype="application/octet-stream"):
        if isinstance(body, str):
            body = body.encode("utf-8", "replace")
        hdr = self.head(status, ctype, len(body))
        if len(body) <= (1 << 20):
            self.wfile.write(hdr + body)
        else:  # avoid copying large bodies; TCP_NODELAY keeps this cheap
            self.wfile.write(hdr)
            self.wfile.write(body)

    def call(self, *args):
        """The user's function, with etl_args appended when the request has them."""
        if self.etl_args is None:
            return self.transform(*args)
        if not takes_extra(self.transform, len(args)):
            raise ArgsRefused(f"{self.cfg.func_name}() takes no etl_args (define it with one more parameter)")
        return self.transform(*args, self.etl_args)

    def fail(self, exc, what):
        if isinstance(exc, ArgsRefused):
            self.reply(400, str(exc), "text/plain")
            return
        sys.stderr.write(f"etlfs-runner: {what} {self.path}: {traceback.format_exc()}")
        self.reply(500, last_line(exc), "text/plain")

    def ws_error(self, ctrl, exc):
        """What a ws:// object's failure answers; logged unless it is etl_args refused."""
        if not isinstance(exc, ArgsRefused):
            sys.stderr.write(f"etlfs-runner: ws {ctrl.get('path')}: {traceback.format_exc()}")
        return last_line(exc) if not isinstance(exc, ArgsRefused) else str(exc)

    def body_reader(self):
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return BodyReader(self.rfile, length, chunked, self.cfg.chunk_size)

    def do_GET(self):
        self.path, self.etl_args = split_args(self.path)
        if self.path == "/health":
            self.reply(200, b"Running", "text/plain")
            return
        if self.path == "/ws" and self.cfg.serves["ws"]:
            ws_stream().serve(self, ws_object(self.cfg, self.transform), self.ws_error,
                              ws_file(self.cfg, self.transform))
            return
        cfg = self.cfg
        try:
            if cfg.arg_type == "fqn":
                with open(fqn_from_path(self.path), "rb") as f:
                    out = self.call(f.read())
            elif cfg.arg_type == "url":
                out = self.call(cfg.target_url + self.path)
            else:
                status, data = fetch(cfg.target_url + self.path)
                if status >= 400:  # the object's error, not something to transform
                    self.reply(status, data, "application/json")
                    return
                out = self.call(data)
            self.reply(200, as_bytes(out))
        except Exception as exc:  # the user's code may raise anything
            self.fail(exc, "GET")

    def do_PUT(self):
        self.path, self.etl_args = split_args(self.path)
        reader = self.body_reader()
        cfg = self.cfg
        if cfg.is_io:
            self.run_script(reader.read_all())
            return
        try:
            if cfg.arg_type == "fqn":
                reader.drain()
                with open(fqn_from_path(self.path), "rb") as f:
                    reader = BodyReader(f, os.fstat(f.fileno()).st_size, False, cfg.chunk_size)
                    self.push(reader)
            else:
                self.push(reader)
        except Exception as exc:
            self.close_connection = True  # the request body may be unread
            if getattr(self, "_streaming", False):
                sys.stderr.write(f"etlfs-runner: PUT {self.path}: {traceback.format_exc()}")
                return  # mid-stream: closing without the last chunk marks truncation
            self.fail(exc, "PUT")

    def push(self, reader):
        self._streaming = False
        if self.cfg.chunk_size <= 0:
            self.reply(200, as_bytes(self.call(reader.read_all())))
            return
        writer = ChunkedWriter(self)
        try:
            self.call(reader, writer)
        except Exception:
            self._streaming = writer.started
            raise
        reader.drain()  # keep the connection usable if the function stopped early
        writer.close()

    def run_script(self, body):
        cfg = self.cfg
        if self.io_pool is not None:
            try:
                status, out, err = self.io_pool.run(body, self.etl_args, self.connection)
            except WorkerDied as exc:
                sys.stderr.write(f"etlfs-runner: {cfg.code_path}: {exc}\n")
                self.reply(500, str(exc), "text/plain")
                return
            if status != 0:
                tail = err[-ERR_TAIL:].decode("utf-8", "replace").strip()
                sys.stderr.write(f"etlfs-runner: {cfg.code_path} exited {status}: {tail}\n")
                self.reply(500, f"exit status {status}: {tail}", "text/plain")
                return
            self.reply(200, out)
            return
        try:
            env = dict(os.environ, ETL_ARGS=self.etl_args) if self.etl_args is not None else None
            proc = subprocess.run([cfg.python, cfg.code_path], input=body, capture_output=True,
                                  cwd=cfg.code_dir, check=False, env=env)
        except OSError as exc:
            self.fail(exc, "io PUT")
            return
        if proc.returncode != 0:
            tail = proc.stderr[-ERR_TAIL:].decode("utf-8", "replace").strip()
            sys.stderr.write(f"etlfs-runner: {cfg.code_path} exited {proc.returncode}: {tail}\n")
            self.reply(500, f"exit status {proc.returncode}: {tail}", "text/plain")
            return
        self.reply(200, proc.stdout)

    def do_POST(self):
        self.do_PUT()


class WorkerDied(Exception):
    """A warm io:// process ended in the middle of an object."""


# One frame each way on a warm process's pipes: the request is (body length,
# etl_args length or NO_ARGS) then both; the answer is (exit status, stdout
# length, stderr length) then both.
REQ = struct.Struct("!QI")
ANS = struct.Struct("!iQQ")
NO_ARGS = 0xFFFFFFFF


def read_exact(f, n):
    parts, left = [], n
    while left:
        b = f.read(left)
        if not b:
            return None
        parts.append(b)
        left -= len(b)
    return b"".join(parts)


class IoWorker:
    def __init__(self, cfg):
        self.proc = subprocess.Popen([cfg.python, os.path.realpath(__file__), IO_WORKER_FLAG, cfg.code_path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cfg.code_dir)

    def call(self, body, etl_args, client):
        a = etl_args.encode() if etl_args is not None else b""
        try:
            self.proc.stdin.write(REQ.pack(len(body), len(a) if etl_args is not None else NO_ARGS) + body + a)
            self.proc.stdin.flush()
            if not self.wait(client):
                self.kill()
                raise WorkerDied("the client went away before the io:// script answered (it was stopped)")
            head = read_exact(self.proc.stdout, ANS.size)
            if head is not None:
                status, nout, nerr = ANS.unpack(head)
                out, err = read_exact(self.proc.stdout, nout), read_exact(self.proc.stdout, nerr)
                if out is not None and err is not None:
                    return status, out, err
        except OSError:
            pass
        self.kill()
        how = self.proc.returncode
        how = f"killed by signal {-how}" if how is not None and how < 0 else f"exit status {how}"
        raise WorkerDied(f"the io:// process died in the middle of the object ({how}); a new one takes its place")

    def wait(self, client):
        """Until the answer starts (True) or the client closed its connection
        (False: the target gave up on the object, e.g. at its timeout), so
        that a script that hangs holds its process only that long."""
        watch = [self.proc.stdout, client]
        while True:
            ready, _, _ = select.select(watch, [], [])
            if self.proc.stdout in ready:
                return True
            try:
                if not client.recv(1, socket.MSG_PEEK):
                    return False
            except OSError:
                return False
            watch = [self.proc.stdout]  # bytes of a next request: only the answer matters now

    def kill(self):
        self.proc.kill()
        self.proc.wait()


class IoPool:
    """io://'s warm processes: at most size, started when first needed; one
    that dies is dropped (the next object starts a new one)."""

    def __init__(self, cfg, size):
        self.cfg = cfg
        self.idle = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(size)

    def run(self, body, etl_args, client):
        with self.slots:
            try:
                w = self.idle.get_nowait()
            except queue.Empty:
                w = IoWorker(self.cfg)
            out = w.call(body, etl_args, client)  # WorkerDied: w is gone
            self.idle.put(w)
            return out


def io_worker(code_path):
    """One warm io:// process: the script once per framed object, with
    sys.stdin / sys.stdout / sys.stderr in memory and ETL_ARGS in the
    environment, as a process of its own would see them. Modules it imports
    stay loaded: that is the saving."""
    import builtins

    with open(code_path, "rb") as f:
        code = compile(f.read(), code_path, "exec")
    rin = sys.stdin.buffer
    wout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray write to fd 1 must not break the framing
    real = sys.stdin, sys.stdout, sys.stderr
    while True:
        head = read_exact(rin, REQ.size)
        if head is None:
            return
        n, alen = REQ.unpack(head)
        body = read_exact(rin, n)
        args = read_exact(rin, alen) if alen != NO_ARGS else None
        if body is None or (alen != NO_ARGS and args is None):
            return
        if args is None:
            os.environ.pop("ETL_ARGS", None)
        else:
            os.environ["ETL_ARGS"] = args.decode("utf-8", "surrogateescape")
        sin = io.TextIOWrapper(io.BytesIO(body))
        # buffered as a process's own streams are (a print() may trail a
        # write to .buffer until the flush at the end, as it would there)
        sout, serr = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())
        sys.stdin, sys.stdout, sys.stderr = sin, sout, serr
        sys.argv = [code_path]
        status = 0
        try:
            exec(code, {"__name__": "__main__", "__file__": code_path, "__builtins__": builtins})
        except SystemExit as e:
            if e.code is None:
                status = 0
            elif isinstance(e.code, int):
                status = e.code
            else:
                serr.write(f"{e.code}\n")
                status = 1
        except BaseException:
            serr.write(traceback.format_exc())
            status = 1
        try:
            sout.flush()
            serr.flush()
        except Exception:
            pass
        sys.stdin, sys.stdout, sys.stderr = real
        out, err = sout.buffer.getvalue(), serr.buffer.getvalue()
        wout.write(ANS.pack(status, len(out), len(err)) + out + err)
        wout.flush()


class Collector:
    """The writer a streaming transform gets over ws://: the output is one message."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        data = data.encode() if isinstance(data, str) else bytes(data)
        self.parts.append(data)
        return len(data)

    def flush(self):
        pass


_ws_mod = []


def ws_stream():
    """The ws:// framing the shipped transformers use (etl/transformers/lib),
    imported when a /ws connection first arrives (then kept: ws_transform
    asks per object)."""
    if not _ws_mod:
        _ws_mod.append(lib_module("ws_stream"))
    return _ws_mod[0]


def ws_transform(cfg, fn, ctrl, data):
    """One object of a ws:// stream: the control message says which (and its
    etl_args); data is the payload, None when the ETL reads the file (fqn)."""
    etl_args = ctrl.get("etl_args") or None
    if data is None:
        data = ws_stream().read_fqn(ctrl["fqn"])
    if cfg.chunk_size > 0:
        args = [BodyReader(io.BytesIO(data), len(data), False, cfg.chunk_size), Collector()]
    else:
        args = [data]
    if etl_args is not None:
        if not takes_extra(fn, len(args)):
            raise ArgsRefused(f"{cfg.func_name}() takes no etl_args (define it with one more parameter)")
        args.append(etl_args)
    out = fn(*args)
    return b"".join(args[1].parts) if cfg.chunk_size > 0 else as_bytes(out)


def ws_object(cfg, fn):
    """What a ws:// stream calls per object: ws_transform, or the short way
    for a plain function (no CHUNK_SIZE) and an object without etl_args,
    which is on the path the target waits for (bench/RESULTS.md)."""
    read_fqn = ws_stream().read_fqn
    if cfg.chunk_size > 0:
        return lambda ctrl, data: ws_transform(cfg, fn, ctrl, data)

    def one(ctrl, data):
        if ctrl.get("etl_args"):
            return ws_transform(cfg, fn, ctrl, data)
        out = fn(read_fqn(ctrl["fqn"]) if data is None else data)
        return out if type(out) is bytes else as_bytes(out)

    return one


def ws_file(cfg, fn):
    """What a ws:// stream calls for an object that only names its file:
    a plain function's output for the file's bytes; None for a streaming
    transform (CHUNK_SIZE), which ws_transform serves."""
    if cfg.chunk_size > 0:
        return None
    read_file = ws_stream().read_file

    def one(path):
        out = fn(read_file(path))
        return out if type(out) is bytes else as_bytes(out)

    return one


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def share_cores(workers, env=os.environ):
    """Gives each of the workers processes its share of the cores for a
    library's own threads (torch's intra-op pool, NumPy's BLAS): unset, each
    process would start one per core, and NUM_WORKERS processes would fight
    each other and the job reading the outputs (a DataLoader's workers run
    one each). A value already in the environment is kept."""
    n = max(1, len(os.sched_getaffinity(0)) // max(1, workers))
    for var in THREAD_VARS:
        if not env.get(var):
            env[var] = str(n)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == IO_WORKER_FLAG:
        io_worker(sys.argv[2])
        return
    cfg = Config(os.environ)
    prefork = lib_module("prefork")

    class Server(prefork.WorkerMixIn, http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    Handler.cfg = cfg
    Handler.leave = staticmethod(prefork.leave)
    workers = 1
    if not cfg.is_io:
        workers = prefork.workers()
        share_cores(workers)  # before the user's module imports torch or NumPy
        Handler.transform = staticmethod(prefork.counted(load_transform(cfg)))
    elif IO_POOL_FLAG in sys.argv[1:]:
        Handler.io_pool = IoPool(cfg, max(2, min(8, os.cpu_count() or 2)))
    server = Server(("127.0.0.1", cfg.port), Handler)
    sys.stderr.write(f"etlfs-runner: serving {cfg.code_path} ({cfg.comm}) on 127.0.0.1:{cfg.port}\n")
    prefork.serve(server, workers, "etlfs-runner")
    server.server_close()


if __name__ == "__main__":
    main()
