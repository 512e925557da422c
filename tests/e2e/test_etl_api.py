"""The /v1/etl API end to end against a real etlfs-target: init code and
init spec, every communicator, inline transforms, naming rules, stop / start /
delete, failing and hanging ETLs, and no ETL process left behind."""
import base64
import hashlib
import os
import time

import pytest
import requests

import conftest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MD5_CODE = """
import hashlib
def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""

MD5_IO_CODE = """
import hashlib, sys
def transform():
    sys.stdout.buffer.write(hashlib.md5(sys.stdin.buffer.read()).hexdigest().encode())
transform()
"""

MD5_URL_CODE = """
import hashlib, urllib.request
def transform(url):
    with urllib.request.urlopen(url) as r:
        return hashlib.md5(r.read()).hexdigest().encode()
"""


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def init_code(t, name, code=MD5_CODE, comm="hpush://", arg="", timeout=None, deps="cloudpickle==2.2.0\n"):
    msg = {"id": name, "runtime": "python3.11v2", "communication": comm, "argument": arg,
           "funcs": {"transform": "transform"}, "code": b64(code), "dependencies": b64(deps)}
    if timeout:
        msg["timeout"] = timeout
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)


def init_spec(t, name, pod_file, comm="hpush://"):
    with open(os.path.join(ROOT, "etl", "transformers", pod_file)) as f:
        spec = f.read()
    msg = {"id": name, "communication": comm, "argument": "", "timeout": "30s", "spec": b64(spec)}
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)


def etl_pids(t):
    """Children of this target with an ETL environment (AIS_TARGET_URL may
    name a listener other than t.url)."""
    return conftest.procs_with_env(b"AIS_TARGET_URL=", ppid=t.proc.pid)


def wait_no_etl_pids(t, within=5):
    return conftest.wait_until(lambda: not etl_pids(t), within, 0.1)


def wait_gone(pids, within=5):
    return conftest.wait_until(lambda: not [p for p in pids if os.path.exists(f"/proc/{p}")], within, 0.1)


def message(r):
    return r.json()["message"]


@pytest.fixture
def src(target):
    target.create_bucket("src")
    data = {"a.txt": b"hello world", "dir/b c.bin": os.urandom(300_000), "empty": b""}
    for name, body in data.items():
        target.put("src", name, body)
    return data


def test_init_code_hpush_inline(target, src):
    t0 = time.time()
    r = init_code(target, "etl-md5-code")
    assert r.status_code == 200, r.text
    assert r.text.startswith("etl-")
    assert time.time() - t0 < 20  # satisfied deps need no package index
    for name, body in src.items():
        g = target.get("src", name, etl_name="etl-md5-code")
        assert g.status_code == 200, g.text
        assert g.content == hashlib.md5(body).hexdigest().encode()
    lst = requests.get(f"{target.url}/v1/etl").json()
    assert [e["id"] for e in lst] == ["etl-md5-code"]
    assert lst[0]["xaction_id"] == r.text and lst[0]["obj_count"] == 3
    show = requests.get(f"{target.url}/v1/etl/etl-md5-code").json()
    assert show["status"] == "running" and show["communication"] == "hpush://"
    assert show["Funcs"] == {"transform": "transform"} and show["timeout"] == "45s"
    assert base64.b64decode(show["code"]).decode() == MD5_CODE
    assert show["interpreter"].startswith("/usr/bin/python3")


def test_chunk_size_streaming(target, src):
    code = """
import hashlib
def transform(reader, writer):
    h = hashlib.md5()
    n = 0
    for chunk in reader:
        assert len(chunk) <= 4096
        h.update(chunk)
        n += 1
    writer.write(h.hexdigest().encode())
"""
    msg = {"id": "etl-stream-md5", "runtime": "python3.11v2", "communication": "hpush://",
           "funcs": {"transform": "transform"}, "code": b64(code), "chunk_size": 4096}
    r = requests.put(f"{target.url}/v1/etl", json=msg)
    assert r.status_code == 200, r.text
    g = target.get("src", "dir/b c.bin", etl_name="etl-stream-md5")
    assert g.status_code == 200, g.text
    assert g.content == hashlib.md5(src["dir/b c.bin"]).hexdigest().encode()


def test_sdk_cloudpickle_payload(target, src):
    """The code the Python SDK sends: a cloudpickled function unpickled by a
    small script, with cloudpickle==2.2.0 as a dependency (no package index)."""
    cloudpickle = pytest.importorskip("cloudpickle")

    def transform(data):
        import hashlib
        return hashlib.sha256(data).hexdigest().encode()

    pickled = base64.b64encode(cloudpickle.dumps(transform)).decode()
    code = ("import pickle, base64, importlib\n"
            "for mod in ['hashlib']:\n    importlib.import_module(mod)\n"
            f"transform = pickle.loads(base64.b64decode('{pickled}'))\n")
    msg = {"id": "etl-sdk-sha", "runtime": "python3.11v2", "communication": "hpush://", "timeout": "5m",
           "funcs": {"transform": "transform"}, "code": b64(code), "dependencies": b64("cloudpickle==2.2.0"),
           "argument": ""}
    t0 = time.time()
    r = requests.put(f"{target.url}/v1/etl", json=msg)
    assert r.status_code == 200, r.text
    assert time.time() - t0 < 20
    g = target.get("src", "a.txt", etl_name="etl-sdk-sha")
    assert g.content == hashlib.sha256(b"hello world").hexdigest().encode()


def test_io(target, src):
    r = init_code(target, "etl-md5-io", code=MD5_IO_CODE, comm="io://")
    assert r.status_code == 200, r.text
    g = target.get("src", "dir/b c.bin", etl_name="etl-md5-io")
    assert g.status_code == 200, g.text
    assert g.content == hashlib.md5(src["dir/b c.bin"]).hexdigest().encode()


def test_hpull_arg_url(target, src):
    r = init_code(target, "etl-md5-url", code=MD5_URL_CODE, comm="hpull://", arg="url")
    assert r.status_code == 200, r.text
    g = requests.get(f"{target.url}/v1/objects/src/dir/b c.bin", params={"etl_name": "etl-md5-url"},
                     allow_redirects=False)
    assert g.status_code == 307 and g.headers["Location"].startswith("http://127.0.0.1:")
    g = target.get("src", "dir/b c.bin", etl_name="etl-md5-url")
    assert g.status_code == 200, g.text
    assert g.content == hashlib.md5(src["dir/b c.bin"]).hexdigest().encode()


@pytest.mark.parametrize("comm", ["hpush://", "hpull://"])
def test_arg_fqn(target, src, comm):
    """The ETL opens the object's file itself (as an unprivileged user when
    the target is root, inside the target's private folders)."""
    r = init_code(target, "etl-md5-fqn", comm=comm, arg="fqn")
    assert r.status_code == 200, r.text
    g = target.get("src", "dir/b c.bin", etl_name="etl-md5-fqn")
    assert g.status_code == 200, g.text
    assert g.content == hashlib.md5(src["dir/b c.bin"]).hexdigest().encode()


@pytest.mark.parametrize("pod,comm", [("md5/pod.yaml", "hpush://"), ("md5/pod.yaml", "hpull://"),
                                      ("md5/pod.yaml", "hrev://"), ("md5_native/pod.yaml", "hpush://"),
                                      ("md5_native/pod.yaml", "hpull://")])
def test_init_spec_md5(target, src, pod, comm):
    if "native" in pod and not os.path.exists(os.path.join(conftest.BIN, "etlfs-md5")):
        pytest.skip("etlfs-md5 not built")
    r = init_spec(target, "etl-md5-spec", pod, comm=comm)
    assert r.status_code == 200, r.text
    g = target.get("src", "a.txt", etl_name="etl-md5-spec")
    assert g.status_code == 200, g.text
    assert g.content == hashlib.md5(b"hello world").hexdigest().encode()
    show = requests.get(f"{target.url}/v1/etl/etl-md5-spec").json()
    assert show["communication"] == comm and "spec" in show


def test_init_spec_unknown_image(target):
    pod = ("kind: Pod\nspec:\n  containers:\n  - image: example/nothing:1\n    ports: [{name: default, "
           "containerPort: 80}]\n    readinessProbe: {httpGet: {path: /health, port: default}}\n")
    r = requests.put(f"{target.url}/v1/etl", json={"id": "etl-nothing", "spec": b64(pod)})
    assert r.status_code == 400 and "example/nothing:1" in message(r)
    assert requests.get(f"{target.url}/v1/etl/etl-nothing").status_code == 404


@pytest.mark.parametrize("name,rule", [("ab", "too short"), ("a" * 21, "too long"), ("1abcdef", "letter"),
                                       ("abc.def", "letters, digits")])
def test_bad_names(target, name, rule):
    r = init_code(target, name)
    assert r.status_code == 400 and rule in message(r)
    assert etl_pids(target) == []


def test_bad_messages(target):
    for extra, field in [({"runtime": "python2"}, "runtime"), ({"communication": "grpc://"}, "communication"),
                         ({"funcs": {}}, "funcs"), ({"chunk_size": 2 << 20}, "chunk_size"),
                         ({"code": ""}, "code"), ({"argument": "url"}, "argument")]:
        msg = {"id": "etl-badmsg", "runtime": "python3.11v2", "funcs": {"transform": "transform"},
               "code": b64(MD5_CODE)}
        msg.update(extra)
        r = requests.put(f"{target.url}/v1/etl", json=msg)
        assert r.status_code == 400 and field in message(r), (extra, r.text)
    assert requests.get(f"{target.url}/v1/etl").json() == []


def test_duplicate(target):
    assert init_code(target, "etl-dup-1").status_code == 200
    r = init_code(target, "etl-dup-1")
    assert r.status_code == 400
    assert "etl[etl-dup-1] already exists" in message(r)


def test_stop_start_delete(target, src):
    url = f"{target.url}/v1/etl/etl-life-1"
    first = init_code(target, "etl-life-1").text
    assert requests.post(url + "/stop").status_code == 200
    assert requests.get(f"{target.url}/v1/etl").json() == []
    assert requests.get(url).json()["status"] == "stopped"
    assert target.get("src", "a.txt", etl_name="etl-life-1").status_code == 404
    assert requests.post(url + "/stop").status_code == 400
    assert wait_no_etl_pids(target)
    r = requests.post(url + "/start")
    assert r.status_code == 200 and r.text.startswith("etl-") and r.text != first
    assert target.get("src", "a.txt", etl_name="etl-life-1").content == hashlib.md5(b"hello world").hexdigest().encode()
    assert requests.get(url + "/health").json() == [{"target_id": "t1etlfs", "health_status": "Running"}]
    logs = requests.get(url + "/logs").json()
    assert logs[0]["target_id"] == "t1etlfs"
    base64.b64decode(logs[0]["logs"])
    assert requests.delete(url).status_code == 200
    assert wait_no_etl_pids(target)
    r = requests.get(url)
    assert r.status_code == 404 and "etl job etl-life-1 does not exist" in message(r)
    assert requests.delete(url).status_code == 404
    assert requests.post(url + "/start").status_code == 404


def test_restart_brings_etls_back_stopped(target, src):
    assert init_code(target, "etl-persist").status_code == 200
    target.restart()
    assert wait_no_etl_pids(target)
    assert requests.get(f"{target.url}/v1/etl").json() == []
    url = f"{target.url}/v1/etl/etl-persist"
    assert requests.get(url).json()["status"] == "stopped"
    assert requests.post(url + "/start").status_code == 200
    assert target.get("src", "a.txt", etl_name="etl-persist").status_code == 200


def test_parallel_inline(target, src):
    """Many clients at once through one ETL: every answer right, bounded."""
    from concurrent.futures import ThreadPoolExecutor
    assert init_code(target, "etl-par-md5").status_code == 200
    names = list(src) * 40
    want = {n: hashlib.md5(b).hexdigest().encode() for n, b in src.items()}
    t0 = time.time()

    def one(name):
        g = target.get("src", name, etl_name="etl-par-md5")
        return name, g.status_code, g.content

    with ThreadPoolExecutor(8) as ex:
        for name, status, body in ex.map(one, names):
            assert status == 200 and body == want[name], (name, status, body[:200])
    assert time.time() - t0 < 60
    lst = requests.get(f"{target.url}/v1/etl").json()
    assert lst[0]["obj_count"] == len(names)
    assert lst[0]["in_bytes"] == 40 * sum(len(b) for b in src.values())


def test_crashing_etl(target, src):
    code = "def transform(data):\n    raise RuntimeError('cannot transform this')\n"
    assert init_code(target, "etl-crash-1", code=code).status_code == 200
    g = target.get("src", "a.txt", etl_name="etl-crash-1")
    assert 500 <= g.status_code < 600
    assert "etl-crash-1" in message(g) and "ais://src/a.txt" in message(g)


def test_etl_that_fails_to_start(target):
    r = init_code(target, "etl-syntax", code="def transform(data)\n    return data\n")
    assert 400 <= r.status_code < 600
    assert "etl-syntax" in message(r) and "SyntaxError" in message(r)
    assert requests.get(f"{target.url}/v1/etl/etl-syntax").status_code == 404
    assert etl_pids(target) == []


def test_hanging_etl(target, src):
    code = "import time\ndef transform(data):\n    time.sleep(60)\n    return data\n"
    assert init_code(target, "etl-hang-1", code=code, timeout="3s").status_code == 200
    t0 = time.time()
    g = target.get("src", "a.txt", etl_name="etl-hang-1")
    assert g.status_code == 504, g.text
    assert time.time() - t0 < 8
    assert "etl-hang-1" in message(g)


def test_no_orphans_after_sigkill(target, src):
    """A target killed with SIGKILL cannot stop its ETLs: they die with it."""
    assert init_code(target, "etl-orphan-3").status_code == 200
    assert init_spec(target, "etl-orphan-4", "md5/pod.yaml").status_code == 200
    pids = etl_pids(target)
    assert len(pids) >= 2
    target.kill9()
    assert wait_gone(pids), [open(f"/proc/{p}/cmdline", "rb").read() for p in pids if os.path.exists(f"/proc/{p}")]
    target.start()


def test_callback_listener_serves_reads_only(target, src):
    assert init_code(target, "etl-listener").status_code == 200
    pid = etl_pids(target)[0]
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    fetch = env[b"AIS_TARGET_URL"].decode()  # LISTENER/v1/etl/_object/SECRET
    url = fetch.split("/v1/")[0]
    assert url != target.url
    target.put("src", "cb", b"callback")
    assert requests.get(f"{fetch}/ais/@%23/src/cb", timeout=30).content == b"callback"
    r = requests.put(f"{url}/v1/etl", json={"id": "etl-from-callback"}, timeout=30)
    assert r.status_code == 405 and "GET, HEAD" in message(r)
    r = requests.delete(f"{url}/v1/buckets/src", timeout=30)
    assert r.status_code == 405
    assert target.get("src", "cb").content == b"callback"


def test_no_orphans_after_sigterm(target, src):
    assert init_code(target, "etl-orphan-1").status_code == 200
    assert init_spec(target, "etl-orphan-2", "md5/pod.yaml").status_code == 200
    pids = etl_pids(target)
    assert len(pids) >= 2
    assert target.stop() == 0
    assert wait_gone(pids)
    target.start()  # the fixture expects a running target to stop
