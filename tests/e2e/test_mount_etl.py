"""@etl views in the mount: MNT/@<etl>/<bucket>/... reads through the ETL,
is read-only, and cp from a view to a bucket is a server-side transform."""
import errno
import os
import subprocess

import pytest

from mount_fixtures import DOUBLE_CODE, Mount, copy_obj_supported, init_md5_etl, md5hex, mount  # noqa: F401


@pytest.fixture
def md5_etl(target):
    return init_md5_etl(target)


def test_view_lists_and_reads_transformed_bytes(target, mount, md5_etl):
    b = target.create_bucket("src")
    small, big = b"tiny", os.urandom(100_000)  # md5 hex (32 bytes) is longer / shorter
    target.put(b, "s.txt", small)
    target.put(b, "dir/big.bin", big)
    assert "@" + md5_etl in os.listdir(mount.mnt)
    view = mount.path("@" + md5_etl, b)
    assert sorted(os.listdir(view)) == ["dir", "s.txt"]
    assert os.listdir(os.path.join(view, "dir")) == ["big.bin"]
    for name, data in (("s.txt", small), ("dir/big.bin", big)):
        p = os.path.join(view, name)
        want = target.get(b, name, etl_name=md5_etl).content
        assert want == md5hex(data)
        assert subprocess.run(["cat", p], capture_output=True, check=True, timeout=60).stdout == want
        with open(p, "rb") as f:
            assert f.read() == want
        with open(p, "rb") as f:
            f.seek(30)
            assert f.read(100) == want[30:]
        local = os.path.join(mount.mnt + "-copy")
        subprocess.run(["cp", p, local], check=True, timeout=60)
        assert open(local, "rb").read() == want
        os.unlink(local)
    # once the output was read, st_size reports its length
    assert os.path.getsize(os.path.join(view, "dir", "big.bin")) == 32
    assert mount.stats()["etl_reads"] >= 4


def test_view_is_read_only(target, mount, md5_etl):
    b = target.create_bucket("ro")
    target.put(b, "x", b"x")
    view = mount.path("@" + md5_etl, b)
    for fn, args in ((open, (os.path.join(view, "x"), "wb")), (open, (os.path.join(view, "new"), "wb")),
                     (os.unlink, (os.path.join(view, "x"),)), (os.mkdir, (os.path.join(view, "d"),)),
                     (os.rename, (os.path.join(view, "x"), os.path.join(view, "y")))):
        with pytest.raises(OSError) as e:
            fn(*args)
        assert e.value.errno == errno.EROFS, fn


def test_cp_from_view_is_server_side(target, mount, md5_etl):
    b = target.create_bucket("cpsrc")
    ok, why = copy_obj_supported(target, b)
    if not ok:
        pytest.skip("target has no copy-obj yet: " + why)
    dst = target.create_bucket("cpdst")
    blobs = {"a.bin": os.urandom(10), "sub/b.bin": os.urandom(300_000), "c.bin": b""}
    for k, v in blobs.items():
        target.put(b, k, v)
    before = mount.stats()
    subprocess.run(["cp", "-r", mount.path("@" + md5_etl, b) + "/.", mount.path(dst)], check=True, timeout=120)
    subprocess.run(["sync", mount.path(dst)], check=True, timeout=120)  # copies land asynchronously
    after = mount.stats()
    for k, v in blobs.items():
        assert target.get(dst, k).content == md5hex(v), k
    # the empty source: st_size 0 makes the kernel answer copy_file_range with 0
    # without asking the daemon, so cp reads that one output (32 bytes) through FUSE
    assert after["read_bytes"] - before["read_bytes"] == 32
    assert after["server_copies"] - before["server_copies"] == 2
    # a plain copy between buckets is server-side too
    subprocess.run(["cp", mount.path(b, "sub", "b.bin"), mount.path(dst, "plain.bin")], check=True, timeout=60)
    subprocess.run(["sync", mount.path(dst)], check=True, timeout=60)
    assert target.get(dst, "plain.bin").content == blobs["sub/b.bin"]
    assert mount.stats()["read_bytes"] == after["read_bytes"]


def test_view_output_longer_than_source_spills(target, tmp_path):
    etl = init_md5_etl(target, name="etl-doublefs", code=DOUBLE_CODE)
    b = target.create_bucket("dbl")
    data = os.urandom(300_000)
    target.put(b, "x", data)
    m = Mount(target, tmp_path / "mnt", options=["mem_limit=65536"])  # forces the spool file
    try:
        p = m.path("@" + etl, b, "x")
        assert os.path.getsize(p) == len(data)  # the source size until the output is known
        want = data + data[::-1]
        assert subprocess.run(["cat", p], capture_output=True, check=True, timeout=60).stdout == want
        with open(p, "rb") as f:
            f.seek(len(data) + 10)
            assert f.read(1000) == want[len(data) + 10:len(data) + 1010]
        assert os.path.getsize(p) == len(want)
    finally:
        assert m.stop() == 0, m.log_text()


def test_view_output_in_memory_reads_at_any_offset(target, tmp_path):
    """An output held in memory goes to libfuse through a pipe of the reading
    thread (fs/vsplice.c): whole, at offsets and lengths that are not page
    aligned, short ones copied instead, from several threads at once, and
    past the end; every read sees exactly its bytes, and the pipe a read left
    holds nothing for the next one."""
    import concurrent.futures

    etl = init_md5_etl(target, name="etl-doublemem", code=DOUBLE_CODE, comm="ws://")
    b = target.create_bucket("dblm")
    data = os.urandom(700_001)  # 1.4 MB out: READs of the kernel's largest size too
    target.put(b, "x", data)
    want = data + data[::-1]
    m = Mount(target, tmp_path / "mnt")  # the default mem_limit keeps it in memory
    try:
        p = m.path("@" + etl, b, "x")
        assert subprocess.run(["cat", p], capture_output=True, check=True, timeout=60).stdout == want
        fd = os.open(p, os.O_RDONLY)
        try:
            cases = [(0, 131072), (1, 8191), (4095, 70000), (12345, 3), (len(want) - 9000, 20000),
                     (len(want), 100), (len(want) + 5, 10), (0, len(want) + 1)]
            for off, n in cases:
                assert os.pread(fd, n, off) == want[off:off + n], (off, n)

            def chunk(i):
                off = (i * 37_813) % len(want)
                return off, os.pread(fd, 50_000, off)

            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                for off, got in ex.map(chunk, range(40)):
                    assert got == want[off:off + 50_000], off
        finally:
            os.close(fd)
    finally:
        assert m.stop() == 0, m.log_text()
