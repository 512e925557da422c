"""The mount against a model: Hypothesis drives random sequences of file
operations (create, write at an offset, truncate, rename, unlink, mkdir,
rmdir, read, stat, readdir, copy) on a bucket through the mount and on a
plain directory, and compares every result and errno.

Differences that are by design (docs/mount.md, "Against POSIX") are applied
to the plain side as the model's rules, never papered over on the mount's:
- object stores have no empty directories: a directory the mount made and
  nothing was written into is kept in memory, and one that an unlink or a
  rename emptied is gone (the plain side prunes emptied directories too);
- renaming a directory is EXDEV (mv falls back to copy + remove);
- a name cannot be a file and a directory at once, in either order;
- an existing file truncated by open(O_TRUNC) and closed without a write
  is published at release, just after close.
"""
import errno
import os
import shutil
import time

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

from conftest import Target  # noqa: E402
from mount_fixtures import Mount, need_fuse  # noqa: E402

NAMES = ["a", "b", "d/x", "d/y", "d/e/z", "f/g"]
DIRS = ["d", "d/e", "f", "h"]
DATA = st.binary(min_size=0, max_size=3000)
EXAMPLES = int(os.environ.get("ETLFS_MODEL_EXAMPLES", "100"))


def outcome(fn, *args):
    """("ok", value) or ("err", errno name)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_at(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def copy_file(src, dst):
    shutil.copyfile(src, dst)


def stat_of(path):
    s = os.stat(path)
    return ("dir", 0) if os.path.isdir(path) else ("file", s.st_size)


def ancestors(rel):
    """"d/e/z" -> ["d/e", "d"]"""
    out = []
    while "/" in rel:
        rel = rel.rsplit("/", 1)[0]
        out.append(rel)
    return out


def prune(root, rel, made, vanished):
    """Removes the directories above rel that are left empty and exist only
    for what they held (not made by mkdir): the model of the mount's virtual
    directories. Each goes into vanished."""
    for d in ancestors(rel):
        full = os.path.join(root, d)
        if d in made or not os.path.isdir(full) or os.listdir(full):
            return
        os.rmdir(full)
        vanished.add(d)


class MountVsDir(RuleBasedStateMachine):
    target = None
    mount = None
    plain = None
    n = 0

    def __init__(self):
        super().__init__()
        MountVsDir.n += 1
        bucket = f"model{MountVsDir.n}"
        self.bucket = bucket
        self.m = self.mount.path(bucket)
        self.p = os.path.join(self.plain, bucket)
        os.mkdir(self.m)
        os.mkdir(self.p)
        self.vanished = set()  # directories the removal of their last object took away
        self.made = set()      # directories mkdir made that no object has been written below yet

    def both(self, fn, *rel, extra=()):
        got = outcome(fn, *[os.path.join(self.m, r) for r in rel], *extra)
        want = outcome(fn, *[os.path.join(self.p, r) for r in rel], *extra)
        assert got == want, (fn.__name__, rel, got, want)
        return want

    def written(self, rel):
        """An object now exists at rel: the directories above it hold it (the
        mount forgets that mkdir made them)."""
        self.made -= set(ancestors(rel))
        self.vanished -= set(ancestors(rel))

    def makedirs_for(self, rel):
        """mkdir -p of rel's directory on both sides, as a user would."""
        for d in reversed(ancestors(rel)):
            if not os.path.exists(os.path.join(self.p, d)):
                self.made.add(d)
        for root in (self.m, self.p):
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)

    @rule(name=st.sampled_from(NAMES), data=DATA)
    def create(self, name, data):
        self.makedirs_for(name)
        existed = os.path.isfile(os.path.join(self.p, name))
        if self.both(write_file, name, extra=(data,))[0] == "ok":
            self.written(name)
            if existed and not data:
                self.wait_released(name)

    def wait_released(self, name):
        """By design, an existing file opened with O_TRUNC and closed without a
        write is published at release, which the kernel sends just after
        close (so `echo x > f` never shows f empty in between): wait for it.
        The target tells: through the mount, the file still open for writing
        shows its (empty) bytes before they are published."""
        for _ in range(100):
            if self.target.get(self.bucket, name).content == b"":
                return
            time.sleep(0.02)

    @rule(name=st.sampled_from(NAMES), off=st.integers(0, 4000), data=DATA)
    def write_at_offset(self, name, off, data):
        self.both(write_at, name, extra=(off, data))

    @rule(name=st.sampled_from(NAMES), size=st.integers(0, 5000))
    def truncate(self, name, size):
        self.both(os.truncate, name, extra=(size,))

    @rule(name=st.sampled_from(NAMES))
    def unlink(self, name):
        if self.both(os.unlink, name)[0] == "ok":
            prune(self.p, name, self.made, self.vanished)

    @rule(src=st.sampled_from(NAMES), dst=st.sampled_from(NAMES))
    def rename_file(self, src, dst):
        if os.path.isdir(os.path.join(self.p, src)) or os.path.isdir(os.path.join(self.p, dst)):
            return  # directory renames: EXDEV by design
        if os.path.exists(os.path.join(self.p, src)):
            self.makedirs_for(dst)
        if self.both(os.rename, src, dst)[0] == "ok" and src != dst:
            self.written(dst)
            prune(self.p, src, self.made, self.vanished)

    @rule(src=st.sampled_from(NAMES), dst=st.sampled_from(NAMES))
    def copy(self, src, dst):
        if src == dst or os.path.isdir(os.path.join(self.p, dst)):
            return
        if os.path.isfile(os.path.join(self.p, src)):
            self.makedirs_for(dst)
        if self.both(copy_file, src, dst)[0] == "ok":
            self.written(dst)
        os.sync()  # the mount's copies land asynchronously; sync waits (docs/mount.md)

    @rule(d=st.sampled_from(DIRS))
    def mkdir(self, d):
        if self.both(os.mkdir, d)[0] == "ok":
            self.vanished.discard(d)
            self.made.add(d)

    @rule(d=st.sampled_from(DIRS))
    def rmdir(self, d):
        if d in self.vanished and not os.path.exists(os.path.join(self.p, d)):
            # by design: `rm -r` unlinks the files, then rmdirs their directory,
            # which went with its last object; the kernel may still hold its
            # entry (entry_timeout), so rmdir succeeds then, ENOENT later
            got = outcome(os.rmdir, os.path.join(self.m, d))
            assert got in (("ok", None), ("err", "ENOENT")), got
            return
        if self.both(os.rmdir, d)[0] == "ok":
            self.made.discard(d)
            prune(self.p, d, self.made, self.vanished)

    @rule(name=st.sampled_from(NAMES + DIRS))
    def stat(self, name):
        self.both(stat_of, name)

    @rule(name=st.sampled_from(NAMES))
    def read(self, name):
        self.both(read_file, name)

    @invariant()
    def same_tree(self):
        def tree(root):
            out = {}
            for d, dirs, files in os.walk(root):
                rel = os.path.relpath(d, root)
                out[rel] = sorted(dirs + files)
            return out

        assert tree(self.m) == tree(self.p)


@pytest.fixture(scope="module")
def model_env(tmp_path_factory):
    need_fuse()
    work = tmp_path_factory.mktemp("model")
    os.makedirs(work / "t")
    t = Target(str(work / "t"))
    m = Mount(t, work / "mnt")
    plain = work / "plain"
    plain.mkdir()
    yield t, m, str(plain)
    m.stop()
    t.stop()


def test_mount_behaves_as_a_directory(model_env):
    MountVsDir.target, MountVsDir.mount, MountVsDir.plain = model_env
    run = MountVsDir.TestCase
    run.settings = settings(max_examples=EXAMPLES, stateful_step_count=25, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run().runTest()
