"""A Python ETL served by several processes (NUM_WORKERS; default one per
core): the same outputs as one process, through REST (hpush, hpull, ws://)
and through a mount's view; concurrent objects reach more than one process;
a worker that is killed is restarted, and an object it was transforming
fails naming the ETL and the object (never a wrong answer); a bad
NUM_WORKERS fails the init saying so."""
import base64
import concurrent.futures
import glob
import hashlib
import io
import os
import signal

import pytest
import requests

import conftest
from mount_fixtures import mount  # noqa: F401

# The md5 of each object; a body starting with "slow" waits first (so that
# objects overlap), "hang" waits long (killed in the middle). Each process
# notes its pid in its work folder (TMPDIR) for the test to count.
CODE = """
import hashlib, os, time
def transform(data):
    with open(os.path.join(os.environ["TMPDIR"], "pids"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    if data.startswith(b"slow"):
        time.sleep(0.3)
    elif data.startswith(b"hang"):
        time.sleep(60)
    return hashlib.md5(data).hexdigest().encode()
"""
N = 24


def init(t, name, workers, comm="hpush://", arg=""):
    msg = {"id": name, "runtime": "python3.11v2", "communication": comm, "argument": arg, "timeout": "2m",
           "funcs": {"transform": "transform"}, "code": base64.b64encode(CODE.encode()).decode(),
           "dependencies": ""}
    if workers is not None:
        msg["env"] = [{"name": "NUM_WORKERS", "value": str(workers)}]
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=180)


def etl_pid(t, name):
    """The ETL's own process (the parent of its workers): the target's child
    whose environment names the ETL's work folder (TMPDIR)."""
    mark = f"/{name}/work".encode()
    pids = [p for p in conftest.procs_with_env(b"AIS_TARGET_URL=", ppid=t.proc.pid)
            if mark in open(f"/proc/{p}/environ", "rb").read()]
    assert len(pids) == 1, pids
    return pids[0]


def workers_of(pid):
    return sorted(conftest.procs_with_env(b"AIS_TARGET_URL=", ppid=pid))


def pids_seen(t, name):
    seen = set()
    for path in glob.glob(os.path.join(t.data[0], ".etlfs", "etl", name, "work", "pids")):
        with open(path) as f:
            seen.update(int(x) for x in f.read().split())
    return seen


def md5hex(data):
    return hashlib.md5(data).hexdigest().encode()


@pytest.fixture
def objects(target):
    b = target.create_bucket("src")
    data = {f"o-{i:03d}": (b"slow" if i % 2 else b"") + os.urandom(100 + 997 * i) for i in range(N)}
    for k, v in data.items():
        target.put(b, k, v)
    return b, data


def get_all(t, b, names, etl, threads=4):
    def one(k):
        r = t.get(b, k, etl_name=etl)
        return r.status_code, r.content

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return dict(zip(names, ex.map(one, names)))


@pytest.mark.parametrize("comm,arg", [("hpush://", ""), ("hpull://", ""), ("ws://", "")])
def test_two_workers_answer_as_one(target, objects, comm, arg):
    b, data = objects
    assert init(target, "etl-one", 1, comm, arg).status_code == 200
    r = init(target, "etl-two", 2, comm, arg)
    assert r.status_code == 200, r.text
    assert len(workers_of(etl_pid(target, "etl-two"))) == 2
    assert workers_of(etl_pid(target, "etl-one")) == []  # one process serves itself
    one = get_all(target, b, sorted(data), "etl-one")
    two = get_all(target, b, sorted(data), "etl-two")
    for k, v in data.items():
        assert one[k] == (200, md5hex(v)), k
        assert two[k] == one[k], k
    # objects that overlapped went to more than one process
    assert len(pids_seen(target, "etl-two")) == 2, pids_seen(target, "etl-two")
    assert len(pids_seen(target, "etl-one")) == 1


# Each object's body names a meeting and how many objects make it; an object
# waits, 10 s at most, until they have all come and two processes are among
# them: "together", else "alone".
MEET = """
import os, time, uuid
def transform(data):
    name, want = data.decode().split()
    room = os.path.join(os.environ["TMPDIR"], name)
    os.makedirs(room, exist_ok=True)
    open(os.path.join(room, f"{os.getpid()}-{uuid.uuid4()}"), "w").close()
    for _ in range(200):
        came = os.listdir(room)
        if len(came) >= int(want) and len({c.split("-")[0] for c in came}) >= 2:
            return b"together"
        time.sleep(0.05)
    return b"alone"
"""


def test_two_ws_objects_at_once_run_in_two_processes(target):
    """ws:// keeps its streams open: the ETL hands the target's first streams
    to different processes, and the target sends two objects in flight on
    the oldest ones, not both to one process (which would leave a core
    idle) as it could on the third stream, which a moment of three objects
    in flight dialled."""
    b = target.create_bucket("meet")
    rounds = [("trio", 3)] + [(f"pair{r}", 2) for r in range(4)]
    for name, n in rounds:
        for i in range(n):
            target.put(b, f"{name}-{i}", f"{name} {n}".encode())
    msg = {"id": "etl-meet", "runtime": "python3.11v2", "communication": "ws://", "timeout": "2m",
           "funcs": {"transform": "transform"}, "code": base64.b64encode(MEET.encode()).decode(),
           "env": [{"name": "NUM_WORKERS", "value": "2"}]}
    r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=180)
    assert r.status_code == 200, r.text
    for name, n in rounds:  # three streams dialled at once, then pairs of objects on them
        names = [f"{name}-{i}" for i in range(n)]
        got = get_all(target, b, names, "etl-meet", threads=n)
        assert got == {k: (200, b"together") for k in names}, (name, got)


def test_default_is_one_worker_per_core(target):
    assert init(target, "etl-dflt", None).status_code == 200
    n = len(os.sched_getaffinity(0))
    assert len(workers_of(etl_pid(target, "etl-dflt"))) == (n if n > 1 else 0)


THREADS = """
import os
def transform(data):
    return " ".join(os.environ.get(v, "-") for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                     "OPENBLAS_NUM_THREADS")).encode()
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_share_the_cores_for_library_threads(target, workers):
    """torch's and NumPy's own threads: each worker gets its share of the
    cores, as a DataLoader's workers get one thread each; not a thread per
    core in every worker."""
    b = target.create_bucket("thr")
    target.put(b, "x", b"x")
    msg = {"id": "etl-thr", "runtime": "python3.11v2", "communication": "hpush://", "timeout": "2m",
           "funcs": {"transform": "transform"}, "code": base64.b64encode(THREADS.encode()).decode(),
           "env": [{"name": "NUM_WORKERS", "value": str(workers)}]}
    r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=180)
    assert r.status_code == 200, r.text
    share = str(max(1, len(os.sched_getaffinity(0)) // workers))
    r = target.get(b, "x", etl_name="etl-thr")
    assert (r.status_code, r.content.decode()) == (200, " ".join([share] * 3))


def test_views_of_two_workers_read_as_one(target, objects, mount):  # noqa: F811
    b, data = objects
    assert init(target, "etl-one", 1).status_code == 200
    assert init(target, "etl-two", 2).status_code == 200
    names = sorted(data)

    def read(view, k):
        with open(mount.path(view, b, k), "rb") as f:
            return f.read()

    with concurrent.futures.ThreadPoolExecutor(2) as ex:  # two readers, as a DataLoader's workers
        one = list(ex.map(lambda k: read("@etl-one", k), names))
        two = list(ex.map(lambda k: read("@etl-two", k), names))
    assert one == [md5hex(data[k]) for k in names]
    assert two == one


def test_killed_worker_is_restarted_and_its_object_fails_by_name(target, objects):
    b, data = objects
    target.put(b, "hanging", b"hang")
    assert init(target, "etl-kill", 2).status_code == 200
    parent = etl_pid(target, "etl-kill")
    before = workers_of(parent)
    assert len(before) == 2
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        hanging = ex.submit(target.get, b, "hanging", etl_name="etl-kill")
        conftest.wait_for(lambda: pids_seen(target, "etl-kill"), "the hanging object reached a worker")
        (victim,) = pids_seen(target, "etl-kill")
        os.kill(victim, signal.SIGKILL)
        r = hanging.result(timeout=60)
    assert r.status_code >= 500, r.text
    assert "etl-kill" in r.text and "hanging" in r.text, r.text
    conftest.wait_for(lambda: len(workers_of(parent)) == 2 and victim not in workers_of(parent),
                      "a new worker in place of the killed one")
    assert etl_pid(target, "etl-kill") == parent  # the ETL itself kept running
    got = get_all(target, b, sorted(data), "etl-kill")
    for k, v in data.items():
        assert got[k] == (200, md5hex(v)), k
    assert requests.get(f"{target.url}/v1/etl/etl-kill", timeout=10).json()["status"] == "running"


def test_bad_num_workers_fails_the_init_by_name(target):
    r = init(target, "etl-badw", "many")
    assert r.status_code == 400, r.text
    assert "NUM_WORKERS" in r.text and "etl-badw" in r.text, r.text


def test_shipped_torchvision_with_two_workers_answers_as_one(target):
    pytest.importorskip("torchvision")
    from PIL import Image

    b = target.create_bucket("img")
    names = []
    for i in range(8):
        buf = io.BytesIO()
        Image.new("RGB", (300 + 40 * i, 260 + 30 * i), (40 * i % 256, 90, 200)).save(buf, format="JPEG")
        names.append(f"i{i}.jpg")
        target.put(b, names[-1], buf.getvalue())
    for name, workers in (("etl-tv1", "1"), ("etl-tv2", "2")):
        msg = {"name": name, "communication": "hpush://", "init_timeout": "2m",
               "runtime": {"image": "aistorage/transformer_torchvision:latest",
                           "env": [{"name": "NUM_WORKERS", "value": workers}]}}
        r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=180)
        assert r.status_code == 200, r.text
    assert len(workers_of(etl_pid(target, "etl-tv2"))) == 2
    one = get_all(target, b, names, "etl-tv1")
    two = get_all(target, b, names, "etl-tv2")
    for k in names:
        assert one[k][0] == 200 and Image.open(io.BytesIO(one[k][1])).size == (224, 224), k
        assert two[k] == one[k], k



def test_workers_that_keep_dying_fail_the_etl_by_name(target):
    b = target.create_bucket("die")
    target.put(b, "x", b"die")
    code = "import os, signal\ndef transform(data):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    msg = {"id": "etl-dies", "runtime": "python3.11v2", "communication": "hpush://", "argument": "",
           "timeout": "2m", "funcs": {"transform": "transform"}, "code": base64.b64encode(code.encode()).decode(),
           "dependencies": "", "env": [{"name": "NUM_WORKERS", "value": "2"}]}
    assert requests.put(f"{target.url}/v1/etl", json=msg, timeout=180).status_code == 200
    for _ in range(12):  # each object kills its worker; the tenth death within 10 s stops the ETL
        r = target.get(b, "x", etl_name="etl-dies")
        assert r.status_code >= 500 and "etl-dies" in r.text, r.text
        if requests.get(f"{target.url}/v1/etl/etl-dies", timeout=10).json()["status"] != "running":
            break
    conftest.wait_for(lambda: requests.get(f"{target.url}/v1/etl/etl-dies", timeout=10).json()["status"] == "error",
                      "the ETL shown failed")
    show = requests.get(f"{target.url}/v1/etl/etl-dies", timeout=10).json()
    assert "etl-dies" in show["last_error"] and "giving up" in show["last_error"], show


# Each object spins ("cpu") or sleeps ("wait") 4 ms; each process notes how
# many of its transforms ran at once when one began.
AT_ONCE = """
import hashlib, os, threading, time
_lock = threading.Lock()
_running = 0
def transform(data):
    global _running
    with _lock:
        _running += 1
        n = _running
    try:
        with open(os.path.join(os.environ["TMPDIR"], f"at-once-{os.getpid()}"), "a") as f:
            f.write(f"{n}\\n")
        if data.startswith(b"cpu"):
            end, x = time.thread_time() + 0.004, data
            while time.thread_time() < end:
                x = hashlib.md5(x).digest()
        else:
            time.sleep(0.004)
        return hashlib.md5(data).hexdigest().encode()
    finally:
        with _lock:
            _running -= 1
"""


def at_once(t, name):
    """Per process: the most transforms it ran at once, over the notes."""
    most = {}
    for path in glob.glob(os.path.join(t.data[0], ".etlfs", "etl", name, "work", "at-once-*")):
        with open(path) as f:
            most[path] = max(int(x) for x in f.read().split())
        os.unlink(path)
    return most


@pytest.mark.parametrize("kind", ["cpu", "wait"])
def test_ws_paces_a_busy_etl_over_its_processes(target, kind):
    """Over ws://, an ETL of two processes whose objects keep them on the CPU
    for milliseconds gets one object running per process (the next queued
    behind it), the rest waiting in the target, so a process that finishes
    takes the next instead of idling while the other has several; one that
    waits (sleeps) keeps its objects in flight together."""
    b = target.create_bucket("pace")
    data = {f"{kind}-{i:03d}": f"{kind} {i}".encode() for i in range(400)}
    for k, v in data.items():
        target.put(b, k, v)
    name = f"etl-pace-{kind}"
    msg = {"id": name, "runtime": "python3.11v2", "communication": "ws://", "timeout": "2m",
           "funcs": {"transform": "transform"}, "code": base64.b64encode(AT_ONCE.encode()).decode(),
           "env": [{"name": "NUM_WORKERS", "value": "2"}]}
    r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=180)
    assert r.status_code == 200, r.text
    names = sorted(data)
    # the target learns the ETL's time per object and samples its CPU (every 0.2 s)
    warm = get_all(target, b, names[:240], name, threads=8)
    assert warm == {k: (200, md5hex(data[k])) for k in names[:240]}
    at_once(target, name)
    got = get_all(target, b, names[240:], name, threads=8)
    assert got == {k: (200, md5hex(data[k])) for k in names[240:]}
    most = at_once(target, name)
    assert len(most) == 2, most  # both processes worked
    if kind == "cpu":
        assert max(most.values()) == 1, most
    else:
        assert max(most.values()) > 1, most
