"""etlfs-target: the endpoints around the data path: health, the cluster map,
and how errors look (JSON with status and message, 405 in plain text, 413
for oversized control messages, 404 for unknown endpoints)."""
import json
import socket
import time

import requests


def test_health(shared_target):
    r = requests.get(shared_target.url + "/v1/health")
    assert r.status_code == 200
    assert r.content == b""


def _check_net(net, url):
    assert net["direct_url"] == url
    host, port = url.split("://")[1].rsplit(":", 1)
    assert net["node_ip_addr"] == host
    assert net["daemon_port"] == port  # a string, as Go marshals it


def test_smap_shape(shared_target):
    r = requests.get(shared_target.url + "/v1/daemon", params={"what": "smap"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    smap = r.json()
    assert isinstance(smap["version"], str) and smap["version"] not in ("", "0")
    assert smap["uuid"]
    assert smap["creation_time"]
    assert len(smap["tmap"]) == 1 and len(smap["pmap"]) == 1
    (tid, tnode), = smap["tmap"].items()
    (pid, pnode), = smap["pmap"].items()
    assert tnode["daemon_id"] == tid and tnode["daemon_type"] == "target"
    assert pnode["daemon_id"] == pid and pnode["daemon_type"] == "proxy"
    assert smap["proxy_si"] == pnode
    for node in (tnode, pnode):
        assert node["flags"] == 0
        for net in ("public_net", "intra_control_net", "intra_data_net"):
            _check_net(node[net], shared_target.url)
    # the SDK's is_ready(): health on the proxy's direct_url
    assert requests.get(pnode["public_net"]["direct_url"] + "/v1/health", params={"prr": "true"}).ok
    # the same map from /v1/cluster, and with no what= at all; the uuid is stable
    r2 = requests.get(shared_target.url + "/v1/cluster", params={"what": "smap"})
    assert r2.status_code == 200 and r2.json()["uuid"] == smap["uuid"]
    assert requests.get(shared_target.url + "/v1/daemon").json()["uuid"] == smap["uuid"]


def test_daemon_unknown_what_is_json_400(shared_target):
    r = requests.get(shared_target.url + "/v1/daemon", params={"what": "nonsense"})
    assert r.status_code == 400
    _assert_json_error(r, 400)


def _assert_json_error(r, status, contains=None):
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    body = r.json()
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["method"] == r.request.method
    if contains:
        assert contains in body["message"], body
    return body


def test_unknown_endpoint_is_json_404(shared_target):
    for path in ("/v1/nonsense", "/v2/objects/b/o", "/", "/v1"):
        r = requests.get(shared_target.url + path)
        assert r.status_code == 404, path
        _assert_json_error(r, 404)


def test_missing_bucket_errors(shared_target):
    u = shared_target.url
    for method, path in (("GET", "/v1/objects/nosuchbck/o"), ("PUT", "/v1/objects/nosuchbck/o"),
                         ("DELETE", "/v1/objects/nosuchbck/o"), ("GET", "/v1/buckets/nosuchbck"),
                         ("DELETE", "/v1/buckets/nosuchbck")):
        r = requests.request(method, u + path, data=b"x" if method == "PUT" else None)
        assert r.status_code == 404, (method, path, r.text)
        _assert_json_error(r, 404, "does not exist")
        assert "ais://nosuchbck" in r.json()["message"]
    # HEAD has no body: the same JSON travels in Hdr-Error
    for path in ("/v1/objects/nosuchbck/o", "/v1/buckets/nosuchbck"):
        r = requests.head(u + path)
        assert r.status_code == 404 and r.content == b""
        err = json.loads(r.headers["Hdr-Error"])
        assert err["status"] == 404 and "does not exist" in err["message"]


def test_unknown_method_is_plain_405(shared_target):
    u = shared_target.url
    # PATCH of an object is AIStore 5.0's custom metadata (test_etl_v5.py): not here
    for method, path in (("PATCH", "/v1/buckets"), ("FOO", "/v1/buckets/b"), ("PATCH", "/v1/health"),
                         ("BREW", "/v1/objects/b/o"), ("OPTIONS", "/v1/buckets")):
        r = requests.request(method, u + path)
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("text/plain"), (method, path)
        assert "Method Not Allowed" in r.text


def test_oversized_control_body_is_413(shared_target):
    u = shared_target.url
    shared_target.create_bucket("bck-413")
    big = b'{"action":"list","name":"","value":{"prefix":"' + b"a" * (16 << 20) + b'"}}'
    for method, path in (("POST", "/v1/buckets/bck-413"), ("GET", "/v1/buckets/bck-413"),
                         ("PUT", "/v1/cluster")):
        r = requests.request(method, u + path, data=big)
        assert r.status_code == 413, (method, path, r.status_code)
        _assert_json_error(r, 413)
    # exactly at the limit is still read (and then judged on its content)
    at_limit = b" " * ((16 << 20) - 2) + b"{}"
    r = requests.get(u + "/v1/buckets/bck-413", data=at_limit)
    assert r.status_code != 413
    # the server is still fine afterwards
    assert requests.get(u + "/v1/health").status_code == 200


def test_malformed_request_line_does_not_hurt(shared_target):
    """Garbage on the socket gets an HTTP error or a close, and the server stays up."""
    with socket.create_connection(("127.0.0.1", shared_target.port), timeout=1) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        try:
            s.recv(4096)
        except OSError:
            pass
    assert requests.get(shared_target.url + "/v1/health").status_code == 200


def _summary_job(t, bck):
    r = requests.get(f"{t.url}/v1/buckets/{bck}", json={"action": "summary-bck", "name": "", "value": {"uuid": ""}})
    assert r.status_code == 202
    return r.text.strip().strip('"')


def test_job_queries(shared_target):
    """The /v1/cluster job queries, as the SDK's Job.status/wait and the CLI send them."""
    t = shared_target
    t.create_bucket("bck-jobs")
    xid = _summary_job(t, "bck-jobs")
    u = t.url + "/v1/cluster"
    # Go field names (ID, Kind), matched case-insensitively
    r = requests.get(u, params={"what": "status"}, json={"ID": xid, "Kind": ""})
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["uuid"] == xid and st["kind"] == "summary"
    assert isinstance(st["start_time"], int)
    # the job ends by itself; status says so
    deadline = time.time() + 10
    while st["end_time"] == 0 and time.time() < deadline:
        time.sleep(0.05)
        st = requests.get(u, params={"what": "status"}, json={"id": xid}).json()
    assert st["end_time"] >= st["start_time"] > 0
    assert st["aborted"] is False
    all_ = requests.get(u, params={"what": "status_all"}, json={"kind": "summary"}).json()
    assert xid in [s["uuid"] for s in all_]
    assert isinstance(requests.get(u, params={"what": "running_all"}, json={}).json(), list)
    snaps = requests.get(u, params={"what": "qryxstats"}, json={"ID": xid}).json()
    (node, arr), = snaps.items()
    assert [s["id"] for s in arr] == [xid]
    r = requests.get(u, params={"what": "status"}, json={"ID": "Nosuchjob123"})
    assert r.status_code == 404 and r.json()["status"] == 404
    r = requests.get(u, params={"what": "status"}, json={})
    assert r.status_code == 400
    r = requests.put(u, json={"action": "stop", "name": "", "value": {"ID": "Nosuchjob123"}})
    assert r.status_code == 404
    r = requests.get(u, params={"what": "nonsense"})
    assert r.status_code == 400 and r.json()["status"] == 400


def test_rename_object(shared_target):
    t = shared_target
    t.create_bucket("bck-ren")
    t.put("bck-ren", "old/name", b"payload")
    r = requests.post(f"{t.url}/v1/objects/bck-ren/old/name", json={"action": "rename-obj", "name": "new name/x"})
    assert r.status_code == 200, r.text
    assert t.get("bck-ren", "old/name").status_code == 404
    assert t.get("bck-ren", "new name/x").content == b"payload"
    r = requests.post(f"{t.url}/v1/objects/bck-ren/new name/x", json={"action": "rename-obj", "name": "../up"})
    assert r.status_code == 400
    r = requests.post(f"{t.url}/v1/objects/bck-ren/missing", json={"action": "rename-obj", "name": "z"})
    assert r.status_code == 404
    r = requests.post(f"{t.url}/v1/objects/bck-ren/new name/x", json={"action": "frob"})
    assert r.status_code == 400 and r.json()["message"] == 'invalid action "frob"'
