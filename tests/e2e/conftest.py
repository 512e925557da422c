"""Fixtures for end-to-end tests: the real etlfs-target on a free port with
temporary mountpaths. Set ETLFS_BUILD to the build folder (default ./build)."""
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """A running etlfs-target; restart() keeps its data."""

    def __init__(self, workdir, mountpaths=2, extra_args=()):
        self.workdir = workdir
        self.data = [os.path.join(workdir, f"mp{i}") for i in range(mountpaths)]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(workdir, "target.log")
        self.proc = None
        self.start()

    def start(self):
        args = [os.path.join(BIN, "etlfs-target"), "--listen", f"127.0.0.1:{self.port}"]
        for d in self.data:
            args += ["--data", d]
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etlfs-target exited with {self.proc.returncode}: {self.log_text()}")
            try:
                if requests.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("etlfs-target did not become healthy: " + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

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
