"""etlfs-target: what it refuses from a client, and how. Names that are not
UTF-8 or are absolute, malformed or ill-typed JSON bodies, and HTTP that
bends the rules (conflicting lengths, no length, huge queries) each get a
4xx in AIStore's JSON error format, and nothing is stored."""
import json
import os
import socket

import pytest
import requests


def err_json(r):
    """The AIStore error body of a reply (asserting it is one)."""
    body = r.json()
    assert body["status"] == r.status_code and body["message"], body
    return body["message"]


# ---- names

def test_object_name_not_utf8_is_refused(shared_target, bucket):
    t = shared_target
    for raw in ("bad%80name", "dir/%C3", "%C0%AF"):
        r = requests.put(f"{t.url}/v1/objects/{bucket}/{raw}", data=b"x")
        assert r.status_code == 400, (raw, r.text)
        assert "UTF-8" in err_json(r)
        assert requests.get(f"{t.url}/v1/objects/{bucket}/{raw}").status_code == 400
    # a rename to such a name (its JSON carries the raw bytes) is refused as well
    t.put(bucket, "good", b"x")
    body = b'{"action":"rename-obj","name":"bad\x80name"}'
    r = requests.post(f"{t.url}/v1/objects/{bucket}/good", data=body)
    assert r.status_code == 400, r.text
    # the listing stays valid JSON and holds only the good name
    r = requests.get(f"{t.url}/v1/buckets/{bucket}", json={"action": "list", "value": {"props": "name"}})
    assert r.status_code == 200
    assert [e["name"] for e in json.loads(r.content.decode("utf-8"))["entries"]] == ["good"]


def test_listing_skips_a_file_placed_by_hand_with_a_non_utf8_name(target):
    target.create_bucket("byhand")
    target.put("byhand", "ok", b"1")
    for mp in target.data:
        with open(os.path.join(mp.encode(), b"@ais", b"byhand", b"raw\xffname"), "wb") as f:
            f.write(b"2")
    r = requests.get(f"{target.url}/v1/buckets/byhand", json={"action": "list", "value": {"props": "name"}})
    assert r.status_code == 200
    assert [e["name"] for e in json.loads(r.content.decode("utf-8"))["entries"]] == ["ok"]


@pytest.mark.parametrize("path", ["/v1/objects/{b}//tmp/x", "/v1/objects/{b}/%2Ftmp%2Fx", "/ais/{b}//tmp/x"])
def test_absolute_object_names_are_refused(shared_target, bucket, path):
    t = shared_target
    url = t.url + path.format(b=bucket)
    r = requests.put(url, data=b"x")
    assert r.status_code == 400, r.text
    assert "absolute" in err_json(r)
    assert requests.get(url).status_code == 400
    # nothing was stored as the relative name
    assert t.get(bucket, "tmp/x").status_code == 404


@pytest.mark.parametrize("path", ["/v1/buckets//{b}", "/v1/buckets/%2F{b}", "/ais//{b}"])
def test_absolute_bucket_names_are_refused(shared_target, bucket, path):
    t = shared_target
    r = requests.delete(t.url + path.format(b=bucket), json={"action": "destroy-bck"})
    assert r.status_code == 400, r.text
    assert "empty path segment" in err_json(r)
    assert requests.head(f"{t.url}/v1/buckets/{bucket}").status_code == 200  # not destroyed
