"""The mount's request loop (fs/loop.c): one thread reads requests and runs
those that do not wait; a request that waits for the target hands the reading
on, so it never holds up the others, and a mount of one thread still works."""

import os
import signal
import subprocess
import threading

from mount_fixtures import Mount, init_md5_etl, is_mounted, md5hex, mount, unmount  # noqa: F401

# The object named slow keeps its transform (and the FUSE request reading it)
# waiting far longer than the other requests of the test take.
SLOW_CODE = """
import hashlib
import time


def transform(data):
    if data.startswith(b"slow"):
        time.sleep(10)
    return hashlib.md5(data).hexdigest().encode()
"""


def test_a_waiting_request_holds_up_no_other(target, mount):
    b = target.create_bucket("loopwait")
    etl = init_md5_etl(target, name="etl-slow", code=SLOW_CODE)
    target.put(b, "slow", b"slow object")
    target.put(b, "fast", b"fast object")
    got = {}

    def read_slow():
        with open(mount.path("@" + etl, b, "slow"), "rb") as f:
            got["slow"] = f.read()

    t = threading.Thread(target=read_slow)
    t.start()
    try:
        # while that read waits in the transform, the mount answers everything else
        assert open(mount.path("@" + etl, b, "fast"), "rb").read() == md5hex(b"fast object")
        with open(mount.path(b, "written"), "wb") as f:
            f.write(b"through the mount")
        assert open(mount.path(b, "written"), "rb").read() == b"through the mount"
        assert sorted(os.listdir(mount.path(b))) == ["fast", "slow", "written"]
        assert t.is_alive() and "slow" not in got, "the other requests waited for the slow read"
    finally:
        t.join(120)
    assert got.get("slow") == md5hex(b"slow object")


def copy_through_view(target, m, tag, prefix, size, n):
    """`cp -r MNT/@etl-md5TAG/TAGsrc/PREFIX. MNT/TAGdst/` of N random objects
    (keys without PREFIX, SIZE + i bytes each): {key: data}."""
    etl = init_md5_etl(target, name=f"etl-md5{tag}")
    b = target.create_bucket(f"{tag}src")
    datas = {f"{i:03d}": os.urandom(size + i) for i in range(n)}
    for name, data in datas.items():
        target.put(b, prefix + name, data)
    os.mkdir(m.path(f"{tag}dst"))
    src = m.path("@" + etl, b, prefix.rstrip("/")) if prefix else m.path("@" + etl, b)
    subprocess.run(["cp", "-r", src + "/.", m.path(f"{tag}dst") + "/"], check=True, timeout=120)
    return datas


def test_one_thread_copies_and_unmounts(target, tmp_path):
    m = Mount(target, tmp_path / "mnt1", options=["max_threads=1"])
    try:
        datas = copy_through_view(target, m, "loop", prefix="d/", size=100, n=40)
        subprocess.run(["sync", m.path("loopdst")], check=True, timeout=120)
        for name, data in datas.items():
            assert target.get("loopdst", name).content == md5hex(data), name
            assert open(m.path("loopdst", name), "rb").read() == md5hex(data), name
    finally:
        assert m.stop() == 0, m.log_text()


def test_sigterm_sends_what_is_queued_and_exits(target, tmp_path):
    m = Mount(target, tmp_path / "mnt2")
    datas = copy_through_view(target, m, "term", prefix="", size=200, n=30)
    m.proc.send_signal(signal.SIGTERM)  # no sync: copies may still be queued
    try:
        rc = m.proc.wait(timeout=60)
        left_mounted = is_mounted(m.mnt)
    finally:
        unmount(m.mnt)
        m.log.close()
    assert rc == 0, m.log_text()
    assert not left_mounted
    for name, data in datas.items():
        assert target.get("termdst", name).content == md5hex(data), name
