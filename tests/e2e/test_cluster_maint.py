"""Taking a target out of a cluster of real etlfs-targets over a real etcd, as
AIStore's cluster actions do (PUT /v1/cluster start-maintenance,
stop-maintenance, decommission-node, shutdown-node): its objects move to
their new owners while clients read, keep their version, checksum and
custom metadata, and come back when maintenance ends; a decommissioned
target leaves the map and ends. docs/cluster.md describes the design."""
import contextlib
import os
import random
import subprocess

import requests

from conftest import BIN

from cluster_fixtures import SKIP_WITHOUT_ETCD, etcd, etcd_keys, hrw_owner, on_disk, smap, wait_for  # noqa: F401
from test_cluster_rebalance import Reader, fill, holders, job_status, start_cluster, stop_all

pytestmark = SKIP_WITHOUT_ETCD

MAINT, DECOMM = 1 << 2, 1 << 3  # AIStore's Snode.Flags (core/meta/smap.go)


def node_action(node, action, **value):
    return requests.put(f"{node.url}/v1/cluster", json={"action": action, "value": value}, timeout=30)


def ais(node, *args):
    env = dict(os.environ, AIS_ENDPOINT=node.url)
    return subprocess.run([os.path.join(BIN, "ais"), *args], env=env, capture_output=True, timeout=60)


def flags(node, tid):
    return smap(node)["tmap"][tid]["flags"]


def meta(node, bucket, name):
    """What a client sees of an object through node: version, checksum and
    custom metadata."""
    r = requests.head(f"{node.url}/v1/objects/{bucket}/{name}", allow_redirects=True, timeout=30)
    assert r.status_code == 200, (name, r.status_code, r.text)
    return (r.headers.get("ais-version"), r.headers.get("ais-checksum-value"),
            sorted(r.headers.get("ais-custom-md", "").split(", ")))


def on_none_of(node, bucket, objs):
    return not any(on_disk(node, bucket, n) for n in objs)


def check_reads(nodes, bucket, objs, want_meta):
    s = requests.Session()
    for name, data in objs.items():
        for node in nodes:
            r = s.get(f"{node.url}/v1/objects/{bucket}/{name}", timeout=30)
            assert r.status_code == 200 and r.content == data, (name, node.url, r.status_code)
        for node in nodes:
            assert meta(node, bucket, name) == want_meta[name], (name, node.url)


@contextlib.contextmanager
def filled_cluster(tmp_path, etcd, name, ids, n):
    """A cluster of ids with n objects in bucket name (fill), stopped at the end."""
    nodes = start_cluster(str(tmp_path), etcd, f"mt-{name}", ids)
    try:
        bucket = nodes[0].create_bucket(name)
        yield nodes, bucket, fill(nodes, ids, bucket, n)
    finally:
        stop_all(nodes)


def test_maintenance_moves_a_targets_objects_during_reads_keeping_what_clients_see_and_stop_brings_them_back(
        etcd, tmp_path):
    ids = ["m1", "m2", "m3"]
    with filled_cluster(tmp_path, etcd, "maint", ids, 300) as (nodes, bucket, objs):
        rnd = random.Random(3)
        for name in rnd.sample(sorted(objs), 60):  # a second version, and custom metadata
            objs[name] = rnd.randbytes(len(objs[name]) + 1)
            r = requests.put(f"{nodes[0].url}/v1/objects/{bucket}/{name}", data=objs[name], timeout=30)
            assert r.status_code == 200, r.text
            r = requests.patch(f"{nodes[0].url}/v1/objects/{bucket}/{name}", timeout=30,
                               json={"value": {"origin": name, "kind": "v2"}})
            assert r.status_code == 200, r.text
        before = {name: meta(nodes[0], bucket, name) for name in objs}
        assert sum(v[0] == "2" for v in before.values()) == 60
        leaving = [n for n in objs if hrw_owner(ids, bucket, n) == "m2"]
        assert len(leaving) > 30 and all(on_disk(nodes[1], bucket, n) for n in leaving)

        reader = Reader(nodes, bucket, objs)
        reader.start()
        r = node_action(nodes[0], "start-maintenance", sid="m2")
        assert r.status_code == 200 and r.text.startswith("g"), r.text
        job_id = r.text
        for node in nodes:
            wait_for(lambda: flags(node, "m2") & MAINT, f"{node.url} shows m2 in maintenance")
            assert len(smap(node)["tmap"]) == 3  # still a member
        wait_for(lambda: on_none_of(nodes[1], bucket, objs), "none of the objects on m2's disks", timeout=150)
        reader.finish()
        assert reader.reads > 50, "the loop read while the objects moved"
        assert reader.failures == [], reader.failures[:10]
        # the answer named the rebalance that moved them: every one counted
        wait_for(lambda: (job_status(nodes[2], job_id) or {}).get("end_time", "0") not in ("0", 0),
                 f"rebalance {job_id} ended")
        st = job_status(nodes[2], job_id)
        assert st["kind"] == "rebalance" and st["errors"] == 0 and int(st["objects"]) == len(leaving), st

        # each object on its owner among the others alone, whole, as it was
        for name in objs:
            assert holders(nodes, ids, bucket, name) == [hrw_owner(["m1", "m3"], bucket, name)], name
        check_reads(nodes, bucket, objs, before)
        # a new object is placed among the others too
        r = requests.put(f"{nodes[1].url}/v1/objects/{bucket}/new-in-maint", data=b"x", timeout=30)
        assert r.status_code == 200 and not on_disk(nodes[1], bucket, "new-in-maint")
        objs["new-in-maint"] = b"x"
        before["new-in-maint"] = meta(nodes[0], bucket, "new-in-maint")

        # a restart keeps it in maintenance: it owns nothing still
        nodes[1].restart()
        for node in nodes:
            wait_for(lambda: flags(node, "m2") == MAINT and len(smap(node)["tmap"]) == 3,
                     f"{node.url} shows m2 back, in maintenance")
        r = requests.get(f"{nodes[1].url}/v1/objects/{bucket}/{leaving[0]}", allow_redirects=False, timeout=30)
        assert r.status_code == 307, r.status_code

        # twice is refused; a bad node or action is a clear 4xx
        r = node_action(nodes[2], "start-maintenance", sid="m2")
        assert r.status_code == 400 and "already in maintenance" in r.text, r.text
        r = node_action(nodes[0], "start-maintenance", sid="nosuch")
        assert r.status_code == 404 and "nosuch" in r.text, r.text
        r = node_action(nodes[0], "start-maintenance")
        assert r.status_code == 400 and "sid" in r.text, r.text
        r = node_action(nodes[0], "stop-maintenance", sid="m1")
        assert r.status_code == 400 and "not in maintenance" in r.text, r.text
        for act, opt in (("start-maintenance", "skip_rebalance"), ("decommission-node", "no_shutdown")):
            r = node_action(nodes[0], act, sid="m1", **{opt: True})  # parameters it cannot honour
            assert r.status_code == 400 and opt in r.text, r.text
        r = node_action(nodes[0], "start-maintenance-please", sid="m1")
        assert r.status_code == 400 and "invalid action" in r.text, r.text

        r = node_action(nodes[2], "stop-maintenance", sid="m2")
        assert r.status_code == 200, r.text
        for node in nodes:
            wait_for(lambda: flags(node, "m2") == 0, f"{node.url} shows m2 out of maintenance")
        back = [n for n in objs if hrw_owner(ids, bucket, n) == "m2"]
        assert len(back) > 30
        wait_for(lambda: all(holders(nodes, ids, bucket, n) == ["m2"] for n in back),
                 "every object m2 owns is back on m2 alone", timeout=150)
        check_reads(nodes, bucket, objs, before)


def test_decommission_moves_everything_then_the_target_leaves_the_map_and_ends_and_shutdown_stops_one(
        etcd, tmp_path):
    ids = ["d1", "d2", "d3"]
    with filled_cluster(tmp_path, etcd, "decomm", ids, 150) as (nodes, bucket, objs):
        before = {name: meta(nodes[0], bucket, name) for name in objs}
        assert any(on_disk(nodes[2], bucket, n) for n in objs)

        r = node_action(nodes[0], "decommission-node", sid="d3", rm_user_data=True)
        assert r.status_code == 200, r.text
        nodes[2].proc.wait(timeout=120)  # it ends by itself once its objects moved
        assert nodes[2].proc.returncode == 0, nodes[2].log_text()
        for node in nodes[:2]:
            wait_for(lambda: sorted(smap(node)["tmap"]) == ["d1", "d2"], f"{node.url} without d3")
        assert not any(os.listdir(os.path.join(mp, "@ais")) for mp in nodes[2].data
                       if os.path.isdir(os.path.join(mp, "@ais"))), "rm_user_data removed its objects"
        assert not [k for k in etcd_keys(etcd, "/etlfs/mt-decomm/") if "d3" in k]
        for name in objs:
            assert holders(nodes[:2], ids[:2], bucket, name) == [hrw_owner(ids[:2], bucket, name)], name
        check_reads(nodes[:2], bucket, objs, before)

        # through `ais`; the last target out of maintenance cannot go in
        r = ais(nodes[0], "cluster", "add-remove-nodes", "start-maintenance", "t[d2]")
        assert r.returncode == 0 and b"t[d2] is now in maintenance mode" in r.stdout, (r.stdout, r.stderr)
        assert flags(nodes[0], "d2") == MAINT
        r = ais(nodes[0], "show", "cluster")
        assert r.returncode == 0 and b"d2[x]" in r.stdout and b"d1[x]" not in r.stdout, r.stdout
        r = ais(nodes[0], "cluster", "add-remove-nodes", "decommission", "d1")
        assert r.returncode == 1 and b"last target" in r.stderr, (r.stdout, r.stderr)
        r = ais(nodes[0], "cluster", "add-remove-nodes", "stop-maintenance", "d2")
        assert r.returncode == 0 and b"t[d2] is now active" in r.stdout, (r.stdout, r.stderr)
        assert flags(nodes[0], "d2") == 0

        # shutdown-node through another node stops it as SIGTERM does: it leaves
        r = node_action(nodes[0], "shutdown-node", sid="d2")
        assert r.status_code == 200, r.text
        nodes[1].proc.wait(timeout=60)
        assert nodes[1].proc.returncode == 0, nodes[1].log_text()
        wait_for(lambda: sorted(smap(nodes[0])["tmap"]) == ["d1"], "d1 alone")
