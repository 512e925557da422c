"""Fixtures for the mount tests: build/bin/etlfs on a temp directory over the
`target` fixture's etlfs-target, unmounted with fusermount3 -u at the end, and a
small md5 ETL (skipped with the reason when ETL init fails)."""
import base64
import hashlib
import os
import shutil
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT, Target  # noqa: F401  (Target re-exported for tests)

ETLFS = os.path.join(BIN, "etlfs")
MOUNT_ETLFS = os.path.join(ROOT, "mount-helpers", "mount.etlfs")


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def unmount(path):
    for args in (["fusermount3", "-u", path], ["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if not is_mounted(path):
            return
        subprocess.run(args, stderr=subprocess.DEVNULL, timeout=30)
        deadline = time.time() + 5
        while is_mounted(path) and time.time() < deadline:
            time.sleep(0.05)


def need_fuse():
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        pytest.skip("needs /dev/fuse and fusermount3 (Debian package fuse3)")
    if not os.path.exists(ETLFS):
        pytest.skip(f"{ETLFS} is not built")


class Mount:
    """A running etlfs daemon (foreground, so the test owns its process)."""

    def __init__(self, target, mnt, options=()):
        need_fuse()
        self.target = target
        self.mnt = str(mnt)
        os.makedirs(self.mnt, exist_ok=True)
        self.log_path = self.mnt.rstrip("/") + ".log"
        args = [ETLFS, "--endpoint", target.url, self.mnt, "-f"]
        for o in options:
            args += ["-o", o]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("etlfs did not mount: " + self.log_text())
            time.sleep(0.02)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def stats(self):
        import json

        return json.loads(os.getxattr(self.mnt, "user.etlfs.stats"))

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        unmount(self.mnt)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


@pytest.fixture
def mount(target, tmp_path):
    m = Mount(target, tmp_path / "mnt")
    yield m
    rc = m.stop()
    assert rc == 0, m.log_text()


@pytest.fixture
def mount_http(target, tmp_path):
    """The same mount with the node-local fast path off: every byte over HTTP."""
    m = Mount(target, tmp_path / "mnt-http", options=["fqn=off"])
    yield m
    assert m.stop() == 0, m.log_text()


MD5_CODE = """
import hashlib


def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""


DOUBLE_CODE = """
def transform(data):
    return data + data[::-1]
"""


def init_md5_etl(target, name="etl-md5fs", code=MD5_CODE, comm="hpush://"):
    """Starts a code ETL (by default the hex md5 of each object, over
    hpush://); skips the test with the target's reason when ETL init fails."""
    msg = {
        "id": name,
        "runtime": "python3.11v2",
        "communication": comm,
        "timeout": "2m",
        "funcs": {"transform": "transform"},
        "code": base64.b64encode(code.encode()).decode(),
        "dependencies": "",
        "argument": "",
    }
    try:
        r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=180)
    except requests.RequestException as e:
        pytest.skip(f"ETL init failed: {e}")
    if r.status_code != 200:
        pytest.skip(f"ETL init failed: HTTP {r.status_code}: {r.text[:300]}")
    return name


def md5hex(data):
    return hashlib.md5(data).hexdigest().encode()


def copy_obj_supported(target, bucket):
    """True once the target serves the copy-obj extension (the daemon's
    copy_file_range needs it)."""
    target.put(bucket, "__probe", b"x")
    r = requests.post(
        f"{target.url}/v1/objects/{bucket}/__probe",
        params={"bck_to": f"ais/@#/{bucket}/"},
        json={"action": "copy-obj", "name": "__probe2", "value": {"id": ""}},
    )
    requests.delete(f"{target.url}/v1/objects/{bucket}/__probe")
    requests.delete(f"{target.url}/v1/objects/{bucket}/__probe2")
    return r.status_code == 200, r.text[:200]
