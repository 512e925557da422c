"""Shared by the cluster tests (test_cluster.py, test_cluster_rebalance.py,
test_cluster_jobs.py):
a real etcd (Debian's etcd-server) on free loopback ports, targets that join
it, their map, placement computed here as AIStore's HRW, and what each
target holds on its disks."""
import base64
import os
import shutil
import subprocess
import time

import pytest
import requests
import xxhash

import conftest
from conftest import Target, beside_project, free_port

ETCD = shutil.which("etcd")
SKIP_WITHOUT_ETCD = pytest.mark.skipif(
    ETCD is None, reason="LOUD SKIP: etcd is not installed (Debian's etcd-server; deploy/dev/deps.sh --test installs it)")

LEASE_TTL = 5  # cluster_member.c


class Etcd:
    """A one-member etcd on free loopback ports, its data in workdir."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port, self.peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self):
        peer_url = f"http://127.0.0.1:{self.peer}"
        self.log = open(os.path.join(self.workdir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "e2e", "--data-dir", os.path.join(self.workdir, "etcd"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"e2e={peer_url}"],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).json().get("health") == "true":
                    return
            except (requests.RequestException, ValueError):
                pass
            assert self.proc.poll() is None, "etcd exited; see etcd.log"
            time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


def member(workdir, etcd, cluster, node_id, extra=()):
    os.makedirs(workdir, exist_ok=True)
    return Target(workdir, mountpaths=1,
                  extra_args=["--etcd", etcd.url, "--cluster", cluster, "--id", node_id, *extra])


def start_nodes(etcd, base, cluster, ids, extra=()):
    """Targets with these ids joined in one cluster, once every one sees
    them all; extra: more flags for every target."""
    ts = [member(os.path.join(base, f"n{i}"), etcd, cluster, tid, extra) for i, tid in enumerate(ids, 1)]
    wait_for(lambda: all(len(smap(t)["tmap"]) == len(ids) for t in ts), f"every node sees {len(ids)} targets")
    return ts


def smap(node):
    r = requests.get(f"{node.url}/v1/daemon", params={"what": "smap"}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(cond, what, timeout=20):
    """Membership news travels through etcd's watch: 20 s unless told."""
    conftest.wait_for(cond, what, timeout)


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    e = Etcd(str(tmp_path_factory.mktemp("etcd")))
    yield e
    e.stop()


# --- placement as AIStore's (core/meta/hrw.go), computed here independently

MLCG32 = 1103515245
M64 = (1 << 64) - 1


def _xoshiro(seed):
    z = (seed + 0x9e3779b97f4a7c15) & M64
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    z = ((z ^ (z >> 31)) + 0x9e3779b97f4a7c15) & M64
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    z = ((z ^ (z >> 31)) * 5) & M64
    return ((((z << 7) | (z >> 57)) & M64) * 9) & M64


def hrw_owner(target_ids, bucket, obj):
    d = xxhash.xxh64(f"ais/@#/{bucket}/{obj}".encode(), seed=MLCG32).intdigest()
    return max(target_ids, key=lambda t: _xoshiro(xxhash.xxh64(t.encode(), seed=MLCG32).intdigest() ^ d))


def on_disk(node, bucket, obj):
    return any(os.path.isfile(os.path.join(mp, "@ais", bucket, obj)) for mp in node.data)


def etcd_keys(e, prefix):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    r = requests.post(f"{e.url}/v3/kv/range", timeout=5, json={
        "key": base64.b64encode(prefix.encode()).decode(), "range_end": base64.b64encode(end.encode()).decode()})
    return sorted(base64.b64decode(kv["key"]).decode() for kv in r.json().get("kvs", []))


@pytest.fixture(scope="module")
def nodes(etcd, tmp_path_factory):
    """Three targets, t1..t3, in cluster "e2e" of the module's etcd."""
    base = str(tmp_path_factory.mktemp("cluster"))
    ts = start_nodes(etcd, base, "e2e", ["t1", "t2", "t3"])
    yield ts
    for t in ts:
        assert t.stop() == 0, t.log_text()


_n = [0]


def new_bucket(node):
    _n[0] += 1
    name = f"cb-{os.getpid()}-{_n[0]}"
    node.create_bucket(name)
    return name


def sdk_env():
    """The environment that runs AIStore's SDK (exported by
    tests/e2e/test_sdk_acceptance.py); skips the test when it is not there."""
    cache = os.environ.get("AIS_SDK_CACHE") or os.path.join(os.environ.get("TMPDIR") or "/tmp", "etlfs-ais-sdk")
    sdks = [os.path.join(cache, d, "python") for d in (os.listdir(cache) if os.path.isdir(cache) else [])]
    sdks = [p for p in sdks if os.path.isdir(os.path.join(p, "aistore"))]
    if not sdks:
        pytest.skip(f"AIStore's SDK is not exported under {cache} (tests/e2e/test_sdk_acceptance.py exports it)")
    # msgspec: Debian has none; the acceptance harness ships a faithful shim
    shim = os.path.join(os.path.dirname(beside_project("ETLFS_SDK_ACCEPTANCE", "shared", "acceptance", "sdk",
                                                       "run.sh")), "shim")
    return dict(os.environ, PYTHONPATH=f"{sdks[0]}:{shim}")
