"""`mount -t etlfs`: one daemon per node, user mounts are binds of its subtrees
(so cp between two mounts reaches the daemon as copy_file_range), umount, and
recovery after the daemon died. Needs root and /sbin/mount.etlfs (linked to
this checkout's mount.etlfs for the test when absent)."""
import json
import os
import signal
import subprocess
import time

import pytest

from mount_fixtures import ETLFS, MOUNT_ETLFS, copy_obj_supported, init_md5_etl, is_mounted, md5hex, need_fuse

SBIN_MOUNT_ETLFS = "/sbin/mount.etlfs"


@pytest.fixture
def node(target, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mount -t etlfs needs root")
    need_fuse()
    linked = False
    if not os.path.exists(SBIN_MOUNT_ETLFS):
        os.symlink(MOUNT_ETLFS, SBIN_MOUNT_ETLFS)
        linked = True
    run = str(tmp_path / "run")
    opts = f"endpoint={target.url},rundir={run},bin={ETLFS}"

    class H:
        rundir = run
        root = os.path.join(run, "root")

        def mount(self, spec, d, extra=""):
            os.makedirs(d, exist_ok=True)
            r = subprocess.run(["mount", "-t", "etlfs", spec, str(d), "-o", opts + extra],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr + self.log()
            return str(d)

        def call(self, *args):
            return subprocess.run([MOUNT_ETLFS, *args, "-o", opts], capture_output=True, text=True, timeout=60)

        def stats(self):
            return json.loads(os.getxattr(self.root, "user.etlfs.stats"))

        def pid(self):
            return int(open(os.path.join(run, "daemon.pid")).read())

        def log(self):
            try:
                return open(os.path.join(run, "etlfs.log")).read()[-3000:]
            except OSError:
                return ""

    h = H()
    yield h
    h.call("--stop")
    if linked:
        os.unlink(SBIN_MOUNT_ETLFS)


def fuse_mounts_of(root):
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if " - fuse.etlfs " in ln and ln.split()[4] == root]


def test_two_mounts_one_daemon_and_server_side_cp(target, node, tmp_path):
    src, dst = target.create_bucket("hsrc"), target.create_bucket("hdst")
    target.put(src, "x.bin", os.urandom(200_000))
    target.put(src, "d/y.bin", b"hello")
    a = node.mount("ais://hsrc", tmp_path / "a")
    b = node.mount("ais://hdst", tmp_path / "b")
    assert len(fuse_mounts_of(node.root)) == 1  # one FUSE superblock, two binds
    assert is_mounted(a) and is_mounted(b)
    assert sorted(os.listdir(a)) == ["d", "x.bin"]
    ok, why = copy_obj_supported(target, dst)
    before = node.stats()
    subprocess.run(["cp", "-r", a + "/.", b], check=True, timeout=120)
    subprocess.run(["sync", b], check=True, timeout=120)  # copies land asynchronously: wait for them
    assert target.get(dst, "x.bin").content == target.get(src, "x.bin").content
    assert target.get(dst, "d/y.bin").content == b"hello"
    after = node.stats()
    if ok:
        assert after["read_bytes"] == before["read_bytes"], "object bytes went through FUSE"
        assert after["server_copies"] - before["server_copies"] == 2
    subprocess.run(["umount", a], check=True, timeout=30)
    assert not is_mounted(a) and is_mounted(b)
    if not ok:
        pytest.skip("copy went through FUSE: target has no copy-obj yet: " + why)


def test_etl_mount_cp_transforms_server_side(target, node, tmp_path):
    etl = init_md5_etl(target)
    src, dst = target.create_bucket("esrc"), target.create_bucket("edst")
    ok, why = copy_obj_supported(target, dst)
    data = {"a": os.urandom(5), "b/c": os.urandom(70_000)}
    for k, v in data.items():
        target.put(src, k, v)
    v = node.mount(f"ais://esrc@{etl}", tmp_path / "view", extra=",ro")
    d = node.mount("ais://edst", tmp_path / "dst")
    assert open(os.path.join(v, "a"), "rb").read() == md5hex(data["a"])
    before = node.stats()
    subprocess.run(["cp", "-r", v + "/.", d], check=True, timeout=120)
    subprocess.run(["sync", d], check=True, timeout=120)
    for k, val in data.items():
        assert target.get(dst, k).content == md5hex(val), k
    if not ok:
        pytest.skip("target has no copy-obj yet: " + why)
    assert node.stats()["read_bytes"] == before["read_bytes"]


def test_restore_after_daemon_death(target, node, tmp_path):
    target.create_bucket("rsrc")
    target.put("rsrc", "o", b"still here")
    m = node.mount("ais://rsrc", tmp_path / "m")
    os.kill(node.pid(), signal.SIGKILL)
    time.sleep(0.2)
    r = subprocess.run(["cat", os.path.join(m, "o")], capture_output=True, timeout=30)
    assert r.returncode != 0  # ENOTCONN: the daemon is gone
    # the next mount restarts the daemon and re-binds the old one
    m2 = node.mount("ais://rsrc", tmp_path / "m2")
    assert open(os.path.join(m2, "o"), "rb").read() == b"still here"
    assert open(os.path.join(m, "o"), "rb").read() == b"still here"
    os.kill(node.pid(), signal.SIGKILL)
    time.sleep(0.2)
    r = node.call("--restore")
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(m, "o"), "rb").read() == b"still here"
    assert "rsrc" in node.call("--status").stdout
