"""ws://, AIStore 5.0's streaming communicator: long-lived WebSockets to the
ETL's /ws carrying object after object (a control message, then the bytes
unless the ETL reads the file: fqn), for init code (the Python runner) and
the native md5 transformer; inline reads, etl_args, offline jobs, pipelines
with a ws stage, and the failures: a transform that raises (502, the next
object still served), one that hangs (504 at the object timeout, others
served meanwhile), an ETL killed mid-stream (502, the target unharmed), a
connection that dies with several objects in flight on it; fqn by default
for ETLs of ours (ETL_DIRECT_FQN=false sends the bytes); and AIStore's own
webserver (the SDK's FastAPIServer /ws) against our client."""
import concurrent.futures as cf
import glob
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

import pytest
import requests

import conftest
from conftest import BUILD, ROOT, Target
from test_etl_api import b64, etl_pids, init_code, message
from test_etl_v5 import MD5, REVERSE, UPPER, WITH_ARGS  # the same transforms, over ws://
from test_offline import list_names, put_many, wait_job


# raises for objects that start with "bad", hangs on "hang", is slow on "slow"
MOODY = """
import time
def transform(data):
    if data.startswith(b"bad"):
        raise ValueError("refusing " + data[:8].decode())
    if data.startswith(b"hang"):
        time.sleep(3600)
    if data.startswith(b"slow"):
        time.sleep(3)
    return data[::-1]
"""

# etl_args n: the object n times (n > 0), or its first 1/-n (n < 0)
SIZES = """
def transform(data, etl_args):
    n = int(etl_args)
    return data * n if n > 0 else data[:len(data) // -n]
"""

# ends its connection (the runner's thread for it) on objects that start with
# "die", after a pause in which more objects queue up behind it
DIES = """
import time
def transform(data):
    if data.startswith(b"die"):
        time.sleep(0.3)
        raise SystemExit
    time.sleep(0.005)
    return data[::-1]
"""

BYTES_ENV = [{"name": "ETL_DIRECT_FQN", "value": "false"}]

OBJECTS = {"a.txt": b"hello world", "dir/b c.bin": os.urandom(300_000), "empty": b"",
           "bad-1": b"bad one", "good-1": b"good one", "hang-1": b"hang on", "slow-1": b"slow down"}


@pytest.fixture(scope="module")
def tws(shared_target):
    t = shared_target
    etls = [("ws-md5", MD5, "ws://", ""), ("ws-md5-fqn", MD5, "ws", "fqn"), ("ws-upper", UPPER, "ws://", ""),
            ("ws-rev", REVERSE, "ws://", ""), ("ws-args", WITH_ARGS, "ws://", ""),
            ("hp-upper", UPPER, "hpush://", "")]
    for name, code, comm, arg in etls:
        r = init_code(t, name, code=code, comm=comm, arg=arg, deps="")
        assert r.status_code == 200, r.text
    # the moody one gets a short timeout: it bounds each object
    r = init_code(t, "ws-moody", code=MOODY, comm="ws://", deps="", timeout="4s")
    assert r.status_code == 200, r.text
    t.create_bucket("wssrc")
    for name, data in OBJECTS.items():
        t.put("wssrc", name, data)
    yield t
    for name, *_ in etls + [("ws-moody",)]:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def get(t, obj, **q):
    return requests.get(f"{t.url}/v1/objects/wssrc/{obj}", params=q, timeout=60)


def test_init_code_ws_inline_bytes_and_fqn(tws):
    shown = requests.get(f"{tws.url}/v1/etl/ws-md5-fqn", timeout=10).json()
    assert shown["communication"] == "ws://" and shown["argument"] == "fqn"
    for etl in ("ws-md5", "ws-md5-fqn"):
        for _ in range(3):  # the same connections, object after object
            for name in ("a.txt", "dir/b c.bin", "empty"):
                r = get(tws, name, etl_name=etl)
                assert r.status_code == 200, (etl, name, r.text)
                assert r.content == hashlib.md5(OBJECTS[name]).hexdigest().encode(), (etl, name)
    # inline reads are proxied, never redirected
    r = requests.get(f"{tws.url}/v1/objects/wssrc/a.txt", params={"etl_name": "ws-upper"}, timeout=60,
                     allow_redirects=False)
    assert r.status_code == 200 and r.content == b"HELLO WORLD"
    assert r.headers.get("Content-Length") == "11"


def test_output_longer_than_input(tws):
    r = get(tws, "dir/b c.bin", etl_name="ws-args", etl_args="x" * 100)
    assert r.status_code == 200, r.text
    assert r.content == OBJECTS["dir/b c.bin"] + b"|" + b"x" * 100


def test_etl_args_reach_the_transform(tws):
    r = get(tws, "a.txt", etl_name="ws-args", etl_args="a b&c=d")
    assert r.status_code == 200, r.text
    assert r.content == b"hello world|a b&c=d"
    # a transform without the argument refuses it, naming ETL and object
    r = get(tws, "a.txt", etl_name="ws-upper", etl_args="x")
    assert r.status_code == 502
    assert "ws-upper" in message(r) and "a.txt" in message(r) and "etl_args" in message(r)


def test_names_and_args_that_json_and_paths_escape(tws):
    """The control message's "fqn" and "etl_args" carry quotes, backslashes,
    control characters, '%' and UTF-8 to the ETL unchanged."""
    args = 'q"uote \\back\tslash\n {"k": 1} \u00e4\u20ac %2F'
    for i, name in enumerate(['q"uote\\back', "sp ace/\u00e4\u20ac", "per%cent?#&=+;@$,"]):
        data = b"object %d" % i
        path = requests.utils.quote(name, safe="/")
        tws.put("wssrc", path, data)
        # fqn: the ETL opens the file the control message names
        r = requests.get(f"{tws.url}/v1/objects/wssrc/{path}",
                         params={"etl_name": "ws-args", "etl_args": args}, timeout=60)
        assert r.status_code == 200, (name, r.text)
        assert r.content == data + b"|" + args.encode(), name
        # no etl_args: the runner's short way for a message that only names the file
        # (a quote or backslash in it is JSON-escaped: the general way)
        r = requests.get(f"{tws.url}/v1/objects/wssrc/{path}", params={"etl_name": "ws-md5-fqn"}, timeout=60)
        assert r.status_code == 200, (name, r.text)
        assert r.content == hashlib.md5(data).hexdigest().encode(), name


def test_pipelines_with_a_ws_stage(tws):
    r = get(tws, "a.txt", etl_name="hp-upper", etl_pipeline="ws-rev")
    assert r.status_code == 200, r.text
    assert r.content == b"HELLO WORLD"[::-1]
    r = get(tws, "dir/b c.bin", etl_name="ws-rev", etl_pipeline="hp-upper,ws-md5")
    assert r.status_code == 200, r.text
    assert r.content == hashlib.md5(OBJECTS["dir/b c.bin"][::-1].upper()).hexdigest().encode()
    # an fqn ETL reads files: it cannot take a previous stage's output
    r = get(tws, "a.txt", etl_name="hp-upper", etl_pipeline="ws-md5-fqn")
    assert r.status_code == 400 and "ws-md5-fqn" in message(r)


def test_offline_etl_bck_of_200_objects(tws):
    t = tws
    t.create_bucket("wsmany")
    items = [(f"obj-{i:03d}", f"object number {i}".encode() * (1 + i % 7)) for i in range(200)]
    put_many(t, "wsmany", items)
    for etl in ("ws-md5", "ws-md5-fqn"):
        dst = f"wsmany-{etl}"
        r = requests.post(f"{t.url}/v1/buckets/wsmany", params={"bck_to": f"ais/@#/{dst}/"},
                          json={"action": "etl-bck", "value": {"id": etl}}, timeout=30)
        assert r.status_code == 200, r.text
        st = wait_job(t, r.text)
        assert st.get("err", "") in ("", None), st
        assert sorted(list_names(t, dst)) == [n for n, _ in items]
        s = requests.Session()
        for name, data in items[::17]:
            g = s.get(f"{t.url}/v1/objects/{dst}/{name}", timeout=30)
            assert g.status_code == 200 and g.content == hashlib.md5(data).hexdigest().encode(), (etl, name)


def test_offline_window_fails_and_times_out_objects_alone(tws):
    """An etl-bck over ws:// with fqn keeps several objects in flight per
    worker: objects that raise or hang (past the job's request_timeout) are
    the job's errors, each named once, and every other object is stored
    whole, including those queued on a connection behind a hanging one."""
    t = tws
    t.create_bucket("wswin")
    items = []
    for i in range(150):
        kind = "bad" if i % 25 == 7 else "hang" if i in (40, 41) else "ok"
        items.append((f"w-{i:03d}", f"{kind} object {i}".encode() * (1 + i % 5)))
    put_many(t, "wswin", items)
    r = requests.post(f"{t.url}/v1/buckets/wswin", params={"bck_to": "ais/@#/wswin-out/"},
                      json={"action": "etl-bck", "value": {"id": "ws-moody", "request_timeout": "2s",
                                                           "num_workers": 2}}, timeout=30)
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    failed = sorted(n for n, d in items if not d.startswith(b"ok"))
    assert st["errors"] == len(failed) and not st["aborted"], st
    for n, d in items:
        if n in failed:
            assert n in st["err"], (n, st["err"])
    assert "refusing" in st["err"] and "2s" in st["err"], st["err"]
    good = [(n, d) for n, d in items if n not in failed]
    assert sorted(list_names(t, "wswin-out")) == [n for n, _ in good]
    s = requests.Session()
    for name, data in good:
        g = s.get(f"{t.url}/v1/objects/wswin-out/{name}", timeout=30)
        assert g.status_code == 200 and g.content == data[::-1], name


def test_transform_that_raises_fails_its_object_only(tws):
    r = get(tws, "bad-1", etl_name="ws-moody")
    assert r.status_code == 502, r.text
    msg = message(r)
    assert "ws-moody" in msg and "bad-1" in msg and "refusing bad one" in msg, msg
    for _ in range(3):  # the connection that carried the error goes on
        r = get(tws, "good-1", etl_name="ws-moody")
        assert r.status_code == 200 and r.content == b"good one"[::-1], r.text
    d = requests.get(f"{tws.url}/v1/etl/ws-moody/details", timeout=10).json()
    assert any(e["obj_name"] == "ais://wssrc/bad-1" and e["ecode"] == 502 for e in d["obj_errors"]), d


def test_hanging_transform_times_out_while_others_are_served(tws):
    out = {}

    def hang():
        out["r"] = get(tws, "hang-1", etl_name="ws-moody")

    th = threading.Thread(target=hang)
    th.start()
    time.sleep(0.5)
    # meanwhile other objects go through other connections
    for _ in range(3):
        r = get(tws, "good-1", etl_name="ws-moody")
        assert r.status_code == 200 and r.content == b"good one"[::-1], r.text
    th.join(30)
    assert not th.is_alive()
    r = out["r"]
    assert r.status_code == 504, r.text
    assert "ws-moody" in message(r) and "hang-1" in message(r) and "4s" in message(r), message(r)
    r = get(tws, "good-1", etl_name="ws-moody")
    assert r.status_code == 200 and r.content == b"good one"[::-1], r.text


def test_etl_killed_mid_stream(target):
    t = target
    r = init_code(t, "ws-killed", code=MOODY, comm="ws://", deps="")
    assert r.status_code == 200, r.text
    t.create_bucket("k")
    t.put("k", "slow", b"slow down")
    t.put("k", "fine", b"fine")
    assert t.get("k", "fine", etl_name="ws-killed").content == b"enif"
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", t.get("k", "slow", etl_name="ws-killed")))
    th.start()
    time.sleep(1)
    pids = etl_pids(t)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    th.join(30)
    assert not th.is_alive()
    r = out["r"]
    assert r.status_code == 502, r.text
    assert "ws-killed" in message(r) and "slow" in message(r), message(r)
    # the target is unharmed: it serves, and the ETL's next object fails cleanly
    assert requests.get(f"{t.url}/v1/health", timeout=10).status_code == 200
    assert t.get("k", "fine").content == b"fine"
    r = t.get("k", "fine", etl_name="ws-killed")
    assert r.status_code in (404, 502) and "ws-killed" in message(r), r.text
    requests.delete(f"{t.url}/v1/etl/ws-killed", timeout=30)


def init_native(t, name, comm, arg="", env=None):
    msg = {"name": name, "communication": comm, "argument": arg,
           "runtime": {"image": "etlfs/transformer_md5_native"}}
    if env:
        msg["env"] = env
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)


def test_native_md5_over_ws(tws):
    t = tws
    for name, arg in (("ws-native", ""), ("ws-native-fqn", "fqn")):
        r = init_native(t, name, "ws://", arg)
        assert r.status_code == 200, r.text
        try:
            for _ in range(2):
                for obj in ("a.txt", "dir/b c.bin", "empty"):
                    g = get(t, obj, etl_name=name)
                    assert g.status_code == 200, (name, obj, g.text)
                    assert g.content == hashlib.md5(OBJECTS[obj]).hexdigest().encode(), (name, obj)
            r = requests.post(f"{t.url}/v1/buckets/wssrc", params={"bck_to": f"ais/@#/wsnat-{arg or 'bytes'}/"},
                              json={"action": "etl-bck", "value": {"id": name}}, timeout=30)
            assert r.status_code == 200, r.text
            wait_job(t, r.text)
            g = requests.get(f"{t.url}/v1/objects/wsnat-{arg or 'bytes'}/dir/b c.bin", timeout=30)
            assert g.content == hashlib.md5(OBJECTS["dir/b c.bin"]).hexdigest().encode()
        finally:
            requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)



def test_native_md5_many_inline_gets_in_flight(tws):
    """Inline GETs from 16 clients at once through the native transformer
    (one process, a thread per stream: several objects queue on one
    connection): each answer reaches its own request, and files around the
    transformer's 64 KiB read (it stops at a short read) hash whole."""
    t = tws
    sizes = [0, 1, 4095, 16384, 65535, 65536, 65537, 131072, 300_001]
    objs = {f"inf/{n}": os.urandom(n) for n in sizes}
    for name, data in objs.items():
        t.put("wssrc", name, data)
    r = init_native(t, "ws-native-inflight", "ws://", "fqn")
    assert r.status_code == 200, r.text
    try:
        names = sorted(objs) * 40

        def one(name):
            g = requests.get(f"{t.url}/v1/objects/wssrc/{name}", params={"etl_name": "ws-native-inflight"},
                             timeout=60)
            return name, g.status_code, g.content

        with cf.ThreadPoolExecutor(16) as ex:
            for name, status, body in ex.map(one, names):
                assert status == 200, (name, body[:200])
                assert body == hashlib.md5(objs[name]).hexdigest().encode(), name
    finally:
        requests.delete(f"{t.url}/v1/etl/ws-native-inflight", timeout=30)



def test_native_md5_killed_with_many_objects_queued(tws):
    """32 clients' inline GETs queue deep on the native transformer's few
    streams (one process, a thread per stream) when it is killed: every
    reply is the right digest or a 5xx naming ETL and object, the target
    stays healthy, and nothing waits past the clients' timeout."""
    t = tws
    name = "ws-native-killed"
    objs = {f"kq/{i:03d}": os.urandom(16384 + i) for i in range(64)}
    for k, v in objs.items():
        t.put("wssrc", k, v)
    r = init_native(t, name, "ws://", "fqn")
    assert r.status_code == 200, r.text
    stop = threading.Event()
    res = []

    def client(i):
        keys = sorted(objs)
        for n in range(400):  # bounded: 400 GETs or the kill, whichever first
            if stop.is_set():
                return
            k = keys[(i * 7 + n) % len(keys)]
            res.append((k, requests.get(f"{t.url}/v1/objects/wssrc/{k}", params={"etl_name": name}, timeout=60)))

    try:
        with cf.ThreadPoolExecutor(32) as ex:
            futs = [ex.submit(client, i) for i in range(32)]
            deadline = time.monotonic() + 30
            while len(res) < 300 and time.monotonic() < deadline:
                time.sleep(0.01)
            pids = etl_pids(t)
            assert pids
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            stop.set()
            for f in futs:
                f.result(timeout=120)
        assert [k for k, g in res if g.status_code == 200], "nothing answered before the kill"
        for k, g in res:
            if g.status_code == 200:
                assert g.content == hashlib.md5(objs[k]).hexdigest().encode(), k
                continue
            # in flight at the kill: a 5xx naming both; after it: the ETL is gone
            assert g.status_code >= 500 or g.status_code == 404, (k, g.status_code, g.text)
            assert name in message(g), (k, message(g))
            if g.status_code >= 500:
                assert k in message(g), (k, message(g))
        assert requests.get(f"{t.url}/v1/health", timeout=10).status_code == 200
        assert requests.get(f"{t.url}/v1/objects/wssrc/kq/000", timeout=10).content == objs["kq/000"]
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def test_native_md5_says_it_is_one_process(tmp_path):
    """etlfs-md5's 101 says "process 0 of 1" (Etlfs-Worker: 0/1), which lets
    the target queue several inline objects on one of its streams."""
    import socket
    from conftest import free_port
    port = free_port()
    p = subprocess.Popen([os.path.join(BUILD, "bin", "etlfs-md5"), "-l", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "etlfs-md5 did not listen"
                time.sleep(0.05)
        with s:
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                assert chunk, head
                head += chunk
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"HTTP/1.1 101"), head
        assert b"etlfs-worker: 0/1" in [x.lower() for x in lines], head
    finally:
        p.terminate()
        p.wait(timeout=10)


# ---- AIStore's SDK webserver (FastAPIServer's /ws, _handle_ws_message) serving our client

SDK_SERVER = """
import hashlib, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer

class MD5(FastAPIServer):
    def transform(self, data, path, etl_args):
        if data.startswith(b"bad"):
            raise ValueError("refusing " + path)
        out = hashlib.md5(data).hexdigest().encode()
        return out + b"|" + etl_args.encode() if etl_args else out

MD5(host="127.0.0.1", port=int(os.environ["PORT"])).start()
"""


@pytest.fixture(scope="module")
def sdk_target(tmp_path_factory):
    """A target whose ETL folder (readable in the sandbox) also holds the SDK
    1.25 and its dependencies, as test_sdk5_acceptance.py prepares them
    (hard links, no copies); skipped without the mirror."""
    import test_sdk5_acceptance as acc
    if not acc.have_commit():
        pytest.skip(f"no NVIDIA/aistore mirror with {acc.COMMIT[:12]} at {acc.MIRROR} (set AIS_HEAD_MIRROR)")
    acc.venv()
    sdk = acc.export_sdk()
    site = glob.glob(os.path.join(acc.WORK, "venv", "lib", "python3*", "site-packages"))[0]
    etl_dir = os.path.join(BUILD, "ws-sdk-etl")
    shutil.rmtree(etl_dir, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "etl"), etl_dir)
    os.makedirs(os.path.join(etl_dir, "sdk"))
    subprocess.run(["cp", "-al", site, os.path.join(etl_dir, "sdk", "site")], check=True)
    subprocess.run(["cp", "-al", os.path.join(sdk, "aistore"), os.path.join(etl_dir, "sdk", "site", "aistore")],
                   check=True)
    with open(os.path.join(etl_dir, "sdk", "fastapi_md5.py"), "w") as f:
        f.write(SDK_SERVER)
    t = Target(str(tmp_path_factory.mktemp("sdkws")), extra_args=["--etl-dir", etl_dir])
    yield t, etl_dir
    t.stop()
    shutil.rmtree(etl_dir, ignore_errors=True)


def test_sdk_fastapi_server_over_ws(sdk_target):
    t, etl_dir = sdk_target
    t.create_bucket("sdk")
    objs = {"a.txt": b"hello", "big.bin": os.urandom(2_000_000), "bad.txt": b"bad object"}
    for name, data in objs.items():
        t.put("sdk", name, data)
    for name, arg in (("ws-fastapi", ""), ("ws-fastapi-fqn", "fqn")):
        msg = {"name": name, "communication": "ws://", "argument": arg, "init_timeout": "60s",
               "runtime": {"image": "example.com/etlfs-test/fastapi-md5:1",
                           "command": ["/usr/bin/python3", os.path.join(etl_dir, "sdk", "fastapi_md5.py")]}}
        r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)
        assert r.status_code == 200, r.text
        for obj in ("a.txt", "big.bin"):
            g = t.get("sdk", obj, etl_name=name)
            assert g.status_code == 200, (name, obj, g.text)
            assert g.content == hashlib.md5(objs[obj]).hexdigest().encode(), (name, obj)
        g = t.get("sdk", "a.txt", etl_name=name, etl_args="k=v")
        assert g.status_code == 200 and g.content == hashlib.md5(b"hello").hexdigest().encode() + b"|k=v"
        g = t.get("sdk", "bad.txt", etl_name=name)
        assert g.status_code == 502 and "Transform error" in message(g) and "bad.txt" in message(g), g.text
        g = t.get("sdk", "a.txt", etl_name=name)  # the same connection goes on
        assert g.status_code == 200 and g.content == hashlib.md5(b"hello").hexdigest().encode()
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def test_shipped_python_transformers_over_ws(tws):
    import xxhash
    t = tws
    for name, image, arg in (("ws-py-md5", "aistorage/transformer_md5", ""),
                             ("ws-py-md5-fqn", "aistorage/transformer_md5", "fqn"),
                             ("ws-py-hash", "aistorage/transformer_hash_with_args", "")):
        r = requests.put(f"{t.url}/v1/etl", json={"name": name, "communication": "ws://", "argument": arg,
                                                  "runtime": {"image": image}}, timeout=120)
        assert r.status_code == 200, r.text
        try:
            for obj in ("a.txt", "dir/b c.bin", "empty"):
                if "hash" in name:
                    g = get(t, obj, etl_name=name, etl_args="7")
                    want = xxhash.xxh64(OBJECTS[obj], seed=7).hexdigest().encode()
                else:
                    g = get(t, obj, etl_name=name)
                    want = hashlib.md5(OBJECTS[obj]).hexdigest().encode()
                assert g.status_code == 200 and g.content == want, (name, obj, g.text)
        finally:
            requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


@pytest.mark.timeout(900)
def test_one_gib_through_ws_keeps_the_target_small(tmp_path):
    """1 GiB sent down a WebSocket (the native md5 reads it as it arrives;
    ETL_DIRECT_FQN=false, else it would read the file itself), then 1 GiB
    coming back from an echo as 64 objects of 16 MiB, 4 in flight at a time:
    the target streams in frames both ways and never holds an object."""
    from test_etl_matrix import GIB, RssSampler, put_gib, vm_rss
    if shutil.disk_usage(str(tmp_path)).free < 3 * GIB:
        pytest.skip("needs 3 GiB of free disk")
    t = Target(str(tmp_path), mountpaths=1)
    try:
        t.create_bucket("big")
        want = put_gib(t, "big", "huge.bin")
        r = init_native(t, "ws-native-big", "ws://", env=BYTES_ENV)
        assert r.status_code == 200, r.text
        mid = os.urandom(16 << 20)
        t.put("big", "mid.bin", mid)
        r = init_code(t, "ws-echo-big", code="def transform(data):\n    return data\n", comm="ws://", deps="")
        assert r.status_code == 200, r.text
        base = vm_rss(t.proc.pid)
        sampler = RssSampler(t.proc.pid)
        sampler.start()
        g = requests.get(f"{t.url}/v1/objects/big/huge.bin", params={"etl_name": "ws-native-big"}, timeout=600)
        assert g.status_code == 200 and g.content == want.hexdigest().encode(), g.text[:300]
        sent = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()}["ws-native-big"]["in_bytes"]
        assert sent == GIB  # the bytes went down the WebSocket

        def echo(_):
            with requests.get(f"{t.url}/v1/objects/big/mid.bin", params={"etl_name": "ws-echo-big"},
                              stream=True, timeout=(10, 300)) as e:
                h, n = hashlib.md5(), 0
                for chunk in e.iter_content(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
                return e.status_code, n, h.hexdigest()

        with cf.ThreadPoolExecutor(4) as ex:
            res = list(ex.map(echo, range(64)))
        peak = sampler.stop()
        mid_md5 = hashlib.md5(mid).hexdigest()
        assert all(r == (200, len(mid), mid_md5) for r in res), [r for r in res if r[0] != 200][:3]
        got = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()}["ws-echo-big"]["out_bytes"]
        assert got == GIB
        grew = (peak - base) >> 20
        print(f"target RSS: base {base >> 20} MiB, +{grew} MiB while 2 GiB went through ws://")
        assert grew < 50, f"1 GiB each way through ws:// grew the target by {grew} MiB"
    finally:
        t.stop()


def init_code_env(t, name, code, env):
    msg = {"id": name, "runtime": "python3.11v2", "communication": "ws://", "argument": "",
           "funcs": {"transform": "transform"}, "code": b64(code), "env": env}
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)


def etl_stats(t, name):
    return {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()}[name]


@pytest.mark.parametrize("fqn", [True, False], ids=["fqn-by-default", "bytes"])
def test_outputs_shorter_and_longer_than_inputs(tws, fqn):
    """An ETL of ours reads the object's file itself unless ETL_DIRECT_FQN is
    false (then the bytes go down the WebSocket): in_bytes says which."""
    t = tws
    name = "ws-sizes" if fqn else "ws-sizes-bytes"
    r = init_code_env(t, name, SIZES, [] if fqn else BYTES_ENV)
    assert r.status_code == 200, r.text
    try:
        sent = out = 0
        for _ in range(2):
            for obj in ("a.txt", "dir/b c.bin", "empty"):
                data = OBJECTS[obj]
                for n in (5, -3, 1):
                    g = get(t, obj, etl_name=name, etl_args=str(n))
                    want = data * n if n > 0 else data[:len(data) // -n]
                    assert g.status_code == 200 and g.content == want, (obj, n, g.status_code, len(g.content))
                    sent += len(data)
                    out += len(want)
        st = etl_stats(t, name)
        assert st["out_bytes"] == out
        assert st["in_bytes"] == (0 if fqn else sent), st
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


@pytest.mark.timeout(300)
def test_connection_dies_with_several_objects_in_flight(tws):
    """A transformer's connection dies while other objects are queued on it:
    its object fails with a 5xx naming ETL and object, the objects in flight
    behind it go again on another connection (at worst they fail the same
    way), the stream reconnects, and nothing else fails."""
    t = tws
    name = "ws-dies"
    r = init_code(t, name, code=DIES, comm="ws://", deps="")
    assert r.status_code == 200, r.text
    t.create_bucket("wsdie")
    ok = {f"ok-{i:03d}": f"object {i}".encode() for i in range(160)}
    die = {f"die-{i}": b"die now %d" % i for i in range(3)}
    for k, v in {**ok, **die}.items():
        t.put("wsdie", k, v)
    order = list(ok)
    for i, k in enumerate(die):  # spread among the others
        order.insert(40 + 40 * i, k)

    def one(k):
        return k, requests.get(f"{t.url}/v1/objects/wsdie/{k}", params={"etl_name": name}, timeout=60)

    try:
        with cf.ThreadPoolExecutor(32) as ex:
            res = list(ex.map(one, order))
        failed = {k: r for k, r in res if r.status_code != 200}
        print(f"failed: {sorted(failed)}")
        for k in die:
            assert k in failed, k
        for k, r in failed.items():
            assert r.status_code >= 500, (k, r.status_code, r.text)
            assert name in message(r) and k in message(r), (k, message(r))
            if k in ok:  # only one that was in flight on a dying connection
                assert "broke" in message(r), (k, message(r))
        for k, r in res:
            if r.status_code == 200:
                assert r.content == ok[k][::-1], k
        # at most the objects in flight with a dying one on its two connections
        assert len(failed) - len(die) <= len(die) * 2 * 8, sorted(failed)
        # reconnected: everything goes through now
        for k in order[:20]:
            if k in ok:
                g = one(k)[1]
                assert g.status_code == 200 and g.content == ok[k][::-1], (k, g.text)
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


@pytest.mark.parametrize("workers", [1, 16])
def test_offline_window_over_few_deep_connections(tws, workers):
    """An etl-bck through the native md5 ETL over ws:// with fqn keeps its
    window on as many connections as cores, each up to 32 deep: one worker
    (a window of 8), and 16 (a window of 128, more than those connections
    hold, so some objects go one at a time on others). Every object's digest
    is stored, and inline GETs through the same ETL are served meanwhile."""
    t = tws
    name = f"ws-deep-{workers}"
    r = init_native(t, name, "ws://", "fqn")
    assert r.status_code == 200, r.text
    bck, dst = f"wsdeep{workers}", f"wsdeep{workers}-out"
    t.create_bucket(bck)
    items = [(f"d-{i:04d}", os.urandom(100 + i % 3000)) for i in range(600)]
    put_many(t, bck, items)
    try:
        r = requests.post(f"{t.url}/v1/buckets/{bck}", params={"bck_to": f"ais/@#/{dst}/"},
                          json={"action": "etl-bck", "value": {"id": name, "num_workers": workers}}, timeout=30)
        assert r.status_code == 200, r.text
        job = r.text
        s = requests.Session()
        for n, d in items[:40:3]:  # inline, while the job runs
            g = s.get(f"{t.url}/v1/objects/{bck}/{n}", params={"etl_name": name}, timeout=60)
            assert g.status_code == 200 and g.content == hashlib.md5(d).hexdigest().encode(), (n, g.text)
        st = wait_job(t, job)
        assert st["errors"] == 0 and st["objects"] == len(items), st
        assert sorted(list_names(t, dst)) == [n for n, _ in items]
        for n, d in items:
            g = s.get(f"{t.url}/v1/objects/{dst}/{n}", timeout=30)
            assert g.status_code == 200 and g.content == hashlib.md5(d).hexdigest().encode(), n
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


@pytest.mark.timeout(300)
def test_offline_window_when_a_connection_dies(tws):
    """An etl-bck over ws:// whose ETL process dies on some objects while
    many others are queued on its connection: each dying object is a job
    error naming it, an object queued behind it goes again on another
    connection (at worst failing the same way, "broke"), the stream
    reconnects, and every other object is stored whole."""
    t = tws
    name = "ws-dies-offline"
    r = init_code(t, name, code=DIES, comm="ws://", deps="")
    assert r.status_code == 200, r.text
    t.create_bucket("wsdieoff")
    items = [(f"ok-{i:03d}", f"object {i}".encode()) for i in range(300)]
    for i in range(2):
        items.insert(100 + 100 * i, (f"die-{i}", b"die now %d" % i))
    put_many(t, "wsdieoff", items)
    try:
        r = requests.post(f"{t.url}/v1/buckets/wsdieoff", params={"bck_to": "ais/@#/wsdieoff-out/"},
                          json={"action": "etl-bck", "value": {"id": name, "request_timeout": "30s"}}, timeout=30)
        assert r.status_code == 200, r.text
        st = wait_job(t, r.text)
        err = st.get("err") or ""
        for n, _ in items:
            if n.startswith("die-"):
                assert n in err, (n, err)
        stored = set(list_names(t, "wsdieoff-out"))
        assert st["objects"] == len(stored), st
        lost = [n for n, _ in items if n.startswith("ok-") and n not in stored]
        for n in lost:  # only objects in flight on a connection that broke
            assert n in err, (n, err)
        assert st["errors"] == 2 + len(lost), st
        assert len(lost) <= 2 * 2 * 32, lost
        s = requests.Session()
        for n, d in items:
            if n in stored:
                g = s.get(f"{t.url}/v1/objects/wsdieoff-out/{n}", timeout=30)
                assert g.status_code == 200 and g.content == d[::-1], n
        assert len(stored) >= len(items) - 2 - 2 * 2 * 32
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


SLOW_PID = """
import os, time
def transform(data):
    time.sleep(0.02)
    return str(os.getpid()).encode()
"""


@pytest.mark.timeout(300)
def test_offline_window_of_a_slow_etl_spreads_over_its_processes(tws):
    """An ETL that takes 20 ms per object (it waits, it does not compute)
    gains nothing from a few deep streams: once its time per object is
    seen, an etl-bck's window spreads over more connections than cores,
    which the ETL hands to all of its 4 processes."""
    t = tws
    name = "ws-slow-pid"
    r = init_code_env(t, name, SLOW_PID, [{"name": "NUM_WORKERS", "value": "4"}])
    assert r.status_code == 200, r.text
    t.create_bucket("wsslow")
    items = [(f"s-{i:03d}", b"slow %d" % i) for i in range(240)]
    put_many(t, "wsslow", items)
    try:
        r = requests.post(f"{t.url}/v1/buckets/wsslow", params={"bck_to": "ais/@#/wsslow-out/"},
                          json={"action": "etl-bck", "value": {"id": name}}, timeout=30)
        assert r.status_code == 200, r.text
        st = wait_job(t, r.text)
        assert st["errors"] == 0 and st["objects"] == len(items), st
        s = requests.Session()
        pids = []
        for n, _ in items:
            g = s.get(f"{t.url}/v1/objects/wsslow-out/{n}", timeout=30)
            assert g.status_code == 200 and g.content.isdigit(), (n, g.content)
            pids.append(g.content)
        assert len(set(pids[-120:])) == 4, sorted(set(pids[-120:]))
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


# ---- the streams through the ETL's Unix socket (ETLFS_SOCKET), or its port

def etl_sockets(t, name):
    """The connected sockets of the ETL's processes: (Unix ones bound to its
    work folder's etlfs.sock, TCP ones established)."""
    mark = f"/{name}/work".encode()
    pids = [p for p in conftest.procs_with_env(b"AIS_TARGET_URL=") if mark in open(f"/proc/{p}/environ", "rb").read()]
    assert pids, f"no process of {name}"
    inodes = set()
    for p in pids:
        for fd in os.listdir(f"/proc/{p}/fd"):
            try:
                link = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    sock = os.path.join(t.data[0], ".etlfs", "etl", name, "work", "etlfs.sock")
    unix = 0
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            # bound by its path, or by /proc/self/fd/DIR/etlfs.sock when that is too long
            named = cols[7] == sock if len(cols) == 8 else False
            named |= len(cols) == 8 and cols[7].startswith("/proc/self/fd/") and cols[7].endswith("/etlfs.sock")
            if named and cols[6] in inodes and cols[5] == "03":
                unix += 1
    tcp = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and cols[3] == "01":
                    tcp += 1
    return unix, tcp


def init_md5_ws(t, name, kind):
    """The md5 ETL over ws://, served by the Python runner or by the native
    transformer (kind)."""
    r = (init_code(t, name, code=MD5, comm="ws://", arg="", deps="") if kind == "runner"
         else init_native(t, name, "ws://", "fqn"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("kind", ["runner", "native"])
def test_ws_streams_go_over_the_etls_unix_socket(tws, kind):
    """An ETL of ours listens on ETLFS_SOCKET (its work folder, mode 0600)
    beside its port, and the target's ws:// streams go there: after inline
    GETs the ETL holds connected Unix sockets and no TCP connection more
    than the readiness probe left (the shared client's keep-alive); the
    health probe still answers on the port."""
    t = tws
    name = f"ws-unix-{kind}"
    init_md5_ws(t, name, kind)
    try:
        _, tcp_before = etl_sockets(t, name)
        with cf.ThreadPoolExecutor(4) as ex:
            outs = list(ex.map(lambda o: get(t, o, etl_name=name), ["a.txt", "dir/b c.bin", "empty"] * 8))
        for obj, g in zip(["a.txt", "dir/b c.bin", "empty"] * 8, outs):
            assert g.status_code == 200, (obj, g.text)
            assert g.content == hashlib.md5(OBJECTS[obj]).hexdigest().encode(), obj
        sock = os.path.join(t.data[0], ".etlfs", "etl", name, "work", "etlfs.sock")
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        unix, tcp = etl_sockets(t, name)
        assert unix >= 1 and tcp <= tcp_before, (unix, tcp, tcp_before)
        pid = [p for p in conftest.procs_with_env(b"AIS_TARGET_URL=", ppid=t.proc.pid)
               if f"/{name}/work".encode() in open(f"/proc/{p}/environ", "rb").read()][0]
        env = dict(x.split(b"=", 1) for x in open(f"/proc/{pid}/environ", "rb").read().split(b"\0") if b"=" in x)
        h = requests.get(f"http://127.0.0.1:{int(env[b'ETLFS_PORT'])}/health", timeout=10)
        assert h.status_code == 200, h.text
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


@pytest.mark.parametrize("kind", ["runner", "native"])
def test_ws_unix_socket_refuses_other_processes(tws, kind):
    """Only the target may use the ETL's socket: another process (here this
    test, root too) is dropped before any answer."""
    import socket
    t = tws
    name = f"ws-unix-peer-{kind}"
    init_md5_ws(t, name, kind)
    try:
        assert get(t, "a.txt", etl_name=name).status_code == 200
        path = os.path.join(t.data[0], ".etlfs", "etl", name, "work", "etlfs.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            d = os.open(os.path.dirname(path), os.O_PATH)
            try:
                s.connect(f"/proc/self/fd/{d}/etlfs.sock")
            finally:
                os.close(d)
            try:  # the listener may close before the request is written, or after
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                answer = s.recv(4096)
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
            assert answer == b"", answer[:200]  # closed, not upgraded
        assert get(t, "a.txt", etl_name=name).status_code == 200  # the target's streams go on
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def test_ws_etl_that_knows_no_socket_works_over_tcp(tws):
    """An ETL that ignores ETLFS_SOCKET (upstream's images: here etlfs-md5
    run as a plain command without the variable) is dialled on its port."""
    t = tws
    name = "ws-tcp-only"
    msg = {"name": name, "communication": "ws://", "argument": "fqn", "init_timeout": "60s",
           "runtime": {"image": "example.com/etlfs-test/plain-md5:1",
                       "command": ["/usr/bin/env", "-u", "ETLFS_SOCKET", os.path.join(BUILD, "bin", "etlfs-md5")]}}
    r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)
    assert r.status_code == 200, r.text
    try:
        _, tcp_before = etl_sockets(t, name)
        for obj in ("a.txt", "dir/b c.bin", "empty") * 3:
            g = get(t, obj, etl_name=name)
            assert g.status_code == 200, (obj, g.text)
            assert g.content == hashlib.md5(OBJECTS[obj]).hexdigest().encode(), obj
        assert not os.path.exists(os.path.join(t.data[0], ".etlfs", "etl", name, "work", "etlfs.sock"))
        unix, tcp = etl_sockets(t, name)
        assert unix == 0 and tcp > tcp_before, (unix, tcp, tcp_before)
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def test_ws_unix_socket_on_a_path_longer_than_a_socket_address(tmp_path):
    """A work folder deep enough that ETLFS_SOCKET is longer than a socket
    address holds (108 bytes): the ETL binds it and the target dials it
    through /proc/self/fd/ of its folder, in the sandbox too."""
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    t = Target(str(deep), mountpaths=1)
    try:
        t.create_bucket("wssrc")
        t.put("wssrc", "a.txt", OBJECTS["a.txt"])
        for kind in ("runner", "native"):
            name = f"ws-long-{kind}"
            sock = os.path.join(t.data[0], ".etlfs", "etl", name, "work", "etlfs.sock")
            assert len(sock) > 108, sock
            init_md5_ws(t, name, kind)
            g = get(t, "a.txt", etl_name=name)
            assert g.status_code == 200 and g.content == hashlib.md5(OBJECTS["a.txt"]).hexdigest().encode(), g.text
            assert stat.S_ISSOCK(os.lstat(sock).st_mode), sock
            unix, _ = etl_sockets(t, name)
            assert unix >= 1, (kind, unix)
            requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)
    finally:
        assert t.stop() == 0, t.log_text()
