"""io:// through the init-code runner's pool of warm processes: every object
still sees a script of its own (stdin the object, stdout the output, fresh
globals, ETL_ARGS), many objects at once are answered correctly by a few
processes reused, a process that dies in the middle of an object fails
that object alone (5xx naming ETL and object) and is replaced, and scripts
that hang hold their processes only until the object's timeout."""
import concurrent.futures as cf
import os

import pytest
import requests

from test_etl_api import init_code, message

# the output: "<pid> <calls> " then the object reversed; dies (no output) on
# objects that start with "crash", fails with a message on "fail"
SCRIPT = """
import os, sys
calls = globals().get("calls", 0) + 1  # fresh globals per object: always 1
data = sys.stdin.buffer.read()
if data.startswith(b"crash"):
    sys.stdout.write("partial")
    sys.stdout.flush()
    os._exit(9)
if data.startswith(b"fail"):
    sys.stderr.write("refusing " + data[:6].decode())
    sys.exit(3)
args = os.environ.get("ETL_ARGS", "")
print(os.getpid(), calls, end=" ", flush=True)
sys.stdout.buffer.write(data[::-1] + args.encode())
"""


def parse(body):
    pid, calls, rest = body.split(b" ", 2)
    return int(pid), int(calls), rest


@pytest.fixture(scope="module")
def tio(shared_target):
    t = shared_target
    r = init_code(t, "io-pool", code=SCRIPT, comm="io://", deps="")
    assert r.status_code == 200, r.text
    t.create_bucket("iosrc")
    yield t
    requests.delete(f"{t.url}/v1/etl/io-pool", timeout=30)


def get(t, obj, **q):
    return requests.get(f"{t.url}/v1/objects/iosrc/{obj}", params={"etl_name": "io-pool", **q}, timeout=60)


@pytest.mark.timeout(300)
def test_pool_under_concurrency(tio):
    t = tio
    objs = {f"o-{i:03d}": os.urandom(1 + 997 * (i % 13)) for i in range(240)}
    for k, v in objs.items():
        t.put("iosrc", k, v)
    with cf.ThreadPoolExecutor(16) as ex:
        res = list(ex.map(lambda k: (k, get(t, k)), objs))
    pids = set()
    for k, r in res:
        assert r.status_code == 200, (k, r.status_code, r.text[:200])
        assert r.content.count(b" ") >= 2, (k, r.content[:100])
        pid, calls, out = parse(r.content)
        assert calls == 1 and out == objs[k][::-1], k
        pids.add(pid)
    # warm processes, reused: a handful for 240 objects (one each before)
    assert len(pids) <= 8, len(pids)
    r = get(t, "o-001", etl_args="+args")
    assert r.status_code == 200 and parse(r.content)[2] == objs["o-001"][::-1] + b"+args"
    r = get(t, "o-001")  # the next object does not see the previous one's ETL_ARGS
    assert r.status_code == 200 and parse(r.content)[2] == objs["o-001"][::-1]


@pytest.mark.timeout(300)
def test_a_process_that_dies_fails_its_object_only(tio):
    t = tio
    ok = {f"k-{i:03d}": f"object {i}".encode() for i in range(120)}
    bad = {"crash-1": b"crash now", "crash-2": b"crash again", "fail-1": b"fail please"}
    for k, v in {**ok, **bad}.items():
        t.put("iosrc", k, v)
    order = list(ok)
    for i, k in enumerate(bad):
        order.insert(30 + 30 * i, k)
    with cf.ThreadPoolExecutor(16) as ex:
        res = dict(ex.map(lambda k: (k, get(t, k)), order))
    for k in ok:
        assert res[k].status_code == 200 and parse(res[k].content)[2] == ok[k][::-1], (k, res[k].text[:200])
    for k in ("crash-1", "crash-2"):
        r = res[k]
        assert r.status_code >= 500, (k, r.status_code)
        assert "io-pool" in message(r) and k in message(r) and "died" in message(r), message(r)
    r = res["fail-1"]
    assert r.status_code >= 500 and "io-pool" in message(r) and "refusing fail p" in message(r), message(r)
    # replaced: the pool serves on
    pids = set()
    for k in list(ok)[:40]:
        r = get(t, k)
        assert r.status_code == 200 and parse(r.content)[2] == ok[k][::-1], k
        pids.add(parse(r.content)[0])
    assert len(pids) <= 8


HANGS = """
import sys, time
data = sys.stdin.buffer.read()
if data.startswith(b"hang"):
    time.sleep(3600)
sys.stdout.buffer.write(data.upper())
"""


@pytest.mark.timeout(300)
def test_hanging_scripts_do_not_exhaust_the_pool(tio):
    """More hanging objects than the pool has processes (2..8): each is a 504
    at the object timeout, and the pool still serves afterwards."""
    t = tio
    r = init_code(t, "io-hangs", code=HANGS, comm="io://", deps="", timeout="3s")
    assert r.status_code == 200, r.text
    try:
        t.put("iosrc", "hang-x", b"hang on")
        t.put("iosrc", "plain", b"plain text")
        with cf.ThreadPoolExecutor(10) as ex:
            res = list(ex.map(lambda _: get(t, "hang-x", etl_name="io-hangs"), range(10)))
        for r in res:
            assert r.status_code == 504 and "io-hangs" in message(r) and "hang-x" in message(r), (r.status_code, r.text)
        for _ in range(5):
            r = get(t, "plain", etl_name="io-hangs")
            assert r.status_code == 200 and r.content == b"PLAIN TEXT", (r.status_code, r.text)
    finally:
        requests.delete(f"{t.url}/v1/etl/io-hangs", timeout=30)
