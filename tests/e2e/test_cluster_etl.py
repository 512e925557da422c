"""ETL on every target of a cluster (real etlfs-targets over a real etcd):
an ETL initialised on one node runs on all, lists the same from any node,
transforms inline on each object's owner through any node (REST and the
mount), is stopped, started and deleted everywhere from any node, and is
started by a target that joins or restarts later. docs/cluster.md."""
import hashlib
import os
import time

import pytest
import requests

from cluster_fixtures import SKIP_WITHOUT_ETCD, etcd, etcd_keys, hrw_owner, member, start_nodes, wait_for  # noqa: F401
from test_etl_api import etl_pids, init_code, message, wait_gone
from test_etl_v5 import init_runtime

pytestmark = SKIP_WITHOUT_ETCD

CLUSTER = "etl"
NAME = "etl-cl-md5"
KEY = f"/etlfs/{CLUSTER}/etl/{NAME}"


@pytest.fixture(scope="module")
def nodes(etcd, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("cluster-etl"))
    ts = start_nodes(etcd, base, CLUSTER, ["t1", "t2", "t3"])
    yield ts
    for t in ts:
        assert t.stop() == 0, t.log_text()


@pytest.fixture(scope="module")
def data(nodes):
    nodes[0].create_bucket("src")
    objs = {f"obj-{i}": os.urandom(1000 + 37 * i) for i in range(12)}
    for name, body in objs.items():
        nodes[0].put("src", name, body)
    return objs


def listing(node, **params):
    r = requests.get(f"{node.url}/v1/etl", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def stage_everywhere(nodes, stage):
    """Every node lists NAME in stage, with every target in it."""
    for n in nodes:
        rows = [e for e in listing(n, all="true") if e["id"] == NAME]
        if len(rows) != 1 or rows[0]["stage"] != stage:
            return False
        if sorted(t["target_id"] for t in rows[0]["targets"]) != ["t1", "t2", "t3"]:
            return False
        if any(t["stage"] != stage for t in rows[0]["targets"]):
            return False
    return True


def wait_pids(node, present, within=30):
    wait_for(lambda: bool(etl_pids(node)) == present, f"ETL processes {'up' if present else 'gone'} on {node.url}",
             timeout=within)


def test_init_on_one_node_runs_on_every_node(nodes, etcd):
    r = init_code(nodes[0], NAME)
    assert r.status_code == 200, r.text
    assert r.text.startswith("etl-")
    states = r.headers.get("Ais-Etlfs-Etl-Targets", "")
    assert all(f"{t}=" in states for t in ("t1", "t2", "t3")), states
    assert etcd_keys(etcd, f"/etlfs/{CLUSTER}/etl/") == [KEY]
    wait_for(lambda: stage_everywhere(nodes, "Running"), "every node lists it running on every target", timeout=60)
    for n in nodes:
        # v3.22's list (running ETLs only) and the instance behind it
        assert [e["id"] for e in listing(n)] == [NAME]
        wait_pids(n, True)


def test_duplicate_init_refused(nodes):
    before = [sorted(etl_pids(n)) for n in nodes]
    r = init_code(nodes[2], NAME)
    assert r.status_code == 400, r.text
    assert f"etl[{NAME}] already exists" in message(r)
    assert [sorted(etl_pids(n)) for n in nodes] == before


def test_bad_message_refused_before_etcd(nodes, etcd):
    r = requests.put(f"{nodes[1].url}/v1/etl", json={"id": "etl-bad", "communication": "hpush://"}, timeout=30)
    assert r.status_code == 400, r.text
    assert etcd_keys(etcd, f"/etlfs/{CLUSTER}/etl/") == [KEY]


def test_inline_through_every_node_matches_one_node(nodes, data, target):
    """The same bytes as the same ETL on a target alone, through any node."""
    target.create_bucket("src")
    assert init_code(target, NAME).status_code == 200
    ids = ["t1", "t2", "t3"]
    owners = set()
    for name, body in data.items():
        target.put("src", name, body)
        single = target.get("src", name, etl_name=NAME)
        assert single.status_code == 200, single.text
        assert single.content == hashlib.md5(body).hexdigest().encode()
        owners.add(hrw_owner(ids, "src", name))
        for n in nodes:
            g = n.get("src", name, etl_name=NAME)
            assert g.status_code == 200, (n.url, name, g.text)
            assert g.content == single.content, (n.url, name)
    assert len(owners) > 1  # the objects are spread: some transforms ran on other targets
    rows = [e for e in listing(nodes[1]) if e["id"] == NAME]
    assert rows[0]["obj_count"] >= len(data) * len(nodes)  # summed over the targets


def test_non_owner_redirects_with_the_query(nodes, data):
    ids = ["t1", "t2", "t3"]
    name = next(iter(data))
    owner = hrw_owner(ids, "src", name)
    other = next(n for i, n in zip(ids, nodes) if i != owner)
    r = requests.get(f"{other.url}/v1/objects/src/{name}", params={"etl_name": NAME}, allow_redirects=False,
                     timeout=30)
    assert r.status_code == 307, r.text
    loc = r.headers["Location"]
    assert loc.startswith(nodes[ids.index(owner)].url + f"/v1/objects/src/{name}?"), loc
    assert f"etl_name={NAME}" in loc


def test_mount_reads_transformed_through_any_node(nodes, data, tmp_path):
    from mount_fixtures import Mount
    m = Mount(nodes[1], tmp_path / "mnt")
    try:
        for name, body in data.items():
            with open(m.path(f"@{NAME}", "src", name), "rb") as f:
                assert f.read() == hashlib.md5(body).hexdigest().encode(), name
    finally:
        assert m.stop() == 0, m.log_text()


def test_details_health_metrics_logs_per_target(nodes):
    url = f"{nodes[2].url}/v1/etl/{NAME}"
    health = requests.get(url + "/health", timeout=30).json()
    assert sorted((h["target_id"], h["health_status"]) for h in health) == [
        ("t1", "Running"), ("t2", "Running"), ("t3", "Running")]
    metrics = requests.get(url + "/metrics", timeout=30).json()
    assert sorted(m["target_id"] for m in metrics) == ["t1", "t2", "t3"]
    logs = requests.get(url + "/logs", timeout=30).json()
    assert sorted(lg["target_id"] for lg in logs) == ["t1", "t2", "t3"]
    one = requests.get(url + "/logs/t1", timeout=30).json()
    assert [lg["target_id"] for lg in one] == ["t1"]
    details = requests.get(url, params={"uuid": ""}, timeout=30).json()
    assert details["init_msg"]["id"] == NAME and details["obj_errors"] == []
    show = requests.get(url, timeout=30).json()
    assert show["status"] == "running" and show["communication"] == "hpush://"


def test_runtime_spec_init_of_aistore_5(nodes, data, etcd):
    """AIStore 5.0's dialect (runtime spec) the same way: on one node, on all."""
    name = "etl-cl-v5md5"
    r = init_runtime(nodes[1], name, "aistorage/transformer_md5:latest", init_timeout="20s")
    assert r.status_code == 200, r.text
    try:
        for obj, body in list(data.items())[:4]:
            for n in nodes:
                g = n.get("src", obj, etl_name=name)
                assert g.status_code == 200 and g.content == hashlib.md5(body).hexdigest().encode(), (n.url, obj)
        for n in nodes:
            rows = {e["id"]: e for e in listing(n, all="true")}
            assert rows[name]["stage"] == "Running"
            assert sorted(t["target_id"] for t in rows[name]["targets"]) == ["t1", "t2", "t3"]
        shown = requests.get(f"{nodes[2].url}/v1/etl/{name}", params={"uuid": ""}, timeout=30).json()
        assert shown["init_msg"]["runtime"]["image"] == "aistorage/transformer_md5:latest"
    finally:
        assert requests.delete(f"{nodes[0].url}/v1/etl/{name}", timeout=120).status_code == 200
    assert etcd_keys(etcd, f"/etlfs/{CLUSTER}/etl/") == [KEY]


def test_stop_on_one_node_stops_all_then_start_on_another(nodes, data):
    r = requests.post(f"{nodes[1].url}/v1/etl/{NAME}/stop", timeout=120)
    assert r.status_code == 200, r.text
    wait_for(lambda: stage_everywhere(nodes, "Aborted"), "stopped on every target")
    for n in nodes:
        assert listing(n) == []  # v3.22: running ones only
        wait_pids(n, False)
    name = next(iter(data))
    assert nodes[0].get("src", name, etl_name=NAME).status_code == 404
    r = requests.post(f"{nodes[1].url}/v1/etl/{NAME}/stop", timeout=30)
    assert r.status_code == 400 and "is not running" in message(r)

    r = requests.post(f"{nodes[2].url}/v1/etl/{NAME}/start", timeout=120)
    assert r.status_code == 200, r.text
    assert r.text.startswith("etl-")
    wait_for(lambda: stage_everywhere(nodes, "Running"), "running again on every target", timeout=60)
    for n in nodes:
        g = n.get("src", name, etl_name=NAME)
        assert g.status_code == 200 and g.content == hashlib.md5(data[name]).hexdigest().encode()


def test_restarted_target_runs_it_again(nodes):
    nodes[1].restart()
    wait_pids(nodes[1], True)
    wait_for(lambda: stage_everywhere(nodes, "Running"), "running on the restarted target too", timeout=60)


SHA1_CODE = """
import hashlib
def transform(data):
    return hashlib.sha1(data).hexdigest().encode()
"""


def test_defined_again_while_a_target_was_down(nodes, data):
    """A target that missed a delete and a new init of the same name runs the
    new definition when it comes back, not the one it kept."""
    down = nodes[2]
    down.stop()
    try:
        assert requests.delete(f"{nodes[0].url}/v1/etl/{NAME}", timeout=120).status_code == 200
        r = init_code(nodes[0], NAME, code=SHA1_CODE)
        assert r.status_code == 200, r.text
    finally:
        down.start()
    wait_for(lambda: stage_everywhere(nodes, "Running"), "running again on every target", timeout=60)
    for obj, body in data.items():
        g = down.get("src", obj, etl_name=NAME)
        assert g.status_code == 200 and g.content == hashlib.sha1(body).hexdigest().encode(), obj


def test_target_started_after_init_runs_it(nodes, etcd, tmp_path):
    late = member(str(tmp_path / "late"), etcd, CLUSTER, "t4")
    try:
        wait_pids(late, True, within=60)

        def t4_running():
            rows = [e for e in listing(nodes[0], all="true") if e["id"] == NAME]
            return rows and any(t["target_id"] == "t4" and t["stage"] == "Running" for t in rows[0]["targets"])
        wait_for(t4_running, "the late target's instance listed running", timeout=60)
        pids = etl_pids(late)
    finally:
        assert late.stop() == 0, late.log_text()
    assert wait_gone(pids)  # a target that leaves stops its instances


def test_delete_on_one_node_removes_everywhere(nodes, etcd):
    r = requests.delete(f"{nodes[2].url}/v1/etl/{NAME}", timeout=120)
    assert r.status_code == 200, r.text
    assert etcd_keys(etcd, f"/etlfs/{CLUSTER}/etl/") == []
    for n in nodes:
        wait_for(lambda: listing(n, all="true") == [], f"{n.url} lists nothing")
        wait_pids(n, False)
        g = requests.get(f"{n.url}/v1/etl/{NAME}", timeout=30)
        assert g.status_code == 404 and f"etl job {NAME} does not exist" in message(g)
    assert requests.delete(f"{nodes[0].url}/v1/etl/{NAME}", timeout=30).status_code == 404


def test_failed_init_leaves_nothing(nodes, etcd):
    r = init_code(nodes[0], "etl-cl-syntax", code="def transform(data)\n    return data\n")
    assert 400 <= r.status_code < 600
    assert "SyntaxError" in message(r)
    assert etcd_keys(etcd, f"/etlfs/{CLUSTER}/etl/") == []
    for n in nodes:
        wait_for(lambda: listing(n, all="true") == [], f"{n.url} lists nothing")
        wait_pids(n, False)

