"""Offline jobs across a cluster of real targets and a real etcd: one id
cluster-wide, each target taking the objects it owns and writing each output
to the owner of its name; status, per-target snaps and abort through any
node; a copy through a mount; a target that is down. docs/cluster.md
describes the design."""
import hashlib
import os
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from cluster_fixtures import (SKIP_WITHOUT_ETCD, etcd, hrw_owner, member, new_bucket, nodes, on_disk,  # noqa: F401
                              sdk_env, wait_for)
from conftest import BIN
from test_offline import job_status, wait_job

pytestmark = SKIP_WITHOUT_ETCD

IDS = ["t1", "t2", "t3"]
JOB_TIMEOUT = 180
N_OBJS = 600


def uname(bck):
    return urllib.parse.quote(f"ais/@#/{bck}/", safe="")


def put_objs(nodes, bucket, objs):
    sessions = [requests.Session() for _ in nodes]
    for k, (name, data) in enumerate(objs.items()):
        r = sessions[k % len(nodes)].put(f"{nodes[k % len(nodes)].url}/v1/objects/{bucket}/{name}", data=data,
                                         timeout=30)
        assert r.status_code == 200, r.text


def snaps(node, job):
    r = requests.get(f"{node.url}/v1/cluster", params={"what": "qryxstats"}, json={"ID": job}, timeout=40)
    assert r.status_code == 200, r.text
    return r.json()


def wait_idle(node, job, timeout=JOB_TIMEOUT):
    """As the SDK's wait_for_idle: every target's snap idle on two polls in a row."""
    deadline, streak = time.time() + timeout, 0
    while time.time() < deadline:
        s = snaps(node, job)
        if all(snap["is_idle"] for arr in s.values() for snap in arr):
            streak += 1
            if streak == 2:
                return s
        else:
            streak = 0
        time.sleep(0.2)
    raise AssertionError(f"job {job} not idle in {timeout} s")


def holders(nodes, bucket, name):
    return [tid for tid, n in zip(IDS, nodes) if on_disk(n, bucket, name)]


def assert_outputs(nodes, bucket, want):
    """Every output on its HRW owner only, with the bytes wanted; nothing else."""
    for name, data in want.items():
        owner = hrw_owner(IDS, bucket, name)
        assert holders(nodes, bucket, name) == [owner], (name, owner)
        path = next(os.path.join(mp, "@ais", bucket, name) for mp in nodes[IDS.index(owner)].data
                    if os.path.isfile(os.path.join(mp, "@ais", bucket, name)))
        with open(path, "rb") as f:
            assert f.read() == data, name
    on_disks = set()
    for n in nodes:
        for mp in n.data:
            root = os.path.join(mp, "@ais", bucket)
            for d, _, files in os.walk(root):
                on_disks |= {os.path.relpath(os.path.join(d, f), root) for f in files}
    assert on_disks == set(want)
    spread = {hrw_owner(IDS, bucket, name) for name in want}
    assert spread == set(IDS) or len(want) < 10


def objects(n=N_OBJS, prefix="d"):
    return {f"{prefix}{k % 5}/o-{k:04d}.bin": os.urandom(100 + k % 700) for k in range(n)}


# --- ETLs on every node


def init_md5_everywhere(nodes, name="cj-md5"):
    """The native md5 transformer on every node: initialised on each one that
    does not run it yet (init on one node may start it on all)."""
    if not os.path.exists(os.path.join(BIN, "etlfs-md5")):
        pytest.skip("etlfs-md5 not built")
    import base64

    from conftest import ROOT

    with open(os.path.join(ROOT, "etl", "transformers", "md5_native", "pod.yaml")) as f:
        spec = base64.b64encode(f.read().encode()).decode()
    msg = {"id": name, "communication": "hpush://", "argument": "", "timeout": "30s", "spec": spec}

    def running(node):
        r = requests.get(f"{node.url}/v1/etl/{name}", timeout=10)
        return r.status_code == 200 and r.json().get("status", "running") == "running"

    for node in nodes:
        if running(node):
            continue
        r = requests.put(f"{node.url}/v1/etl", json=msg, timeout=120)
        assert r.status_code == 200 or "already" in r.text, r.text
    wait_for(lambda: all(running(n) for n in nodes), "the ETL running on every node", timeout=60)
    return name


# --- bucket to bucket


def test_copy_bck_over_three_targets_has_one_id_and_every_output_on_its_owner(nodes):
    src = new_bucket(nodes[0])
    objs = objects()
    put_objs(nodes, src, objs)
    assert all(sum(on_disk(n, src, o) for o in objs) > 0 for n in nodes)
    dst = src + "-copy"
    r = requests.post(f"{nodes[1].url}/v1/buckets/{src}?bck_to={uname(dst)}",
                      json={"action": "copy-bck", "value": {"prepend": "c/"}}, timeout=60)
    assert r.status_code == 200, r.text
    job = r.text
    st = wait_job(nodes[1], job, timeout=JOB_TIMEOUT)
    assert st["err"] == "" and not st["aborted"], st
    want = {"c/" + name: data for name, data in objs.items()}
    assert_outputs(nodes, dst, want)
    # every node answers the same totals; each target's own share is in qryxstats
    for node in nodes:
        st = job_status(node, job)
        assert st["uuid"] == job and st["kind"] == "copy-bck"
        assert st["objects"] == N_OBJS and st["bytes"] == sum(map(len, objs.values())), (node.url, st)
        assert st["errors"] == 0 and st["end_time"] != 0
        s = snaps(node, job)
        assert sorted(s) == IDS, s
        per = {tid: int(arr[0]["stats"]["loc-objs"]) for tid, arr in s.items()}
        assert sum(per.values()) == N_OBJS
        for tid in IDS:  # each copied exactly what it owns
            assert per[tid] == sum(hrw_owner(IDS, src, o) == tid for o in objs), per
    # ais job show through a node that did not start it: a row per target
    out = subprocess.run([os.path.join(BIN, "ais"), "job", "show", job], env=dict(os.environ, AIS_ENDPOINT=nodes[2].url),
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.decode().splitlines()[1:]]
    assert sorted(row[0] for row in rows) == IDS, out.stdout
    assert sum(int(row[3]) for row in rows) == N_OBJS
    # the destination exists everywhere
    for node in nodes:
        assert requests.head(f"{node.url}/v1/buckets/{dst}", timeout=5).status_code == 200


def test_etl_bck_md5_over_three_targets_gives_the_outputs_of_one_node(nodes):
    etl = init_md5_everywhere(nodes)
    src = new_bucket(nodes[0])
    objs = objects()
    put_objs(nodes, src, objs)
    dst = src + "-md5"
    r = requests.post(f"{nodes[2].url}/v1/buckets/{src}?bck_to={uname(dst)}",
                      json={"action": "etl-bck", "value": {"id": etl, "ext": {"bin": "md5"}}}, timeout=60)
    assert r.status_code == 200, r.text
    st = wait_job(nodes[0], r.text, timeout=JOB_TIMEOUT)
    assert st["err"] == "" and not st["aborted"], st
    want = {name[:-3] + "md5": hashlib.md5(data).hexdigest().encode() for name, data in objs.items()}
    assert_outputs(nodes, dst, want)
    assert st["objects"] == N_OBJS and st["bytes"] == 32 * N_OBJS
    # listed through another node: exactly those names, once each
    names = []
    token = ""
    while True:
        page = requests.get(f"{nodes[1].url}/v1/buckets/{dst}",
                            json={"action": "list", "value": {"continuation_token": token}}, timeout=30).json()
        names += [e["name"] for e in page["entries"]]
        token = page["continuation_token"]
        if not token:
            break
    assert names == sorted(want)


def test_an_unknown_etl_fails_the_start_at_once(nodes):
    src = new_bucket(nodes[0])
    put_objs(nodes, src, objects(30))
    r = requests.post(f"{nodes[0].url}/v1/buckets/{src}?bck_to={uname(src + '-x')}",
                      json={"action": "etl-bck", "value": {"id": "cj-nowhere"}}, timeout=60)
    assert r.status_code == 404 and "cj-nowhere" in r.text, r.text


def test_abort_through_another_node_stops_every_target(nodes):
    src = new_bucket(nodes[0])
    blob = os.urandom(128 * 1024)
    objs = {f"big/{k:04d}": blob for k in range(N_OBJS)}
    put_objs(nodes, src, objs)
    dst = src + "-abort"
    r = requests.post(f"{nodes[0].url}/v1/buckets/{src}?bck_to={uname(dst)}",
                      json={"action": "copy-bck", "value": {"num_workers": 1}}, timeout=60)
    assert r.status_code == 200, r.text
    job = r.text
    assert job_status(nodes[1], job)["end_time"] == 0, "the job ended before the abort: make it bigger"
    r = requests.put(f"{nodes[2].url}/v1/cluster", json={"action": "stop", "value": {"ID": job}}, timeout=40)
    assert r.status_code == 200, r.text
    st = wait_job(nodes[1], job, timeout=60)
    assert st["aborted"], st
    s = snaps(nodes[0], job)
    assert sorted(s) == IDS
    for tid, arr in s.items():
        assert arr[0]["aborted"] and arr[0]["end-time"], (tid, arr[0])
    copied = []
    for n in nodes:
        for mp in n.data:
            root = os.path.join(mp, "@ais", dst, "big")
            copied += os.listdir(root) if os.path.isdir(root) else []
    assert len(copied) < N_OBJS
    for n in nodes:  # only whole objects, on their owners
        for mp in n.data:
            root = os.path.join(mp, "@ais", dst, "big")
            for f in os.listdir(root) if os.path.isdir(root) else []:
                with open(os.path.join(root, f), "rb") as fh:
                    assert fh.read() == blob
    # an unknown job is 404 through any node
    r = requests.put(f"{nodes[1].url}/v1/cluster", json={"action": "stop", "value": {"ID": "nosuchjob"}}, timeout=40)
    assert r.status_code == 404


# --- multi-object copies


@pytest.mark.parametrize("template,pick", [
    ("d2/", lambda name: name.startswith("d2/")),
    ("d{0..4}/o-{0100..0299}.bin", lambda name: 100 <= int(name[5:9]) <= 299),
], ids=["prefix", "template"])
def test_multi_object_copy_over_three_targets(nodes, template, pick):
    src = new_bucket(nodes[0])
    objs = objects(400)
    put_objs(nodes, src, objs)
    dst = src + "-lr"
    r = requests.post(f"{nodes[2].url}/v1/buckets/{src}",
                      json={"action": "copy-listrange",
                            "value": {"template": template, "tobck": {"name": dst, "provider": "ais"}}}, timeout=60)
    assert r.status_code == 200, r.text
    job = r.text
    s = wait_idle(nodes[1], job)
    assert sorted(s) == IDS, s
    want = {name: data for name, data in objs.items() if pick(name)}
    assert want
    assert_outputs(nodes, dst, want)
    st = job_status(nodes[0], job)
    assert st["kind"] == "copy-listrange" and st["objects"] == len(want) and st["errors"] == 0, st


def test_listed_names_missing_are_errors_of_their_owner_only(nodes):
    src = new_bucket(nodes[0])
    objs = objects(30)
    put_objs(nodes, src, objs)
    names = sorted(objs)[:10] + ["no-such-object"]
    r = requests.post(f"{nodes[0].url}/v1/buckets/{src}",
                      json={"action": "copy-listrange",
                            "value": {"objnames": names, "tobck": {"name": src + "-l", "provider": "ais"}}},
                      timeout=60)
    assert r.status_code == 200, r.text
    wait_idle(nodes[0], r.text)
    st = job_status(nodes[1], r.text)
    assert st["objects"] == 10 and st["errors"] == 1, st
    assert "no-such-object" in st["err"] and st["err"].startswith(hrw_owner(IDS, src, "no-such-object") + ":")


# --- AIStore's SDK, through one node

SDK_CODE = '''
import sys
from aistore.sdk import Client
c = Client(sys.argv[1])
src, dst, dst2 = c.bucket(sys.argv[2]), c.bucket(sys.argv[3]), c.bucket(sys.argv[4])
job = src.copy(dst, prepend="s/")
res = c.job(job).wait(timeout=120, verbose=False)
st = c.job(job).status()
print("copy", st.end_time != 0, st.err == "", st.aborted)
job = src.objects(obj_template="d1/o-{0000..0599}.bin").copy(dst2)
c.job(job).wait_for_idle(timeout=120, verbose=False)
print("listrange", job)
'''


def test_sdk_waits_for_cluster_jobs_through_one_node(nodes):
    env = sdk_env()
    src = new_bucket(nodes[0])
    objs = objects(150)
    put_objs(nodes, src, objs)
    dst, dst2 = src + "-sdk", src + "-sdk2"
    r = subprocess.run([sys.executable, "-c", SDK_CODE, nodes[1].url, src, dst, dst2], env=env, capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "copy True True False", r.stdout
    assert lines[1].startswith("listrange "), r.stdout
    s = snaps(nodes[2], lines[1].split()[1])
    assert sorted(s) == IDS and all(arr[0]["is_idle"] for arr in s.values())
    assert_outputs(nodes, dst, {"s/" + n: d for n, d in objs.items()})
    assert_outputs(nodes, dst2, {n: d for n, d in objs.items() if n.startswith("d1/")})


# --- one object's copy (what the mount sends for a few files)


def test_a_single_object_copy_through_any_node_lands_on_the_copys_owner(nodes):
    src, dst = new_bucket(nodes[0]), new_bucket(nodes[0])
    objs = objects(12)
    put_objs(nodes, src, objs)
    want = {}
    for k, (name, data) in enumerate(objs.items()):
        node = nodes[k % 3]
        r = requests.post(f"{node.url}/v1/objects/{src}/{name}?bck_to={uname(dst)}",
                          json={"action": "copy-obj", "name": "x/" + name, "value": {"id": ""}}, timeout=30)
        assert r.status_code == 200 and int(r.headers["ais-size"]) == len(data), r.text
        want["x/" + name] = data
    etl = init_md5_everywhere(nodes)
    for k, (name, data) in enumerate(list(objs.items())[:6]):  # through an ETL: the output streams to its owner
        r = requests.post(f"{nodes[k % 3].url}/v1/objects/{src}/{name}?bck_to={uname(dst)}",
                          json={"action": "copy-obj", "name": "m/" + name, "value": {"id": etl}}, timeout=30)
        assert r.status_code == 200 and int(r.headers["ais-size"]) == 32, r.text
        want["m/" + name] = hashlib.md5(data).hexdigest().encode()
    assert_outputs(nodes, dst, want)


# --- the mount


def test_cp_r_through_a_mount_is_one_cluster_job_read_back_through_another_nodes_mount(nodes, tmp_path):
    from mount_fixtures import Mount

    src = new_bucket(nodes[0])
    objs = objects(200, prefix="m")
    put_objs(nodes, src, objs)
    dst = new_bucket(nodes[1])
    m2 = Mount(nodes[1], tmp_path / "m2")
    m1 = None
    try:
        before = m2.stats()
        subprocess.run(["cp", "-r", m2.path(src) + "/.", m2.path(dst)], check=True, timeout=300)
        subprocess.run(["sync", m2.path(dst)], check=True, timeout=300)
        after = m2.stats()
        assert after["copy_job_requests"] > before["copy_job_requests"]
        job = after["copy_job"]
        st = job_status(nodes[2], job)  # one id, known through another node
        assert st["kind"] == "copy-listrange" and st["errors"] == 0, st
        assert st["objects"] + after["single_copies"] - before["single_copies"] == len(objs)
        assert sorted(snaps(nodes[0], job)) == IDS
        assert_outputs(nodes, dst, objs)
        m1 = Mount(nodes[0], tmp_path / "m1")
        for name, data in objs.items():
            with open(m1.path(dst, name), "rb") as f:
                assert f.read() == data, name
        # and from one node's mount into another's: plain copies, on their owners too
        dst2 = new_bucket(nodes[2])
        subprocess.run(["cp", "-r", m1.path(src, "m1"), m2.path(dst2, "m1")], check=True, timeout=300)
        subprocess.run(["sync", m2.path(dst2)], check=True, timeout=300)
        assert_outputs(nodes, dst2, {n: d for n, d in objs.items() if n.startswith("m1/")})
    finally:
        assert m2.stop() == 0, m2.log_text()
        if m1:
            assert m1.stop() == 0, m1.log_text()


# --- a target that is down


def test_a_down_target_is_reported_failed_by_name_and_the_job_ends(etcd, tmp_path):
    ds = [member(str(tmp_path / f"d{i}"), etcd, "down", f"d{i}") for i in (1, 2, 3)]
    try:
        wait_for(lambda: all(len(requests.get(f"{d.url}/v1/daemon", params={"what": "smap"}, timeout=5)
                                 .json()["tmap"]) == 3 for d in ds), "3 targets")
        src = ds[0].create_bucket("dsrc")
        objs = objects(60)
        put_objs(ds, src, objs)
        ds[2].kill9()
        t0 = time.time()
        r = requests.post(f"{ds[0].url}/v1/buckets/{src}?bck_to={uname('ddst')}",
                          json={"action": "copy-bck", "value": {}}, timeout=60)
        assert r.status_code == 200, r.text
        st = wait_job(ds[1], r.text, timeout=60)
        assert time.time() - t0 < 60
        assert "d3" in st["err"] and st["errors"] > 0, st
        s = snaps(ds[0], r.text)
        assert s["d3"][0]["aborted"] and "d3" in s["d3"][0]["abort-err"], s
        # after its lease: still reported, by name, as not in the map
        wait_for(lambda: "d3" not in requests.get(f"{ds[0].url}/v1/daemon", params={"what": "smap"},
                                                  timeout=5).json()["tmap"], "d3 left", timeout=20)
        st = job_status(ds[1], r.text)
        assert "d3" in st["err"] and st["end_time"] != 0, st
    finally:
        for d in ds:
            d.stop()
