"""End-to-end tests of `ais`, the AIStore-compatible command line, against a
real etlfs-target: every command of docs/cli.md, its output shape, its effect
on the cluster and its exit status (0 ok, 1 failure, 2 usage).

ETLFS_AIS may point at an `ais` binary other than $ETLFS_BUILD/bin/ais."""
import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT

AIS = os.environ.get("ETLFS_AIS", os.path.join(BIN, "ais"))
MD5_SPEC = os.path.join(ROOT, "etl", "transformers", "md5", "pod.yaml")
NOT_BUILT = "ETL service not built"


def ais(target, *args, stdin=None, timeout=120, cwd=None):
    env = dict(os.environ, AIS_ENDPOINT=target.url if target else "http://127.0.0.1:1")
    return subprocess.run([AIS, *args], env=env, capture_output=True, timeout=timeout, cwd=cwd, input=stdin)


def ok(target, *args, **kw):
    r = ais(target, *args, **kw)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.decode()
    assert err.strip() and err.count("\n") == 1, err
    return err


# ---- help and usage


@pytest.mark.parametrize("words", [[], ["bucket"], ["object"], ["etl"], ["etl", "init"], ["etl", "init", "spec"],
                                   ["etl", "init", "code"], ["etl", "bucket"], ["etl", "object"], ["etl", "show"],
                                   ["job"], ["job", "show"], ["show", "cluster"], ["ls"], ["put"], ["get"]])
def test_help_at_every_level(words):
    r = subprocess.run([AIS, *words, "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "USAGE:" in out and "--help" in out
    assert r.stderr == b""


def test_usage_errors_exit_2():
    cases = [
        ["ls", "--bogus"],
        ["put", "-z", "f", "ais://b"],
        ["ls", "foo://bucket"],
        ["ls", "ais:/bucket"],
        ["get", "ais://"],
        ["get", "ais://b"],            # object name missing
        ["bucket", "create"],          # bucket missing
        ["bucket", "create", "ais://b/o"],
        ["nosuchcommand"],
        ["etl", "init", "spec", "--name", "etl-x"],  # --from-file missing
        ["etl", "object", "etl-x", "ais://b/o"],     # OUTPUT missing
        ["etl", "bucket", "etl-x", "ais://a", "ais://b", "--ext", "not-a-map"],
        ["etl", "bucket", "etl-x", "ais://a", "ais://a"],
    ]
    for args in cases:
        r = ais(None, *args)
        err = one_line_error(r, 2)
        assert "Incorrect usage" in err, (args, err)
        assert r.stdout == b"", args


def test_unreachable_cluster_is_one_line_exit_1():
    r = ais(None, "ls")
    err = one_line_error(r, 1)
    assert "127.0.0.1:1" in err


# ---- buckets


def test_bucket_create_ls_rm(target):
    assert ok(target, "bucket", "create", "ais://cli-b1") == '"ais://cli-b1" created\n'
    assert ok(target, "create", "ais://cli-b2") == '"ais://cli-b2" created\n'
    out = ok(target, "ls")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PRESENT"]
    assert any(l.split() == ["ais://cli-b1", "yes"] for l in lines)
    assert "Total: [AIS buckets: 2] ========" in out
    js = json.loads(ok(target, "ls", "--json"))
    assert sorted(b["name"] for b in js) == ["cli-b1", "cli-b2"]
    assert json.loads(ok(target, "ls", "ais://", "--json")) == js

    r = ais(target, "bucket", "create", "ais://cli-b1")
    assert "already exists" in one_line_error(r, 1)

    assert ok(target, "bucket", "rm", "ais://cli-b1", "--yes") == '"ais://cli-b1" destroyed\n'
    assert ok(target, "rmb", "ais://cli-b2") == '"ais://cli-b2" destroyed\n'
    r = ais(target, "bucket", "rm", "ais://cli-b1")
    assert "does not exist" in one_line_error(r, 1)
    assert requests.head(f"{target.url}/v1/buckets/cli-b1").status_code == 404


def test_ls_missing_bucket_prints_server_message(target):
    r = ais(target, "ls", "ais://nosuchbucket")
    err = one_line_error(r, 1)
    assert 'bucket "ais://nosuchbucket" does not exist' in err


# ---- objects


def test_put_get_roundtrip(target, tmp_path):
    target.create_bucket("src")
    data = os.urandom(1 << 20) + b"tail"
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    out = ok(target, "put", str(src), "ais://src", cwd=tmp_path)
    assert out == f'PUT "{src}" => ais://src/blob.bin\n\n'
    assert target.get("src", "blob.bin").content == data

    ok(target, "object", "put", "blob.bin", "ais://src/dir/renamed.bin", cwd=tmp_path)
    assert target.get("src", "dir/renamed.bin").content == data
    ok(target, "put", "blob.bin", "ais://src/virt/", cwd=tmp_path)
    assert target.get("src", "virt/blob.bin").content == data

    out = ok(target, "object", "get", "ais://src/dir/renamed.bin", str(tmp_path / "back.bin"))
    assert out == f"GET dir/renamed.bin from ais://src as {tmp_path / 'back.bin'} (1.00MiB)\n"
    assert (tmp_path / "back.bin").read_bytes() == data

    (tmp_path / "here").mkdir()
    ok(target, "get", "ais://src/virt/blob.bin", cwd=tmp_path / "here")  # no FILE: the object's base name
    assert (tmp_path / "here" / "blob.bin").read_bytes() == data
    r = ais(target, "get", "ais://src/blob.bin", "-")
    assert r.returncode == 0 and r.stdout == data and r.stderr == b""

    # a failed GET leaves no file behind and says why, in one line
    r = ais(target, "get", "ais://src/missing", str(tmp_path / "nothing"))
    assert "does not exist" in one_line_error(r, 1)
    assert not (tmp_path / "nothing").exists()
    assert not [p for p in os.listdir(tmp_path) if "ais-get" in p]


def test_put_directory_recursive(target, tmp_path):
    target.create_bucket("imagenet")
    root = tmp_path / "imagenet"
    files = {}
    for i in range(40):
        rel = f"n{i % 4:02d}/ILSVRC2012_val_{i:08d}.JPEG" if i % 5 else f"top_{i}.txt"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        body = os.urandom(100 + i * 37)
        p.write_bytes(body)
        files[rel] = body
    out = ok(target, "put", ".", "ais://imagenet", "-r", cwd=root)
    assert "Files to upload:" in out and "EXTENSION" in out
    assert ".JPEG" in out and ".txt" in out
    assert out.rstrip().endswith("PUT 40 files (one directory, recursively) => ais://imagenet")
    assert "\r" not in out  # no progress bar when stdout is not a terminal
    for rel, body in files.items():
        assert target.get("imagenet", rel).content == body, rel

    # without -r only the top level is uploaded
    target.create_bucket("flat")
    out = ok(target, "put", str(root), "ais://flat")
    assert "PUT 8 files (one directory, non-recursive) => ais://flat" in out
    names = ok(target, "ls", "ais://flat", "--no-headers").split()
    assert sorted(n for n in names if n.startswith("top_")) == sorted(k for k in files if "/" not in k)


def test_ls_objects_props_prefix_paging(target):
    target.create_bucket("lsb")
    for i in range(25):
        target.put("lsb", f"dir{i % 2}/obj{i:03d}", b"x" * (i + 1))
    out = ok(target, "ls", "ais://lsb")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE"]
    assert lines[1].split() == ["dir0/obj000", "1B"]
    assert lines[-1] == "Listed: 25 names"
    assert len(lines) == 27

    # paging through continuation tokens gives the same listing
    assert ok(target, "ls", "ais://lsb", "--page-size", "4") == out

    out = ok(target, "ls", "ais://lsb", "--prefix", "dir1/", "--props", "name,size,version")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "VERSION"]
    assert len(lines) == 14 and all(l.startswith("dir1/") for l in lines[1:-1])
    assert lines[-1] == "Listed: 12 names"
    assert lines[1].split() == ["dir1/obj001", "2B", "1"]
    assert ok(target, "ls", "ais://lsb/dir1/", "--props", "name,size,version") == out

    js = json.loads(ok(target, "ls", "ais://lsb", "--json", "--prefix", "dir0/"))
    assert [e["name"] for e in js["entries"]] == [f"dir0/obj{i:03d}" for i in range(0, 25, 2)]
    r = ais(target, "ls", "ais://lsb", "--props", "bogus")
    one_line_error(r, 2)


def test_ls_into_head_is_quiet(target):
    target.create_bucket("big")
    s = requests.Session()
    name = "a-fairly-long-object-name-to-overflow-the-pipe-buffer-quickly-"
    for i in range(2500):
        assert s.put(f"{target.url}/v1/objects/big/{name}{i:05d}", data=b"z").status_code == 200
    env = dict(os.environ, AIS_ENDPOINT=target.url)
    r = subprocess.run(["bash", "-c", f"set -o pipefail; '{AIS}' ls ais://big --page-size 300 | head -5"],
                       env=env, capture_output=True, timeout=120)
    assert r.returncode in (0, 141), r
    assert r.stderr == b""
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 5 and lines[0].split() == ["NAME", "SIZE"]
    assert lines[1].split()[0] == f"{name}00000"


def test_object_rm(target):
    target.create_bucket("rmb")
    target.put("rmb", "a/b.txt", b"1")
    target.put("rmb", "c.txt", b"2")
    assert ok(target, "object", "rm", "ais://rmb/a/b.txt") == 'deleted "a/b.txt" from ais://rmb\n'
    assert ok(target, "rmo", "ais://rmb/c.txt") == 'deleted "c.txt" from ais://rmb\n'
    assert target.get("rmb", "a/b.txt").status_code == 404
    r = ais(target, "rmo", "ais://rmb/c.txt")
    one_line_error(r, 1)


# ---- cluster and jobs


def test_show_cluster(target):
    out = ok(target, "show", "cluster")
    assert out.splitlines()[0].split() == ["NODE", "TYPE", "PUBLIC", "URL"]
    assert "proxy" in out and "target" in out and "Primary Proxy:" in out
    assert "Proxies: 1" in out and "Targets: 1" in out
    smap = json.loads(ok(target, "show", "cluster", "--json"))
    assert smap["tmap"] and smap["pmap"]


def test_job_show_empty_and_unknown(target):
    out = ok(target, "job", "show")
    assert out
    js = json.loads(ok(target, "job", "show", "--json"))
    assert js is None or isinstance(js, list)
    r = ais(target, "job", "show", "NoSuchJob123")
    one_line_error(r, 1)
    r = ais(target, "job", "wait", "NoSuchJob123")
    one_line_error(r, 1)


# ---- ETL (skipped only when the target was built without the ETL service)


def init_md5(target, name="etl-md5", comm="hpull"):
    r = ais(target, "etl", "init", "spec", "--from-file", MD5_SPEC, "--name", name, "--comm-type", comm,
            timeout=180)
    if r.returncode != 0 and NOT_BUILT in r.stderr.decode():
        pytest.skip("the target answers 501 " + NOT_BUILT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(f'ETL[{name}]: job "')
    return r


def test_etl_inline_md5(target, tmp_path):
    assert ok(target, "etl", "show") == ""  # an empty, error-free answer means ready
    ok(target, "bucket", "create", "ais://src")
    (tmp_path / "text.txt").write_text("hello world\n")
    ok(target, "put", "text.txt", "ais://src", cwd=tmp_path)
    init_md5(target, comm="hpush")

    out = ok(target, "etl", "show")
    assert out.splitlines()[0].split() == ["ETL", "NAME", "XACTION", "OBJECTS"]
    assert out.splitlines()[1].split()[0] == "etl-md5"
    lst = json.loads(ok(target, "etl", "show", "--json"))
    assert lst[0]["id"] == "etl-md5"
    det = ok(target, "etl", "show", "etl-md5")
    assert "NAME:  etl-md5" in det and "COMMUNICATION TYPE:  hpush://" in det and "SPEC:" in det
    assert "transformer_md5" in det
    assert ok(target, "etl", "show", "details", "etl-md5") == det

    want = hashlib.md5(b"hello world\n").hexdigest()
    r = ais(target, "etl", "object", "etl-md5", "ais://src/text.txt", "-")
    assert r.returncode == 0 and r.stdout.decode().strip() == want and r.stderr == b""
    ok(target, "etl", "object", "etl-md5", "ais://src/text.txt", str(tmp_path / "out.md5"))
    assert (tmp_path / "out.md5").read_text().strip() == want

    # a second init of the same name fails with the server's message
    r = ais(target, "etl", "init", "spec", "--from-file", MD5_SPEC, "--name", "etl-md5", "--comm-type", "hpush")
    assert "already exists" in one_line_error(r, 1)

    assert ok(target, "etl", "stop", "etl-md5") == "ETL[etl-md5] stopped\n"
    assert ok(target, "etl", "show") == ""
    assert ok(target, "etl", "start", "etl-md5") == "ETL[etl-md5] started successfully\n"
    r = ais(target, "etl", "object", "etl-md5", "ais://src/text.txt", "-")
    assert r.stdout.decode().strip() == want
    assert ok(target, "etl", "rm", "etl-md5") == "ETL[etl-md5] removed\n"
    r = ais(target, "etl", "object", "etl-md5", "ais://src/text.txt", "-")
    assert r.returncode == 1 and r.stderr


def test_etl_object_follows_hpull_redirect(target, tmp_path):
    target.create_bucket("pull")
    target.put("pull", "dir/a.txt", b"pulled\n")
    init_md5(target, "etl-md5-pull", "hpull")
    r = ais(target, "etl", "object", "etl-md5-pull", "ais://pull/dir/a.txt", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == hashlib.md5(b"pulled\n").hexdigest()


def test_etl_bucket_offline(target, tmp_path):
    target.create_bucket("imagenet")
    bodies = {f"ILSVRC2012_val_{i:08d}.JPEG": os.urandom(500 + i) for i in range(12)}
    bodies["skip/other.txt"] = b"not an image"
    for k, v in bodies.items():
        target.put("imagenet", k, v)
    init_md5(target, "etl-md5b", "hpush")

    # the seed's quote-less form, and --wait with job polling
    out = ok(target, "etl", "bucket", "etl-md5b", "ais://imagenet", "ais://imagenet-transformed",
             "--ext={JPEG:md5}", "--prefix", "ILSVRC", "--wait", timeout=300)
    first = out.splitlines()[0]
    assert first.startswith("etl-bucket[") and first.endswith("] ais://imagenet => ais://imagenet-transformed ...")
    xid = first[len("etl-bucket["):first.index("]")]
    names = ok(target, "ls", "ais://imagenet-transformed", "--no-headers", "--no-footers").split()
    names = [n for n in names if not n.endswith("B")]
    assert sorted(names) == sorted(k.replace(".JPEG", ".md5") for k in bodies if k.startswith("ILSVRC"))
    k = "ILSVRC2012_val_00000003.JPEG"
    got = target.get("imagenet-transformed", k.replace(".JPEG", ".md5")).text.strip()
    assert got == hashlib.md5(bodies[k]).hexdigest()
    out = ok(target, "job", "show", xid)
    assert xid in out and "etl-bck" in out and "Finished" in out
    js = json.loads(ok(target, "job", "show", xid, "--json"))
    assert js["uuid"] == xid and js["end_time"] != 0
    assert xid in ok(target, "job", "show")
    assert ok(target, "job", "wait", xid).endswith("Done.\n")

    # JSON --ext, no wait: the job id comes back at once and can be waited on
    out = ok(target, "etl", "bucket", "etl-md5b", "ais://imagenet", "ais://other", '--ext={"txt":"sum"}',
             "--prefix", "skip/")
    xid2 = out[len("etl-bucket["):out.index("]")]
    ok(target, "job", "wait", xid2, "--timeout", "60s")
    assert target.get("other", "skip/other.sum").text.strip() == hashlib.md5(b"not an image").hexdigest()

    # dry run writes nothing but still counts
    out = ok(target, "etl", "bucket", "etl-md5b", "ais://imagenet", "ais://dry-dst", "--dry-run", "--wait")
    assert "[DRY RUN]" in out and "ETL object counts:" in out
    assert requests.head(f"{target.url}/v1/buckets/dry-dst").status_code == 404

    r = ais(target, "etl", "bucket", "no-such-etl", "ais://imagenet", "ais://x2")
    assert r.returncode == 1 and r.stderr
    ok(target, "etl", "rm", "etl-md5b")


def test_etl_init_code(target, tmp_path):
    target.create_bucket("codeb")
    target.put("codeb", "a.txt", b"abc")
    (tmp_path / "code.py").write_text("def transform(data: bytes) -> bytes:\n    return data.upper()\n")
    (tmp_path / "deps.txt").write_text("")
    r = ais(target, "etl", "init", "code", "--name", "etl-upper", "--from-file", str(tmp_path / "code.py"),
            "--deps-file", str(tmp_path / "deps.txt"), "--runtime", "python3.11v2", "--comm-type", "hpush",
            "--chunk-size", "0", timeout=300)
    if r.returncode != 0 and NOT_BUILT in r.stderr.decode():
        pytest.skip("the target answers 501 " + NOT_BUILT)
    assert r.returncode == 0, r.stderr
    det = ok(target, "etl", "show", "etl-upper")
    assert "RUNTIME:  python3.11v2" in det and "return data.upper()" in det
    r = ais(target, "etl", "object", "etl-upper", "ais://codeb/a.txt", "-")
    assert r.stdout == b"ABC"
    ok(target, "etl", "rm", "etl-upper")


def test_job_show_idle_demand_job(target):
    """A list copy lingers idle after its work (a demand job): Idle, then Finished."""
    target.create_bucket("idle-src")
    for i in range(5):
        target.put("idle-src", f"o{i}", b"x" * i)
    r = requests.post(f"{target.url}/v1/buckets/idle-src", timeout=30,
                      json={"action": "copy-listrange",
                            "value": {"objnames": [f"o{i}" for i in range(5)], "tobck": {"name": "idle-dst"}}})
    assert r.status_code == 200, r.text
    xid = r.text
    deadline = time.time() + 30
    while time.time() < deadline:
        snaps = requests.get(f"{target.url}/v1/cluster", params={"what": "qryxstats"}, json={"id": xid},
                             timeout=30).json()
        if next(iter(snaps.values()))[0]["is_idle"]:
            break
        time.sleep(0.02)
    out = ok(target, "job", "show", xid)  # within the 2 s linger
    assert xid in out and "copy-listrange" in out and "Idle" in out, out
    assert ok(target, "job", "wait", xid, timeout=60).endswith("Done.\n")
    assert "Finished" in ok(target, "job", "show", xid)
