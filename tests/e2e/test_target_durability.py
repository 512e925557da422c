"""etlfs-target: what survives what. A PUT cut short (kill -9, client gone,
SIGTERM) leaves the old object or none, never part of one, and no work
files after a restart; restarts keep objects with their metadata; objects
past 4 GiB work end to end."""
import os
import shutil
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import Target, tmpfs_target, wait_until

MiB = 1 << 20


class Feeder:
    """A request body from a generator: counts what it sent and can stall."""

    def __init__(self, total, chunk=MiB, byte=b"\xab"):
        self.total, self.chunk, self.sent = total, bytes(byte) * chunk, 0
        self.stall = threading.Event()

    def __iter__(self):
        while self.sent < self.total:
            while self.stall.is_set():
                time.sleep(0.01)
            n = min(len(self.chunk), self.total - self.sent)
            self.sent += n
            yield self.chunk[:n]


def _put_in_background(t, bck, obj, feeder):
    result = {}

    def run():
        try:
            result["resp"] = requests.put(f"{t.url}/v1/objects/{bck}/{obj}", data=feeder, timeout=120)
        except requests.RequestException as e:
            result["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, result


def test_kill9_during_put_leaves_old_object(target):
    target.create_bucket("k9")
    target.put("k9", "big", b"old contents")
    target.put("k9", "other", b"untouched")
    feeder = Feeder(1 << 30)
    th, _ = _put_in_background(target, "k9", "big", feeder)
    assert wait_until(lambda: feeder.sent >= 64 * MiB, 60), feeder.sent
    assert target.tmp_files(), "a streaming PUT writes a work file"
    target.kill9()
    th.join(30)
    assert feeder.sent < feeder.total
    target.start()
    assert target.tmp_files() == []  # work files of the dead process are cleaned at start
    r = target.get("k9", "big")
    assert r.status_code == 200 and r.content == b"old contents"
    assert requests.head(f"{target.url}/v1/objects/k9/big").headers["ais-version"] == "1"
    assert target.get("k9", "other").content == b"untouched"


def test_kill9_during_first_put_leaves_nothing(target):
    target.create_bucket("k9n")
    feeder = Feeder(1 << 30)
    th, _ = _put_in_background(target, "k9n", "new/obj", feeder)
    assert wait_until(lambda: feeder.sent >= 32 * MiB, 60)
    target.kill9()
    th.join(30)
    target.start()
    assert target.tmp_files() == []
    assert target.get("k9n", "new/obj").status_code == 404


def test_client_disconnect_mid_put_leaves_old_object(target):
    target.create_bucket("dc")
    target.put("dc", "o", b"old")
    s = socket.create_connection(("127.0.0.1", target.port))
    s.sendall(b"PUT /v1/objects/dc/o HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (100 * MiB))
    for _ in range(10):
        s.sendall(b"\0" * MiB)
    assert wait_until(lambda: bool(target.tmp_files()))
    s.close()
    assert wait_until(lambda: not target.tmp_files()), "the work file of an abandoned PUT is removed"
    assert target.get("dc", "o").content == b"old"
    # the same with a chunked body cut short
    s = socket.create_connection(("127.0.0.1", target.port))
    s.sendall(b"PUT /v1/objects/dc/o HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(5):
        s.sendall(b"100000\r\n" + b"\1" * MiB + b"\r\n")
    s.close()
    assert wait_until(lambda: not target.tmp_files())
    assert target.get("dc", "o").content == b"old"
    assert requests.head(f"{target.url}/v1/objects/dc/o").headers["ais-version"] == "1"


def test_sigterm_exits_0(target):
    target.create_bucket("st")
    target.put("st", "o", b"1")
    assert target.stop() == 0
    target.start()
    assert target.get("st", "o").content == b"1"


def test_sigterm_during_put_exits_0_and_stores_nothing(target):
    target.create_bucket("stp")
    target.put("stp", "o", b"old")
    feeder = Feeder(1 << 30)
    th, result = _put_in_background(target, "stp", "o", feeder)
    assert wait_until(lambda: feeder.sent >= 16 * MiB, 60)
    feeder.stall.set()  # the client holds the request open; the server must not wait forever
    t0 = time.time()
    rc = target.stop(signal.SIGTERM)
    assert rc == 0, target.log_text()
    assert time.time() - t0 < 15
    feeder.stall.clear()
    th.join(30)
    assert target.tmp_files() == []
    target.start()
    assert target.get("stp", "o").content == b"old"


def test_restart_keeps_objects_and_metadata(target, xxh64):
    target.create_bucket("rs")
    target.create_bucket("rs2")
    objs = {"a": b"alpha", "d/e/f": os.urandom(5000), "sp ace": b""}
    for n, d in objs.items():
        target.put("rs", n, d)
    target.put("rs", "a", b"alpha v2")
    objs["a"] = b"alpha v2"
    before = {n: requests.head(f"{target.url}/v1/objects/rs/{n}").headers for n in objs}
    target.restart()
    names = [b["name"] for b in requests.get(target.url + "/v1/buckets").json()]
    assert names == ["rs", "rs2"]
    for n, d in objs.items():
        r = target.get("rs", n)
        assert r.content == d
        h = requests.head(f"{target.url}/v1/objects/rs/{n}").headers
        assert h["ais-version"] == before[n]["ais-version"]
        assert h["ais-checksum-value"] == before[n]["ais-checksum-value"] == xxh64(d)
        assert h["ais-atime"] == before[n]["ais-atime"]
    assert requests.head(f"{target.url}/v1/objects/rs/a").headers["ais-version"] == "2"
    # and versions keep counting after the restart
    target.put("rs", "a", b"alpha v3")
    assert requests.head(f"{target.url}/v1/objects/rs/a").headers["ais-version"] == "3"


def test_object_larger_than_4gib(target):
    size = 4 * (1 << 30) + 100 * MiB  # 4.1 GiB
    if shutil.disk_usage(target.workdir).free < 10 * (1 << 30):
        pytest.skip("needs 10 GiB of free disk")
    target.create_bucket("huge")
    feeder = Feeder(size, chunk=4 * MiB, byte=b"\0")
    r = requests.put(f"{target.url}/v1/objects/huge/zeros", data=feeder, timeout=600)
    assert r.status_code == 200, r.text
    try:
        u = f"{target.url}/v1/objects/huge/zeros"
        h = requests.head(u).headers
        assert h["Content-Length"] == str(size)
        r = requests.get(u, headers={"Range": f"bytes={size - 10}-"})
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
        assert r.content == b"\0" * 10
        # a range that starts past 4 GiB and one that spans the 4 GiB boundary
        r = requests.get(u, headers={"Range": f"bytes={(1 << 32) - 3}-{(1 << 32) + 2}"})
        assert r.status_code == 206 and r.content == b"\0" * 6
        # a whole GET announces the full 64-bit length (body not read)
        with requests.get(u, stream=True) as g:
            assert g.status_code == 200 and g.headers["Content-Length"] == str(size)
        lst = requests.get(f"{target.url}/v1/buckets/huge", json={"action": "list", "value": {}}).json()
        assert lst["entries"][0]["size"] == str(size)
    finally:
        assert requests.delete(f"{target.url}/v1/objects/huge/zeros").status_code == 200


# ---- destroy-bck: one rename commits it, even across kill -9

def _fill_by_hand(t, bck, n):
    """n objects spread over the mountpaths as files placed by hand (served
    as version 1): thousands of PUTs would only make the test slow."""
    t.create_bucket(bck)
    for i in range(n):
        mp = t.data[i % len(t.data)]
        d = os.path.join(mp, "@ais", bck, f"d{i % 50}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"o{i}"), "wb") as f:
            f.write(b"x")


def _trash(t):
    return [e for mp in t.data for e in os.listdir(os.path.join(mp, ".etlfs", "trash"))]


def _count(t, bck):
    r = requests.get(f"{t.url}/v1/buckets/{bck}", json={"action": "list", "value": {"props": "name"}})
    assert r.status_code == 200, r.text
    return len(r.json()["entries"] or [])


def test_kill9_during_destroy_leaves_the_bucket_gone_or_whole(target):
    n = 6000
    _fill_by_hand(target, "doomed", n)
    assert _count(target, "doomed") == n
    def destroy():
        try:
            requests.delete(f"{target.url}/v1/buckets/doomed", json={"action": "destroy-bck"}, timeout=60)
        except requests.RequestException:
            pass  # killed under it

    th = threading.Thread(target=destroy, daemon=True)
    th.start()
    # kill -9 as soon as the destroy has begun moving directories (bounded: 30 s)
    assert wait_until(lambda: _trash(target), 30), "destroy never moved anything to the trash"
    target.kill9()
    th.join(30)
    target.start()
    r = requests.head(f"{target.url}/v1/buckets/doomed")
    if r.status_code == 200:  # killed before the commit: whole
        assert _count(target, "doomed") == n
    else:
        assert r.status_code == 404
        # no share of it is left to come back with a bucket of the same name
        target.create_bucket("doomed")
        assert _count(target, "doomed") == 0
    assert wait_until(lambda: not _trash(target)), _trash(target)


def test_destroy_cut_short_after_its_commit_is_finished_at_start(target):
    # the state a crash right after the commit leaves: the first mountpath's
    # directory in the trash, the second mountpath's share still in place
    _fill_by_hand(target, "half", 40)
    target.stop()
    os.rename(os.path.join(target.data[0], "@ais", "half"),
              os.path.join(target.data[0], ".etlfs", "trash", "Abcdefghijkl-half"))
    assert os.listdir(os.path.join(target.data[1], "@ais", "half"))
    target.start()
    assert requests.head(f"{target.url}/v1/buckets/half").status_code == 404
    assert not os.path.exists(os.path.join(target.data[1], "@ais", "half"))
    assert _trash(target) == []
    target.create_bucket("half")
    assert _count(target, "half") == 0


# ---- PUTs that cannot fit: refused up front, or their work file freed at once

def test_put_larger_than_free_space_is_507_before_any_byte(target):
    target.create_bucket("huge")
    with socket.create_connection(("127.0.0.1", target.port), timeout=20) as s:
        s.sendall(f"PUT /v1/objects/huge/tera HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 40}\r\n\r\n".encode()
                  + b"\0" * 65536)
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 507"), head[:200]
    assert b"do not fit" in head
    assert target.tmp_files() == []
    assert target.get("huge", "tera").status_code == 404
    # the target's capacity, as AIStore's sysinfo reports it
    info = requests.get(f"{target.url}/v1/daemon", params={"what": "sysinfo"}).json()
    assert 0 < int(info["fs_used"]) <= int(info["fs_capacity"])


@pytest.fixture
def small_target(tmp_path):
    """A target whose one mountpath is a 16 MiB tmpfs (needs root)."""
    with tmpfs_target(tmp_path, "16m") as t:
        yield t


def test_disk_full_mid_put_frees_the_work_file_at_once(small_target):
    t = small_target
    t.create_bucket("full")
    feeder = Feeder(64 * MiB)  # chunked: no length to refuse it by
    th, result = _put_in_background(t, "full", "big", feeder)
    assert wait_until(lambda: feeder.sent >= 32 * MiB, 60), feeder.sent
    feeder.stall.set()  # the client holds the request open...
    # ...and the disk is free again all the same: the work file went with the first failed write
    assert wait_until(lambda: t.tmp_files() == [] and shutil.disk_usage(t.data[0]).used < 8 * MiB, 30), \
        (t.tmp_files(), shutil.disk_usage(t.data[0]))
    feeder.stall.clear()
    th.join(60)
    assert result["resp"].status_code == 507, result
    assert "No space left" in result["resp"].json()["message"]
    assert t.get("full", "big").status_code == 404
    t.put("full", "small", b"fits")  # and it serves on
