"""Fixtures for end-to-end tests: the real etlfs-target on a free port with
temporary mountpaths. Set ETLFS_BUILD to the build folder (default ./build)."""
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ETLFS_BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")


def beside_project(env, *parts):
    """A file kept beside the project's checkout (the shared material, the
    AIStore mirror): the environment's choice, else ../PARTS next to this
    checkout, else /work/PARTS where this machine keeps them."""
    if os.environ.get(env):
        return os.environ[env]
    for base in (os.path.dirname(ROOT), "/work"):
        path = os.path.join(base, *parts)
        if os.path.exists(path):
            return path
    return os.path.join(os.path.dirname(ROOT), *parts)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path):
    """The last 4000 characters of a program's log, for a failure's message."""
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-4000:]


def wait_until(cond, timeout=15, step=0.05):
    """Polls cond, bounded: its first true value, else its value at timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def wait_for(cond, what, timeout=30):
    """wait_until, failing the test with what did not happen."""
    if not wait_until(cond, timeout, 0.1):
        raise AssertionError(f"not within {timeout} s: {what}")


def procs_with_env(mark, ppid=None):
    """Pids whose environment holds mark (bytes); only ppid's children if given."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if ppid is not None:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != ppid:
                        continue
            with open(f"/proc/{p}/environ", "rb") as f:
                if mark in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


@contextlib.contextmanager
def tmpfs_target(tmp_path, size):
    """A Target whose one mountpath is a tmpfs of size ("16m"), for disk-full
    tests; skipped, loudly, where no tmpfs can be mounted (it needs root)."""
    if os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: mounting a small tmpfs needs root; the disk-full tests did not run")
    mp = tmp_path / "mp0"
    mp.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mp)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a tmpfs here: {r.stderr}")
    t = None
    try:
        t = Target(str(tmp_path), mountpaths=1)
        yield t
    finally:
        if t:
            t.stop()
        subprocess.run(["umount", "-l", str(mp)])


class PortTaken(RuntimeError):
    """The target could not bind its port: something took it first."""


class Target:
    """A running etlfs-target; restart() keeps its data."""

    def __init__(self, workdir, mountpaths=2, extra_args=()):
        self.workdir = workdir
        self.data = [os.path.join(workdir, f"mp{i}") for i in range(mountpaths)]
        self.extra_args = list(extra_args)
        self.scheme = "https" if "--tls-cert" in self.extra_args else "http"
        self.port = free_port()
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "target.log")
        self.proc = None
        # A port found free can be taken before the target binds it (another
        # test's ETL or client): pick another, a few times, on the first start.
        for _ in range(5):
            try:
                self.start()
                return
            except PortTaken:
                self.port = free_port()
                self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.start()

    def start(self):
        args = [os.path.join(BIN, "etlfs-target"), "--listen", f"127.0.0.1:{self.port}"]
        for d in self.data:
            args += ["--data", d]
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        log_start = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                rc, text = self.proc.returncode, self.log_text()
                self.log.close()
                self.proc = None
                with open(self.log_path, "rb") as f:
                    f.seek(log_start)
                    taken = b"Address already in use" in f.read()
                error = PortTaken if taken else RuntimeError
                raise error(f"etlfs-target exited with {rc}: {text}")
            try:
                # a TLS test checks the certificate itself; here only "is it up"
                if requests.get(self.url + "/v1/health", timeout=1, verify=False).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("etlfs-target did not become healthy: " + self.log_text())

    def log_text(self):
        return log_tail(self.log_path)

    def tmp_files(self):
        """The work files in the mountpaths' .etlfs/tmp, sorted."""
        return sorted(f for mp in self.data for f in os.listdir(os.path.join(mp, ".etlfs", "tmp")))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        self.start()

    # small conveniences for tests
    def create_bucket(self, name):
        r = requests.post(f"{self.url}/v1/buckets/{name}", json={"action": "create-bck", "name": "", "value": None})
        assert r.status_code == 200, r.text
        return name

    def put(self, bucket, obj, data):
        r = requests.put(f"{self.url}/v1/objects/{bucket}/{obj}", data=data)
        assert r.status_code == 200, r.text
        return r

    def get(self, bucket, obj, **params):
        return requests.get(f"{self.url}/v1/objects/{bucket}/{obj}", params=params)


@pytest.fixture
def target(tmp_path):
    t = Target(str(tmp_path))
    yield t
    rc = t.stop()
    # A clean SIGTERM shutdown exits 0 and leaves no temp files behind.
    assert rc == 0, t.log_text()


@pytest.fixture(scope="module")
def shared_target(tmp_path_factory):
    """One target for a whole module, for tests that only add their own buckets."""
    t = Target(str(tmp_path_factory.mktemp("target")))
    yield t
    t.stop()


_counter = [0]


@pytest.fixture
def bucket(shared_target):
    _counter[0] += 1
    name = f"bck-{os.getpid()}-{_counter[0]}"
    shared_target.create_bucket(name)
    return name


# --- XXH64 (seed 0), AIStore's "xxhash" checksum, for checking ais-checksum-value
# without a native module. Pure Python: fine for the small objects tests hash.
_P1, _P2, _P3, _P4, _P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                           9650029242287828579, 2870177450012600261)
_M64 = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc, lane):
    acc = (acc + lane * _P2) & _M64
    return (_rotl(acc, 31) * _P1) & _M64


def xxh64_hex(data, seed=0):
    """XXH64 of data as 16 lowercase hex digits."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed & _M64, (seed - _P1) & _M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], int.from_bytes(data[i + 8 * k:i + 8 * k + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return f"{h:016x}"


@pytest.fixture
def xxh64():
    return xxh64_hex
