"""etlfs-target: buckets: create, destroy, list, HEAD props, and the two
bucket-summary protocols (HEAD ?bsumm_remote=true polling and GET
summary-bck), checked for their status codes, headers and counts."""
import json
import time

import requests

CREATE = {"action": "create-bck", "name": "", "value": None}
DESTROY = {"action": "destroy-bck", "name": "", "value": None}
LIST = {"action": "list", "name": "", "value": None}


def _buckets(t):
    r = requests.get(t.url + "/v1/buckets", params={"provider": "ais"}, json=LIST)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_create_conflict_destroy_missing(target):
    u = target.url
    assert _buckets(target) == []  # [] when empty, never null
    assert requests.post(u + "/v1/buckets/b1", json=CREATE).status_code == 200
    r = requests.post(u + "/v1/buckets/b1", json=CREATE)
    assert r.status_code == 409
    assert r.json()["message"] == 'bucket "ais://b1" already exists'
    assert requests.post(u + "/v1/buckets/a.b-c_0", json=CREATE).status_code == 200
    assert _buckets(target) == [
        {"name": "a.b-c_0", "provider": "ais", "namespace": {"uuid": "", "name": ""}},
        {"name": "b1", "provider": "ais", "namespace": {"uuid": "", "name": ""}},
    ]
    # a bodyless GET /v1/buckets lists buckets too
    assert [b["name"] for b in requests.get(u + "/v1/buckets").json()] == ["a.b-c_0", "b1"]
    # other providers hold nothing here
    assert requests.get(u + "/v1/buckets", params={"provider": "aws"}, json=LIST).json() == []

    target.put("b1", "dir/obj", b"data")
    r = requests.delete(u + "/v1/buckets/b1", json=DESTROY)
    assert r.status_code == 200 and r.content == b""
    r = requests.delete(u + "/v1/buckets/b1", json=DESTROY)
    assert r.status_code == 404
    assert r.json()["message"] == 'bucket "ais://b1" does not exist'
    assert [b["name"] for b in _buckets(target)] == ["a.b-c_0"]
    # the bucket and its objects are gone from every mountpath, trash emptied
    for mp in target.data:
        assert not (mp + "/@ais/b1") in _walk_dirs(mp)
    # re-created bucket starts empty
    target.create_bucket("b1")
    assert target.get("b1", "dir/obj").status_code == 404
    # destroy without a body works too
    assert requests.delete(u + "/v1/buckets/b1").status_code == 200


def _walk_dirs(mp):
    import os
    out = set()
    for root, dirs, files in os.walk(mp):
        out.add(root)
        if "/.etlfs/trash" in root:
            assert not files and root.endswith("trash"), (root, files)
    return out


def test_bad_bucket_names_are_400(target):
    for name in ("a..b", "a@b", "a%20b", "%C3%A4"):
        r = requests.post(f"{target.url}/v1/buckets/{name}", json=CREATE)
        assert r.status_code == 400, (name, r.text)
        assert "is invalid" in r.json()["message"]
    assert _buckets(target) == []


def test_cloud_provider_is_refused(target):
    r = requests.post(target.url + "/v1/buckets/b", params={"provider": "aws"}, json=CREATE)
    assert 400 <= r.status_code < 600 and r.status_code != 200
    assert r.json()["status"] == r.status_code


def test_head_bucket_props(target):
    target.create_bucket("hb")
    r = requests.head(target.url + "/v1/buckets/hb")
    assert r.status_code == 200 and r.content == b""
    props = json.loads(r.headers["ais-bucket-props"])
    assert props["provider"] == "ais"
    assert props["checksum"]["type"] == "xxhash"
    assert props["versioning"]["enabled"] is True
    r = requests.head(target.url + "/v1/buckets/missing")
    assert r.status_code == 404
    assert "does not exist" in json.loads(r.headers["Hdr-Error"])["message"]


def _fill(t, bck):
    sizes = {"a": 10, "b/c": 100, "b/d e": 1000, "z": 0}
    for name, n in sizes.items():
        t.put(bck, name, b"x" * n)
    return sizes


def test_bucket_info_protocol(target):
    """SDK Bucket.info(): HEAD ?bsumm_remote=true -> 202 + job id; poll with uuid -> 200 + summary."""
    target.create_bucket("info")
    sizes = _fill(target, "info")
    u = target.url + "/v1/buckets/info"
    r = requests.head(u, params={"presence": "0", "bsumm_remote": "True"})
    assert r.status_code == 202, r.headers
    xid = r.headers["ais-xaction-id"]
    assert xid and xid[0].isalpha()
    assert json.loads(r.headers["ais-bucket-props"])["provider"] == "ais"
    deadline = time.time() + 20
    while True:
        r = requests.head(u, params={"presence": "0", "bsumm_remote": "True", "uuid": xid})
        if r.status_code != 202 and r.status_code != 206:
            break
        assert time.time() < deadline
        time.sleep(0.2)
    assert r.status_code == 200, r.headers
    summ = json.loads(r.headers["ais-bucket-summ"])
    assert summ["name"] == "info" and summ["provider"] == "ais"
    assert summ["ObjCount"]["obj_count_present"] == str(len(sizes))
    assert summ["TotalSize"]["size_all_present_objs"] == str(sum(sizes.values()))
    assert summ["ObjSize"]["obj_min_size"] == min(sizes.values())
    assert summ["ObjSize"]["obj_max_size"] == max(sizes.values())
    assert int(summ["TotalSize"]["total_disks_size"]) > 0
    assert summ["is_present"] is True
    assert "ais-bucket-props" in r.headers


def _summary(t, bck, prefix=""):
    value = {"uuid": "", "prefix": prefix, "cached": True, "present": True}
    u = t.url + "/v1/buckets/" + bck
    r = requests.get(u, json={"action": "summary-bck", "name": "", "value": value})
    assert r.status_code == 202, r.text
    xid = r.text.strip().strip('"')
    assert xid and xid[0].isalpha()
    value["uuid"] = xid
    deadline = time.time() + 20
    while True:
        r = requests.get(u, json={"action": "summary-bck", "name": "", "value": value})
        if r.status_code not in (202, 206):
            break
        assert time.time() < deadline
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    arr = r.json()
    assert isinstance(arr, list) and len(arr) == 1
    return arr[0]


def test_summary_bck(target):
    target.create_bucket("sum")
    sizes = _fill(target, "sum")
    s = _summary(target, "sum")
    assert s["name"] == "sum"
    assert s["namespace"] == {"uuid": "", "name": ""}
    assert s["ObjCount"] == {"obj_count_present": str(len(sizes)), "obj_count_remote": "0"}
    assert s["ObjSize"]["obj_avg_size"] == sum(sizes.values()) // len(sizes)
    assert s["TotalSize"]["size_all_present_objs"] == str(sum(sizes.values()))
    sb = _summary(target, "sum", prefix="b/")
    assert sb["ObjCount"]["obj_count_present"] == "2"
    assert sb["TotalSize"]["size_all_present_objs"] == "1100"
    # empty bucket
    target.create_bucket("sum-empty")
    se = _summary(target, "sum-empty")
    assert se["ObjCount"]["obj_count_present"] == "0"
    # missing bucket
    r = requests.get(target.url + "/v1/buckets/nosuch", json={"action": "summary-bck", "value": {"uuid": ""}})
    assert r.status_code == 404 and "does not exist" in r.json()["message"]


def test_unknown_bucket_action_is_400(target):
    target.create_bucket("act")
    r = requests.post(target.url + "/v1/buckets/act", json={"action": "frobnicate", "name": "", "value": None})
    assert r.status_code == 400
    assert r.json()["message"] == 'invalid action "frobnicate"'
