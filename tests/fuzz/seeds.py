#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ from the inputs the
end-to-end tests send (tests/e2e: JSON bodies, templates, init messages, pod
specs, URLs and Range headers, archives, mount paths). Run it again after
changing a test's inputs; regression inputs found by fuzzing sit beside the
seeds as regress-* files and are kept."""
import base64
import glob
import io
import json
import os
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

MD5_CODE = """
import hashlib
def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def actmsg():
    bodies = [
        {"action": "create-bck"},
        {"action": "list", "name": "", "value": {"flags": "0"}},
        {"action": "list", "value": {"prefix": "d1/", "pagesize": 1000, "uuid": "nBvQ2lYvVx",
                                     "continuation_token": "d4/obj-02399", "props": "name,size,version,checksum,copies"}},
        {"action": "list", "value": {"flags": "2048", "start_after": "d4/obj-02399", "pagesize": 5}},
        {"action": "list", "value": {"flags": 17, "props": "name"}},
        {"action": "copy-bck", "name": "dst", "value": {"prepend": "p/", "dry_run": True, "num_workers": 3}},
        {"action": "etl-bck", "value": {"id": "etl-md5", "ext": {"jpg": "md5"}, "request_timeout": "30s",
                                        "prefix": "a/", "suffix": ".jpg"}},
        {"action": "etl-bck", "value": {"id": "etl-md5", "ext": "txt"}},
        {"action": "copy-listrange", "value": {"objnames": ["a", "b/c", "d.jpg"], "tobck": {"name": "dst", "provider": "ais"}}},
        {"action": "copy-listrange", "value": {"template": "pre-{0..14..2}-suf", "tobck": {"name": "dst"}}},
        {"action": "copy-listrange", "value": {"template": "o{000..299}", "prepend": "a/", "tobck": {"name": "dst"}}},
        {"action": "copy-listrange", "value": {"objnames": ["dir/a", "dir/b"], "dst_names": ["new/a", "new/b"],
                                               "tobck": {"name": "dst"}}},
        {"action": "etl-listrange", "value": {"template": "e{0..19}.jpg", "id": "etl-md5", "ext": {"jpg": "md5"},
                                              "tobck": {"name": "dst"}}},
        {"action": "delete-listrange", "value": {"template": "d-{0..20}"}},
        {"action": "archive", "value": {"template": "", "archname": "all.tgz", "mime": "tgz", "isbn": True,
                                        "aate": True, "coer": True, "tobck": {"name": "arch"}}},
        {"action": "stop", "value": {"ID": "abcdefghijkl", "Kind": "copy-bck"}},
        {"action": "start", "value": {"Kind": "lru", "Bck": {"name": "b", "provider": "ais"}}},
        {"action": "promote", "value": {"src": "/srv/files", "obj": "p/", "rcr": True, "ovw": False}},
        {"action": "rename-obj", "name": "new-name"},
        {"action": "summary-bck", "value": {"uuid": "", "prefix": "a"}},
    ]
    for i, b in enumerate(bodies):
        put("actmsg", f"seed-{i:02d}.json", json.dumps(b))


def template():
    for i, t in enumerate(["pre-{0..14..2}-suf", "oth", "s{001..003}/{a..a}", "s{001..003}/b", "d-{0..20}",
                           "o{000..299}", "e{0..19}.jpg", "r{0..9}", "dir/{0..3}", "a{0..2}b{0..2}c{0..1}", "*", ""]):
        put("template", f"seed-{i:02d}", t)


def request():
    reqs = [
        "/v1/objects/src/a.txt?etl_name=etl-md5\nRange: bytes=0-9",
        "/v1/objects/rg/empty\nRange: bytes=0-",
        "/v1/objects/b/dir/o.txt\nRange: bytes=-10",
        "/v1/objects/b/big\nRange: bytes=4294967293-4294967298",
        "/ais/easy/dir/o.txt\nRange: bytes=5-",
        "/ais/easy",
        "/ais",
        "/gs/bucket/obj",
        "/v1/buckets/src?bck_to=ais%2F%40%23%2Fdst%2F&provider=ais",
        "/v1/buckets/src?bck_to=ais://dst",
        "/v1/etl/_object/SECRET/ais/@#/b/dir/o.bin",
        "/v1/objects/b/%E2%82%AC%20name+plus?provider=ais",
        "/v1/cluster?what=status_all",
        "/v1/objects/b/a%00b",
        "/v1/objects/b//tmp/x",
    ]
    for i, r in enumerate(reqs):
        put("request", f"seed-{i:02d}", r)


def etl_msg():
    pods = sorted(glob.glob(os.path.join(ROOT, "etl/transformers/*/pod.yaml")))
    msgs = [
        {"id": "etl-md5", "runtime": "python3.11v2", "communication": "hpush://", "argument": "",
         "funcs": {"transform": "transform"}, "code": b64(MD5_CODE), "dependencies": b64("cloudpickle==2.2.0\n")},
        {"id": "etl-stream-md5", "runtime": "python3.11v2", "communication": "hpush://",
         "funcs": {"transform": "transform"}, "code": b64(MD5_CODE), "chunk_size": 4096},
        {"id": "etl-sdk-sha", "runtime": "python3.11v2", "communication": "hpull://", "timeout": "5m",
         "argument": "fqn", "code": b64(MD5_CODE), "flags": 0},
        {"id": "etl-io", "runtime": "python3.11v2", "communication": "io://", "code": b64(MD5_CODE)},
    ]
    for comm in ["hpush://", "hpull://", "hrev://"]:
        with open(pods[0]) as f:
            msgs.append({"id": "etl-md5-spec", "communication": comm, "argument": "", "timeout": "30s",
                         "spec": b64(f.read())})
    for i, m in enumerate(msgs):
        put("etl_msg", f"seed-{i:02d}.json", json.dumps(m))


def etl_spec():
    for p in sorted(glob.glob(os.path.join(ROOT, "etl/transformers/*/pod.yaml"))):
        with open(p, "rb") as f:
            put("etl_spec", os.path.basename(os.path.dirname(p)) + ".yaml", f.read())


def archive():
    members = [("a.txt", b"hello\n"), ("dir/b.bin", bytes(range(64))), ("x" * 120 + "/long-name", b"y")]
    for mode, name in [("w", "seed.tar"), ("w:gz", "seed.tgz")]:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
            for n, data in members:
                ti = tarfile.TarInfo(n)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        put("archive", name, buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members:
            z.writestr(n, data)
    put("archive", "seed.zip", buf.getvalue())


def fs_path():
    for i, p in enumerate(["/", "/src", "/src/a.txt", "/src/dir/sub/o.bin", "/@etl-md5", "/@etl-md5/src/obj-0",
                           "/dst/.hidden", "/src/a/../b", "/@/x", "/b//c"]):
        put("fs_path", f"seed-{i:02d}", p)


if __name__ == "__main__":
    for f in (actmsg, template, request, etl_msg, etl_spec, archive, fs_path):
        f()
