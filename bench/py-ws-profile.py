#!/usr/bin/python3
"""py-ws-profile.py - what the init-code runner's ws:// loop costs per object,
in the runner's own process: the real request handler (runner.py's Handler,
GET /ws, ws_stream.py's framing, the md5 init code of bench/etl-inline.sh)
serves one loopback TCP stream fed by a forked client that sends control
messages as the target does (fqn, 16 KiB files) with INFLIGHT of them in
flight. Prints the server's CPU per object (time.process_time: the client's
is not counted) and, with --profile, cProfile's top functions. CPU, not wall
time: a shared machine moves it less. strace -c -f of this script counts the
server's system calls per object (the client forks before the server's loop:
strace -c -f counts both; --strace-server prints the server's pid and waits
for a line on stdin before it starts, so that strace -c -p PID counts it alone).

usage: bench/py-ws-profile.py [-n N] [-w INFLIGHT] [--profile] [--bytes] [--rounds R]
"""
import argparse
import cProfile
import hashlib
import importlib.util
import os
import pstats
import socket
import struct
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
MD5 = "import hashlib\n\ndef transform(data):\n    return hashlib.md5(data).hexdigest().encode()\n"


def load_runner(code_dir):
    os.environ.update(MOD_NAME="code", ETLFS_CODE_DIR=code_dir, FUNC_TRANSFORM="transform",
                      COMM_TYPE="ws://", ARG_TYPE="", ETLFS_PORT="1")
    spec = importlib.util.spec_from_file_location("runner", os.path.join(ROOT, "etl/runtimes/python/runner.py"))
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    cfg = runner.Config(os.environ)
    prefork = runner.lib_module("prefork")
    runner.Handler.cfg = cfg
    runner.Handler.leave = staticmethod(prefork.leave)
    runner.Handler.transform = staticmethod(prefork.counted(runner.load_transform(cfg)))
    return runner


def frame(op, data):
    """A client's frame: masked, as RFC 6455 wants."""
    n = len(data)
    head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else struct.pack("!BH", 0xFE, n) if n < 65536
                                 else struct.pack("!BQ", 0xFF, n))
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return head + mask + (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def client(port, files, n, inflight, send_bytes):
    """Sends n objects (cycling through files), inflight at a time; checks
    each answer's digest; exits 0 when all came right."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    msgs = []
    for path, data in files:
        if send_bytes:
            ctrl = b'{"path":"bench/%s"}' % os.path.basename(path).encode()
            msgs.append((frame(2, ctrl) + frame(2, data), hashlib.md5(data).hexdigest().encode()))
        else:
            ctrl = b'{"fqn":"%s","path":"bench/%s"}' % (urllib.parse.quote(path, safe="-_.~$&+,:;=@").encode(),
                                                       os.path.basename(path).encode())
            msgs.append((frame(2, ctrl), hashlib.md5(data).hexdigest().encode()))
    sent = got = 0
    want = []
    while got < n:
        out = []
        while sent < n and sent - got < inflight:
            m, digest = msgs[sent % len(msgs)]
            out.append(m)
            want.append(digest)
            sent += 1
        if out:
            s.sendall(b"".join(out))
        while True:  # one answer: a frame of the server (unmasked, short)
            if len(buf) >= 2:
                ln = buf[1] & 0x7F
                hl = 2 if ln < 126 else 4 if ln == 126 else 10
                if len(buf) >= hl:
                    if ln >= 126:
                        ln = int.from_bytes(buf[2:hl], "big")
                    if len(buf) >= hl + ln:
                        body, buf = buf[hl:hl + ln], buf[hl + ln:]
                        if buf[:0] == b"" and body != want[got]:
                            sys.stderr.write(f"py-ws-profile: object {got}: {body[:80]!r}, want {want[got]!r}\n")
                            os._exit(1)
                        got += 1
                        break
            data = s.recv(65536)
            if not data:
                sys.stderr.write("py-ws-profile: the server closed the stream\n")
                os._exit(1)
            buf += data
    s.close()
    os._exit(0)


class Stub:
    """What a request handler reads of its server."""
    server_name, server_port = "127.0.0.1", 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-w", "--inflight", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--bytes", action="store_true", help="send the bytes (ETL_DIRECT_FQN=false), not the fqn")
    ap.add_argument("--strace-server", action="store_true")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="py-ws-profile.")
    files = []
    for i in range(100):
        path = os.path.join(work, f"obj-{i:03d}")
        data = os.urandom(16384)
        with open(path, "wb") as f:
            f.write(data)
        files.append((path, data))
    with open(os.path.join(work, "code.py"), "w") as f:
        f.write(MD5)
    runner = load_runner(work)
    best = None
    for r in range(a.rounds):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]
        if a.strace_server and r == 0:
            print(f"server pid {os.getpid()}: press enter to start", flush=True)
            sys.stdin.readline()
        pid = os.fork()
        if pid == 0:
            lsock.close()
            client(port, files, a.n, a.inflight, a.bytes)
        conn, addr = lsock.accept()
        lsock.close()
        prof = cProfile.Profile(time.process_time) if a.profile else None
        t0, w0 = time.process_time(), time.monotonic()
        if prof:
            prof.enable()
        runner.Handler(conn, addr, Stub())
        if prof:
            prof.disable()
        t1, w1 = time.process_time(), time.monotonic()
        conn.close()
        _, status = os.waitpid(pid, 0)
        if status:
            sys.exit(f"py-ws-profile: the client failed (status {status})")
        us = (t1 - t0) / a.n * 1e6
        best = us if best is None else min(best, us)
        print(f"round {r + 1}: {a.n} objects, {a.inflight} in flight, {'bytes' if a.bytes else 'fqn'}: "
              f"server CPU {us:.1f} us per object ({(w1 - w0) / a.n * 1e6:.1f} us wall)")
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    if a.rounds > 1:
        print(f"best: {best:.1f} us of server CPU per object")
    for p, _ in files:
        os.unlink(p)
    os.unlink(os.path.join(work, "code.py"))
    os.rmdir(work)


if __name__ == "__main__":
    main()
