"""Every communicator (hpush, hpull, hrev, io, ws) x every arg type ("", url, fqn)
x init code / init spec, for an md5 and an echo transform, compared byte for
byte with hashlib and the original; the combinations AIStore refuses must be
400 and start nothing. Then one 1 GiB object through an hpush echo ETL, read
back streaming while the target's resident memory is watched: the target must
stream, not buffer."""
import base64
import hashlib
import os
import shutil
import threading
import time

import pytest
import requests

from conftest import ROOT, Target

COMMS = ["hpush://", "hpull://", "hrev://", "io://", "ws://"]
ARGS = ["", "url", "fqn"]
# docs/etl.md: url only with hpull; fqn with hpush, hpull or ws.
VALID = {("hpush://", ""), ("hpush://", "fqn"), ("hpull://", ""), ("hpull://", "url"), ("hpull://", "fqn"),
         ("hrev://", ""), ("io://", ""), ("ws://", ""), ("ws://", "fqn")}

# init code: the function's argument is the object's bytes, or its URL (arg url);
# io:// code is a script on stdin/stdout.
CODE = {
    ("md5", "bytes"): "import hashlib\ndef transform(data):\n    return hashlib.md5(data).hexdigest().encode()\n",
    ("echo", "bytes"): "def transform(data):\n    return data\n",
    ("md5", "url"): ("import hashlib, urllib.request\ndef transform(url):\n"
                     "    with urllib.request.urlopen(url) as r:\n        return hashlib.md5(r.read()).hexdigest().encode()\n"),
    ("echo", "url"): ("import urllib.request\ndef transform(url):\n"
                      "    with urllib.request.urlopen(url) as r:\n        return r.read()\n"),
    ("md5", "io"): ("import hashlib, sys\ndef transform():\n"
                    "    sys.stdout.buffer.write(hashlib.md5(sys.stdin.buffer.read()).hexdigest().encode())\n"
                    "transform()\n"),
    ("echo", "io"): ("import sys\ndef transform():\n    sys.stdout.buffer.write(sys.stdin.buffer.read())\n"
                     "transform()\n"),
}
POD = {"md5": "md5/pod.yaml", "echo": "echo/pod.yaml"}

OBJECTS = {
    "hello.txt": b"hello world\n",
    "dir/with space/r.bin": os.urandom(300_001),
    "one": b"\x00",
    "deep/a/b/c.json": b'{"k": [1, 2, 3]}' * 100,
}


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def expected(kind, body):
    return hashlib.md5(body).hexdigest().encode() if kind == "md5" else body


def message(kind, how, comm, arg, name):
    if how == "code":
        variant = "io" if comm == "io://" else ("url" if arg == "url" else "bytes")
        return {"id": name, "runtime": "python3.11v2", "communication": comm, "argument": arg, "timeout": "60s",
                "funcs": {"transform": "transform"}, "code": b64(CODE[(kind, variant)]), "dependencies": ""}
    with open(os.path.join(ROOT, "etl", "transformers", POD[kind])) as f:
        spec = f.read()
    return {"id": name, "communication": comm, "argument": arg, "timeout": "60s", "spec": b64(spec)}


def etl_name(kind, how, comm, arg):
    # 6..20 characters: e.g. "md5-c-hpull-url"
    return f"{kind}-{how[0]}-{comm[:-3]}" + (f"-{arg}" if arg else "")


@pytest.fixture(scope="module")
def mtarget(shared_target):
    shared_target.create_bucket("mtx")
    for name, body in OBJECTS.items():
        shared_target.put("mtx", name, body)
    return shared_target


CASES = [(k, h, c, a) for k in ("md5", "echo") for h in ("code", "spec") for c in COMMS for a in ARGS]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind,how,comm,arg", CASES, ids=["-".join([k, h, c[:-3], a or "bytes"]) for k, h, c, a in CASES])
def test_matrix(mtarget, kind, how, comm, arg):
    t = mtarget
    name = etl_name(kind, how, comm, arg)
    assert 6 <= len(name) <= 20
    t0 = time.time()
    r = requests.put(f"{t.url}/v1/etl", json=message(kind, how, comm, arg, name), timeout=90)
    if (comm, arg) not in VALID:
        assert r.status_code == 400, (r.status_code, r.text)
        assert "arg" in r.text.lower(), r.text  # the message names the argument
        assert requests.get(f"{t.url}/v1/etl/{name}", timeout=10).status_code == 404
        assert name not in [e["id"] for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()]
        return
    assert r.status_code == 200, r.text
    try:
        show = requests.get(f"{t.url}/v1/etl/{name}", timeout=10).json()
        assert show["status"] == "running" and show["communication"] == comm and show["argument"] == arg
        for obj, body in OBJECTS.items():
            url = f"{t.url}/v1/objects/mtx/{obj}"
            # hpull: a 307 to the ETL, which requests follows
            g = requests.get(url, params={"etl_name": name}, timeout=60)
            assert g.status_code == 200, (obj, g.status_code, g.text[:300])
            assert g.content == expected(kind, body), (obj, len(g.content), len(body))
            if comm == "hpull://":
                assert [h.status_code for h in g.history] == [307], obj
            else:
                assert g.history == [], obj
        # an unknown object: the error travels back, no 200 with an empty body
        g = requests.get(f"{t.url}/v1/objects/mtx/no-such-object", params={"etl_name": name}, timeout=60)
        assert g.status_code >= 400, (g.status_code, g.content[:200])
        lst = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()}
        assert name in lst
        if comm != "hpull://":  # hpull bypasses the target on the way back
            assert lst[name]["obj_count"] >= len(OBJECTS)
    finally:
        d = requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)
        assert d.status_code == 200, d.text
    assert time.time() - t0 < 100


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["code", "spec"])
def test_hrev_inline_under_concurrency(mtarget, how):
    """hrev: the target calls the ETL, which calls the target back for the
    object. More concurrent clients than the target has HTTP workers must
    still all be answered (no worker may wait on a callback that only a busy
    worker could serve)."""
    import concurrent.futures as cf

    t = mtarget
    name = f"echo-par-{how}"
    msg = message("echo", how, "hrev://", "", name)
    msg["timeout"] = "15s"
    r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=90)
    assert r.status_code == 200, r.text
    bodies = {f"par/{i:03d}": os.urandom(1000 + 37 * i) for i in range(64)}
    for k, v in bodies.items():
        t.put("mtx", k, v)

    def get(k):
        t0 = time.time()
        g = requests.get(f"{t.url}/v1/objects/mtx/{k}", params={"etl_name": name}, timeout=60)
        return k, g.status_code, g.content, time.time() - t0

    try:
        t0 = time.time()
        with cf.ThreadPoolExecutor(40) as ex:
            res = list(ex.map(get, bodies))
        bad = [(k, st, round(d, 1)) for k, st, body, d in res if st != 200 or body != bodies[k]]
        assert not bad, f"{len(bad)} of {len(res)} failed: {bad[:5]}"
        assert time.time() - t0 < 30
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)
        for k in bodies:
            requests.delete(f"{t.url}/v1/objects/mtx/{k}", timeout=30)


# ---- 1 GiB through an hpush echo ETL, streamed both ways

GIB = 1 << 30
BLOCK = 1 << 20


def gen_block(i):
    # cheap, deterministic, not all-equal: a counter stamped into a fixed block
    return i.to_bytes(8, "little") * (BLOCK // 8)


def put_gib(t, bck, obj):
    """PUTs 1 GiB of gen_block, streamed; the md5 of what was sent."""
    want = hashlib.md5()

    def body():
        for i in range(GIB // BLOCK):
            b = gen_block(i)
            want.update(b)
            yield b

    r = requests.put(f"{t.url}/v1/objects/{bck}/{obj}", data=body(), timeout=600)
    assert r.status_code == 200, r.text
    return want


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RssSampler(threading.Thread):
    def __init__(self, pid, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = vm_rss(pid)
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.wait(self.every):
            try:
                self.peak = max(self.peak, vm_rss(self.pid))
            except (OSError, RuntimeError):
                return

    def stop(self):
        self.stop_ev.set()
        self.join(5)
        return self.peak


@pytest.mark.timeout(1200)
def test_one_gib_through_hpush_echo_streams(tmp_path):
    if shutil.disk_usage(str(tmp_path)).free < 5 * GIB:
        pytest.skip("needs 5 GiB of free disk")
    os.makedirs(str(tmp_path / "big"))
    t = Target(str(tmp_path / "big"), mountpaths=1)
    try:
        t0 = time.time()
        t.create_bucket("big")
        pid = t.proc.pid
        base = vm_rss(pid)

        sampler = RssSampler(pid)
        sampler.start()
        want = put_gib(t, "big", "huge.bin")
        put_peak = sampler.stop()
        h = requests.head(f"{t.url}/v1/objects/big/huge.bin", timeout=30)
        assert int(h.headers["Content-Length"]) == GIB

        with open(os.path.join(ROOT, "etl", "transformers", "echo", "pod.yaml")) as f:
            spec = f.read()
        r = requests.put(f"{t.url}/v1/etl", json={"id": "echo-big", "communication": "hpush://", "argument": "",
                                                  "timeout": "5m", "spec": b64(spec)}, timeout=120)
        assert r.status_code == 200, r.text

        base2 = vm_rss(pid)
        sampler = RssSampler(pid)
        sampler.start()
        got, n = hashlib.md5(), 0
        with requests.get(f"{t.url}/v1/objects/big/huge.bin", params={"etl_name": "echo-big"},
                          stream=True, timeout=(10, 300)) as g:
            assert g.status_code == 200, g.text[:300]
            for chunk in g.iter_content(BLOCK):
                got.update(chunk)
                n += len(chunk)
                assert time.time() - t0 < 900, "1 GiB through the ETL took too long"
        get_peak = sampler.stop()
        assert n == GIB
        assert got.hexdigest() == want.hexdigest()
        mib = 1 << 20
        print(f"target RSS: base {base // mib} MiB, PUT peak +{(put_peak - base) // mib} MiB, "
              f"GET via ETL peak +{(get_peak - base2) // mib} MiB, {time.time() - t0:.1f}s")
        assert put_peak - base < 200 * mib, f"PUT of 1 GiB grew the target by {(put_peak - base) // mib} MiB"
        assert get_peak - base2 < 200 * mib, f"1 GiB via the ETL grew the target by {(get_peak - base2) // mib} MiB"
        d = requests.delete(f"{t.url}/v1/objects/big/huge.bin", timeout=60)
        assert d.status_code == 200, d.text
        assert requests.head(f"{t.url}/v1/objects/big/huge.bin", timeout=30).status_code == 404
    finally:
        try:
            requests.delete(f"{t.url}/v1/objects/big/huge.bin", timeout=60)
            requests.delete(f"{t.url}/v1/etl/echo-big", timeout=30)
        finally:
            assert t.stop() == 0, t.log_text()
            shutil.rmtree(str(tmp_path / "big"), ignore_errors=True)
