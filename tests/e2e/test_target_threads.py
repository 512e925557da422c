"""The target's thread model (server.c): event threads serve plain reads, and
a handler that waits (an inline transform) runs on a worker, so a slow ETL
never holds up the connections beside it. The target runs with one event
thread: had the inline GET run on it, every other GET would wait behind it."""
import base64
import hashlib
import os
import threading

import pytest
import requests

import conftest

# Says it has begun (in its log), then takes its time: long enough that the
# plain GETs below are done well before it is (the test waits on its log, not
# on a clock).
SLOW_CODE = """
import sys, time
def transform(data):
    print("slow transform begins", file=sys.stderr, flush=True)
    time.sleep(4)
    print("slow transform ends", file=sys.stderr, flush=True)
    return data[::-1]
"""


def b64(s):
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def one_event_thread(tmp_path):
    t = conftest.Target(str(tmp_path), extra_args=["--threads", "1", "--workers", "4"])
    yield t
    assert t.stop() == 0, t.log_text()


def init_slow(t, name):
    msg = {"id": name, "runtime": "python3.11v2", "communication": "hpush://", "argument": "",
           "funcs": {"transform": "transform"}, "code": b64(SLOW_CODE),
           "dependencies": b64("cloudpickle==2.2.0\n"), "timeout": "60s"}
    r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)
    assert r.status_code == 200, r.text


def etl_log(t, name):
    r = requests.get(f"{t.url}/v1/etl/{name}/logs", timeout=10)
    if r.status_code != 200:
        return ""
    return "".join(base64.b64decode(e["logs"]).decode(errors="replace") for e in r.json())


def slow_get_beside_plain_gets(t, etl, size):
    t.create_bucket("src")
    body = os.urandom(size)
    t.put("src", "slow", body)
    small = {f"o{i}": os.urandom(16 << 10) for i in range(8)}
    for name, data in small.items():
        t.put("src", name, data)
    init_slow(t, etl)

    events = []  # completion order, appended by both threads
    inline = {}

    def slow_get():
        r = requests.get(f"{t.url}/v1/objects/src/slow", params={"etl_name": etl}, timeout=60)
        inline["status"], inline["body"] = r.status_code, r.content
        events.append("inline")

    th = threading.Thread(target=slow_get)
    th.start()
    try:
        assert conftest.wait_until(lambda: "slow transform begins" in etl_log(t, etl), timeout=30), etl_log(t, etl)
        assert "inline" not in events  # the transform is under way
        # plain GETs on other connections (a fresh one each), a HEAD and the health check
        for name, data in small.items():
            with requests.Session() as s:
                r = s.get(f"{t.url}/v1/objects/src/{name}", timeout=30)
            assert r.status_code == 200 and r.content == data, (name, r.status_code)
            events.append(name)
        assert requests.head(f"{t.url}/v1/objects/src/o0", timeout=30).status_code == 200
        assert requests.get(f"{t.url}/v1/health", timeout=30).status_code == 200
        events.append("others")
        # ... all of them while the transform was still sleeping
        assert "slow transform ends" not in etl_log(t, etl)
    finally:
        th.join(timeout=90)
    assert not th.is_alive()
    assert inline["status"] == 200
    assert inline["body"] == body[::-1]
    # every plain request finished while the transform still ran
    assert events == list(small) + ["others", "inline"], events


def test_slow_inline_etl_does_not_stall_plain_gets(one_event_thread):
    slow_get_beside_plain_gets(one_event_thread, "etl-slow-small", 64 << 10)


def test_slow_inline_stream_does_not_stall_plain_gets(one_event_thread):
    """An object over the inline buffer (4 MiB) streams through a pipe whose
    reader runs on the event thread: it must give the thread up while the
    transform has nothing for it, and still deliver every byte."""
    slow_get_beside_plain_gets(one_event_thread, "etl-slow-stream", 6 << 20)


def test_workers_and_threads_flags(one_event_thread):
    """The start-up line says how many of each the target runs."""
    log = one_event_thread.log_text()
    assert "1 event threads, 4 workers" in log, log


@pytest.fixture
def one_worker(tmp_path):
    t = conftest.Target(str(tmp_path), extra_args=["--threads", "1", "--workers", "1"])
    yield t
    assert t.stop() == 0, t.log_text()


def test_ws_inline_holds_no_worker(one_worker):
    """An inline read over ws:// (the native md5 transformer reading the file)
    starts on the event thread and is answered from the ETL connection's
    reader: it needs no worker, so it is served while the only worker waits on
    a slow hpush:// transform. (The ETL's log is read from its file: GET
    /v1/etl/NAME/logs would wait for the worker too.)"""
    t = one_worker

    def slow_log():
        try:
            with open(os.path.join(t.workdir, "mp0", ".etlfs", "etl", "etl-slow-worker", "log")) as f:
                return f.read()
        except OSError:
            return ""

    t.create_bucket("src")
    t.put("src", "slow", b"slow object")
    small = {f"o{i}": os.urandom(16 << 10) for i in range(8)}
    for name, data in small.items():
        t.put("src", name, data)
    init_slow(t, "etl-slow-worker")
    r = requests.put(f"{t.url}/v1/etl", json={"name": "md5-ws", "communication": "ws://",
                                               "runtime": {"image": "etlfs/transformer_md5_native"}}, timeout=120)
    assert r.status_code == 200, r.text
    with requests.Session() as s:  # a connection to the ETL, dialled on the worker
        r = s.get(f"{t.url}/v1/objects/src/o0", params={"etl_name": "md5-ws"}, timeout=30)
    assert r.status_code == 200 and r.content == hashlib.md5(small["o0"]).hexdigest().encode(), r.text

    inline = {}

    def slow_get():
        r = requests.get(f"{t.url}/v1/objects/src/slow", params={"etl_name": "etl-slow-worker"}, timeout=60)
        inline["status"], inline["body"] = r.status_code, r.content

    th = threading.Thread(target=slow_get)
    th.start()
    try:
        assert conftest.wait_until(lambda: "slow transform begins" in slow_log(), timeout=30), slow_log()
        with requests.Session() as s:
            for name, data in small.items():
                r = s.get(f"{t.url}/v1/objects/src/{name}", params={"etl_name": "md5-ws"}, timeout=30)
                assert r.status_code == 200, (name, r.text)
                assert r.content == hashlib.md5(data).hexdigest().encode(), name
        # ... all of them while the only worker was still held by the slow transform
        assert "slow transform ends" not in slow_log(), t.log_text()
    finally:
        th.join(timeout=90)
    assert not th.is_alive()
    assert inline["status"] == 200 and inline["body"] == b"slow object"[::-1]
    # the ETL's counters saw every object the readers answered
    rows = [e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json() if e["id"] == "md5-ws"]
    assert rows and rows[0]["obj_count"] == 1 + len(small), rows
