"""Pre-forked worker processes for a Python ETL: the parent binds the
listening socket, forks NUM_WORKERS children (default: the cores this
process may run on) that accept on it, and restarts a child that dies, so a
CPU-bound transform uses every core instead of one interpreter's GIL. Used
by the shipped transformers (transformer_http.py) and the init-code runner.

Design: the socket is inherited (no SO_REUSEPORT: one accept queue, so no
connection waits behind a busy process's share). Connections stay with the
process that accepted them (keep-alive, ws:// streams), so a process that is
transforming waits GRACE before it takes a new one: an idle sibling gets it
first, and a second concurrent client lands on a second core. A client's
pool of kept-alive connections may still send its concurrent requests to
connections of one process while another idles; so each process publishes
how many transforms it runs (one int32 each in a shared anonymous mapping)
and answers "Connection: close" when it is running another transform and a
sibling runs none (leave()): the client's next request reconnects, and the
idle sibling accepts it. Over ws:// a stream is never closed for that (the
target would resend the objects in flight); instead each process also
publishes how many streams it holds (a connection counts from its accept
until its first bytes are not "GET /ws"), and one that holds more than a
sibling leaves a new connection to it (for CROWDED_WAIT at most): the
target's first streams land on different processes (without it two of
them shared one process half the time, and at two objects in flight one
core idled). A child whose
parent is gone exits; a parent whose children keep dying at once exits with
the reason, so the target reports the ETL failed instead of serving with
fewer processes than it says. A child killed by the memory cgroup's OOM
killer stops the whole ETL the same way (the parent kills itself), so the
target reports "out of memory" as it does for a single process.

When the launcher names a Unix socket (ETLFS_SOCKET, a path in the ETL's
work folder), the same handler also serves there, beside the TCP port: the
target dials its ws:// streams through it (no TCP stack either way), while
the health probe and anyone else keep the port. Only the target may
connect (ETLFS_SOCKET_PEER, its pid, against the peer's credentials): the
socket file is reachable by other ETLs of the same user.
"""
import functools
import mmap
import os
import select
import struct
import signal
import socket
import socketserver
import sys
import threading
import time

GRACE = 0.02  # seconds a busy process leaves a new connection to an idle one
CROWDED_WAIT = 0.2  # at most, seconds a process leaves a new connection to one holding fewer streams
MAX_DEATHS = 10  # children dying within DEATH_WINDOW: the ETL is broken, stop
DEATH_WINDOW = 10.0


def workers(env=os.environ):
    """NUM_WORKERS, or the number of cores this process may use; exits with
    the reason when NUM_WORKERS is not a positive integer."""
    raw = (env.get("NUM_WORKERS") or "").strip()
    if not raw:
        return max(1, len(os.sched_getaffinity(0)))
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1 or n > 256:
        sys.exit(f"NUM_WORKERS={raw!r}: want a number of processes from 1 to 256")
    return n


class _Busy:
    """Transforms running in this process (n, under lock). A new connection
    may wait for none to run (wait_idle); the event is touched only then,
    not twice per object."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.waiting = False  # wait_idle waits on idle (lock)
        self.idle = threading.Event()

    def add(self, d):
        with self.lock:
            self.n += d
            _publish(self.n)
            if not self.n and self.waiting:
                self.idle.set()

    def wait_idle(self, timeout):
        """Until no transform runs here, timeout seconds at most."""
        with self.lock:
            if not self.n:
                return
            self.waiting = True
            self.idle.clear()
        self.idle.wait(timeout)
        with self.lock:
            self.waiting = False


busy = _Busy()
_table = None  # the shared mapping: two int32 per worker, its transforms running and streams held
_me = -1  # this worker's slot in it
_I32 = struct.Struct("i")
_streams = 0  # streams this process holds, or may (its main thread accepts, handler threads close)
_streams_lock = threading.Lock()
_counted = set()  # id() of the sockets counted in _streams
STREAM = b"GET /ws"  # how a ws:// stream's first request starts


def _publish(n):
    if _me >= 0:
        _I32.pack_into(_table, 8 * _me, n)


def _held(sock, d):
    """Counts sock in (+1) or out (-1; once) of the streams this process holds."""
    global _streams
    with _streams_lock:
        if d > 0:
            _counted.add(id(sock))
        elif id(sock) in _counted:
            _counted.discard(id(sock))
        else:
            return
        _streams += d
        if _me >= 0:
            _I32.pack_into(_table, 8 * _me + 4, _streams)


def _pending(listener):
    """Whether a connection waits to be accepted on listener."""
    return bool(select.select([listener], [], [], 0)[0])


def _not_a_stream(sock):
    """Whether sock's first bytes are not a ws:// stream's request (they
    are waited for: the client writes its request at once)."""
    try:
        head = sock.recv(len(STREAM), socket.MSG_PEEK)
    except OSError:
        return True
    return not STREAM.startswith(head) or not head


def _crowded():
    """Whether a sibling holds fewer streams than this process."""
    n = len(_table) // 8
    return any(i != _me and _I32.unpack_from(_table, 8 * i + 4)[0] < _streams for i in range(n))


def worker():
    """This process's slot among the workers (0 to n-1), or -1 when it serves alone."""
    return _me


def serving():
    """How many worker processes serve (0 when this process serves alone)."""
    return len(_table) // 8 if _me >= 0 else 0


def leave():
    """Whether the connection of the request just answered should close:
    this process runs another transform while a sibling runs none."""
    if _me < 0:
        return False
    with busy.lock:
        if busy.n == 0:
            return False
    n = len(_table) // 8
    return any(i != _me and _I32.unpack_from(_table, 8 * i)[0] == 0 for i in range(n))


def counted(fn):
    """fn, counted as a transform in progress while it runs (see GRACE);
    its signature stays visible (inspect follows __wrapped__)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        busy.add(1)
        try:
            return fn(*args, **kwargs)
        finally:
            busy.add(-1)

    return run


class WorkerMixIn:
    """For a socketserver class: accept on an inherited, non-blocking
    listening socket shared with sibling processes."""

    prefork_parent = None  # pid of the supervising parent, in a child

    def get_request(self):
        if self.prefork_parent is not None:  # siblings share the socket
            if _crowded():  # until that sibling takes it (slow to run on a busy machine), bounded
                end = time.monotonic() + CROWDED_WAIT
                while _crowded() and _pending(self.socket) and time.monotonic() < end:
                    time.sleep(GRACE / 4)
            else:
                busy.wait_idle(GRACE)
        conn, addr = self.socket.accept()  # BlockingIOError: a sibling took it
        conn.setblocking(True)
        _held(conn, 1)
        return conn, addr

    def finish_request(self, request, client_address):
        if _not_a_stream(request):
            _held(request, -1)
        super().finish_request(request, client_address)

    def shutdown_request(self, request):
        try:
            super().shutdown_request(request)
        finally:
            _held(request, -1)

    def service_actions(self):
        super().service_actions()
        if self.prefork_parent is not None and os.getppid() != self.prefork_parent:
            os._exit(0)  # the parent is gone: the ETL was stopped or died


class _UnixServer(WorkerMixIn, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128
    peer = 0  # the only pid that may connect

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("unix", 0)  # http.server's handlers index the address

    def verify_request(self, request, client_address):
        pid = struct.unpack("3i", request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        return pid == self.peer


def _bind_unix(path, s):
    """Binds s to path, a name the kernel may find too long (108 bytes):
    then through /proc/self/fd/ of its folder."""
    if len(os.fsencode(path)) < 100:
        s.bind(path)
        return
    d = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY)
    try:
        s.bind(f"/proc/self/fd/{d}/{os.path.basename(path)}")
    finally:
        os.close(d)


def unix_server(server, env=os.environ):
    """A Unix-socket sibling of server (same handler, no TCP_NODELAY) on
    ETLFS_SOCKET, bound and listening; None when not asked for or when it
    cannot be made (the target then dials the TCP port)."""
    path, peer = env.get("ETLFS_SOCKET"), env.get("ETLFS_SOCKET_PEER", "")
    if not path or not peer.isdigit():
        return None
    handler = type(server.RequestHandlerClass.__name__, (server.RequestHandlerClass,),
                   {"disable_nagle_algorithm": False})
    us = _UnixServer(path, handler, bind_and_activate=False)
    us.peer = int(peer)
    try:
        try:
            os.unlink(path)  # a previous run's
        except FileNotFoundError:
            pass
        old = os.umask(0o177)  # 0600 from the start: the ETL's user and root only
        try:
            _bind_unix(path, us.socket)
        finally:
            os.umask(old)
        us.server_activate()
    except OSError as exc:
        sys.stderr.write(f"unix socket {path}: {exc}; serving TCP only\n")
        us.server_close()
        return None
    return us


def _serve_unix(us):
    if us is not None:
        threading.Thread(target=us.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()


def _oom_kills():
    """The OOM kills counted in this process's memory cgroup (v2
    memory.events, v1 memory.oom_control); 0 when there is none to read."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    total = 0
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if not ctrls:
            events = f"/sys/fs/cgroup{path}/memory.events"
        elif "memory" in ctrls.split(","):
            events = f"/sys/fs/cgroup/{ctrls}{path}/memory.oom_control"
        else:
            continue
        try:
            with open(events) as f:
                total += sum(int(x.split()[1]) for x in f if x.startswith("oom_kill "))
        except (OSError, ValueError, IndexError):
            pass
    return total


def _child(server, slot, us):
    global _me
    _me = slot
    _publish(0)
    _I32.pack_into(_table, 8 * _me + 4, 0)  # the slot may be a dead sibling's: its count goes with it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    server.prefork_parent = os.getppid()
    server.socket.setblocking(False)
    if us is not None:
        us.prefork_parent = server.prefork_parent
        us.socket.setblocking(False)
    _serve_unix(us)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        os._exit(0)


def serve(server, n, name):
    """Serves server (bound and listening, a WorkerMixIn) with n processes;
    n == 1 serves in this process; on ETLFS_SOCKET too (unix_server).
    Returns when stopped (SIGTERM, SIGINT)."""
    us = unix_server(server)
    if n <= 1:
        _serve_unix(us)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return
    global _table
    _table = mmap.mmap(-1, 8 * n)  # MAP_SHARED: the children write, all read
    children = {}  # pid -> slot
    deaths = []

    def fork_one(slot):
        pid = os.fork()
        if pid == 0:
            _child(server, slot, us)
        children[pid] = slot
        return pid

    def stop(signum, frame):
        raise SystemExit(0)  # out of os.wait(); the children are killed below

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ooms = _oom_kills()
    for slot in range(n):
        fork_one(slot)
    sys.stderr.write(f"{name}: {n} worker processes: {' '.join(map(str, sorted(children)))}\n")
    try:
        while True:
            pid, status = os.wait()
            slot = children.pop(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            if code == -signal.SIGKILL and _oom_kills() > ooms:
                sys.stderr.write(f"{name}: worker {pid} was killed: out of memory (the ETL's limit holds for "
                                 f"all {n} workers); stopping\n")
                os.kill(os.getpid(), signal.SIGKILL)  # as a single process would have died
            now = time.monotonic()
            deaths[:] = [t for t in deaths if now - t < DEATH_WINDOW] + [now]
            if len(deaths) >= MAX_DEATHS:
                sys.stderr.write(f"{name}: worker {pid} ended ({how}); {len(deaths)} workers ended within "
                                 f"{DEATH_WINDOW:.0f} s: giving up\n")
                sys.exit(3)
            sys.stderr.write(f"{name}: worker {pid} ended ({how}); restarted as {fork_one(slot)}\n")
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
