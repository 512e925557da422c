"""Names through the mount (docs/mount.md, "Names the kernel remembers"): a
directory made through the mount is known empty, and one made elsewhere is
listed at its first missing name, so cp's lookups of the new names in it cost
no HEAD; a name made through the mount is seen at once by
every process; names made or removed over REST show within the documented
timeouts; and the kernel asks for security.capability once per file written,
not once per write."""
import os
import re
import subprocess
import sys
import time

import requests

from mount_fixtures import Mount, mount  # noqa: F401

TIMEOUT = 1.0  # attr_timeout and entry_timeout of the mounts below (the defaults)
SETTLE = 2 * TIMEOUT + 0.5  # the daemon's memory, then the kernel's entry


def read(path):
    with open(path, "rb") as f:
        return f.read()


def heads(target):
    """HEAD(object) requests the target answered, found or not (GET /metrics):
    what a lookup of a name costs when nothing in the mount knows it."""
    r = requests.get(f"{target.url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    n = 0
    for line in r.text.splitlines():
        m = re.match(r'^ais_target_(err_)?head_count\{[^}]*\} ([0-9]+)$', line)
        if m:
            n += int(m.group(2))
    return n


def other_process_sees(path):
    """os.path.exists in a separate process (its own lookups, the same kernel cache)."""
    out = subprocess.run([sys.executable, "-c", "import os, sys; print(os.path.exists(sys.argv[1]))", path],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip() == "True"


def assert_gone_after_delete_over_rest(target, b, key, p):
    r = requests.delete(f"{target.url}/v1/objects/{b}/{key}", timeout=30)
    assert r.status_code == 200, r.text
    time.sleep(SETTLE)
    assert not os.path.exists(p)
    assert not other_process_sees(p)


def assert_made_by_another_process(p):
    """p written by a process of its own is seen at once, here and by others."""
    subprocess.run([sys.executable, "-c", "open(__import__('sys').argv[1], 'wb').write(b'made')", p],
                   check=True, timeout=30)
    assert other_process_sees(p)
    assert read(p) == b"made"

def test_cp_r_into_a_made_directory_asks_no_head_per_new_name(target, mount):
    b = target.create_bucket("nmcp")
    n = 40
    for i in range(n):
        target.put(b, f"src/f{i:03d}", b"%d" % i * 100)
    d = target.create_bucket("nmdst")
    os.mkdir(mount.path(d, "out"))
    assert sorted(os.listdir(mount.path(b, "src"))) == [f"f{i:03d}" for i in range(n)]
    before = heads(target)
    subprocess.run(["cp", "-r", mount.path(b, "src") + "/.", mount.path(d, "out") + "/"], check=True, timeout=120)
    subprocess.run(["sync", mount.path(d, "out")], check=True, timeout=120)
    asked = heads(target) - before
    # one HEAD per file before (the copies' job polls vary with the load: not counted)
    assert asked < n // 4, f"{asked} HEADs for {n} files"
    for i in range(n):
        assert target.get(d, f"out/f{i:03d}").content == b"%d" % i * 100
    assert mount.stats()["errors"] == 0


def test_name_made_through_the_mount_is_seen_at_once_by_another_process(target, mount):
    b = target.create_bucket("nmat")
    os.mkdir(mount.path(b, "d"))
    p = mount.path(b, "d", "x")
    assert not os.path.exists(p)
    assert not other_process_sees(p)
    assert_made_by_another_process(p)
    assert target.get(b, "d/x").content == b"made"


def test_name_made_over_rest_in_a_made_directory_shows_after_the_timeout(target, mount):
    b = target.create_bucket("nmrest")
    os.mkdir(mount.path(b, "d"))
    p = mount.path(b, "d", "y")
    assert not os.path.exists(p)  # known empty: answered without asking
    target.put(b, "d/y", b"from rest")
    time.sleep(SETTLE)
    assert os.path.exists(p)
    assert read(p) == b"from rest"
    assert "y" in os.listdir(mount.path(b, "d"))


def test_name_deleted_over_rest_is_gone_after_the_timeout(target, mount):
    b = target.create_bucket("nmdel")
    os.mkdir(mount.path(b, "d"))
    p = mount.path(b, "d", "z")
    with open(p, "wb") as f:
        f.write(b"doomed")
    assert os.path.getsize(p) == 6
    assert_gone_after_delete_over_rest(target, b, "d/z", p)


def test_a_file_written_in_pieces_asks_for_security_capability_once(target, mount):
    """FUSE_HANDLE_KILLPRIV_V2: without it every write(2) cost a GETXATTR round
    trip as well; the stats attribute, itself a getxattr, still answers."""
    b = target.create_bucket("nmkp")
    piece = os.urandom(64 * 1024)
    p = mount.path(b, "big")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, piece)
        before = mount.stats()["fuse_ops"]
        for _ in range(32):
            assert os.write(fd, piece) == len(piece)
        ops = mount.stats()["fuse_ops"] - before
    finally:
        os.close(fd)
    # 32 writes and the stats read; before: 32 more getxattrs
    assert ops < 40, f"{ops} requests for 32 writes"
    assert target.get(b, "big").content == piece * 33
    try:
        os.getxattr(p, "user.other")
        raise AssertionError("an unknown attribute was answered")
    except OSError as e:
        assert e.errno == 61  # ENODATA


def test_cp_r_into_a_bucket_made_over_rest_asks_no_head_per_new_name(target, mount):
    """The first few missing names have the directory listed (one page), so
    the following ones cost nothing; the copies are all there."""
    b = target.create_bucket("nmrsrc")
    n = 40
    for i in range(n):
        target.put(b, f"src/f{i:03d}", b"%d" % i * 100)
    d = target.create_bucket("nmrdst")  # over REST: the mount never saw it made
    target.put(d, "old", b"kept")
    assert sorted(os.listdir(mount.path(b, "src"))) == [f"f{i:03d}" for i in range(n)]
    before = heads(target)
    subprocess.run(["cp", "-r", mount.path(b, "src") + "/.", mount.path(d) + "/"], check=True, timeout=120)
    subprocess.run(["sync", mount.path(d)], check=True, timeout=120)
    asked = heads(target) - before
    assert asked < n // 4, f"{asked} HEADs for {n} files"
    for i in range(n):
        assert target.get(d, f"f{i:03d}").content == b"%d" % i * 100
    assert read(mount.path(d, "old")) == b"kept"  # listed, so not taken for missing
    assert mount.stats()["errors"] == 0


def test_name_made_over_rest_in_a_learned_directory_shows_after_the_timeout(target, mount):
    b = target.create_bucket("nmlrn")
    target.put(b, "d/a", b"a")
    for i in range(3):  # asked, then d is listed
        assert not os.path.exists(mount.path(b, "d", f"nope{i}"))
    p = mount.path(b, "d", "y")
    assert not os.path.exists(p)  # known: answered without asking
    target.put(b, "d/y", b"from rest")
    time.sleep(SETTLE)
    assert os.path.exists(p)
    assert other_process_sees(p)
    assert read(p) == b"from rest"


def test_name_deleted_over_rest_in_a_learned_directory_is_gone_after_the_timeout(target, mount):
    b = target.create_bucket("nmldel")
    target.put(b, "d/z", b"doomed")
    for i in range(3):  # d is learned, with z
        assert not os.path.exists(mount.path(b, "d", f"nope{i}"))
    p = mount.path(b, "d", "z")
    assert read(p) == b"doomed"
    assert_gone_after_delete_over_rest(target, b, "d/z", p)


def test_one_missing_name_does_not_hide_a_name_made_over_rest_next(target, mount):
    """A stat that misses once (not a copy) leaves the directory unknown: a
    name put over REST right after is seen at once."""
    b = target.create_bucket("nmone")
    assert not os.path.exists(mount.path(b, "x"))
    target.put(b, "y", b"at once")
    assert read(mount.path(b, "y")) == b"at once"


def test_a_directory_bigger_than_a_page_is_not_learned(target, mount):
    """Past one listing page the directory stays unknown: every name is asked
    for, and a name on the second page is found."""
    b = target.create_bucket("nmbig")
    n = 1010  # the daemon learns from one page of 1000
    with requests.Session() as s:
        for i in range(n):
            r = s.put(f"{target.url}/v1/objects/{b}/f{i:04d}", data=b"x", timeout=30)
            assert r.status_code == 200, r.text
    assert not os.path.exists(mount.path(b, "nope"))
    before = heads(target)
    for i in range(5):
        assert not os.path.exists(mount.path(b, f"missing{i}"))
    assert heads(target) - before == 5  # asked, not answered from a partial list
    assert read(mount.path(b, f"f{n - 1:04d}")) == b"x"


def test_name_made_through_the_mount_in_a_learned_directory_is_seen_at_once(target, mount):
    b = target.create_bucket("nmlat")
    target.put(b, "d/a", b"a")
    p = mount.path(b, "d", "x")
    for i in range(3):  # asked, then d is learned
        assert not os.path.exists(mount.path(b, "d", f"nope{i}"))
    assert not os.path.exists(p)
    assert not other_process_sees(p)
    assert_made_by_another_process(p)


def test_missing_names_elsewhere_do_not_push_out_a_made_directory(target, mount):
    """Directories that only had a miss or two take no slot a known one holds."""
    b = target.create_bucket("nmkeep")
    os.mkdir(mount.path(b, "out"))
    other = target.create_bucket("nmelse")
    for i in range(12):  # more than the daemon keeps (8)
        target.put(other, f"d{i:02d}/a", b"a")
    for i in range(12):
        assert not os.path.exists(mount.path(other, f"d{i:02d}", "x"))
    before = heads(target)
    for i in range(5):
        assert not os.path.exists(mount.path(b, "out", f"new{i}"))
    assert heads(target) == before
