"""Read-ahead through @etl views: a reader going through a view's directory in
order gets files the daemon transformed ahead of it (user.etlfs.stats'
readahead_* counters), with exactly the bytes a plain read gives; a write to
a source drops what was made from its old bytes; -o etl_readahead=0 turns it
off; readers out of order and in parallel read correctly."""
import os
import subprocess
import threading
import time

import pytest

import conftest
from mount_fixtures import DOUBLE_CODE, Mount, init_md5_etl, md5hex, mount  # noqa: F401

N = 24


@pytest.fixture
def md5_etl(target):
    return init_md5_etl(target, name="etl-md5ra")


def fill(target, name, n=N):
    b = target.create_bucket(name)
    data = {}
    for i in range(n):
        key = f"f-{i:03d}"
        data[key] = os.urandom(1000 + i)
        target.put(b, key, data[key])
    return b, data


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_fetching(mount, since):
    """Until a transform ahead has started (bounded): it is then waited for or
    taken, never asked again."""
    deadline = time.monotonic() + 60
    while mount.stats()["readahead_fetches"] == since:
        assert time.monotonic() < deadline, mount.stats()
        time.sleep(0.01)


def test_in_order_reader_gets_outputs_made_ahead(target, mount, md5_etl):
    b, data = fill(target, "ra")
    view = mount.path("@" + md5_etl, b)
    names = sorted(os.listdir(view))
    assert names == sorted(data)
    before = mount.stats()
    # two files in order: the next ones are being transformed ahead
    for key in names[:2]:
        assert read(os.path.join(view, key)) == md5hex(data[key]), key
    wait_fetching(mount, before["readahead_fetches"])
    assert read(os.path.join(view, names[2])) == md5hex(data[names[2]])
    assert mount.stats()["readahead_hits"] > before["readahead_hits"]
    for key in names[3:]:
        assert read(os.path.join(view, key)) == md5hex(data[key]), key
    after = mount.stats()
    assert after["errors"] == 0
    # `md5sum *` reads in the same order: every output matches the direct GET
    out = subprocess.run(["md5sum"] + names, cwd=view, capture_output=True, check=True, timeout=120).stdout
    for line, key in zip(out.decode().splitlines(), names):
        assert line.split()[0] == md5hex(md5hex(data[key])).decode()


def test_in_order_reader_over_ws(target, mount):
    """Over ws:// (the ETL reads the file the control message names; the
    target serves the view's GET without a worker) read-ahead gives the same
    bytes as over hpush://."""
    etl = init_md5_etl(target, name="etl-md5ws", comm="ws://")
    b, data = fill(target, "raws")
    view = mount.path("@" + etl, b)
    names = sorted(os.listdir(view))
    assert names == sorted(data)
    before = mount.stats()
    out = subprocess.run(["md5sum"] + names, cwd=view, capture_output=True, check=True, timeout=120).stdout
    for line, key in zip(out.decode().splitlines(), names):
        assert line.split()[0] == md5hex(md5hex(data[key])).decode(), key
    after = mount.stats()
    assert after["readahead_hits"] > before["readahead_hits"], after
    assert after["errors"] == 0


SLOW_CODE = """
import hashlib
import time


def transform(data):
    if len(data) == 1002:  # the third file of fill()'s
        time.sleep(3)
    return hashlib.md5(data).hexdigest().encode()
"""


def test_open_of_a_file_being_made_ahead_waits_for_it(target, mount):
    """A reader that reaches a file whose transform ahead is running waits for
    that output (readahead_waits) instead of asking the target again."""
    etl = init_md5_etl(target, name="etl-slowra", code=SLOW_CODE)
    b, data = fill(target, "raslow", n=4)
    view = mount.path("@" + etl, b)
    names = sorted(os.listdir(view))
    for key in names[:2]:
        assert read(os.path.join(view, key)) == md5hex(data[key]), key
    before = mount.stats()
    wait_fetching(mount, 0)  # names[2]'s transform ahead runs now, for 3 s
    assert read(os.path.join(view, names[2])) == md5hex(data[names[2]])
    after = mount.stats()
    assert after["readahead_waits"] > before["readahead_waits"], after
    assert after["readahead_hits"] > before["readahead_hits"], after  # taken, not asked again
    assert after["errors"] == 0


def test_write_to_source_drops_what_was_read_ahead(target, mount, md5_etl):
    b, data = fill(target, "rainv")
    view = mount.path("@" + md5_etl, b)
    names = sorted(data)
    # read the first files in order: the next ones are transformed ahead
    for key in names[:3]:
        assert read(os.path.join(view, key)) == md5hex(data[key])
    wait_fetching(mount, 0)
    # overwrite every source not read yet through the mount, then read on in order
    for key in names[3:]:
        data[key] = b"new bytes of " + key.encode()
        with open(mount.path(b, key), "wb") as f:
            f.write(data[key])
    for key in names[3:]:
        assert read(os.path.join(view, key)) == md5hex(data[key]), key
    assert mount.stats()["readahead_dropped"] > 0


def test_removed_source_is_not_served_from_read_ahead(target, mount, md5_etl):
    b, data = fill(target, "rarm", n=8)
    view = mount.path("@" + md5_etl, b)
    names = sorted(os.listdir(view))  # the kernel and the daemon now know every name
    for key in names[:3]:
        read(os.path.join(view, key))
    wait_fetching(mount, 0)
    os.unlink(mount.path(b, names[3]))
    with pytest.raises(FileNotFoundError):
        read(os.path.join(view, names[3]))


def test_off_by_option(target, tmp_path, md5_etl):
    b, data = fill(target, "raoff", n=10)
    m = Mount(target, tmp_path / "mnt-off", options=["etl_readahead=0"])
    try:
        view = m.path("@" + md5_etl, b)
        for key in sorted(data):
            assert read(os.path.join(view, key)) == md5hex(data[key])
        st = m.stats()
        assert st["readahead_fetches"] == 0 and st["readahead_hits"] == 0, st
        assert st["etl_reads"] == 10
    finally:
        assert m.stop() == 0, m.log_text()


def test_out_of_order_and_parallel_readers(target, mount, md5_etl):
    b, data = fill(target, "rapar", n=32)
    view = mount.path("@" + md5_etl, b)
    names = sorted(data)
    # backwards, then every other one: nothing in order, all correct
    for key in reversed(names):
        assert read(os.path.join(view, key)) == md5hex(data[key])
    for key in names[::2]:
        assert read(os.path.join(view, key)) == md5hex(data[key])
    errors = []

    def reader(part):
        try:
            for _ in range(2):
                for key in part:
                    if read(os.path.join(view, key)) != md5hex(data[key]):
                        errors.append(key)
        except OSError as e:
            errors.append(repr(e))

    # four readers in order over overlapping ranges, as DataLoader workers do
    threads = [threading.Thread(target=reader, args=(names[i * 6:i * 6 + 14],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert mount.stats()["errors"] == 0


def test_name_made_in_a_bucket_reaches_a_view_the_kernel_was_told_lacked_it(target, tmp_path, md5_etl):
    """With -o negative_timeout the kernel keeps "no such name" answers; a file
    made through the mount reaches every view where it was missing (the daemon
    tells the kernel, from a thread of its own: a moment later), long before
    the kernel's 60 s would run out."""
    b = target.create_bucket("raneg")
    target.put(b, "seed", b"x")
    m = Mount(target, tmp_path / "mnt-neg", options=["negative_timeout=60"])
    try:
        view = m.path("@" + md5_etl, b)
        for name in ("new", "dir"):
            assert not os.path.exists(os.path.join(view, name))
        with open(m.path(b, "new"), "wb") as f:
            f.write(b"fresh")
        os.mkdir(m.path(b, "dir"))
        with open(m.path(b, "dir", "x"), "wb") as f:
            f.write(b"below")
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(view, "dir", "x")):
            assert time.monotonic() < deadline, "the view still says no such name"
            time.sleep(0.02)
        assert read(os.path.join(view, "new")) == md5hex(b"fresh")
        assert read(os.path.join(view, "dir", "x")) == md5hex(b"below")
        # in the bucket itself a missing name made through the mount is there at once
        assert not os.path.exists(m.path(b, "later"))
        with open(m.path(b, "later"), "wb") as f:
            f.write(b"1")
        assert os.path.getsize(m.path(b, "later")) == 1
    finally:
        assert m.stop() == 0, m.log_text()


def test_missing_name_made_through_the_mount_is_there_at_once(target, mount):
    """The daemon remembers a missing name (no second HEAD for cp's create) and
    forgets it when the mount makes the name."""
    b = target.create_bucket("ramiss")
    p = mount.path(b, "later")
    assert not os.path.exists(p)
    assert not os.path.exists(p)
    with open(p, "wb") as f:
        f.write(b"12")
    assert os.path.getsize(p) == 2
    assert read(p) == b"12"


def test_files_another_reader_just_read_are_not_transformed_again(target, mount, md5_etl):
    """DataLoader workers take turns by batch: the files after a worker's batch
    are the other worker's, read already; transforming them ahead is waste."""
    b, data = fill(target, "raturn", n=16)
    view = mount.path("@" + md5_etl, b)
    names = sorted(data)
    assert sorted(os.listdir(view)) == names
    before = mount.stats()
    half, go_on, errors = threading.Event(), threading.Event(), []

    def worker_a():  # its batch, names[0:8], in one thread (one reader)
        try:
            for i, key in enumerate(names[:8]):
                if i == 2:
                    half.set()
                    go_on.wait(60)
                if read(os.path.join(view, key)) != md5hex(data[key]):
                    errors.append(key)
        except OSError as e:
            errors.append(repr(e))

    a = threading.Thread(target=worker_a)
    a.start()
    assert half.wait(60)
    for key in names[8:]:  # the other worker's batch, read while A's run goes on
        assert read(os.path.join(view, key)) == md5hex(data[key]), key
    go_on.set()
    a.join(timeout=120)
    assert not a.is_alive() and errors == []

    def wasted():
        s = mount.stats()
        return (s["readahead_fetches"] - before["readahead_fetches"]) - (s["readahead_hits"] - before["readahead_hits"])

    # A's last files would schedule names[8:12] ahead: B has read them
    assert not conftest.wait_until(lambda: wasted() > 0, 1.5, 0.05), mount.stats()
    assert mount.stats()["readahead_hits"] > before["readahead_hits"]  # read-ahead still ran for both


def read_in_order(view, names, data, expect):
    for key in names:
        got = read(os.path.join(view, key))
        assert got == expect(data[key]), (key, len(got), len(expect(data[key])))


def test_outputs_made_ahead_go_through_the_page_cache_only_when_they_fit(target, mount):
    """An output made ahead is taken at open: one no longer than the size the
    kernel holds is read through the page cache (the kernel cuts its size at
    the short read), a longer one with direct_io, whole, also when the kernel
    holds the size of an earlier, shorter output."""
    md5 = init_md5_etl(target, name="etl-md5pc")
    same = init_md5_etl(target, name="etl-same", code="def transform(data):\n    return data\n")
    double = init_md5_etl(target, name="etl-double", code=DOUBLE_CODE)
    b, data = fill(target, "rapc", n=16)
    names = sorted(data)
    views = {etl: mount.path("@" + etl, b) for etl in (md5, same, double)}
    for view in views.values():
        assert sorted(os.listdir(view)) == names

    def cached_opens(etl, expect):
        before = mount.stats()["view_page_cache_opens"]
        read_in_order(views[etl], names, data, expect)
        return mount.stats()["view_page_cache_opens"] - before

    assert cached_opens(md5, md5hex) > 0, mount.stats()  # 32 bytes fit every source's size
    for key in names:  # the size the kernel now holds is the output's
        assert os.path.getsize(os.path.join(views[md5], key)) == 32
    assert cached_opens(same, lambda d: d) > 0, mount.stats()
    hits = mount.stats()["readahead_hits"]
    assert cached_opens(double, lambda d: d + d[::-1]) == 0  # never cut at the source's size
    assert mount.stats()["readahead_hits"] > hits
    # the sources grow through the mount while the kernel may still hold the
    # sizes of the cached reads: the longer outputs are read whole
    for key in names:
        data[key] = data[key] * 3
        with open(mount.path(b, key), "wb") as f:
            f.write(data[key])
    read_in_order(views[same], names, data, lambda d: d)
    read_in_order(views[double], names, data, lambda d: d + d[::-1])
    read_in_order(views[md5], names, data, md5hex)
    assert mount.stats()["errors"] == 0


def test_keep_cache_rereads_without_transforming_and_never_serves_stale(target, tmp_path, md5_etl):
    """-o etl_keep_cache=1: a second pass in order finds the outputs in the
    kernel's page cache (no transform); a write to a source through the mount
    ends that, and the next read is of the new bytes."""
    b, data = fill(target, "rakeep", n=16)
    names = sorted(data)
    m = Mount(target, tmp_path / "mnt-keep", options=["etl_keep_cache=1"])
    try:
        view = m.path("@" + md5_etl, b)
        assert sorted(os.listdir(view)) == names
        read_in_order(view, names, data, md5hex)
        first = m.stats()
        assert first["view_page_cache_opens"] > 0, first
        read_in_order(view, names, data, md5hex)
        second = m.stats()
        assert second["view_kept_opens"] > first["view_kept_opens"], second
        # a kept open asks nothing and reads nothing through the daemon
        assert second["http_requests"] - first["http_requests"] < len(names) // 2, second
        assert second["read_bytes"] - first["read_bytes"] < 32 * len(names), second
        for key in names:
            data[key] = b"rewritten " + key.encode() + os.urandom(8)
            with open(m.path(b, key), "wb") as f:
                f.write(data[key])
        read_in_order(view, names, data, md5hex)
        assert m.stats()["view_kept_opens"] == second["view_kept_opens"]
        assert m.stats()["errors"] == 0
    finally:
        assert m.stop() == 0, m.log_text()
