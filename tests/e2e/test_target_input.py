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


# ---- JSON bodies

@pytest.mark.parametrize("body,why", [
    (b'{"action":"create-bck",', "malformed"),
    (b'{"action":"create-bck"} trailing', "after the JSON value"),
    (b'{"action":"create-bck","name":"a\x00b"}', "NUL"),
    (b'{"action":"create-bck","name":"a\\u0000b"}', "\\u0000"),
    (b'["create-bck"]', "expected an object"),
    (b'{"action":5}', '"action" must be a string'),
])
def test_malformed_json_body_is_400(shared_target, body, why):
    t = shared_target
    name = f"json-{abs(hash(body)) % 10**8}"
    r = requests.post(f"{t.url}/v1/buckets/{name}", data=body)
    assert r.status_code == 400, r.text
    assert why in err_json(r)
    assert requests.head(f"{t.url}/v1/buckets/{name}").status_code == 404  # not created


@pytest.mark.parametrize("value,field", [
    ({"pagesize": "abc"}, "value.pagesize"),
    ({"prefix": 7}, "value.prefix"),
    ({"flags": True}, "value.flags"),
    ({"props": ["name"]}, "value.props"),
])
def test_list_with_a_field_of_the_wrong_type_is_400(shared_target, bucket, value, field):
    r = requests.get(f"{shared_target.url}/v1/buckets/{bucket}", json={"action": "list", "value": value})
    assert r.status_code == 400, r.text
    assert f'"{field}"' in err_json(r)


def test_pagesize_must_be_a_whole_number(shared_target, bucket):
    for ps in (-1, 2.5):
        r = requests.get(f"{shared_target.url}/v1/buckets/{bucket}", json={"action": "list", "value": {"pagesize": ps}})
        assert r.status_code == 400, (ps, r.text)
        assert "pagesize" in err_json(r)
    r = requests.get(f"{shared_target.url}/v1/buckets/{bucket}", json={"action": "list", "value": {"pagesize": 10}})
    assert r.status_code == 200


def test_wrong_types_in_other_bodies_name_the_field(shared_target, bucket):
    t = shared_target
    cases = [
        ("GET", "/v1/cluster?what=status", {"ID": 12}, '"ID"'),
        ("PUT", "/v1/cluster", {"action": "start", "value": {"Kind": ["lru"]}}, '"value.Kind"'),
        ("POST", f"/v1/objects/{bucket}", {"action": "promote", "value": {"src": "/x", "rcr": "yes"}}, '"value.rcr"'),
        ("POST", f"/v1/buckets/{bucket}", {"action": "copy-bck", "value": {"dry_run": 1}}, '"value.dry_run"'),
        ("POST", f"/v1/buckets/{bucket}", {"action": "copy-bck", "value": "all"}, '"value"'),
    ]
    for method, path, body, field in cases:
        r = requests.request(method, t.url + path, json=body)
        assert r.status_code == 400, (path, body, r.text)
        assert field in err_json(r), (path, body)


def test_etl_init_body_is_parsed_strictly(shared_target):
    r = requests.put(f"{shared_target.url}/v1/etl", data=b'{"id":"x","runtime":"python3"} junk')
    assert r.status_code == 400, r.text
    assert "after the JSON value" in err_json(r)
