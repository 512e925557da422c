"""Membership changes in a cluster of real etlfs-targets over a real etcd: a
fourth target joins while clients read (rebalance moves about a quarter of
the objects, get-from-neighbour keeps every read whole), a target killed
with -9 (its objects answer 503 naming it at once, the others' still read;
restarted, it serves them again), etcd restarted under running targets, and
rename / copy of an object whose new name another target owns.
docs/cluster.md describes the design."""
import os
import random
import threading
import time

import requests

from cluster_fixtures import (LEASE_TTL, SKIP_WITHOUT_ETCD, Etcd, etcd, etcd_keys, hrw_owner,  # noqa: F401
                              member, on_disk, smap, wait_for)

pytestmark = SKIP_WITHOUT_ETCD


def start_cluster(base, etcd, cluster, ids):
    ts = [member(os.path.join(base, tid), etcd, cluster, tid) for tid in ids]
    wait_for(lambda: all(len(smap(t)["tmap"]) == len(ids) for t in ts), f"every node sees {len(ids)} targets")
    return ts


def stop_all(ts):
    for t in ts:
        assert t.stop() in (0, None), t.log_text()


def fill(nodes, ids, bucket, n, size=(200, 2000), seed=1):
    """n objects PUT straight to their HRW owners (no redirect to pay)."""
    rnd = random.Random(seed)
    objs = {f"d{k % 7}/obj-{k:05d}": rnd.randbytes(rnd.randint(*size)) for k in range(n)}
    sessions = {tid: requests.Session() for tid in ids}
    for name, data in objs.items():
        owner = hrw_owner(ids, bucket, name)
        r = sessions[owner].put(f"{nodes[ids.index(owner)].url}/v1/objects/{bucket}/{name}", data=data, timeout=30)
        assert r.status_code == 200, r.text
    return objs


def holders(nodes, ids, bucket, name):
    return [tid for tid, node in zip(ids, nodes) if on_disk(node, bucket, name)]


def job_status(node, job_id):
    r = requests.get(f"{node.url}/v1/cluster", params={"what": "status"}, json={"ID": job_id, "Kind": ""}, timeout=10)
    return r.json() if r.status_code == 200 else None


class Reader(threading.Thread):
    """Reads random objects through random nodes until told to stop, or a
    bound of reads or seconds; every failure is kept."""

    def __init__(self, nodes, bucket, objs, max_reads=20000, max_s=180):
        super().__init__(daemon=True)
        self.nodes, self.bucket, self.objs = nodes, bucket, objs
        self.max_reads, self.max_s = max_reads, max_s
        self.stop_ev = threading.Event()
        self.reads, self.failures = 0, []

    def run(self):
        rnd = random.Random(7)
        names = list(self.objs)
        sessions = [requests.Session() for _ in self.nodes]
        deadline = time.time() + self.max_s
        while not self.stop_ev.is_set() and self.reads < self.max_reads and time.time() < deadline:
            i = rnd.randrange(len(self.nodes))
            name = rnd.choice(names)
            try:
                r = sessions[i].get(f"{self.nodes[i].url}/v1/objects/{self.bucket}/{name}", timeout=30)
                if r.status_code != 200 or r.content != self.objs[name]:
                    self.failures.append((name, r.status_code, r.text[:200]))
            except requests.RequestException as e:
                self.failures.append((name, "exception", str(e)))
            self.reads += 1

    def finish(self):
        self.stop_ev.set()
        self.join(timeout=60)
        assert not self.is_alive()


def test_a_fourth_target_joins_during_reads_a_quarter_moves_and_nothing_fails_or_is_lost(etcd, tmp_path):
    ids = ["j1", "j2", "j3"]
    nodes = start_cluster(str(tmp_path), etcd, "rb-join", ids)
    newcomer = None
    try:
        bucket = nodes[0].create_bucket("rb")
        objs = fill(nodes, ids, bucket, 1500)
        reader = Reader(nodes, bucket, objs)
        reader.start()
        time.sleep(1)  # reads under way before the join
        newcomer = member(str(tmp_path / "j4"), etcd, "rb-join", "j4")
        all_ids, all_nodes = ids + ["j4"], nodes + [newcomer]
        wait_for(lambda: all(len(smap(t)["tmap"]) == 4 for t in all_nodes), "every node sees 4 targets")
        version = smap(nodes[0])["version"]
        moving = [name for name in objs if hrw_owner(all_ids, bucket, name) == "j4"]
        assert 0.15 < len(moving) / len(objs) < 0.35, len(moving)
        wait_for(lambda: all(holders(all_nodes, all_ids, bucket, n) == ["j4"] for n in moving),
                 "every object j4 owns is on j4 alone", timeout=150)
        time.sleep(1)  # more reads after the move
        reader.finish()
        assert reader.reads > 50, "the loop read while the target joined"
        assert reader.failures == [], reader.failures[:10]

        # afterwards: every object on its HRW owner only, none lost, none twice
        on = {tid: 0 for tid in all_ids}
        for name in objs:
            held = holders(all_nodes, all_ids, bucket, name)
            assert held == [hrw_owner(all_ids, bucket, name)], (name, held)
            on[held[0]] += 1
        assert sum(on.values()) == len(objs) and on["j4"] == len(moving), on
        s = requests.Session()
        for name, data in objs.items():
            r = s.get(f"{all_nodes[random.randrange(4)].url}/v1/objects/{bucket}/{name}", timeout=30)
            assert r.status_code == 200 and r.content == data, (name, r.status_code)

        # the job API: one rebalance per map version, its id the same on every
        # node, and every node answers the cluster's totals (cluster_jobs.c)
        job_id = f"g{version}"
        for node in all_nodes:
            wait_for(lambda: (job_status(node, job_id) or {}).get("end_time", "0") not in ("0", 0),
                     f"rebalance {job_id} ended on {node.url}", timeout=60)
            st = job_status(node, job_id)
            assert st["kind"] == "rebalance" and not st["aborted"] and st["errors"] == 0, st
            assert int(st["objects"]) == len(moving), (node.url, st["objects"], len(moving))
    finally:
        stop_all(nodes + ([newcomer] if newcomer else []))


def test_a_killed_target_503s_its_objects_at_once_naming_it_leaves_after_its_lease_and_serves_them_back(etcd, tmp_path):
    ids = ["k1", "k2", "k3"]
    nodes = start_cluster(str(tmp_path), etcd, "rb-kill", ids)
    try:
        bucket = nodes[0].create_bucket("kill")
        objs = fill(nodes, ids, bucket, 150)
        dead = [n for n in objs if hrw_owner(ids, bucket, n) == "k2"][:10]
        alive = [n for n in objs if hrw_owner(ids, bucket, n) != "k2"][:10]
        assert dead and alive
        nodes[1].kill9()
        killed = time.time()
        for name in dead:
            t0 = time.time()
            r = requests.get(f"{nodes[0].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert time.time() - t0 < 2, "answered at once, not after a hang"
            assert r.status_code == 503, (r.status_code, r.text)
            assert "k2" in r.text and nodes[1].url in r.text, r.text
        for name in alive:
            r = requests.get(f"{nodes[2].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.status_code == 200 and r.content == objs[name]
        assert time.time() - killed < LEASE_TTL, "all of this before the lease expired"
        # a listing cannot be whole without it: it says so, naming it
        r = requests.get(f"{nodes[0].url}/v1/buckets/{bucket}", json={"action": "list", "value": {}}, timeout=30)
        assert r.status_code == 503 and "k2" in r.text, r.text

        nodes[1].start()  # same id, same port, same disks
        wait_for(lambda: all("k2" in smap(t)["tmap"] for t in nodes), "k2 rejoined")
        for name in dead + alive:
            r = requests.get(f"{nodes[0].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.status_code == 200 and r.content == objs[name], (name, r.status_code, r.text, nodes[1].url)
        for name in objs:
            assert holders(nodes, ids, bucket, name) == [hrw_owner(ids, bucket, name)], name

        # killed for longer than its lease: it leaves the map; what is written
        # meanwhile lands on the others and moves to it when it is back
        nodes[1].kill9()
        wait_for(lambda: "k2" not in smap(nodes[0])["tmap"] and "k2" not in smap(nodes[2])["tmap"], "k2 left",
                 timeout=LEASE_TTL + 15)
        t0 = time.time()
        r = requests.get(f"{nodes[0].url}/v1/objects/{bucket}/{dead[0]}", timeout=10)
        assert r.status_code == 404 and time.time() - t0 < 2, "on k2's disks only, and k2 is gone"
        later = {f"later-{k}": os.urandom(400) for k in range(60)}
        for name, data in later.items():
            r = requests.put(f"{nodes[2].url}/v1/objects/{bucket}/{name}", data=data, timeout=10)
            assert r.status_code == 200, r.text
        objs.update(later)
        nodes[1].start()
        wait_for(lambda: all("k2" in smap(t)["tmap"] for t in nodes), "k2 back")
        wait_for(lambda: all(holders(nodes, ids, bucket, n) == [hrw_owner(ids, bucket, n)] for n in objs),
                 "everything on its owner again", timeout=60)
        assert any(hrw_owner(ids, bucket, n) == "k2" for n in later)
        for name, data in objs.items():
            r = requests.get(f"{nodes[0].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.status_code == 200 and r.content == data, (name, r.status_code)
    finally:
        stop_all(nodes)


def test_targets_serve_through_an_etcd_restart_re_register_and_move_nothing(tmp_path):
    e = Etcd(str(tmp_path))
    ids = ["e1", "e2", "e3"]
    nodes = start_cluster(str(tmp_path), e, "rb-etcd", ids)
    try:
        bucket = nodes[0].create_bucket("keep")
        objs = fill(nodes, ids, bucket, 60)
        e.stop()
        for node in nodes:
            assert sorted(smap(node)["tmap"]) == ids, "the map it has"
            for name in list(objs)[:20]:
                r = requests.get(f"{node.url}/v1/objects/{bucket}/{name}", timeout=10)
                assert r.status_code == 200 and r.content == objs[name]
        e.start()
        keys = [f"/etlfs/rb-etcd/targets/{t}" for t in ids]
        wait_for(lambda: etcd_keys(e, "/etlfs/rb-etcd/targets/") == keys, "all registered again",
                 timeout=LEASE_TTL + 20)
        # the watch is back: a bucket made on one node reaches the others
        nodes[2].create_bucket("after")
        wait_for(lambda: all(os.path.isdir(os.path.join(n.data[0], "@ais", "after")) for n in nodes),
                 "the new bucket on every node")
        for name, data in objs.items():
            r = requests.get(f"{nodes[1].url}/v1/objects/{bucket}/{name}", timeout=10)
            assert r.status_code == 200 and r.content == data
            assert holders(nodes, ids, bucket, name) == [hrw_owner(ids, bucket, name)], name
    finally:
        stop_all(nodes)
        e.stop()


def test_rename_and_copy_to_a_name_another_target_owns(etcd, tmp_path):
    ids = ["c1", "c2", "c3"]
    nodes = start_cluster(str(tmp_path), etcd, "rb-mv", ids)
    try:
        bucket = nodes[0].create_bucket("mv")
        data = os.urandom(5000)
        src = "src-obj"
        nodes[0].put(bucket, src, data)
        s_owner = hrw_owner(ids, bucket, src)
        new = next(f"renamed-{k}" for k in range(1000) if hrw_owner(ids, bucket, f"renamed-{k}") != s_owner)
        asked = nodes[ids.index(next(t for t in ids if t not in (s_owner, hrw_owner(ids, bucket, new))))]
        r = requests.patch(f"{nodes[ids.index(s_owner)].url}/v1/objects/{bucket}/{src}",
                           json={"action": "", "value": {"k": "v"}}, timeout=10)
        assert r.status_code == 200, r.text
        # asked of a node that holds neither: it goes to the source's owner, which sends it on
        r = requests.post(f"{asked.url}/v1/objects/{bucket}/{src}", json={"action": "rename-obj", "name": new},
                          timeout=30)
        assert r.status_code == 200, r.text
        assert holders(nodes, ids, bucket, new) == [hrw_owner(ids, bucket, new)]
        assert holders(nodes, ids, bucket, src) == []
        r = requests.get(f"{asked.url}/v1/objects/{bucket}/{new}", timeout=10)
        assert r.status_code == 200 and r.content == data
        assert r.headers.get("ais-custom-md") == "k=v", "custom metadata went along"
        assert requests.get(f"{asked.url}/v1/objects/{bucket}/{src}", timeout=10).status_code == 404

        owner = hrw_owner(ids, bucket, new)
        cp = next(f"copy-{k}" for k in range(1000) if hrw_owner(ids, bucket, f"copy-{k}") != owner)
        r = requests.post(f"{nodes[0].url}/v1/objects/{bucket}/{new}", json={"action": "copy-obj", "name": cp},
                          timeout=30)
        assert r.status_code == 200, r.text
        assert int(r.headers["ais-size"]) == len(data)
        assert holders(nodes, ids, bucket, cp) == [hrw_owner(ids, bucket, cp)]
        assert holders(nodes, ids, bucket, new) == [owner], "a copy leaves the source"
        assert requests.get(f"{nodes[2].url}/v1/objects/{bucket}/{cp}", timeout=10).content == data
    finally:
        stop_all(nodes)


def test_with_authentication_rebalance_and_get_from_neighbour_carry_tokens(etcd, tmp_path):
    from authtok import bearer, token
    from conftest import Target

    secret_file = tmp_path / "secret"
    secret_file.write_text("rebalance-secret")
    auth = bearer(token("rebalance-secret", user="admin", admin=True))

    def node(tid):
        os.makedirs(tmp_path / tid)
        return Target(str(tmp_path / tid), mountpaths=1, extra_args=[
            "--etcd", etcd.url, "--cluster", "rb-auth", "--id", tid, "--auth-secret-file", str(secret_file)])

    def targets(t):
        r = requests.get(f"{t.url}/v1/daemon", params={"what": "smap"}, headers=auth, timeout=5)
        assert r.status_code == 200, r.text
        return sorted(r.json()["tmap"])

    ids = ["a1", "a2"]
    nodes = [node(t) for t in ids]
    try:
        wait_for(lambda: all(targets(t) == ids for t in nodes), "both joined")
        r = requests.post(f"{nodes[0].url}/v1/buckets/sec", json={"action": "create-bck"}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        objs = {f"s-{k}": os.urandom(300 + k) for k in range(120)}
        for name, data in objs.items():
            owner = nodes[ids.index(hrw_owner(ids, "sec", name))]
            r = requests.put(f"{owner.url}/v1/objects/sec/{name}", data=data, headers=auth, timeout=10)
            assert r.status_code == 200, r.text
        nodes.append(node("a3"))
        ids.append("a3")
        # read through the newcomer at once what it now owns: what it lacks it
        # fetches with the client's token
        moving = [n for n in objs if hrw_owner(ids, "sec", n) == "a3"]
        assert moving
        for name in moving[:15]:
            r = requests.get(f"{nodes[2].url}/v1/objects/sec/{name}", headers=auth, timeout=30)
            assert r.status_code == 200 and r.content == objs[name], (name, r.status_code, r.text)
        # the rebalance's own requests carry a token the node signs
        wait_for(lambda: all(holders(nodes, ids, "sec", n) == ["a3"] for n in moving), "moved to a3", timeout=120)
        assert requests.get(f"{nodes[2].url}/v1/objects/sec/{moving[0]}", timeout=10).status_code == 401
    finally:
        stop_all(nodes)
