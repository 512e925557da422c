"""Bucket summary, multi-object delete, archive and promote through one node
of a 3-target cluster (real etcd): each covers the objects of every target,
not only the node asked's. docs/cluster.md says what fans out."""
import io
import os
import tarfile
import time

import pytest
import requests

from cluster_fixtures import SKIP_WITHOUT_ETCD, etcd, hrw_owner, new_bucket, on_disk, start_nodes  # noqa: F401

pytestmark = SKIP_WITHOUT_ETCD

IDS = ["t1", "t2", "t3"]
JOB_TIMEOUT = 60


@pytest.fixture(scope="module")
def promote_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("promote"))


@pytest.fixture(scope="module")
def nodes(etcd, tmp_path_factory, promote_root):  # noqa: F811
    base = str(tmp_path_factory.mktemp("cluster"))
    ts = start_nodes(etcd, base, "multiobj", IDS, extra=["--promote-root", promote_root])
    yield ts
    for t in ts:
        assert t.stop() == 0, t.log_text()


def owner(nodes, bucket, name):
    return nodes[IDS.index(hrw_owner(IDS, bucket, name))]


def put_spread(nodes, bucket, n):
    """At least n objects of different sizes, put through one node: more
    names while a target owns none of them (HRW hashes the bucket's name
    too, so which target owns "o-000" changes from run to run)."""
    names = [f"o-{i:03d}" for i in range(n)]
    while len({hrw_owner(IDS, bucket, name) for name in names}) < len(IDS) and len(names) < 200:
        names.append(f"o-{len(names):03d}")
    objs = {name: os.urandom(100 + 7 * i) for i, name in enumerate(names)}
    for name, data in objs.items():
        r = requests.put(f"{nodes[0].url}/v1/objects/{bucket}/{name}", data=data, timeout=30)
        assert r.status_code == 200, r.text
    for t in nodes:
        assert any(on_disk(t, bucket, name) for name in objs), f"target {t.url} holds none of them"
    return objs


def summary(node, bucket):
    u = f"{node.url}/v1/buckets/{bucket}"
    value = {"uuid": "", "prefix": ""}
    r = requests.get(u, json={"action": "summary-bck", "name": "", "value": value}, timeout=30)
    assert r.status_code == 202, r.text
    value["uuid"] = r.text.strip().strip('"')
    r = requests.get(u, json={"action": "summary-bck", "name": "", "value": value}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()[0]


def wait_job(node, job_id):
    deadline = time.time() + JOB_TIMEOUT
    while time.time() < deadline:
        r = requests.get(f"{node.url}/v1/cluster", params={"what": "status"}, json={"ID": job_id, "Kind": ""},
                         timeout=40)
        assert r.status_code == 200, r.text
        if r.json()["end_time"] != 0:
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT}s")


def test_summary_sums_every_target(nodes):
    bucket = new_bucket(nodes[0])
    objs = put_spread(nodes, bucket, 30)
    sizes = [len(d) for d in objs.values()]
    for node in nodes:  # the same sums through any node
        s = summary(node, bucket)
        assert s["ObjCount"]["obj_count_present"] == str(len(objs))
        assert s["TotalSize"]["size_all_present_objs"] == str(sum(sizes))
        assert s["ObjSize"]["obj_min_size"] == min(sizes)
        assert s["ObjSize"]["obj_max_size"] == max(sizes)
        assert s["ObjSize"]["obj_avg_size"] == sum(sizes) // len(sizes)


def test_delete_listrange_deletes_on_every_target(nodes):
    bucket = new_bucket(nodes[0])
    objs = put_spread(nodes, bucket, 30)
    r = requests.delete(f"{nodes[1].url}/v1/buckets/{bucket}", timeout=30,
                        json={"action": "delete-listrange", "name": "", "value": {"template": "o-{000..019}"}})
    assert r.status_code == 200, r.text
    st = wait_job(nodes[2], r.text)  # one job id, asked through another node
    assert st["err"] == "" and st["objects"] == 20, st
    for name in objs:
        gone = name < "o-020"
        assert not any(on_disk(t, bucket, name) for t in nodes) == gone, name
    # by list: a name that does not exist is an error of its owner's share only
    left = [n for n in objs if n >= "o-020"]
    r = requests.delete(f"{nodes[0].url}/v1/buckets/{bucket}", timeout=30,
                        json={"action": "delete-listrange", "name": "", "value": {"objnames": left + ["nope"]}})
    assert r.status_code == 200, r.text
    st = wait_job(nodes[0], r.text)
    assert st["objects"] == len(left), st
    assert st["err"].count("nope") == 1, st
    assert not any(on_disk(t, bucket, n) for t in nodes for n in objs)


def test_archive_gathers_members_from_their_owners(nodes):
    bucket = new_bucket(nodes[0])
    objs = put_spread(nodes, bucket, 12)
    names = sorted(objs)
    dst = new_bucket(nodes[0])
    archname = "all.tar"
    r = requests.put(f"{nodes[1].url}/v1/buckets/{bucket}", timeout=30,
                     json={"action": "archive", "name": "",
                           "value": {"objnames": names, "archname": archname, "tobck": {"name": dst, "provider": "ais"}}})
    assert r.status_code == 200, r.text
    st = wait_job(nodes[2], r.text)
    assert st["err"] == "" and st["objects"] == len(names), st
    # written once, by its owner
    assert [on_disk(t, dst, archname) for t in nodes] == [t is owner(nodes, dst, archname) for t in nodes]
    data = requests.get(f"{nodes[0].url}/v1/objects/{dst}/{archname}", timeout=30).content
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == names
        for n in names:
            assert tf.extractfile(n).read() == objs[n]


def test_archive_by_prefix_takes_every_targets_objects(nodes):
    bucket = new_bucket(nodes[0])
    objs = put_spread(nodes, bucket, 12)
    requests.put(f"{nodes[0].url}/v1/objects/{bucket}/other", data=b"not under the prefix", timeout=30)
    r = requests.put(f"{nodes[2].url}/v1/buckets/{bucket}", timeout=30,
                     json={"action": "archive", "name": "", "value": {"template": "o-", "archname": "pre.tar"}})
    assert r.status_code == 200, r.text
    st = wait_job(nodes[0], r.text)
    assert st["err"] == "" and st["objects"] == len(objs), st
    data = requests.get(f"{nodes[1].url}/v1/objects/{bucket}/pre.tar", timeout=30).content
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert sorted(tf.getnames()) == sorted(objs)
        for n in objs:
            assert tf.extractfile(n).read() == objs[n]


def test_promote_sends_each_file_to_its_owner(nodes, promote_root):
    bucket = new_bucket(nodes[0])
    src = os.path.join(promote_root, "files")
    os.makedirs(os.path.join(src, "sub"))
    files = {f"f{i}": b"first %d" % i for i in range(12)}
    files.update({f"sub/g{i}": b"inner %d" % i for i in range(6)})
    for rel, data in files.items():
        with open(os.path.join(src, rel), "wb") as f:
            f.write(data)

    def promote(**flags):
        r = requests.post(f"{nodes[0].url}/v1/objects/{bucket}", timeout=60,
                          json={"action": "promote", "name": src, "value": {"src": src, "obj": "p/", **flags}})
        assert r.status_code == 200, r.text

    promote(rcr=True)
    for rel, data in files.items():
        name = "p/" + rel
        assert [on_disk(t, bucket, name) for t in nodes] == [t is owner(nodes, bucket, name) for t in nodes], name
        assert requests.get(f"{nodes[1].url}/v1/objects/{bucket}/{name}", timeout=30).content == data
    # without "ovw" an object its owner holds stays; with it, it is replaced
    for rel in files:
        with open(os.path.join(src, rel), "wb") as f:
            f.write(b"second")
    promote(rcr=True)
    assert all(requests.get(f"{nodes[2].url}/v1/objects/{bucket}/p/{rel}", timeout=30).content == files[rel]
               for rel in files)
    promote(rcr=True, ovw=True)
    assert all(requests.get(f"{nodes[2].url}/v1/objects/{bucket}/p/{rel}", timeout=30).content == b"second"
               for rel in files)
