"""AIStore 5.0's ETL dialect beside v3.22's on one node: etl_args (inline and
offline), pipelines (etl_pipeline inline, "pipeline" in jobs), the
single-object transform (PUT ?object_to=), and clear errors for what this
node cannot honour."""
import hashlib
import os
import threading
import time

import pytest
import requests

from test_etl_api import etl_pids, init_code, message
from test_offline import wait_job

UPPER = """
def transform(data):
    return data.upper()
"""

REVERSE = """
def transform(data):
    return data[::-1]
"""

# takes etl_args: appends them after a '|'
WITH_ARGS = """
def transform(data, etl_args):
    return data + b"|" + etl_args.encode()
"""

MD5 = """
import hashlib
def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""

FAILING = """
def transform(data):
    raise ValueError("stage two refuses " + data[:4].decode())
"""


@pytest.fixture(scope="module")
def t5(shared_target):
    t = shared_target
    for name, code, comm in [("v5-upper", UPPER, "hpush://"), ("v5-rev", REVERSE, "hpush://"),
                             ("v5-args", WITH_ARGS, "hpush://"), ("v5-md5", MD5, "hpush://"),
                             ("v5-upper-pull", UPPER, "hpull://"), ("v5-fail", FAILING, "hpush://")]:
        r = init_code(t, name, code=code, comm=comm, deps="")
        assert r.status_code == 200, r.text
    requests.post(f"{t.url}/v1/buckets/v5src", json={"action": "create-bck"}, timeout=10).raise_for_status()
    for i in range(5):
        requests.put(f"{t.url}/v1/objects/v5src/obj-{i}", data=f"hello {i}".encode(), timeout=10).raise_for_status()
    yield t
    for name in ["v5-upper", "v5-rev", "v5-args", "v5-md5", "v5-upper-pull", "v5-fail"]:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def get(t, obj, **q):
    return requests.get(f"{t.url}/v1/objects/v5src/{obj}", params=q, timeout=60)


def test_etl_args_reach_the_transform(t5):
    r = get(t5, "obj-1", etl_name="v5-args", etl_args="a b&c=d")
    assert r.status_code == 200, r.text
    assert r.content == b"hello 1|a b&c=d"


def test_etl_args_refused_by_a_transform_without_them(t5):
    r = get(t5, "obj-1", etl_name="v5-upper", etl_args="x")
    assert r.status_code == 502
    assert "v5-upper" in message(r) and "obj-1" in message(r) and "etl_args" in message(r)


def test_etl_args_too_long(t5):
    r = get(t5, "obj-1", etl_name="v5-args", etl_args="x" * 5000)
    assert r.status_code == 400 and "etl_args: 5000 bytes, at most 4096" in message(r)
    assert "v5-args" in message(r) and "ais://v5src/obj-1" in message(r), r.text
    # the single-object transform and the jobs refuse it too
    r = requests.put(f"{t5.url}/v1/objects/v5src/obj-1", params={"object_to": "ais/@#/v5src/obj-1-args",
                     "etl_name": "v5-args", "etl_args": "x" * 5000}, timeout=60)
    assert r.status_code == 400 and "etl_args" in message(r) and "v5-args" in message(r), r.text
    r = requests.post(f"{t5.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5argsdst/"},
                      json={"action": "etl-bck", "value": {"id": "v5-args", "etl_args": "x" * 5000}}, timeout=30)
    assert r.status_code == 400 and "etl_args" in message(r) and "v5-args" in message(r), r.text
    assert requests.head(f"{t5.url}/v1/objects/v5src/obj-1-args", timeout=10).status_code == 404


def test_inline_pipeline_equals_stages_in_turn(t5):
    r = get(t5, "obj-2", etl_name="v5-upper", etl_pipeline="v5-rev,v5-md5")
    assert r.status_code == 200, r.text
    assert r.content == hashlib.md5(b"hello 2".upper()[::-1]).hexdigest().encode()


def test_pipeline_with_args_gives_them_to_every_stage(t5):
    r = get(t5, "obj-0", etl_name="v5-args", etl_pipeline="v5-args", etl_args="z")
    assert r.status_code == 200, r.text
    assert r.content == b"hello 0|z|z"


def test_pipeline_after_an_hpull_first_stage_is_proxied(t5):
    r = requests.get(f"{t5.url}/v1/objects/v5src/obj-3", params={"etl_name": "v5-upper-pull",
                     "etl_pipeline": "v5-rev"}, timeout=60, allow_redirects=False)
    assert r.status_code == 200, r.text
    assert r.content == b"HELLO 3"[::-1]


def test_pipeline_naming_a_missing_etl(t5):
    r = get(t5, "obj-1", etl_name="v5-upper", etl_pipeline="v5-rev,nope-etl")
    assert r.status_code == 404 and "nope-etl" in message(r)
    r = get(t5, "obj-1", etl_name="v5-upper", etl_pipeline="v5-rev,,v5-md5")
    assert r.status_code == 400 and "empty" in message(r)


def test_failing_stage_names_itself(t5):
    r = get(t5, "obj-4", etl_name="v5-upper", etl_pipeline="v5-fail")
    assert r.status_code == 502
    assert "v5-fail" in message(r) and "obj-4" in message(r) and "stage two refuses HELL" in message(r)


def run_etl_bck(t, dst, value):
    r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": f"ais/@#/{dst}/"},
                      json={"action": "etl-bck", "value": value}, timeout=30)
    assert r.status_code == 200, r.text
    return wait_job(t, r.text)


def test_offline_pipeline_and_args(t5):
    run_etl_bck(t5, "v5dst", {"id": "v5-upper", "pipeline": ["v5-rev"]})
    run_etl_bck(t5, "v5dst-args", {"id": "v5-args", "pipeline": ["v5-args"], "etl_args": "q"})
    for i in range(5):
        got = requests.get(f"{t5.url}/v1/objects/v5dst/obj-{i}", timeout=10)
        assert got.status_code == 200 and got.content == f"HELLO {i}"[::-1].encode()
        got = requests.get(f"{t5.url}/v1/objects/v5dst-args/obj-{i}", timeout=10)
        assert got.status_code == 200 and got.content == f"hello {i}|q|q".encode()


def test_listrange_pipeline_and_args_and_a_failing_stage(t5):
    t = t5
    r = requests.post(f"{t.url}/v1/buckets/v5src", json={"action": "etl-listrange", "value": {
        "tobck": {"name": "v5lr", "provider": "ais"}, "objnames": ["obj-1", "obj-3"], "id": "v5-args",
        "pipeline": ["v5-args"], "etl_args": "w"}}, timeout=30)
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert not st.get("err"), st
    names = [e["name"] for e in requests.get(f"{t.url}/v1/buckets/v5lr", json={"action": "list"},
                                                timeout=10).json()["entries"]]
    assert sorted(names) == ["obj-1", "obj-3"]
    assert requests.get(f"{t.url}/v1/objects/v5lr/obj-3", timeout=10).content == b"hello 3|w|w"
    # a failing later stage: each object's error names that stage and the object; the job ends
    r = requests.post(f"{t.url}/v1/buckets/v5src", json={"action": "etl-listrange", "value": {
        "tobck": {"name": "v5lrfail", "provider": "ais"}, "template": "obj-{0..1}", "id": "v5-rev",
        "pipeline": ["v5-fail"]}}, timeout=30)
    assert r.status_code == 200, r.text
    job = r.text
    wait_job(t, job)
    # the job's ETL (the first stage, as `ais etl show errors` names it) and the failing stage both keep them
    for etl in ("v5-rev", "v5-fail"):
        errs = requests.get(f"{t.url}/v1/etl/{etl}", params={"uuid": job}, timeout=10).json()["obj_errors"]
        assert sorted(e["obj_name"] for e in errs) == ["ais://v5src/obj-0", "ais://v5src/obj-1"], (etl, errs)
        assert all("etl[v5-fail]" in e["msg"] and f"stage two refuses {e['obj_name'][-1]} ol" in e["msg"]
                   for e in errs), errs
    assert requests.head(f"{t.url}/v1/objects/v5lrfail/obj-0", timeout=10).status_code == 404


def test_offline_pipeline_bad_forms(t5):
    t = t5
    for value, status, word in [({"id": "v5-upper", "pipeline": "v5-rev"}, 400, "pipeline"),
                                ({"id": "v5-upper", "pipeline": ["missing-etl"]}, 404, "missing-etl"),
                                ({"id": "v5-upper", "etl_args": 7}, 400, "etl_args")]:
        r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5bad/"},
                          json={"action": "etl-bck", "value": value}, timeout=30)
        assert r.status_code == status and word in message(r), (value, r.status_code, r.text)


def put_to(t, src_obj, to, **q):
    return requests.put(f"{t.url}/v1/objects/v5src/{src_obj}", params={"object_to": to, **q}, timeout=60)


def test_single_object_transform_leaves_the_source(t5):
    t = t5
    requests.post(f"{t.url}/v1/buckets/v5one", json={"action": "create-bck"}, timeout=10)
    r = put_to(t, "obj-1", "ais/@#/v5one/out/one", etl_name="v5-upper", etl_pipeline="v5-rev")
    assert r.status_code == 200, r.text
    assert r.headers["ais-size"] == str(len(b"1 OLLEH"))
    assert requests.get(f"{t.url}/v1/objects/v5one/out/one", timeout=10).content == b"1 OLLEH"
    r = put_to(t, "obj-1", "ais/@#/v5one/out/args", etl_name="v5-args", etl_args="k")
    assert r.status_code == 200, r.text
    assert requests.get(f"{t.url}/v1/objects/v5one/out/args", timeout=10).content == b"hello 1|k"
    assert requests.get(f"{t.url}/v1/objects/v5src/obj-1", timeout=10).content == b"hello 1"
    # no ETL: a plain server-side copy
    r = put_to(t, "obj-2", "ais/@#/v5one/copy")
    assert r.status_code == 200, r.text
    assert requests.get(f"{t.url}/v1/objects/v5one/copy", timeout=10).content == b"hello 2"


def test_single_object_transform_errors_keep_the_source(t5):
    t = t5
    requests.post(f"{t.url}/v1/buckets/v5one", json={"action": "create-bck"}, timeout=10)
    for to, q, status, word in [("ais/@#/v5one/x", {"etl_name": "no-such-etl"}, 404, "no-such-etl"),
                                ("ais/@#/v5one/", {"etl_name": "v5-upper"}, 400, "object_to"),
                                ("gcp/@#/v5one/x", {"etl_name": "v5-upper"}, 400, "object_to"),
                                ("ais/@#/v5-missing-bucket/x", {"etl_name": "v5-upper"}, 404, "v5-missing-bucket"),
                                ("ais/@#/v5one/x", {"etl_name": "v5-fail"}, 502, "v5-fail"),
                                ("ais/@#/v5one/x", {"etl_args": "a"}, 400, "etl_name")]:
        r = put_to(t, "obj-3", to, **q)
        assert r.status_code == status and word in message(r), (to, q, r.status_code, r.text)
        assert requests.get(f"{t.url}/v1/objects/v5src/obj-3", timeout=10).content == b"hello 3"
    assert requests.head(f"{t.url}/v1/objects/v5one/x", timeout=10).status_code == 404


def init_runtime(t, name, image, **extra):
    msg = {"name": name, "communication": "hpush://", "runtime": {"image": image}, **extra}
    return requests.put(f"{t.url}/v1/etl", json=msg, timeout=120)


def test_runtime_spec_init_runs_the_mapped_image(t5):
    t = t5
    r = init_runtime(t, "v5-md5-img", "aistorage/transformer_md5:latest", init_timeout="20s", obj_timeout="7s",
                     env=[{"name": "SOME_VAR", "value": "1"}], support_direct_put=True)
    assert r.status_code == 200, r.text
    try:
        got = get(t, "obj-2", etl_name="v5-md5-img")
        assert got.status_code == 200 and got.content == hashlib.md5(b"hello 2").hexdigest().encode()
        shown = requests.get(f"{t.url}/v1/etl/v5-md5-img", timeout=10).json()
        assert shown["name"] == "v5-md5-img" and shown["runtime"]["image"] == "aistorage/transformer_md5:latest"
        assert shown["obj_timeout"] == "7s" and shown["init_timeout"] == "20s"
        assert shown["runtime"]["env"] == [{"name": "SOME_VAR", "value": "1"}]
        listed = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10).json()}
        assert listed["v5-md5-img"]["stage"] == "Running"
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-md5-img", timeout=30)


def test_runtime_spec_bad_forms(t5):
    t = t5
    r = init_runtime(t, "v5-unknown-img", "example.com/nobody/no-such-image:1")
    assert r.status_code == 400 and "no-such-image" in message(r) and "v5-unknown-img" in message(r), r.text
    assert requests.get(f"{t.url}/v1/etl/v5-unknown-img", timeout=10).status_code == 404  # nothing kept
    for msg, word in [({"name": "v5-bad", "runtime": {}}, "runtime.image"),
                      ({"name": "v5-bad", "runtime": {"image": "aistorage/transformer_md5", "command": "x"}},
                       "runtime.command"),
                      ({"name": "v5-bad", "runtime": {"image": "aistorage/transformer_md5"}, "obj_timeout": "soon"},
                       "obj_timeout"),
                      ({"name": "v5-bad", "runtime": {"image": "aistorage/transformer_md5"}, "env": {"A": "1"}},
                       "env"),
                      ({"name": "v5-bad", "runtime": {"image": "aistorage/transformer_md5"}, "code": "eA=="},
                       "runtime"),
                      ({"name": "v5-bad", "communication": "grpc://",
                        "runtime": {"image": "aistorage/transformer_md5"}}, "grpc://"),
                      # more than the kernel lets one environment string hold
                      ({"name": "v5-bad", "runtime": {"image": "aistorage/transformer_md5",
                                                      "env": [{"name": "BIG", "value": "x" * 200000}]}},
                       "env BIG is 200000 bytes")]:
        r = requests.put(f"{t.url}/v1/etl", json=msg, timeout=60)
        assert r.status_code == 400 and word in message(r), (msg, r.text)
        assert requests.get(f"{t.url}/v1/etl/v5-bad", timeout=10).status_code == 404
    requests.delete(f"{t.url}/v1/etl/v5-unknown-img", timeout=30)


def test_runtime_spec_may_name_the_etl_in_id(t5):
    """v3.22's key in a 5.0 message: the same ETL, shown in the 5.0 shape."""
    t = t5
    r = requests.put(f"{t.url}/v1/etl", json={"id": "v5-by-id", "runtime": {"image": "aistorage/transformer_md5"}},
                     timeout=120)
    assert r.status_code == 200, r.text
    try:
        assert get(t, "obj-0", etl_name="v5-by-id").content == hashlib.md5(b"hello 0").hexdigest().encode()
        shown = requests.get(f"{t.url}/v1/etl/v5-by-id", timeout=10).json()
        assert shown["runtime"]["image"] == "aistorage/transformer_md5"
        assert "v5-by-id" in (shown.get("name"), shown.get("id"))
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-by-id", timeout=30)


def test_resources_not_enforced_are_reported(t5):
    t = t5
    r = init_runtime(t, "v5-res", "aistorage/transformer_md5",
                     resources={"limits": {"memory": "300Mi", "cpu": "2"}, "requests": {"cpu": "500m"}})
    assert r.status_code == 200, r.text
    try:
        shown = requests.get(f"{t.url}/v1/etl/v5-res", timeout=10).json()
        assert shown["resources"] == {"limits": {"memory": "300Mi", "cpu": "2"}, "requests": {"cpu": "500m"}}
        w = [x for x in shown["warnings"] if "not enforced" in x]
        assert len(w) == 1 and "resources.limits.cpu, resources.requests.cpu:" in w[0], shown["warnings"]
        assert "resources.limits.memory:" not in w[0]
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-res", timeout=30)
    r = init_runtime(t, "v5-res-mem", "aistorage/transformer_md5", resources={"limits": {"memory": "300Mi"}})
    assert r.status_code == 200, r.text
    try:
        shown = requests.get(f"{t.url}/v1/etl/v5-res-mem", timeout=10).json()
        assert not [x for x in shown["warnings"] if "not enforced" in x], shown["warnings"]
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-res-mem", timeout=30)


def test_details_list_the_failed_objects(t5):
    t = t5
    assert get(t, "obj-0", etl_name="v5-fail").status_code == 502
    assert get(t, "obj-1", etl_name="v5-fail").status_code == 502
    d = requests.get(f"{t.url}/v1/etl/v5-fail/details", timeout=10)
    assert d.status_code == 200, d.text
    d = d.json()
    assert d["init_msg"]["id"] == "v5-fail"
    errs = [e for e in d["obj_errors"] if e["obj_name"] in ("ais://v5src/obj-0", "ais://v5src/obj-1")]
    assert len(errs) >= 2 and all(e["ecode"] == 502 and "stage two refuses" in e["msg"] for e in errs)
    ok = requests.get(f"{t.url}/v1/etl/v5-upper/details", timeout=10).json()
    assert all(e["obj_name"] != "ais://v5src/obj-0" for e in ok["obj_errors"])
    assert requests.get(f"{t.url}/v1/etl/v5-nope/details", timeout=10).status_code == 404
    # 5.0's SDK reads the same from GET /v1/etl/N?uuid= (v3.22's gets the message)
    d5 = requests.get(f"{t.url}/v1/etl/v5-fail", params={"uuid": ""}, timeout=10).json()
    assert d5["init_msg"]["name"] == "v5-fail" and len(d5["obj_errors"]) >= 2
    assert "init_msg" not in requests.get(f"{t.url}/v1/etl/v5-fail", timeout=10).json()
    # per job: an offline job's failures carry its id
    r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5fail-dst/"},
                      json={"action": "etl-bck", "value": {"id": "v5-fail"}}, timeout=30)
    assert r.status_code == 200, r.text
    job = r.text
    wait_job(t, job)
    per_job = requests.get(f"{t.url}/v1/etl/v5-fail", params={"uuid": job}, timeout=10).json()["obj_errors"]
    assert len(per_job) == 5 and all(e["obj_name"].startswith("ais://v5src/obj-") for e in per_job), per_job
    none = requests.get(f"{t.url}/v1/etl/v5-fail", params={"uuid": "no-such-job"}, timeout=10).json()
    assert none["obj_errors"] == []
    # the same through /details?uuid=
    d = requests.get(f"{t.url}/v1/etl/v5-fail/details", params={"uuid": job}, timeout=10).json()
    assert d["obj_errors"] == per_job
    assert requests.get(f"{t.url}/v1/etl/v5-fail/details", params={"uuid": "no-such-job"},
                        timeout=10).json()["obj_errors"] == []


def cgroup_memory_limit(pid):
    """The memory limit of pid's cgroup (v2 memory.max or v1 limit_in_bytes), or None."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for base, name in [("/sys/fs/cgroup/memory", "memory.limit_in_bytes")] if "memory" in ctrls.split(",") \
                else [("/sys/fs/cgroup/unified", "memory.max"), ("/sys/fs/cgroup", "memory.max")] if ctrls == "" \
                else []:
            p = f"{base}{path}/{name}"
            if os.path.exists(p):
                with open(p) as f:
                    v = f.read().strip()
                if v != "max":
                    return int(v)
    return None


def test_runtime_spec_memory_limit_is_the_etls(t5):
    t = t5
    r = init_runtime(t, "v5-md5-small", "aistorage/transformer_md5", resources={"limits": {"memory": "300Mi"}})
    assert r.status_code == 200, r.text
    try:
        assert requests.get(f"{t.url}/v1/etl/v5-md5-small", timeout=10).json()["resources"] == \
            {"limits": {"memory": "300Mi"}}
        pids = [p for p in etl_pids(t) if b"v5-md5-small" in open(f"/proc/{p}/cmdline", "rb").read()
                or os.readlink(f"/proc/{p}/cwd").find("v5-md5-small") >= 0]
        assert pids, "the ETL's process"
        limit = cgroup_memory_limit(pids[0])
        if limit is None:
            pytest.skip("no memory cgroup on this host: the limit is RLIMIT_AS (see docs/etl.md)")
        assert limit == 300 << 20
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-md5-small", timeout=30)
    r = init_runtime(t, "v5-md5-bad", "aistorage/transformer_md5", resources={"limits": {"memory": "lots"}})
    assert r.status_code == 400 and "resources.limits.memory" in message(r)


# an ETL as a plain command (runtime.command of an image without a local
# equivalent): answers /health, upper-cases bodies, hangs on objects named slow*
SLOW_SERVER = r"""
import http.server, os, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body):
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.reply(b"Running")
    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/slow" in self.path:
            time.sleep(30)
        self.reply(data.upper())
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def test_runtime_command_runs_as_given_and_obj_timeout_fails_one_object(t5):
    t = t5
    requests.put(f"{t.url}/v1/objects/v5src/slow-1", data=b"zzz", timeout=10).raise_for_status()
    r = requests.put(f"{t.url}/v1/etl", json={
        "name": "v5-cmd", "communication": "hpush://", "obj_timeout": "2s",
        "runtime": {"image": "example.com/own/upper:1", "command": ["/usr/bin/python3", "-c", SLOW_SERVER]}},
        timeout=60)
    assert r.status_code == 200, r.text
    try:
        t0 = time.time()
        slow = get(t, "slow-1", etl_name="v5-cmd")
        assert slow.status_code == 504 and "v5-cmd" in message(slow) and "slow-1" in message(slow), slow.text
        assert time.time() - t0 < 20
        ok = get(t, "obj-1", etl_name="v5-cmd")  # the others are still served
        assert ok.status_code == 200 and ok.content == b"HELLO 1"
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-cmd", timeout=30)
        requests.delete(f"{t.url}/v1/objects/v5src/slow-1", timeout=10)


def test_init_timeout_fails_a_slow_start_and_leaves_nothing(t5):
    t = t5
    t0 = time.time()
    r = requests.put(f"{t.url}/v1/etl", json={
        "name": "v5-sleepy", "communication": "hpush://", "init_timeout": "2s",
        "runtime": {"image": "example.com/own/sleepy:1", "command": ["/bin/sleep", "60"]}}, timeout=60)
    assert r.status_code == 504 and "v5-sleepy" in message(r) and "not ready" in message(r), r.text
    assert time.time() - t0 < 20
    assert not [p for p in etl_pids(t) if b"sleep" in open(f"/proc/{p}/cmdline", "rb").read()]
    requests.delete(f"{t.url}/v1/etl/v5-sleepy", timeout=30)


def test_a_starting_etl_is_listed_as_initializing(t5):
    t = t5
    out = {}

    def init():
        out["r"] = requests.put(f"{t.url}/v1/etl", json={
            "name": "v5-starting", "init_timeout": "6s",
            "runtime": {"image": "example.com/own/sleepy:1", "command": ["/bin/sleep", "60"]}}, timeout=60)

    th = threading.Thread(target=init)
    th.start()
    try:
        seen = []
        for _ in range(100):  # bounded: 10 s at most
            rows = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", params={"all": "true"}, timeout=10).json()}
            if "v5-starting" in rows:
                seen.append(rows["v5-starting"]["stage"])
                if seen[-1] == "Initializing":
                    break
            if "r" in out:
                break
            time.sleep(0.1)
        assert "Initializing" in seen, seen
    finally:
        th.join(60)
    r = out["r"]
    assert r.status_code == 504 and "v5-starting" in message(r), r.text
    rows = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", params={"all": "true"}, timeout=10).json()}
    assert rows.get("v5-starting", {"stage": "Aborted"})["stage"] == "Aborted"
    assert not [p for p in etl_pids(t) if b"sleep" in open(f"/proc/{p}/cmdline", "rb").read()]
    requests.delete(f"{t.url}/v1/etl/v5-starting", timeout=30)


# answers 503 + Ais-Etl-Retry-Reason: direct-put-transient: twice per object
# named flaky*, always for objects named bail*; upper-cases otherwise
BAILING_SERVER = r"""
import collections, http.server, os
seen = collections.Counter()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body, extra=()):
        self.send_response(status)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        self.reply(200, b"Running")
    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen[self.path] += 1
        if "/bail" in self.path or ("/flaky" in self.path and seen[self.path] <= 2):
            self.reply(503, b"direct put failed", [("Ais-Etl-Retry-Reason", "direct-put-transient")])
        else:
            self.reply(200, data.upper() + b" after %d" % seen[self.path])
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def test_retry_contract_replays_then_surfaces_the_error(t5):
    t = t5
    for name in ("flaky-1", "bail-1"):
        requests.put(f"{t.url}/v1/objects/v5src/{name}", data=b"abc", timeout=10).raise_for_status()
    r = requests.put(f"{t.url}/v1/etl", json={
        "name": "v5-bail", "communication": "hpush://",
        "runtime": {"image": "example.com/own/bail:1", "command": ["/usr/bin/python3", "-c", BAILING_SERVER]}},
        timeout=60)
    assert r.status_code == 200, r.text
    try:
        ok = get(t, "flaky-1", etl_name="v5-bail")
        assert ok.status_code == 200 and ok.content == b"ABC after 3", ok.text
        bad = get(t, "bail-1", etl_name="v5-bail")
        assert bad.status_code == 502 and "503" in message(bad) and "bail-1" in message(bad), bad.text
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-bail", timeout=30)
        for name in ("flaky-1", "bail-1"):
            requests.delete(f"{t.url}/v1/objects/v5src/{name}", timeout=10)


ODD_FAILS = """
def transform(data):
    if int(data.split()[-1]) % 2:
        raise ValueError("odd object")
    return data.upper()
"""


def test_inspect_is_a_dry_run_onto_itself_that_reports_object_errors(t5):
    """AIStore 5.0's bucket.inspect(): etl-bck to the same bucket, dry_run and coer."""
    t = t5
    r = init_code(t, "v5-odd", code=ODD_FAILS, deps="")
    assert r.status_code == 200, r.text
    try:
        r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5src/"}, json={
            "action": "etl-bck", "value": {"id": "v5-odd", "dry_run": True, "coer": True, "prefix": "obj-"}},
            timeout=30)
        assert r.status_code == 200, r.text
        wait_job(t, r.text)
        errs = requests.get(f"{t.url}/v1/etl/v5-odd", params={"uuid": r.text}, timeout=10).json()["obj_errors"]
        assert sorted(e["obj_name"] for e in errs) == ["ais://v5src/obj-1", "ais://v5src/obj-3"], errs
        for i in range(5):  # nothing written
            assert requests.get(f"{t.url}/v1/objects/v5src/obj-{i}", timeout=10).content == f"hello {i}".encode()
        r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5src/"},
                          json={"action": "etl-bck", "value": {"id": "v5-odd", "coer": True}}, timeout=30)
        assert r.status_code == 400 and "onto itself" in message(r)  # not without dry_run
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-odd", timeout=30)


def test_non_recurs_copies_only_the_prefix_own_objects(t5):
    t = t5
    for name in ("nr/a", "nr/b", "nr/sub/c"):
        requests.put(f"{t.url}/v1/objects/v5src/{name}", data=name.encode(), timeout=10).raise_for_status()
    try:
        r = requests.post(f"{t.url}/v1/buckets/v5src", params={"bck_to": "ais/@#/v5nr/"}, json={
            "action": "copy-bck", "value": {"prefix": "nr/", "non-recurs": True, "num-workers": 2}}, timeout=30)
        assert r.status_code == 200, r.text
        wait_job(t, r.text)
        names = [e["name"] for e in requests.get(f"{t.url}/v1/buckets/v5nr", json={"action": "list", "value": {}},
                                                 timeout=10).json()["entries"]]
        assert names == ["nr/a", "nr/b"], names
    finally:
        for name in ("nr/a", "nr/b", "nr/sub/c"):
            requests.delete(f"{t.url}/v1/objects/v5src/{name}", timeout=10)


def test_list_shows_stages_to_5_0_clients_and_running_etls_to_v3_22(t5):
    t = t5
    assert init_code(t, "v5-stopped", code=UPPER, deps="").status_code == 200
    try:
        assert requests.post(f"{t.url}/v1/etl/v5-stopped/stop", timeout=30).status_code == 200
        old = requests.get(f"{t.url}/v1/etl", headers={"User-Agent": "ais/python/1.4.21"}, timeout=10).json()
        assert "v5-stopped" not in [e["id"] for e in old]  # v3.22's SDK counts running ETLs
        assert all(e["stage"] == "Running" for e in old)
        for kw in ({"headers": {"User-Agent": "ais/python/1.25.0"}}, {"params": {"all": "true"}}):
            new = {e["id"]: e for e in requests.get(f"{t.url}/v1/etl", timeout=10, **kw).json()}
            assert new["v5-stopped"]["stage"] == "Aborted" and new["v5-upper"]["stage"] == "Running"
    finally:
        requests.delete(f"{t.url}/v1/etl/v5-stopped", timeout=30)
