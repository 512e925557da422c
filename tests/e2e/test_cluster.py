"""A cluster of real etlfs-targets with membership in a real etcd (Debian's
etcd-server, started here on free loopback ports): the map every node
answers, placement on the HRW owner, redirects followed by clients, buckets
made on one node and seen on all, listings across the cluster, and nodes
that leave (cleanly or killed). docs/cluster.md describes the design."""
import os
import socket
import subprocess
import sys
import time

import msgpack
import pytest
import requests
import xxhash

from cluster_fixtures import (LEASE_TTL, MLCG32, SKIP_WITHOUT_ETCD, Etcd, etcd, etcd_keys, hrw_owner,  # noqa: F401
                              member, new_bucket, nodes, on_disk, sdk_env, smap, wait_for)
from conftest import BIN, ROOT, Target, free_port

pytestmark = SKIP_WITHOUT_ETCD


# --- the map


def test_every_node_answers_the_same_smap_with_every_target(nodes):
    maps = [smap(t) for t in nodes]
    for m in maps:
        assert sorted(m["tmap"]) == ["t1", "t2", "t3"]
        assert m["uuid"] == maps[0]["uuid"] and m["version"] == maps[0]["version"]
        assert m["proxy_si"]["daemon_id"] == "pt1"  # the smallest id, on every node
        for tid, snode in m["tmap"].items():
            assert snode["daemon_type"] == "target"
            assert snode["id_digest"] == xxhash.xxh64(tid.encode(), seed=MLCG32).intdigest()
    urls = {snode["public_net"]["direct_url"] for snode in maps[0]["tmap"].values()}
    assert urls == {t.url for t in nodes}
    r = requests.get(f"{nodes[1].url}/v1/cluster", params={"what": "smap"}, timeout=5)
    assert sorted(r.json()["tmap"]) == ["t1", "t2", "t3"]


def test_ais_show_cluster_lists_every_target(nodes):
    env = dict(os.environ, AIS_ENDPOINT=nodes[2].url)
    r = subprocess.run([os.path.join(BIN, "ais"), "show", "cluster"], env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for tid in ("t1", "t2", "t3"):
        assert f"t[{tid}]" in out or tid in out, out


def test_sdk_sees_three_targets(nodes):
    env = sdk_env()
    code = ("import sys; from aistore.sdk import Client; "
            "m = Client(sys.argv[1]).cluster().get_info(); print(len(m.tmap), sorted(m.tmap))")
    r = subprocess.run([sys.executable, "-c", code, nodes[0].url],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[0] == "3", r.stdout


# --- placement and redirects


def test_put_through_any_node_lands_on_its_hrw_owner_and_reads_through_every_node(nodes):
    bucket = new_bucket(nodes[0])
    ids = [f"t{i}" for i in (1, 2, 3)]
    objs = {f"dir/obj-{k}": os.urandom(100 + k) for k in range(30)}
    for k, (name, data) in enumerate(objs.items()):
        r = requests.put(f"{nodes[k % 3].url}/v1/objects/{bucket}/{name}", data=data, timeout=10)
        assert r.status_code == 200, r.text
    owners = set()
    for name in objs:
        owner = hrw_owner(ids, bucket, name)
        owners.add(owner)
        held = [t for t, node in zip(ids, nodes) if on_disk(node, bucket, name)]
        assert held == [owner], (name, held, owner)
    assert owners == set(ids), "30 objects spread over all three targets"
    for node in nodes:
        for name, data in objs.items():
            r = requests.get(f"{node.url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.status_code == 200 and r.content == data, (node.url, name, r.status_code)
            assert requests.head(f"{node.url}/v1/objects/{bucket}/{name}", allow_redirects=True,
                                 timeout=10).status_code == 200


def test_a_non_owner_answers_307_to_the_owner_with_path_and_query(nodes):
    bucket = new_bucket(nodes[0])
    name = "a b/c"
    owner = hrw_owner(["t1", "t2", "t3"], bucket, name)
    other = next(n for n, tid in zip(nodes, ("t1", "t2", "t3")) if tid != owner)
    owner_node = nodes[int(owner[1]) - 1]
    r = requests.get(f"{other.url}/v1/objects/{bucket}/{name}", params={"latest": "true"}, allow_redirects=False,
                     timeout=5)
    assert r.status_code == 307
    assert r.headers["Location"] == f"{owner_node.url}/v1/objects/{bucket}/a%20b/c?latest=true"
    r = requests.get(f"{owner_node.url}/v1/objects/{bucket}/{name}", allow_redirects=False, timeout=5)
    assert r.status_code == 404, "the owner answers itself"


def test_delete_through_a_non_owner_removes_it_from_the_owner(nodes):
    bucket = new_bucket(nodes[0])
    nodes[1].put(bucket, "gone", b"x")
    owner = nodes[int(hrw_owner(["t1", "t2", "t3"], bucket, "gone")[1]) - 1]
    assert on_disk(owner, bucket, "gone")
    for node in nodes:
        if node is not owner:
            assert requests.delete(f"{node.url}/v1/objects/{bucket}/gone", timeout=5).status_code == 200
            break
    assert not on_disk(owner, bucket, "gone")
    assert requests.get(f"{nodes[2].url}/v1/objects/{bucket}/gone", timeout=5).status_code == 404


def test_ais_put_and_get_follow_the_redirect(nodes, tmp_path):
    bucket = new_bucket(nodes[0])
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(200_000))
    env = dict(os.environ, AIS_ENDPOINT=nodes[1].url)
    ais = os.path.join(BIN, "ais")
    names = [f"cli-{k}" for k in range(6)]
    for name in names:
        r = subprocess.run([ais, "put", str(src), f"ais://{bucket}/{name}"], env=env, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    for name in names:
        owner = nodes[int(hrw_owner(["t1", "t2", "t3"], bucket, name)[1]) - 1]
        assert on_disk(owner, bucket, name)
        out = tmp_path / f"out-{name}"
        env = dict(os.environ, AIS_ENDPOINT=nodes[2].url)
        r = subprocess.run([ais, "get", f"ais://{bucket}/{name}", str(out)], env=env, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("options", [(), ("fqn=off",)], ids=["fqn", "http"])
def test_a_mount_on_one_node_reads_and_writes_objects_every_target_owns(nodes, tmp_path, options):
    from mount_fixtures import Mount

    bucket = new_bucket(nodes[0])
    ids = ["t1", "t2", "t3"]
    objs = {f"m-{k}": os.urandom(5000 + k) for k in range(12)}
    for name, data in objs.items():
        nodes[1].put(bucket, name, data)
    m = Mount(nodes[0], tmp_path / "mnt", options=options)
    try:
        assert sorted(os.listdir(m.path(bucket))) == sorted(objs)
        for name, data in objs.items():
            with open(m.path(bucket, name), "rb") as f:
                assert f.read() == data, name
        written = {f"w-{k}": os.urandom(3000 + k) for k in range(9)}
        for name, data in written.items():
            with open(m.path(bucket, name), "wb") as f:
                f.write(data)
        os.sync()
        for name, data in written.items():
            owner = nodes[ids.index(hrw_owner(ids, bucket, name))]
            assert on_disk(owner, bucket, name), name
            r = requests.get(f"{nodes[2].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.content == data
    finally:
        assert m.stop() == 0, m.log_text()


# --- buckets


def bucket_dir(node, bucket):
    return os.path.isdir(os.path.join(node.data[0], "@ais", bucket))


def listed_buckets(node):
    r = requests.get(f"{node.url}/v1/buckets", json={"action": "list"}, timeout=5)
    assert r.status_code == 200, r.text
    return {b["name"] for b in r.json()}


def test_a_bucket_made_on_one_node_exists_on_every_node_and_a_destroy_on_another_removes_it(nodes):
    bucket = new_bucket(nodes[0])
    for node in nodes:
        assert bucket in listed_buckets(node)
        assert requests.head(f"{node.url}/v1/buckets/{bucket}", timeout=5).status_code == 200
    wait_for(lambda: all(bucket_dir(n, bucket) for n in nodes), "the bucket's directory on every node")
    r = requests.post(f"{nodes[2].url}/v1/buckets/{bucket}", json={"action": "create-bck"}, timeout=5)
    assert r.status_code == 409, "made once, cluster-wide"
    nodes[0].put(bucket, "o", b"data")
    r = requests.delete(f"{nodes[1].url}/v1/buckets/{bucket}", json={"action": "destroy-bck"}, timeout=5)
    assert r.status_code == 200, r.text
    wait_for(lambda: not any(bucket_dir(n, bucket) for n in nodes), "the bucket gone from every node")
    for node in nodes:
        assert bucket not in listed_buckets(node)
        assert requests.head(f"{node.url}/v1/buckets/{bucket}", timeout=5).status_code == 404
    r = requests.delete(f"{nodes[2].url}/v1/buckets/{bucket}", json={"action": "destroy-bck"}, timeout=5)
    assert r.status_code == 404


# --- list-objects across the cluster


def list_all(node, bucket, pagesize, fmt="json", **value):
    names, token, pages = [], "", 0
    while True:
        msg = {"action": "list", "value": {"pagesize": pagesize, "continuation_token": token, **value}}
        headers = {"Accept": "application/msgpack"} if fmt == "msgpack" else {}
        r = requests.get(f"{node.url}/v1/buckets/{bucket}", json=msg, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        if fmt == "msgpack":
            page = msgpack.unpackb(r.content)
            entries, token = page["Entries"], page["ContinuationToken"]
            names += [e["n"] for e in entries]
        else:
            page = r.json()
            entries, token = page["entries"], page["continuation_token"]
            names += [e["name"] for e in entries]
        assert len(entries) <= pagesize
        pages += 1
        assert pages < 100, "the listing ends"
        if not token:
            return names, pages


def test_a_listing_through_any_node_has_every_object_once_in_order_page_by_page(nodes):
    bucket = new_bucket(nodes[0])
    objs = sorted([f"d{k % 4}/obj-{k:03d}" for k in range(40)] + ["top-a", "top-b"])
    for k, name in enumerate(objs):
        nodes[k % 3].put(bucket, name, name.encode())
    holders = {sum(on_disk(n, bucket, o) for o in objs) for n in nodes}
    assert 0 not in holders, "every target holds some of them"
    for node in nodes:
        names, pages = list_all(node, bucket, 7)
        assert names == objs and pages == 6, (node.url, pages)
        names, _ = list_all(node, bucket, 5, fmt="msgpack")
        assert names == objs
    names, _ = list_all(nodes[1], bucket, 1000, prefix="d2/")
    assert names == [o for o in objs if o.startswith("d2/")]
    # a directory lives on every target: listed once
    names, _ = list_all(nodes[2], bucket, 3, flags=str(1 << 11))
    assert names == ["d0", "d1", "d2", "d3", "top-a", "top-b"], names


# --- membership changes


def test_a_killed_target_leaves_the_map_within_the_lease_and_a_stopped_one_at_once(etcd, nodes, tmp_path):
    a = member(str(tmp_path / "a"), etcd, "e2e", "t4")
    b = member(str(tmp_path / "b"), etcd, "e2e", "t5")
    try:
        wait_for(lambda: {"t4", "t5"} <= set(smap(nodes[0])["tmap"]), "t4 and t5 joined")
        version = int(smap(nodes[0])["version"])
        a.kill9()
        t0 = time.time()
        wait_for(lambda: "t4" not in smap(nodes[0])["tmap"], "the killed t4 left", timeout=LEASE_TTL + 10)
        assert time.time() - t0 < LEASE_TTL + 10
        assert int(smap(nodes[0])["version"]) > version, "a leave is a new map version"
        assert b.stop() == 0, b.log_text()
        # a clean exit revokes the lease: no TTL to wait for
        wait_for(lambda: "t5" not in smap(nodes[2])["tmap"], "the stopped t5 left", timeout=3)
        assert sorted(smap(nodes[1])["tmap"]) == ["t1", "t2", "t3"]
    finally:
        a.stop()
        b.stop()


def test_a_second_node_with_a_live_id_is_refused(etcd, nodes, tmp_path):
    with pytest.raises(RuntimeError, match="taken by"):
        member(str(tmp_path / "dup"), etcd, "e2e", "t2")
    assert smap(nodes[0])["tmap"]["t2"]["public_net"]["direct_url"] == nodes[1].url


def free_run(n):
    """n consecutive ports on loopback that are free now (cluster.sh counts up from the first)."""
    for _ in range(100):
        base = free_port()
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def test_cluster_sh_starts_etcd_and_n_targets_and_stops_them(tmp_path):
    script = os.path.join(ROOT, "deploy", "local", "cluster.sh")
    # etcd's two ports and the targets' two, in runs that cannot overlap
    ports = free_run(4)
    env = dict(os.environ, ETLFS_BUILD=os.path.dirname(BIN), ETLFS_PORT=str(ports + 2),
               ETCD_PORT=str(ports), ETCD_PEER_PORT=str(ports + 1), ETLFS_CLUSTER="sh")
    r = subprocess.run([script, "2", str(tmp_path / "c")], env=env, capture_output=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        urls = [line.split()[1] for line in out.splitlines() if line.startswith("  t")]
        assert len(urls) == 2, out
        m = requests.get(f"{urls[1]}/v1/daemon", params={"what": "smap"}, timeout=5).json()
        assert sorted(m["tmap"]) == ["t1", "t2"]
    finally:
        r = subprocess.run([script, "stop", str(tmp_path / "c")], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0 and b"stopped" in r.stdout, r.stderr
    with pytest.raises(requests.RequestException):
        requests.get(f"{urls[0]}/v1/health", timeout=2)


def test_without_etcd_reachable_a_target_does_not_start(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match="cannot join cluster"):
        Target(str(tmp_path), mountpaths=1, extra_args=["--etcd", dead])


def test_targets_serve_on_through_an_etcd_restart_and_register_again(tmp_path):
    e = Etcd(str(tmp_path))
    a = member(str(tmp_path / "a"), e, "restart", "r1")
    b = member(str(tmp_path / "b"), e, "restart", "r2")
    try:
        wait_for(lambda: len(smap(a)["tmap"]) == 2 and len(smap(b)["tmap"]) == 2, "both joined")
        bucket = a.create_bucket("keep")
        objs = {f"o-{k}": os.urandom(1000 + k) for k in range(10)}
        for name, data in objs.items():
            a.put(bucket, name, data)
        e.stop()
        for node in (a, b):
            assert sorted(smap(node)["tmap"]) == ["r1", "r2"], "the map it has"
            for name, data in objs.items():
                assert requests.get(f"{node.url}/v1/objects/{bucket}/{name}", timeout=10).content == data
        r = requests.post(f"{a.url}/v1/buckets/new", json={"action": "create-bck"}, timeout=15)
        assert r.status_code == 503, r.text
        e.start()
        wait_for(lambda: etcd_keys(e, "/etlfs/restart/targets/") == ["/etlfs/restart/targets/r1",
                                                                    "/etlfs/restart/targets/r2"],
                 "both registered", timeout=LEASE_TTL + 15)
        r = requests.post(f"{b.url}/v1/buckets/new", json={"action": "create-bck"}, timeout=15)
        assert r.status_code == 200, r.text
        wait_for(lambda: bucket_dir(a, "new"), "the watch is back: the bucket reaches the other node")
        for name, data in objs.items():
            assert requests.get(f"{b.url}/v1/objects/{bucket}/{name}", timeout=10).content == data
    finally:
        assert a.stop() == 0, a.log_text()
        assert b.stop() == 0, b.log_text()
        e.stop()
