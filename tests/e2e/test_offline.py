"""Offline jobs: bucket-to-bucket copy and transform (copy-bck, etl-bck),
dry runs, errors that do not stop a job, abort, a kill -9 mid-job, bucket
rename, promote, and jobs started by kind (lru, cleanup)."""
import base64
import hashlib
import os
import time
import urllib.parse

import pytest
import requests

from conftest import Target

JOB_TIMEOUT = 120  # seconds any one job may take in these tests


# ---- helpers (also used by test_multiobj.py)

def uname(bck):
    return urllib.parse.quote(f"ais/@#/{bck}/", safe="")


def job_status(t, job_id):
    r = requests.get(f"{t.url}/v1/cluster", params={"what": "status"}, json={"ID": job_id, "Kind": ""}, timeout=40)
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(t, job_id, timeout=JOB_TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = job_status(t, job_id)
        if st["end_time"] != 0:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def copy_bck(t, src, dst, etl=None, **value):
    if etl is not None:
        value["id"] = etl
    return requests.post(f"{t.url}/v1/buckets/{src}?bck_to={uname(dst)}",
                         json={"action": "copy-bck" if etl is None else "etl-bck", "name": "", "value": value})


def list_names(t, bck, prefix=""):
    names, token = [], ""
    while True:
        r = requests.get(f"{t.url}/v1/buckets/{bck}",
                         json={"action": "list", "name": "", "value": {"prefix": prefix, "continuation_token": token,
                                                                        "page_size": 10000, "props": "name,size"}})
        assert r.status_code == 200, r.text
        body = r.json()
        names += [e["name"] for e in body.get("entries") or []]
        token = body.get("continuation_token", "")
        if not token:
            return names


def put_many(t, bck, items):
    s = requests.Session()
    for name, data in items:
        r = s.put(f"{t.url}/v1/objects/{bck}/{name}", data=data)
        assert r.status_code == 200, r.text


def bucket_exists(t, bck):
    return requests.head(f"{t.url}/v1/buckets/{bck}").status_code == 200


MD5_CODE = "import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n"
FAILING_CODE = ("import hashlib\ndef transform(b):\n    if b.startswith(b'FAIL'):\n"
                "        raise ValueError('refusing this object')\n    return hashlib.md5(b).hexdigest().encode()\n")
SLOW_CODE = ("import hashlib, time\ndef transform(b):\n    time.sleep(0.05)\n"
             "    return hashlib.md5(b).hexdigest().encode()\n")


def init_etl(t, name, code):
    """Defines an init-code ETL; skips the test when the ETL service is not built."""
    msg = {"id": name, "runtime": "python3.11v2", "communication": "hpush://",
           "funcs": {"transform": "transform"}, "code": base64.b64encode(code.encode()).decode(),
           "dependencies": "", "timeout": "2m"}
    r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=180)
    if r.status_code == 501:
        pytest.skip("ETL service not built yet (PUT /v1/etl answers 501)")
    if r.status_code == 400 and "already exists" in r.text:
        return name  # defined by an earlier test on the same target
    assert r.status_code == 200, r.text
    return name


# ---- copy-bck

def test_copy_bck_nested_prefix_prepend(shared_target, bucket):
    t = shared_target
    items = [(f"dir{i % 3}/sub{i % 2}/obj{i}.bin", os.urandom(i * 37 % 5000)) for i in range(60)]
    items.append(("dir1/empty", b""))
    put_many(t, bucket, items)
    dst = bucket + "-copy"
    r = copy_bck(t, bucket, dst, prefix="dir1/", prepend="new/")
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert not st["aborted"] and st["err"] == ""
    want = {"new/" + n: d for n, d in items if n.startswith("dir1/")}
    assert sorted(list_names(t, dst)) == sorted(want)
    for n, d in want.items():
        assert t.get(dst, n).content == d
    assert st["objects"] == len(want) and st["bytes"] == sum(len(d) for d in want.values())

    def heads():
        return {n: requests.head(f"{t.url}/v1/objects/{dst}/{n}").headers for n in want}
    first = heads()
    assert {h["ais-version"] for h in first.values()} == {"1"}
    # re-running overwrites: same result, new versions, each output's own record
    # (a group's output learns at its rename that the name is taken)
    r = copy_bck(t, bucket, dst, prefix="dir1/", prepend="new/")
    wait_job(t, r.text)
    assert sorted(list_names(t, dst)) == sorted(want)
    for n, h in heads().items():
        assert h["ais-version"] == "2", (n, h)
        assert h["ais-checksum-value"] == first[n]["ais-checksum-value"] and h["content-length"] == str(len(want[n]))
        assert t.get(dst, n).content == want[n]


def thread_stacks(pid):
    """Thread stacks mapped in a process: one guard page (---p, anonymous) each."""
    with open(f"/proc/{pid}/maps") as f:
        return sum(1 for line in f if line.split()[1] == "---p" and len(line.split()) == 5)


def test_finished_jobs_keep_no_thread_stacks(target):
    """A finished job stays listed for its status, but its thread is joined:
    80 jobs in a row leave the target with about the stacks it had."""
    t, bucket = target, "stacks"
    t.create_bucket(bucket)
    put_many(t, bucket, [(f"o{i}", b"x" * 100) for i in range(4)])
    wait_job(t, copy_bck(t, bucket, bucket + "-warm").text)
    before = thread_stacks(t.proc.pid)
    for i in range(80):
        r = copy_bck(t, bucket, f"{bucket}-c{i % 4}")
        assert r.status_code == 200, r.text
        assert wait_job(t, r.text)["objects"] == 4
    after = thread_stacks(t.proc.pid)
    assert after <= before + 8, f"{before} thread stacks before 80 jobs, {after} after"


def test_copy_bck_dry_run(shared_target, bucket):
    t = shared_target
    items = [(f"a/{i}", b"x" * i) for i in range(25)]
    put_many(t, bucket, items)
    dst = bucket + "-dry"
    r = copy_bck(t, bucket, dst, dry_run=True)
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["objects"] == 25 and st["bytes"] == sum(range(25))
    assert not bucket_exists(t, dst)


def test_copy_bck_errors(shared_target, bucket):
    t = shared_target
    r = copy_bck(t, bucket, bucket)
    assert r.status_code == 400 and "onto itself" in r.json()["message"]
    r = requests.post(f"{t.url}/v1/buckets/{bucket}", json={"action": "copy-bck", "value": {}})
    assert r.status_code == 400 and "bck_to" in r.json()["message"]
    r = copy_bck(t, "no-such-bucket-xyz", bucket + "-x")
    assert r.status_code == 404


def test_etl_bck_unknown_etl_fails_at_once(shared_target, bucket):
    t = shared_target
    t.put(bucket, "o", b"data")
    dst = bucket + "-etl"
    r = copy_bck(t, bucket, dst, etl="faulty-name")
    assert r.status_code == 404 and "etl job faulty-name does not exist" in r.json()["message"]
    assert not bucket_exists(t, dst)
    r = copy_bck(t, bucket, dst, etl="")
    assert r.status_code == 400


def test_copy_bck_abort(shared_target, bucket):
    t = shared_target
    blob = os.urandom(256 * 1024)
    put_many(t, bucket, [(f"big/{i:04d}", blob) for i in range(400)])
    dst = bucket + "-abort"
    r = copy_bck(t, bucket, dst, num_workers=1)
    assert r.status_code == 200
    job = r.text
    time.sleep(0.05)
    assert requests.put(f"{t.url}/v1/cluster", json={"action": "stop", "value": {"ID": job}}).status_code == 200
    st = wait_job(t, job)
    assert st["aborted"]
    copied = list_names(t, dst)
    assert len(copied) < 400
    for n in copied:  # only whole objects
        assert t.get(dst, n).content == blob


# ---- a target killed mid-job

def test_kill9_mid_job_then_restart(target):
    t = target
    src, dst = t.create_bucket("src"), "dst"
    blob = os.urandom(128 * 1024)
    put_many(t, src, [(f"d{i % 10}/o{i:05d}", blob) for i in range(1500)])
    r = copy_bck(t, src, dst, num_workers=2)
    assert r.status_code == 200
    job = r.text
    deadline = time.time() + 20
    while time.time() < deadline and job_status(t, job)["objects"] < 20:
        time.sleep(0.01)
    st = job_status(t, job)
    assert st["end_time"] == 0, "the job finished before it could be killed: make it bigger"
    t.kill9()
    t.start()
    st = job_status(t, job)
    assert st["aborted"] and st["end_time"] != 0, st
    # outputs are group-committed: whatever was published is whole
    copied = list_names(t, dst)
    assert len(copied) < 1500
    for n in copied:
        assert t.get(dst, n).content == blob, n
    assert t.tmp_files() == []
    # re-running completes the copy
    r = copy_bck(t, src, dst)
    st = wait_job(t, r.text)
    assert not st["aborted"] and len(list_names(t, dst)) == 1500


# ---- etl-bck (needs the ETL service)

def test_etl_bck_md5_ext_prefix(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "md5-etl", MD5_CODE)
    items = [(f"in/{i:04d}.jpg" if i % 2 else f"in/{i:04d}.bin", os.urandom(100 + i % 700)) for i in range(3000)]
    items += [("other/x.jpg", b"not selected")]
    put_many(t, bucket, items)
    dst = bucket + "-md5"
    r = copy_bck(t, bucket, dst, etl=etl, prefix="in/", prepend="out-", ext={"jpg": "txt"},
                 request_timeout="1m")
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["err"] == "" and not st["aborted"], st
    want = {}
    for n, d in items:
        if n.startswith("in/"):
            want["out-" + (n[:-3] + "txt" if n.endswith(".jpg") else n)] = hashlib.md5(d).hexdigest().encode()
    got = list_names(t, dst)
    assert sorted(got) == sorted(want)
    for n in list(want)[::97]:
        assert t.get(dst, n).content == want[n]
    assert st["objects"] == 3000 and st["bytes"] == 3000 * 32

    # dry run: exact counts of objects and output bytes, nothing written
    dry = bucket + "-md5dry"
    r = copy_bck(t, bucket, dry, etl=etl, prefix="in/", dry_run=True)
    st = wait_job(t, r.text)
    assert st["objects"] == 3000 and st["bytes"] == 3000 * 32
    assert not bucket_exists(t, dry)


def test_etl_bck_failures_continue(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "fail-etl", FAILING_CODE)
    items = [(f"o{i:03d}", (b"FAIL" if i % 10 == 3 else b"ok") + os.urandom(50)) for i in range(100)]
    put_many(t, bucket, items)
    dst = bucket + "-f"
    r = copy_bck(t, bucket, dst, etl=etl)
    st = wait_job(t, r.text)
    failed = sorted(n for n, d in items if d.startswith(b"FAIL"))
    assert st["errors"] == len(failed) and not st["aborted"]
    for n in failed:
        assert n in st["err"]
    assert sorted(list_names(t, dst)) == sorted(n for n, _ in items if n not in failed)


def test_etl_bck_abort(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "slow-etl", SLOW_CODE)
    put_many(t, bucket, [(f"o{i:03d}", b"abc%d" % i) for i in range(300)])
    dst = bucket + "-slow"
    r = copy_bck(t, bucket, dst, etl=etl)
    time.sleep(0.5)
    requests.put(f"{t.url}/v1/cluster", json={"action": "stop", "value": {"ID": r.text}})
    st = wait_job(t, r.text)
    assert st["aborted"]
    got = list_names(t, dst)
    assert len(got) < 300
    for n in got:
        assert len(t.get(dst, n).content) == 32


def test_etl_bck_sources_deleted_mid_job(shared_target, bucket):
    """A walked name goes to the ETL without a stat first: a source deleted
    after the walk read it is skipped as before (no job error), the others
    are transformed."""
    t = shared_target
    etl = init_etl(t, "slow-etl", SLOW_CODE)
    items = [(f"o{i:03d}", b"abc%d" % i) for i in range(300)]
    put_many(t, bucket, items)
    dst = bucket + "-del"
    r = copy_bck(t, bucket, dst, etl=etl)
    assert r.status_code == 200, r.text
    deadline = time.time() + JOB_TIMEOUT
    while job_status(t, r.text)["objects"] < 10 and time.time() < deadline:
        time.sleep(0.02)
    gone = [n for n, _ in items[150:]]  # not transformed yet: the ETL takes 50 ms an object
    s = requests.Session()
    for n in gone:
        assert s.delete(f"{t.url}/v1/objects/{bucket}/{n}").status_code == 200
    st = wait_job(t, r.text)
    assert st["errors"] == 0 and st["err"] == "" and not st["aborted"], st
    got = set(list_names(t, dst))
    kept = {n: d for n, d in items[:150]}
    assert set(kept) <= got and got <= {n for n, _ in items}
    assert st["objects"] == len(got)
    for n in list(kept)[::15]:
        assert t.get(dst, n).content == hashlib.md5(kept[n]).hexdigest().encode()


# ---- move-bck

def test_move_bck(shared_target, bucket):
    t = shared_target
    items = [(f"m/{i}/obj", os.urandom(64)) for i in range(80)]
    put_many(t, bucket, items)
    dst = bucket + "-moved"
    r = requests.post(f"{t.url}/v1/buckets/{bucket}?bck_to={uname(dst)}",
                      json={"action": "move-bck", "name": "", "value": None})
    assert r.status_code == 200, r.text
    wait_job(t, r.text)
    assert not bucket_exists(t, bucket) and bucket_exists(t, dst)
    for n, d in items:
        assert t.get(dst, n).content == d
    other = t.create_bucket(bucket + "-other")
    r = requests.post(f"{t.url}/v1/buckets/{other}?bck_to={uname(dst)}", json={"action": "move-bck"})
    assert r.status_code == 409
    msg = r.json()["message"]
    assert "already exists" in msg and "bucket" in msg


# ---- promote

@pytest.fixture(scope="module")
def promote_target(tmp_path_factory):
    """A target that may promote files under its own "allowed" folder only."""
    work = tmp_path_factory.mktemp("promote")
    allowed = work / "allowed"
    allowed.mkdir()
    t = Target(str(work), extra_args=["--promote-root", str(allowed)])
    t.allowed = allowed
    yield t
    t.stop()


def promote(t, bucket, src, **value):
    value.setdefault("src", str(src))
    return requests.post(f"{t.url}/v1/objects/{bucket}", json={"action": "promote", "name": str(src), "value": value})


def test_promote_folder(promote_target, tmp_path):
    t = promote_target
    bucket = t.create_bucket("prom-folder")
    src = t.allowed / "files"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"A", "sub/b.txt": b"BB", "sub/deeper/c.txt": b"CCC"}
    for n, d in files.items():
        (src / n).write_bytes(d)
    r = promote(t, bucket, src, obj="p/", rcr=True, ovw=False, dls=False)
    assert r.status_code == 200, r.text
    assert sorted(list_names(t, bucket)) == sorted("p/" + n for n in files)  # at once: synchronous
    assert job_status(t, r.text)["end_time"] != 0
    for n, d in files.items():
        assert t.get(bucket, "p/" + n).content == d
    # not recursive, and a single file
    r = promote(t, bucket, src, obj="top/")
    assert r.status_code == 200
    assert list_names(t, bucket, "top/") == ["top/a.txt"]
    r = promote(t, bucket, src / "a.txt", obj="single", dls=True)
    assert r.status_code == 200
    assert t.get(bucket, "single").content == b"A" and not (src / "a.txt").exists()
    r = promote(t, bucket, "relative/path")
    assert r.status_code == 400


def test_promote_refuses_files_outside_its_roots(promote_target, tmp_path):
    t = promote_target
    bucket = t.create_bucket("prom-outside")
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"host file")
    # a host file, a missing one outside, a path that climbs out with "..": 403, nothing read or deleted
    for src in (outside, tmp_path / "missing", str(t.allowed) + "/.." * 12 + str(outside)):
        r = promote(t, bucket, src, obj="loot", dls=True)
        assert r.status_code == 403, (src, r.text)
        assert "--promote-root" in r.json()["message"]
    assert outside.read_bytes() == b"host file"
    # a symlink inside a root that leads out: refused as a source...
    (t.allowed / "link.txt").symlink_to(outside)
    r = promote(t, bucket, t.allowed / "link.txt", obj="loot", dls=True)
    assert r.status_code == 403, r.text
    # ...and skipped (not followed) when met in a promoted folder
    d = t.allowed / "withlink"
    d.mkdir()
    (d / "ok.txt").write_bytes(b"ok")
    (d / "out.txt").symlink_to(outside)
    (d / "outdir").symlink_to(tmp_path, target_is_directory=True)
    r = promote(t, bucket, d, obj="w/", rcr=True, dls=True)
    assert r.status_code == 200, r.text
    assert list_names(t, bucket) == ["w/ok.txt"]
    assert outside.read_bytes() == b"host file"
    # a missing file inside a root is still 404
    assert promote(t, bucket, t.allowed / "nope").status_code == 404


def test_promote_is_off_without_a_root(shared_target, bucket, tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    r = promote(shared_target, bucket, f, obj="f", dls=True)
    assert r.status_code == 403, r.text
    assert "--promote-root" in r.json()["message"]
    assert f.exists() and list_names(shared_target, bucket) == []


# ---- jobs started by kind

@pytest.mark.parametrize("kind,stored", [("lru", "lru"), ("cleanup", "cleanup-store")])
def test_start_lru_cleanup(shared_target, bucket, kind, stored):
    t = shared_target
    put_many(t, bucket, [(f"x{i}", b"12345") for i in range(7)])
    r = requests.put(f"{t.url}/v1/cluster",
                     json={"action": "start", "name": "",
                           "value": {"ID": "", "Kind": kind, "DaemonID": "", "Bck": {"name": bucket, "provider": "ais"},
                                     "Buckets": None}})
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["kind"] == stored and not st["aborted"]
    assert st["objects"] == 7 and st["bytes"] == 35
    r = requests.put(f"{t.url}/v1/cluster", json={"action": "start", "value": {"Kind": kind}})
    assert r.status_code == 200
    wait_job(t, r.text)
    r = requests.put(f"{t.url}/v1/cluster", json={"action": "start", "value": {"Kind": "no-such-kind"}})
    assert r.status_code == 400


def test_etl_outputs_stored_with_their_own_checksum(shared_target, bucket, xxh64):
    """The ETL's answer is written and hashed as it arrives: each output's
    stored size and checksum are those of the output, small, empty or in
    many pieces."""
    t = shared_target
    etl = init_etl(t, "reverse-etl", "def transform(b):\n    return b[::-1]\n")
    items = [("empty", b""), ("one", b"x"), ("small", os.urandom(5000)), ("big", os.urandom(3 * 1024 * 1024 + 17))]
    put_many(t, bucket, items)
    dst = bucket + "-cksum"
    r = copy_bck(t, bucket, dst, etl=etl)
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["err"] == "" and st["objects"] == len(items), st
    for name, data in items:
        out = data[::-1]
        h = requests.head(f"{t.url}/v1/objects/{dst}/{name}")
        assert h.status_code == 200, (name, h.status_code)
        assert int(h.headers["Content-Length"]) == len(out), name
        assert h.headers["ais-checksum-value"] == xxh64(out), name
        assert t.get(dst, name).content == out, name
