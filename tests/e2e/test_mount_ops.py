"""Every FUSE operation enters through the mount's one protocol (fs/ops.c's
op_enter_*): each is counted in user.etlfs.stats' fuse_ops, and the kinds that
used to take their own steps (getattr, opendir, fsyncdir, rmdir, mkdir) refuse
and wait as the protocol says."""
import errno
import os

import pytest

from mount_fixtures import init_md5_etl, mount  # noqa: F401


def counted(mount, fn):
    """fuse_ops that fn made (the getxattr reading the counters is one of its own)."""
    before = mount.stats()["fuse_ops"]
    fn()
    return mount.stats()["fuse_ops"] - before - 1


def test_every_operation_is_counted(target, mount):
    b = target.create_bucket("ops")
    target.put(b, "x", b"data")
    p = mount.path(b, "x")
    d = mount.path(b, "d")

    def sync_dir():
        fd = os.open(mount.path(b), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write():
        with open(mount.path(b, "w"), "wb") as f:
            f.write(b"1")

    for name, fn in (("stat", lambda: os.path.exists(mount.path(b, "nothing-here-1"))),
                     ("listdir", lambda: os.listdir(mount.path(b))),
                     ("fsyncdir", sync_dir),
                     ("mkdir", lambda: os.mkdir(d)),
                     ("rmdir", lambda: os.rmdir(d)),
                     ("read", lambda: open(p, "rb").read()),
                     ("write", write),
                     ("chmod", lambda: os.chmod(p, 0o600)),
                     ("statvfs", lambda: os.statvfs(mount.mnt))):
        assert counted(mount, fn) >= 1, name


def test_directory_operations_refuse_as_the_protocol_says(target, mount):
    etl = init_md5_etl(target, name="etl-md5ops")
    b = target.create_bucket("opsdir")
    target.put(b, "a/x", b"1")
    view = mount.path("@" + etl, b)
    for path, want in ((os.path.join(view, "a"), errno.EROFS), (mount.path("@" + etl), errno.EROFS),
                       (mount.path(b, "a"), errno.ENOTEMPTY), (mount.path(b, "nope"), errno.ENOENT)):
        with pytest.raises(OSError) as e:
            os.rmdir(path)
        assert e.value.errno == want, path
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(view, "new"))
    assert e.value.errno == errno.EROFS
    # a view's directory can be opened, listed and synced
    fd = os.open(os.path.join(view, "a"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
        assert os.listdir(os.path.join(view, "a")) == ["x"]
    finally:
        os.close(fd)
