"""The etlfs mount: buckets as directories, reads, atomic writes, namespace
operations and the errno a user sees. Real FUSE mounts over a real target."""
import errno
import os
import subprocess
import threading
import time

import pytest
import requests

from mount_fixtures import mount, mount_http  # noqa: F401  (fixtures)


def test_listing_nested_and_many(target, mount):
    b = target.create_bucket("lst")
    for name in ["top.txt", "a/x.txt", "a/b/y.txt", "a/b/c/z.txt", "d/e/f.txt"]:
        target.put(b, name, name.encode())
    s = requests.Session()
    for i in range(2500):
        r = s.put(f"{target.url}/v1/objects/{b}/many/f{i:05d}", data=b"%d" % i)
        assert r.status_code == 200
    assert "lst" in os.listdir(mount.mnt)
    assert sorted(os.listdir(mount.path(b))) == ["a", "d", "many", "top.txt"]
    assert sorted(os.listdir(mount.path(b, "a"))) == ["b", "x.txt"]
    assert sorted(os.listdir(mount.path(b, "a", "b"))) == ["c", "y.txt"]
    assert os.path.isdir(mount.path(b, "a", "b", "c"))
    many = os.listdir(mount.path(b, "many"))
    assert len(many) == 2500 and len(set(many)) == 2500  # pages of 1000, no duplicates
    assert sorted(many) == [f"f{i:05d}" for i in range(2500)]
    walked = sorted(os.path.relpath(os.path.join(d, f), mount.path(b))
                    for d, _, fs in os.walk(mount.path(b)) for f in fs)
    assert len(walked) == 2505 and "a/b/c/z.txt" in walked
    st = os.stat(mount.path(b, "a", "b", "y.txt"))
    assert st.st_size == len(b"a/b/y.txt") and not os.path.isdir(mount.path(b, "top.txt"))
    with open(mount.path(b, "many", "f01234"), "rb") as f:
        assert f.read() == b"1234"


@pytest.mark.parametrize("which", ["fqn", "http"])
def test_reads_at_offsets(target, request, which):
    m = request.getfixturevalue("mount" if which == "fqn" else "mount_http")
    b = target.create_bucket("rd")
    data = os.urandom(3 * 1024 * 1024 + 123)
    target.put(b, "dir/big.bin", data)
    p = m.path(b, "dir", "big.bin")
    assert os.path.getsize(p) == len(data)
    out = subprocess.run(["cat", p], capture_output=True, timeout=60, check=True).stdout
    assert out == data
    out = subprocess.run(["dd", f"if={p}", "bs=4096", "skip=100", "count=3", "status=none"],
                         capture_output=True, timeout=60, check=True).stdout
    assert out == data[409600:409600 + 3 * 4096]
    with open(p, "rb") as f:
        for off, n in [(0, 10), (len(data) - 5, 100), (1_000_001, 70_000), (5, 1), (len(data), 10)]:
            f.seek(off)
            assert f.read(n) == data[off:off + n]
        f.seek(0)
        assert f.read() == data
    st = m.stats()
    assert st["objects_read"] >= 3 and st["read_bytes"] >= len(data)
    assert (st["fqn_reads"] > 0) == (which == "fqn")


def test_reread_keeps_cache_and_sees_new_version(target, mount):
    b = target.create_bucket("ver")
    target.put(b, "o", b"version one")
    p = mount.path(b, "o")
    with open(p, "rb") as f:
        assert f.read() == b"version one"
    with open(p, "rb") as f:
        assert f.read() == b"version one"
    assert mount.stats()["cache_hits"] >= 1
    target.put(b, "o", b"second version!")
    time.sleep(1.2)  # attr_timeout
    with open(p, "rb") as f:
        assert f.read() == b"second version!"


def test_writes_visible_atomically(target, mount):
    b = target.create_bucket("wr")
    os.mkdir(mount.path(b, "sub"))  # as on any file system, the directory first
    p = mount.path(b, "sub", "new.bin")
    chunk = os.urandom(1 << 20)
    with open(p, "wb") as f:
        for _ in range(4):
            f.write(chunk)
            f.flush()  # Python's flush is a write(), not close(): nothing published yet
        assert target.get(b, "sub/new.bin").status_code == 404
    r = target.get(b, "sub/new.bin")
    assert r.status_code == 200 and r.content == chunk * 4
    assert os.path.getsize(p) == 4 << 20

    # an overwrite: readers see the old bytes until close, then the new ones
    with open(p, "r+b") as f:
        f.seek(10)
        f.write(b"XYZ")
        assert target.get(b, "sub/new.bin").content == chunk * 4
    want = bytearray(chunk * 4)
    want[10:13] = b"XYZ"
    assert target.get(b, "sub/new.bin").content == bytes(want)

    subprocess.run(f"echo hello > {p}", shell=True, check=True)
    assert target.get(b, "sub/new.bin").content == b"hello\n"
    os.truncate(p, 2)
    assert target.get(b, "sub/new.bin").content == b"he"
    open(mount.path(b, "empty"), "wb").close()
    assert target.get(b, "empty").content == b""
    assert mount.stats()["puts"] >= 4


def test_rm_mv_mkdir_rmdir(target, mount):
    os.mkdir(mount.path("nsb"))
    r = requests.get(f"{target.url}/v1/buckets", params={"provider": "ais"},
                     json={"action": "list", "name": "", "value": None})
    assert "nsb" in [x["name"] for x in r.json()]
    os.makedirs(mount.path("nsb", "d1", "d2"))
    assert os.path.isdir(mount.path("nsb", "d1", "d2"))
    assert sorted(os.listdir(mount.path("nsb"))) == ["d1"]
    with open(mount.path("nsb", "d1", "d2", "f"), "wb") as f:
        f.write(b"data")
    assert target.get("nsb", "d1/d2/f").content == b"data"
    os.rename(mount.path("nsb", "d1", "d2", "f"), mount.path("nsb", "g"))
    assert target.get("nsb", "d1/d2/f").status_code == 404
    assert target.get("nsb", "g").content == b"data"
    assert sorted(os.listdir(mount.path("nsb"))) == ["g"]
    subprocess.run(["mv", mount.path("nsb", "g"), mount.path("nsb", "h")], check=True, timeout=30)
    assert open(mount.path("nsb", "h"), "rb").read() == b"data"
    os.mkdir(mount.path("nsb", "empty"))
    os.rmdir(mount.path("nsb", "empty"))
    assert not os.path.exists(mount.path("nsb", "empty"))
    with pytest.raises(OSError) as e:
        os.rmdir(mount.path("nsb"))
    assert e.value.errno == errno.ENOTEMPTY
    os.unlink(mount.path("nsb", "h"))
    assert target.get("nsb", "h").status_code == 404
    os.rmdir(mount.path("nsb"))
    assert "nsb" not in os.listdir(mount.mnt)
    # a directory moves by copy (mv falls back on EXDEV), across buckets too
    os.mkdir(mount.path("mv1"))
    os.mkdir(mount.path("mv2"))
    os.makedirs(mount.path("mv1", "dir"))
    for n in ("a", "b"):
        with open(mount.path("mv1", "dir", n), "wb") as f:
            f.write(n.encode())
    subprocess.run(["mv", mount.path("mv1", "dir"), mount.path("mv2", "moved")], check=True, timeout=30)
    assert sorted(os.listdir(mount.path("mv2", "moved"))) == ["a", "b"]
    assert target.get("mv1", "dir/a").status_code == 404


def _err(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


def test_errno_table(target, mount):
    b = target.create_bucket("errs")
    target.put(b, "file", b"x")
    target.put(b, "dir/inner", b"y")
    assert _err(open, mount.path(b, "missing"), "rb") == errno.ENOENT
    assert _err(os.stat, mount.path("no-such-bucket")) == errno.ENOENT
    assert _err(os.mkdir, mount.path(b)) == errno.EEXIST
    assert _err(os.rmdir, mount.path(b, "dir")) == errno.ENOTEMPTY
    assert _err(os.listdir, mount.path(b, "file")) == errno.ENOTDIR
    assert _err(open, mount.path("file-at-root"), "wb") == errno.EPERM
    os.mkdir(mount.path("errs2"))
    assert _err(os.rename, mount.path(b, "file"), mount.path("errs2", "file")) == errno.EXDEV
    assert _err(os.unlink, mount.path(b, "missing")) == errno.ENOENT
    assert _err(os.stat, mount.path("@no-such-etl")) == errno.ENOENT


def test_target_restart_while_mounted(target, mount):
    b = target.create_bucket("rst")
    target.put(b, "a", b"before")
    target.put(b, "b", b"second")
    assert open(mount.path(b, "a"), "rb").read() == b"before"
    target.stop()
    try:
        time.sleep(1.2)  # let cached attributes expire
        t0 = time.time()
        r = subprocess.run(["cat", mount.path(b, "b")], capture_output=True, timeout=30)
        assert r.returncode != 0 and time.time() - t0 < 20
        r = subprocess.run(["ls", mount.path(b)], capture_output=True, timeout=30)
        assert r.returncode != 0
    finally:
        target.start()
    assert open(mount.path(b, "b"), "rb").read() == b"second"
    with open(mount.path(b, "c"), "wb") as f:
        f.write(b"after")
    assert target.get(b, "c").content == b"after"
    assert mount.stats()["errors"] >= 1


def test_parallel_readers(target, mount):
    b = target.create_bucket("par")
    blobs = {f"o{i}": os.urandom(50_000 + i) for i in range(40)}
    for k, v in blobs.items():
        target.put(b, k, v)
    bad = []

    def work(keys):
        for k in keys:
            if open(mount.path(b, k), "rb").read() != blobs[k]:
                bad.append(k)

    keys = list(blobs)
    ts = [threading.Thread(target=work, args=(keys[i::4],)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not bad


def test_stats_xattr(target, mount):
    b = target.create_bucket("sts")
    target.put(b, "o", b"12345")
    before = mount.stats()
    assert open(mount.path(b, "o"), "rb").read() == b"12345"
    after = mount.stats()
    assert after["read_bytes"] - before["read_bytes"] == 5
    assert after["objects_read"] - before["objects_read"] == 1
    for k in ("server_copies", "cache_hits", "errors", "http_requests"):
        assert k in after
    assert "user.etlfs.stats" in os.listxattr(mount.mnt)


def _work_files(target):
    return [f for mp in target.data for f in os.listdir(os.path.join(mp, ".etlfs", "tmp"))]


def test_truncate_past_the_targets_free_space_is_enospc(target, mount):
    b = target.create_bucket("tera")
    p = mount.path(b, "huge")
    r = subprocess.run(["truncate", "-s", "1T", p], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "No space left" in r.stderr, r
    # nothing giant was sent: at most the empty file open(O_CREAT) made
    got = target.get(b, "huge")
    assert got.status_code == 404 or got.content == b""
    assert _work_files(target) == []
    # the same for a path truncate of an existing object (unchanged) and a write far past the end
    target.put(b, "old", b"old bytes")
    with pytest.raises(OSError) as e:
        os.truncate(mount.path(b, "old"), 1 << 40)
    assert e.value.errno == errno.ENOSPC
    assert target.get(b, "old").content == b"old bytes"
    fd = os.open(mount.path(b, "sparse"), os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 1 << 40)
        assert e.value.errno == errno.ENOSPC
        os.pwrite(fd, b"fits", 0)
    finally:
        os.close(fd)
    assert target.get(b, "sparse").content == b"fits"
    assert _work_files(target) == []


def test_max_object_size_option_is_efbig(target, tmp_path):
    from mount_fixtures import Mount

    m = Mount(target, tmp_path / "mnt-max", options=["max_object_size=1048576"])
    try:
        b = target.create_bucket("capped")
        p = m.path(b, "f")
        with pytest.raises(OSError) as e:
            os.truncate(p if os.path.exists(p) else open(p, "wb").name, 2 << 20)
        assert e.value.errno == errno.EFBIG
        with open(p, "wb") as f:
            f.write(b"a" * (1 << 20))  # exactly the limit fits
        assert target.get(b, "f").content == b"a" * (1 << 20)
        with pytest.raises(OSError) as e:
            with open(p, "ab") as f:
                f.write(b"b")
        assert e.value.errno == errno.EFBIG
        assert len(target.get(b, "f").content) == 1 << 20
    finally:
        assert m.stop() == 0, m.log_text()
