"""Injected faults: a full disk under PUTs and a job, a disk that fails reads
(an LD_PRELOAD shim, tests/fault/eio_preload.c), bytes that rotted on disk,
kill -9 of the target at random moments under load (a crash-consistency
loop), ETLs that misbehave (garbage, crash mid-stream, 10x output, a leak, a
hang), and the mount with its daemon or its target killed under it."""
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

import conftest
from conftest import BUILD, Target, wait_until
from mount_fixtures import Mount, is_mounted, need_fuse, unmount
from test_etl_api import etl_pids, init_code, message
from test_mount_helper import node  # noqa: F401  (fixture)
from test_offline import copy_bck, job_status, list_names, wait_job

MiB = 1 << 20
EIO_SHIM = os.path.join(BUILD, "lib", "libetlfs-eio.so")


def _head(t, bck, obj):
    return requests.head(f"{t.url}/v1/objects/{bck}/{obj}", timeout=30)


def _md5hex(data):
    return hashlib.md5(data).hexdigest().encode()


# ---------------------------------------------------------------- ENOSPC

@pytest.fixture
def tmpfs_target(tmp_path):
    """A target whose one mountpath is a 32 MiB tmpfs (needs root)."""
    with conftest.tmpfs_target(tmp_path, "32m") as t:
        yield t
        assert t.stop() == 0, t.log_text()


def _check_whole(t, bck, model, xxh64):
    """Listing, HEAD and GET agree with the model; every object is whole and
    its stored checksum is its bytes' checksum."""
    assert sorted(list_names(t, bck)) == sorted(model)
    for name, data in model.items():
        g = t.get(bck, name)
        assert g.status_code == 200 and g.content == data, (name, g.status_code, len(g.content))
        h = _head(t, bck, name)
        assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(data)
        assert h.headers["ais-checksum-value"] == xxh64(data), name


def test_disk_full_under_puts_and_a_job(tmpfs_target, xxh64):
    t = tmpfs_target
    src, full = t.create_bucket("src"), t.create_bucket("full")
    srcdata = {f"s{i}": os.urandom(MiB) for i in range(8)}
    for n, d in srcdata.items():
        t.put(src, n, d)
    r = init_code(t, "etl-ident", code="def transform(data):\n    return data\n", deps="")
    assert r.status_code == 200, r.text
    model, refused = {}, []
    # fill the disk: PUTs with a length (refused up front) and chunked ones
    # (which meet ENOSPC mid-body), until a handful were refused
    for i in range(80):
        data = os.urandom(MiB + i)
        body = data if i % 2 else iter([data[:300_000], data[300_000:]])
        r = requests.put(f"{t.url}/v1/objects/{full}/f{i:03d}", data=body, timeout=60)
        if r.status_code == 200:
            model[f"f{i:03d}"] = data
        else:
            assert r.status_code == 507, (r.status_code, r.text)
            msg = r.json()["message"]
            assert f"f{i:03d}" in msg and ("No space left" in msg or "do not fit" in msg), msg
            refused.append(i)
        if len(refused) >= 6:
            break
    assert len(refused) >= 6 and model, "the disk never filled"
    # a job onto the full disk: every failure is a job error naming its object
    dst = "jdst"
    r = copy_bck(t, src, dst, etl="etl-ident")
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["errors"] >= 1 and "No space left" in st["err"], st
    assert any(f"ais://{src}/s" in e for e in st["error_list"]), st
    written = list_names(t, dst)
    for n in written:  # whatever was published is whole
        assert t.get(dst, n).content == srcdata[n]
    assert t.tmp_files() == []
    # no partial object, metadata intact, reads keep working
    _check_whole(t, full, model, xxh64)
    _check_whole(t, src, srcdata, xxh64)
    # and across a restart
    t.restart()
    _check_whole(t, full, model, xxh64)
    # freeing space makes PUTs succeed again
    for n in sorted(model)[:18]:
        assert requests.delete(f"{t.url}/v1/objects/{full}/{n}", timeout=30).status_code == 200
        del model[n]
    for i in range(5):
        data = os.urandom(MiB)
        t.put(full, f"again{i}", data)
        model[f"again{i}"] = data
    r = requests.post(f"{t.url}/v1/etl/etl-ident/start", timeout=60)  # the restart stopped it
    assert r.status_code == 200, r.text
    requests.delete(f"{t.url}/v1/buckets/{dst}", json={"action": "destroy-bck"}, timeout=30)
    st = wait_job(t, copy_bck(t, src, dst, etl="etl-ident").text)
    assert st["errors"] == 0 and not st["aborted"], st
    _check_whole(t, dst, srcdata, xxh64)
    _check_whole(t, full, model, xxh64)


# ---------------------------------------------------------------- EIO

@pytest.fixture
def eio_target(tmp_path, monkeypatch):
    """A target with one mountpath whose reads of ais://bad's files fail with
    EIO while the flag file exists (tests/fault/eio_preload.c)."""
    if not os.path.exists(EIO_SHIM):
        pytest.skip(f"{EIO_SHIM} is not built")
    flag = str(tmp_path / "eio-on")
    monkeypatch.setenv("LD_PRELOAD", EIO_SHIM)
    monkeypatch.setenv("ETLFS_EIO_PATH", str(tmp_path / "mp0" / "@ais" / "bad") + "/")
    monkeypatch.setenv("ETLFS_EIO_FLAG", flag)
    # an ASan build wants its runtime first; the shim only passes calls on
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") + "verify_asan_link_order=0")
    t = Target(str(tmp_path), mountpaths=1)
    monkeypatch.delenv("LD_PRELOAD")
    t.flag = flag
    yield t
    assert t.stop() == 0, t.log_text()


def test_eio_is_reported_with_the_objects_name(eio_target):
    t = eio_target
    bad, good = t.create_bucket("bad"), t.create_bucket("good")
    data = {f"o{i}": os.urandom(200_000 + i) for i in range(4)}
    for n, d in data.items():
        t.put(bad, n, d)
        t.put(good, n, d)
    assert init_code(t, "etl-md5-eio", deps="").status_code == 200
    open(t.flag, "w").close()
    # a validated GET reads the object before its status: a 500 naming it
    r = t.get(bad, "o0", validate="true")
    assert r.status_code == 500 and "ais://bad/o0" in message(r) and "Input/output error" in message(r), r.text
    # a plain GET sends its status first: the reply is cut short, never whole
    # (the client sees fewer bytes than Content-Length), and the log names it
    with requests.get(f"{t.url}/v1/objects/{bad}/o1", stream=True, timeout=30) as g:
        try:
            body = g.raw.read()
        except Exception:  # urllib3 2 raises on a short body
            body = b""
        assert g.status_code != 200 or len(body) < int(g.headers["Content-Length"])
    assert wait_until(lambda: "GET ais://bad/o1: reply cut short" in t.log_text())
    # inline transform and jobs: errors naming the object and the cause
    r = t.get(bad, "o2", etl_name="etl-md5-eio")
    assert r.status_code >= 500 and "ais://bad/o2" in message(r) and "Input/output error" in message(r), r.text
    for etl in (None, "etl-md5-eio"):
        st = wait_job(t, copy_bck(t, bad, f"dst-{etl or 'copy'}", etl=etl).text)
        assert st["errors"] == len(data) and "Input/output error" in st["err"], st
        for n in data:
            assert any(f"ais://bad/{n}" in e for e in st["error_list"]), (n, st["error_list"])
        assert list_names(t, f"dst-{etl or 'copy'}") == []  # nothing half-read was stored
    # the healthy bucket is served meanwhile, and HEAD (metadata) still works
    for n, d in data.items():
        assert t.get(good, n).content == d
        assert t.get(good, n, validate="true").content == d
        assert t.get(good, n, etl_name="etl-md5-eio").content == _md5hex(d)
        assert _head(t, bad, n).status_code == 200
    # the disk recovers: everything is served again
    os.unlink(t.flag)
    for n, d in data.items():
        assert t.get(bad, n, validate="true").content == d
        assert t.get(bad, n, etl_name="etl-md5-eio").content == _md5hex(d)


def test_rotten_bytes_fail_validation(target, xxh64):
    t = target
    b = t.create_bucket("rot")
    data = os.urandom(300_000)
    t.put(b, "obj", data)
    fqn = next(os.path.join(mp, "@ais", b, "obj") for mp in t.data if os.path.exists(os.path.join(mp, "@ais", b, "obj")))
    with open(fqn, "r+b") as f:  # flip one byte in place: the metadata stays
        f.seek(123_456)
        byte = f.read(1)
        f.seek(123_456)
        f.write(bytes([byte[0] ^ 0x40]))
    r = t.get(b, "obj", validate="true")
    assert r.status_code == 500, r.text
    assert "ais://rot/obj" in message(r) and "BAD DATA CHECKSUM" in message(r) and xxh64(data) in message(r)
    # unvalidated, the stored checksum comes with the bytes, so a client sees the mismatch
    g = t.get(b, "obj")
    assert g.headers["ais-checksum-value"] == xxh64(data) != xxh64(g.content)
    t.put(b, "obj", data)  # rewriting heals it
    assert t.get(b, "obj", validate="true").content == data


# ---------------------------------------------------------------- crash consistency

CRASH_ROUNDS = int(os.environ.get("ETLFS_CRASH_ROUNDS", "20"))
CRASH_BUDGET = float(os.environ.get("ETLFS_CRASH_SECONDS", "300"))
KEYS = 24


def _content(key, seed):
    """The bytes of a key's version seed: a header naming both, then bytes of
    a size that varies (up to 2 MiB, to widen the window a kill lands in)."""
    rnd = random.Random(f"{key}/{seed}")
    size = rnd.choice([0, 10, 4096, 100_000, 700_000, 2 * MiB])
    return (f"{key}:{seed}:".encode() + rnd.randbytes(size))


class CrashWorker(threading.Thread):
    """PUTs, overwrites and deletes its own keys until a request fails (the
    target died); records each key's last acknowledged state and the one
    request in flight, so either outcome can be accepted."""

    def __init__(self, t, keys, state, rnd):
        super().__init__(daemon=True)
        self.t, self.keys, self.state, self.rnd = t, keys, state, rnd
        self.inflight = None  # (key, seed or None for a delete)

    def run(self):
        s = requests.Session()
        for _ in range(100_000):
            key = self.rnd.choice(self.keys)
            if self.rnd.random() < 0.2:
                self.inflight = (key, None)
                try:
                    r = s.delete(f"{self.t.url}/v1/objects/crash/{key}", timeout=30)
                except requests.RequestException:
                    return
                assert r.status_code in (200, 404), r.text
                self.state[key] = None
            else:
                seed = self.rnd.randrange(1 << 30)
                self.inflight = (key, seed)
                try:
                    r = s.put(f"{self.t.url}/v1/objects/crash/{key}", data=_content(key, seed), timeout=30)
                except requests.RequestException:
                    return
                assert r.status_code == 200, r.text
                self.state[key] = seed
            self.inflight = None


MOUNT_FILES = 12  # more than the mount sends one by one (fs/batch.c FEW): a job


def _mfile(name, seed):
    """A file the mount writes or copies: a header naming it and its round."""
    rnd = random.Random(f"m/{name}/{seed}")
    return f"{name}:{seed}:".encode() + rnd.randbytes(rnd.choice([0, 5000, 300_000, 1 * MiB]))


class MountCrash:
    """The mount's share of a round: `cp` of local files into the mount (each
    an upload at close) and `cp` between two of its directories (server-side
    copies the daemon queues and sends as one job), under way when the
    target is killed. Afterwards every destination is absent or whole, its
    old bytes or this round's, never a mix; the daemon answers again."""

    def __init__(self, t, tmp_path):
        self.t = t
        self.m = Mount(t, tmp_path / "mnt")
        self.local = tmp_path / "lsrc"
        self.local.mkdir()
        for b in ("mup", "msrc", "mdst"):
            t.create_bucket(b)
        self.up = {f"u{i:02d}": None for i in range(MOUNT_FILES)}  # the round each holds, None: absent
        self.cp = {f"c{i:02d}": None for i in range(MOUNT_FILES)}
        self.stats = {"cp_failed": 0, "uploads_absent": 0, "uploads_old": 0, "uploads_new": 0,
                      "copies_absent": 0, "copies_old": 0, "copies_new": 0}

    def prepare(self, rnd_i):
        for name in self.up:
            (self.local / name).write_bytes(_mfile(name, rnd_i))
        for name in self.cp:  # acknowledged before the round: the copies' new bytes
            assert self.t.put("msrc", name, _mfile(name, rnd_i)).status_code == 200

    def start(self):
        m = self.m.mnt
        self.procs = [
            subprocess.Popen(["cp"] + [str(self.local / n) for n in sorted(self.up)] + [f"{m}/mup/"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            subprocess.Popen(["cp"] + [f"{m}/msrc/{n}" for n in sorted(self.cp)] + [f"{m}/mdst/"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]

    def settle(self):
        """After the restart: cp ends (done, or an error it was told) and the
        daemon's queue drains; nothing hangs."""
        for p in self.procs:
            try:
                p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                pytest.fail("cp into the mount hung after the target's restart: " + self.m.log_text())
            self.stats["cp_failed"] += p.returncode != 0
        r = subprocess.run(["sync", "-f", f"{self.m.mnt}/mdst"], timeout=120, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    def check(self, rnd_i):
        for bck, state, what in (("mup", self.up, "uploads"), ("mdst", self.cp, "copies")):
            listed = set(list_names(self.t, bck))
            for name, old in state.items():
                g = self.t.get(bck, name)
                if g.status_code == 404:
                    assert name not in listed
                    # absent: never written, or a delete-free overwrite that did not land
                    assert old is None, (rnd_i, bck, name, "an object that was there is gone")
                    self.stats[what + "_absent"] += 1
                    continue
                assert g.status_code == 200 and name in listed, (bck, name, g.status_code)
                head = g.content.split(b":", 2)
                seed = int(head[1]) if len(head) == 3 and head[0] == name.encode() else -1
                if seed not in (old, rnd_i) or g.content != _mfile(name, seed):
                    pytest.fail(f"round {rnd_i}: {bck}/{name} holds {len(g.content)} bytes that are neither "
                                f"round {old} nor {rnd_i}")
                self.stats[what + ("_new" if seed == rnd_i else "_old")] += 1
                state[name] = seed
        # the daemon serves again: a read of an object it has not seen yet
        # (what it has seen, it may trust for attr_timeout), a write, a listing
        fresh = f"r{rnd_i}"
        assert self.t.put("msrc", fresh, _mfile(fresh, rnd_i)).status_code == 200
        r = subprocess.run(["cat", f"{self.m.mnt}/msrc/{fresh}"], capture_output=True, timeout=60)
        assert r.returncode == 0 and r.stdout == _mfile(fresh, rnd_i), r.stderr
        r = subprocess.run(f"cp {self.m.mnt}/msrc/{fresh} {self.m.mnt}/mup/{fresh} && sync -f {self.m.mnt}/mup",
                           shell=True, capture_output=True, timeout=60)  # a queued copy: sync waits for it
        assert r.returncode == 0 and self.t.get("mup", fresh).content == _mfile(fresh, rnd_i), r.stderr
        assert requests.delete(f"{self.t.url}/v1/objects/mup/{fresh}", timeout=30).status_code == 200
        have = {n for n, v in self.up.items() if v is not None}
        assert have <= set(os.listdir(f"{self.m.mnt}/mup")) - {fresh}


@pytest.fixture
def crash_mount(target, tmp_path):
    mc = MountCrash(target, tmp_path)
    yield mc
    assert mc.m.stop() == 0, mc.m.log_text()


def test_crash_consistency_loop(target, crash_mount):
    t = target
    t.create_bucket("crash")
    src = t.create_bucket("jsrc")
    srcdata = {f"j{i:03d}": os.urandom(64 * 1024) for i in range(300)}
    for n, d in srcdata.items():
        t.put(src, n, d)
    md5_of = {n: _md5hex(d) for n, d in srcdata.items()}
    assert init_code(t, "etl-crash-md5", deps="").status_code == 200
    keys = [f"k{i:02d}/o" if i % 3 else f"k{i:02d}" for i in range(KEYS)]
    state = {k: None for k in keys}  # last acknowledged seed, None = absent
    rnd = random.Random(int(os.environ.get("ETLFS_CRASH_SEED", "1")))
    results = {"rounds": 0, "job_aborted": 0, "job_done": 0, "mixed": 0}
    mc = crash_mount
    t0 = time.time()
    for rnd_i in range(CRASH_ROUNDS):
        if time.time() - t0 > CRASH_BUDGET:
            break
        mc.prepare(rnd_i)
        # a job in flight: etl-bck of 300 objects into a fresh destination
        dst = f"jdst{rnd_i}"
        r = copy_bck(t, src, dst, etl="etl-crash-md5", num_workers=1)
        assert r.status_code == 200, r.text
        job = r.text
        workers = [CrashWorker(t, keys[i::4], state, random.Random(rnd.random())) for i in range(4)]
        for w in workers:
            w.start()
        mc.start()
        time.sleep(rnd.uniform(0.05, 1.0))
        t.kill9()
        for w in workers:
            w.join(60)
            assert not w.is_alive()
        t.start()
        mc.settle()  # the mount's requests after the restart are over before the disks are looked at
        assert t.tmp_files() == []
        mc.check(rnd_i)
        # every object is its acknowledged bytes or the in-flight request's
        inflight = {w.inflight[0]: w.inflight[1] for w in workers if w.inflight}
        listed = set(list_names(t, "crash"))
        for key in keys:
            ok = {state[key]} | ({inflight[key]} if key in inflight else set())
            g = t.get("crash", key)
            h = _head(t, "crash", key)
            assert g.status_code == h.status_code, (key, g.status_code, h.status_code)
            if g.status_code == 404:
                assert None in ok, (rnd_i, key, ok)
                assert key not in listed
                state[key] = None
                continue
            assert g.status_code == 200 and key in listed, (key, g.status_code)
            assert int(h.headers["Content-Length"]) == len(g.content)
            seed = int(g.content.split(b":")[1]) if g.content.startswith(key.encode() + b":") else -1
            if seed not in ok or g.content != _content(key, seed):
                results["mixed"] += 1
                pytest.fail(f"round {rnd_i}: {key} holds {len(g.content)} bytes that are neither of {ok}")
            state[key] = seed
        # the job: aborted by the journal's replay, or finished before the kill
        st = requests.get(f"{t.url}/v1/cluster", params={"what": "status"}, json={"ID": job, "Kind": ""},
                          timeout=30)
        out = list_names(t, dst)
        if st.status_code == 200:
            assert st.json()["aborted"] and st.json()["end_time"] != 0, st.json()
            results["job_aborted"] += 1
        else:
            assert st.status_code == 404 and len(out) == len(srcdata), (st.status_code, len(out))
            results["job_done"] += 1
        for n in out:
            assert t.get(dst, n).content == md5_of[n], (rnd_i, dst, n)
        assert requests.delete(f"{t.url}/v1/buckets/{dst}", json={"action": "destroy-bck"},
                               timeout=60).status_code == 200
        assert requests.post(f"{t.url}/v1/etl/etl-crash-md5/start", timeout=60).status_code == 200
        results["rounds"] += 1
    results.update(mc.stats)
    print("crash rounds:", json.dumps(results))
    assert results["rounds"] >= min(CRASH_ROUNDS, 5), results


# ---------------------------------------------------------------- misbehaving ETLs

# One program, a bad ETL by its mode (argv[1]); GET answers /health.
BAD_SERVER = r"""
import http.server, os, socket, sys, time
mode = sys.argv[1]
leak = []
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "7"); self.end_headers()
        self.wfile.write(b"Running")
    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if mode == "garbage":  # not HTTP at all
            self.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage \x00" * 50)
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "crash":  # half an answer, then the process dies
            self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
            self.wfile.write(data[:len(data) // 2]); self.wfile.flush()
            os._exit(3)
        if mode == "hang":
            time.sleep(300)
        if mode == "leak":  # keeps 16 MiB more per object, forever
            leak.append(bytearray(os.urandom(1)) * (16 << 20))
        body = data * 10 if mode == "much" else data
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def etl_target(tmp_path_factory):
    t = Target(str(tmp_path_factory.mktemp("etlfaults")))
    t.create_bucket("in")
    t.blobs = {f"o{i}": os.urandom(256 * 1024 + i) for i in range(8)}
    for n, d in t.blobs.items():
        t.put("in", n, d)
    assert init_code(t, "etl-good-md5", deps="").status_code == 200
    yield t
    assert t.stop() == 0, t.log_text()


@pytest.mark.parametrize("mode", ["garbage", "crash", "much", "leak", "hang"])
def test_a_misbehaving_etl_leaves_the_target_serving_others(etl_target, mode):
    t = etl_target
    name = f"etl-bad-{mode}"
    msg = {"name": name, "communication": "hpush://", "obj_timeout": "5s",
           "runtime": {"image": f"example.com/bad/{mode}:1", "command": ["/usr/bin/python3", "-c", BAD_SERVER, mode]}}
    if mode == "leak":
        msg["resources"] = {"limits": {"memory": "96Mi"}}
    r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)
    assert r.status_code == 200, r.text
    results = []

    def bad(n):
        try:
            g = t.get("in", n, etl_name=name)
            results.append((n, g.status_code, g.content if g.status_code == 200 else message(g)))
        except requests.RequestException as e:
            results.append((n, None, str(e)))

    try:
        rounds = 3 if mode == "leak" else 1  # enough for the leak to pass its limit
        threads = [threading.Thread(target=bad, args=(n,), daemon=True) for _ in range(rounds) for n in t.blobs]
        for th in threads:
            th.start()
        # meanwhile the target answers everything else
        for n, d in t.blobs.items():
            assert requests.get(f"{t.url}/v1/health", timeout=30).status_code == 200
            assert t.get("in", n, etl_name="etl-good-md5").content == _md5hex(d)
            t.put("in", f"side-{mode}", d)
            assert t.get("in", f"side-{mode}").content == d
        for th in threads:
            th.join(120)
            assert not th.is_alive(), "a request through a bad ETL never ended"
        assert len(results) == len(threads)
        failed = [res for res in results if res[1] != 200]
        for n, status, body in results:
            if status == 200:  # a whole, right answer, or none
                want = t.blobs[n] * 10 if mode == "much" else t.blobs[n]
                assert body == want, (mode, n, len(body))
            elif status == 404:  # the ETL died earlier: the target says so
                assert mode in ("crash", "leak") and f"etl job {name} is not running" in body, (mode, body)
            else:
                assert status is not None and status >= 500, (mode, n, status, body)
                assert name in body and f"ais://in/{n}" in body, (mode, body)
        if mode == "much":
            assert not failed, failed
        elif mode == "leak":
            assert failed, "the ETL's memory limit never bit"
        else:
            assert len(failed) == len(results), results
        assert requests.get(f"{t.url}/v1/health", timeout=30).status_code == 200
        if mode in ("crash", "leak"):  # a dead ETL is shown stopped, with the reason
            def info():
                return requests.get(f"{t.url}/v1/etl/{name}", timeout=30).json()
            assert wait_until(lambda: info()["status"] != "running", 20), info()
            assert info().get("last_error"), info()
    finally:
        before = etl_pids(t)
        assert requests.delete(f"{t.url}/v1/etl/{name}", timeout=60).status_code == 200
    # the good ETL is still there, and only it
    assert wait_until(lambda: len(etl_pids(t)) == 1, 20), (before, etl_pids(t))
    assert t.get("in", "o0", etl_name="etl-good-md5").content == _md5hex(t.blobs["o0"])


# ---------------------------------------------------------------- the mount

MOUNT_WORKER = r"""
import errno, os, sys, time
mode, path, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
done = 0
for i in range(100000):
    if time.time() > deadline:
        print("deadline", done); sys.exit(2)
    try:
        if mode == "read":
            with open(path, "rb") as f:
                while f.read(65536):
                    pass
        else:
            with open(f"{path}-{i}", "wb") as f:
                for _ in range(16):
                    f.write(os.urandom(65536))
            print("closed", f"{path}-{i}", flush=True)
        done += 1
    except OSError as e:
        try:  # the next call, on a mount whose daemon is known dead
            os.stat(f"{path}-never-looked-up")
            again = 0
        except OSError as e2:
            again = e2.errno
        print("errno", e.errno, again, done, flush=True); sys.exit(0)
"""


def _workers(mnt_dir, bck, n_readers=4, n_writers=2, seconds=60):
    deadline = str(time.time() + seconds)
    procs = [subprocess.Popen([sys.executable, "-c", MOUNT_WORKER, "read", os.path.join(mnt_dir, "big"), deadline],
                              stdout=subprocess.PIPE, text=True) for _ in range(n_readers)]
    procs += [subprocess.Popen([sys.executable, "-c", MOUNT_WORKER, "write", os.path.join(mnt_dir, f"w{i}"),
                                deadline], stdout=subprocess.PIPE, text=True) for i in range(n_writers)]
    return procs


def test_mount_daemon_killed_under_readers_and_writers(target, node, tmp_path):  # noqa: F811
    b = target.create_bucket("mk")
    big = os.urandom(8 * MiB)
    target.put(b, "big", big)
    m = node.mount("ais://mk", tmp_path / "m")
    procs = _workers(m, b)
    time.sleep(1.5)  # the workers are under way
    os.kill(node.pid(), signal.SIGKILL)
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail("a reader or writer of the dead mount hung")
        outs.append(out)
        last = out.strip().splitlines()[-1].split()
        # the call in flight when the daemon died is aborted (ECONNABORTED,
        # the kernel's answer), a call after it finds no daemon (ENOTCONN)
        assert last[0] == "errno" and int(last[1]) in (errno.ENOTCONN, errno.ECONNABORTED), out
        assert int(last[2]) == errno.ENOTCONN, out
    # what a writer closed before the kill is in the target, whole; the rest is absent
    names = set(list_names(target, b))
    closed = [ln.split()[1] for out in outs for ln in out.splitlines() if ln.startswith("closed")]
    for path in closed:
        assert os.path.basename(path) in names, path
    for n in names - {"big"}:
        assert len(target.get(b, n).content) == 16 * 65536, n
    r = node.call("--restore")
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(m, "big"), "rb").read() == big
    with open(os.path.join(m, "after"), "wb") as f:
        f.write(b"written after the restore")
    assert target.get(b, "after").content == b"written after the restore"


def test_target_restarted_under_mount_readers(target, tmp_path):
    need_fuse()
    b = target.create_bucket("tr")
    blobs = {f"o{i}": os.urandom(300_000 + i) for i in range(8)}
    for n, d in blobs.items():
        target.put(b, n, d)
    m = Mount(target, tmp_path / "mnt")
    stop = threading.Event()
    stats = {"ok_after": 0, "bad": [], "errors": 0}
    restarted = threading.Event()

    def reader(keys):
        for i in range(100_000):
            if stop.is_set():
                return
            k = keys[i % len(keys)]
            try:
                data = open(m.path(b, k), "rb").read()
            except OSError:
                stats["errors"] += 1
                time.sleep(0.05)
                continue
            if data != blobs[k]:
                stats["bad"].append(k)
            elif restarted.is_set():
                stats["ok_after"] += 1

    keys = list(blobs)
    ths = [threading.Thread(target=reader, args=(keys[i::4],), daemon=True) for i in range(4)]
    try:
        for th in ths:
            th.start()
        time.sleep(1)
        target.kill9()
        time.sleep(1.5)  # readers meet the dead target
        target.start()
        restarted.set()
        assert wait_until(lambda: stats["ok_after"] >= 40, 60), stats
    finally:
        stop.set()
        for th in ths:
            th.join(60)
        assert m.stop() == 0, m.log_text()
    assert not stats["bad"], stats
    assert not any(th.is_alive() for th in ths)
