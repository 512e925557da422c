"""etlfs-target: the object data path: PUT/GET/HEAD/DELETE with nested and
odd names, ranges, headers (length, version, xxhash checksum), bad names
refused before anything is created, and concurrent PUTs of one name."""
import concurrent.futures
import http.client
import os
import random
import time

import pytest
import requests


def _files(mp):
    out = []
    for root, _, files in os.walk(os.path.join(mp, "@ais")):
        out += [os.path.join(root, f) for f in files]
    return out


@pytest.mark.parametrize("name", ["plain", "a/b/c.txt", "with space", "dir with space/f i l e",
                                  "unicode/\u00e4\u00f6\u00fc/\u65e5\u672c.bin", "...", "a/.hidden",
                                  "%41-not-decoded-twice", "q?x=1#frag"])
def test_put_get_head_delete(target, xxh64, name):
    target.create_bucket("obj")
    data = os.urandom(3000) + name.encode()
    quoted = requests.utils.quote(name, safe="/")
    url = f"{target.url}/v1/objects/obj/{quoted}"
    r = requests.put(url, data=data)
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert r.headers["ais-checksum-type"] == "xxhash"
    assert r.headers["ais-checksum-value"] == xxh64(data)
    assert r.headers["ais-version"] == "1"
    r = requests.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Length"] == str(len(data))
    r = requests.head(url)
    assert r.status_code == 200 and r.content == b""
    # header values reach Python as latin-1: compare the raw bytes
    assert r.headers["ais-name"].encode("latin-1") == name.encode()
    r = requests.delete(url)
    assert r.status_code == 200 and r.content == b""
    assert requests.get(url).status_code == 404
    r = requests.delete(url)
    assert r.status_code == 404 and "doesn't exist" in r.json()["message"]
    # deleting the last object under a/b/ leaves no empty directories behind
    assert all(not os.listdir(os.path.join(mp, "@ais", "obj")) for mp in target.data)


def test_head_headers_versions_checksum(target, xxh64):
    target.create_bucket("hh")
    v1 = b"first version" * 100
    target.put("hh", "o", v1)
    u = f"{target.url}/v1/objects/hh/o"
    h = requests.head(u).headers
    assert h["ais-version"] == "1"
    assert h["Content-Length"] == str(len(v1))
    assert h["ais-checksum-type"] == "xxhash"
    assert h["ais-checksum-value"] == xxh64(v1)
    assert h["ais-bucket-name"] == "hh" and h["ais-bucket-provider"] == "ais"
    assert h["ais-name"] == "o" and h["ais-present"] == "true"
    assert h["ais-mirror-copies"] == "1"
    assert int(h["ais-atime"]) > 1_600_000_000 * 10**9  # decimal Unix nanoseconds
    assert "ais-custom-md" not in h
    v2 = b"second"
    target.put("hh", "o", v2)
    h = requests.head(u).headers
    assert h["ais-version"] == "2"
    assert h["Content-Length"] == str(len(v2))
    assert h["ais-checksum-value"] == xxh64(v2)
    g = requests.get(u)
    assert g.content == v2 and g.headers["ais-version"] == "2" and g.headers["ais-checksum-value"] == xxh64(v2)
    # a third PUT, and GET's headers agree with HEAD's
    target.put("hh", "o", b"")
    assert requests.head(u).headers["ais-version"] == "3"
    g = requests.get(u)
    assert g.content == b"" and g.headers["Content-Length"] == "0" and g.headers["ais-checksum-value"] == xxh64(b"")


def test_a_missing_names_404_says_whether_it_is_a_directory_on_a_local_head_only(target):
    """The node's mount looks a name up with a HEAD from loopback: its 404 says
    whether the name is a directory (etlfs-dir); a GET's 404 does not look."""
    target.create_bucket("dirhint")
    u = f"{target.url}/v1/objects/dirhint"
    assert requests.put(f"{u}/d/f.txt", data=b"x").status_code == 200
    r = requests.head(f"{u}/d")
    assert r.status_code == 404 and r.headers.get("etlfs-dir") == "1"
    r = requests.head(f"{u}/nope")
    assert r.status_code == 404 and r.headers.get("etlfs-dir") == "0"
    r = requests.get(f"{u}/d")
    assert r.status_code == 404 and "etlfs-dir" not in r.headers
    assert "does not exist" in r.json()["message"]
    r = requests.head(f"{target.url}/v1/objects/no-such-bucket/d")
    assert r.status_code == 404 and "etlfs-dir" not in r.headers


def test_put_with_checksum_header(target, xxh64):
    target.create_bucket("ck")
    data = b"checked bytes"
    u = f"{target.url}/v1/objects/ck/o"
    r = requests.put(u, data=data, headers={"ais-checksum-type": "xxhash", "ais-checksum-value": xxh64(data)})
    assert r.status_code == 200
    r = requests.put(u, data=b"other bytes", headers={"ais-checksum-type": "xxhash", "ais-checksum-value": xxh64(data)})
    assert r.status_code == 400 and "BAD DATA CHECKSUM" in r.json()["message"]
    assert requests.get(u).content == data  # the bad PUT changed nothing
    assert target.tmp_files() == []


def test_get_is_never_chunked(target):
    target.create_bucket("nc")
    for size in (0, 1, 65536, 3 << 20):
        target.put("nc", f"s{size}", b"z" * size)
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        conn.request("GET", f"/v1/objects/nc/s{size}")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") is None
        assert resp.getheader("Content-Length") == str(size)
        assert len(body) == size
        conn.close()


def test_range(target):
    target.create_bucket("rg")
    data = bytes(range(256)) * 40  # 10240 bytes
    n = len(data)
    target.put("rg", "r/o", data)
    u = f"{target.url}/v1/objects/rg/r/o"
    for spec, a, b in (("bytes=5-100", 5, 100), ("bytes=0-0", 0, 0), ("bytes=10000-", 10000, n - 1),
                       ("bytes=-10", n - 10, n - 1), ("bytes=10000-99999", 10000, n - 1), ("bytes=0-", 0, n - 1),
                       ("bytes=-99999", 0, n - 1)):
        r = requests.get(u, headers={"Range": spec})
        assert r.status_code == 206, spec
        assert r.headers["Content-Range"] == f"bytes {a}-{b}/{n}", spec
        assert r.headers["Content-Length"] == str(b - a + 1), spec
        assert r.headers["Accept-Ranges"] == "bytes"
        assert r.content == data[a:b + 1], spec
    for spec in ("bytes=10240-", "bytes=20000-30000", "bytes=5-4", "bytes=0-1,5-6", "bytes=-0", "items=0-1",
                 "bytes=abc", "bytes=-"):
        r = requests.get(u, headers={"Range": spec})
        assert r.status_code == 416, (spec, r.status_code)
        assert r.headers["Content-Range"] == f"bytes */{n}", spec
    # an empty object has no satisfiable range
    target.put("rg", "empty", b"")
    r = requests.get(f"{target.url}/v1/objects/rg/empty", headers={"Range": "bytes=0-"})
    assert r.status_code == 416


def _raw(t, method, path, body=b""):
    """Sends the path byte-for-byte (no client-side normalisation of dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body:
        conn.send(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_bad_object_names_are_400_and_create_nothing(target):
    target.create_bucket("bad")
    target.put("bad", "inside", b"keep")
    long_name = "x" * 1024
    long_seg = "d/" + "s" * 256
    cases = ["/v1/objects/bad/%2E%2E/escape", "/v1/objects/bad/a/%2E%2E/%2E%2E/escape",
             "/v1/objects/bad/a/%2e%2e", "/v1/objects/bad/a/b/", "/v1/objects/bad/a%2F%2Fb",
             "/v1/objects/bad/a/./b", "/v1/objects/bad/" + long_name, "/v1/objects/bad/" + long_seg,
             "/v1/objects/bad/../escape", "/v1/objects/bad/a/../../escape"]
    before = {mp: sorted(_files(mp)) for mp in target.data}
    for path in cases:
        for method in ("PUT", "GET", "HEAD", "DELETE"):
            resp, body = _raw(target, method, path, b"evil" if method == "PUT" else b"")
            assert resp.status == 400, (method, path, resp.status, body)
            if method != "HEAD":
                assert b"invalid object name" in body, (method, path, body)
    # nothing was created anywhere: not in the bucket, not next to it, not in tmp
    assert {mp: sorted(_files(mp)) for mp in target.data} == before
    for mp in target.data:
        assert not os.path.exists(os.path.join(mp, "@ais", "escape"))
        assert not os.path.exists(os.path.join(mp, "escape"))
    assert target.tmp_files() == []
    # 1023 bytes (four 255-byte segments) is fine
    ok = "/".join(["y" * 255] * 4)
    resp, _ = _raw(target, "PUT", "/v1/objects/bad/" + ok, b"fine")
    assert resp.status == 200
    assert target.get("bad", ok).content == b"fine"


def test_nul_in_name_does_not_alias(target):
    """%00 cannot be part of a stored name: refuse it rather than store a shorter name."""
    target.create_bucket("nul")
    resp, body = _raw(target, "PUT", "/v1/objects/nul/a%00b", b"x")
    assert resp.status == 400, (resp.status, body)
    assert target.get("nul", "a").status_code == 404


def _mpath_of(t, xxh64, bck, obj):
    """The placement rule: XXH64("BUCKET/OBJECT") modulo the number of mountpaths."""
    return int(xxh64(f"{bck}/{obj}".encode()), 16) % len(t.data)


def test_placement(target, xxh64):
    target.create_bucket("pl")
    names = [f"p/{i}" for i in range(20)]
    for n in names:
        target.put("pl", n, n.encode())
    for n in names:
        mp = target.data[_mpath_of(target, xxh64, "pl", n)]
        with open(os.path.join(mp, "@ais", "pl", n), "rb") as f:
            assert f.read() == n.encode()
    assert len({_mpath_of(target, xxh64, "pl", n) for n in names}) == len(target.data)


def test_name_prefix_conflicts_are_409(target, xxh64):
    """An object "x" and an object "x/y" cannot share a mountpath (a file is not a directory)."""
    target.create_bucket("cf")
    same = [i for i in range(100)
            if _mpath_of(target, xxh64, "cf", f"x{i}") == _mpath_of(target, xxh64, "cf", f"x{i}/y")]
    i, j = same[0], same[1]
    target.put("cf", f"x{i}", b"1")
    r = requests.put(f"{target.url}/v1/objects/cf/x{i}/y", data=b"2")
    assert r.status_code == 409, r.text
    assert target.get("cf", f"x{i}").content == b"1"
    target.put("cf", f"x{j}/y", b"3")
    r = requests.put(f"{target.url}/v1/objects/cf/x{j}", data=b"4")
    assert r.status_code == 409, r.text
    assert target.get("cf", f"x{j}/y").content == b"3"
    assert target.tmp_files() == []


def test_get_of_a_directory_is_404(target):
    target.create_bucket("gd")
    target.put("gd", "dir/obj", b"1")
    for method in ("GET", "HEAD", "DELETE"):
        r = requests.request(method, f"{target.url}/v1/objects/gd/dir")
        assert r.status_code == 404, method
    assert target.get("gd", "dir/obj").content == b"1"


def test_concurrent_puts_of_one_name(target):
    target.create_bucket("cc")
    contents = [bytes([i]) * (256 * 1024 + i) for i in range(8)]
    u = f"{target.url}/v1/objects/cc/same/name"

    def put(i):
        with requests.Session() as s:
            for _ in range(5):
                assert s.put(u, data=contents[i]).status_code == 200

    for _ in range(3):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(put, range(8)))
        got = requests.get(u).content
        assert got in contents  # one writer's bytes exactly, never a mix
        h = requests.head(u).headers
        assert h["Content-Length"] == str(len(got))
    assert target.tmp_files() == []
    assert int(requests.head(u).headers["ais-version"]) >= 2


def test_get_while_overwriting_sees_whole_objects(target):
    target.create_bucket("rw")
    a, b = b"A" * (1 << 20), b"B" * ((1 << 20) + 7)
    target.put("rw", "o", a)
    u = f"{target.url}/v1/objects/rw/o"
    stop = []

    def writer():
        with requests.Session() as s:
            for i in range(20):
                s.put(u, data=(a, b)[i % 2])
        stop.append(1)

    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        f = ex.submit(writer)
        with requests.Session() as s:
            while not stop:
                got = s.get(u).content
                assert got in (a, b)
        f.result()


def test_random_payloads_round_trip(target, xxh64):
    target.create_bucket("rnd")
    rng = random.Random(7)
    for i in range(20):
        size = rng.choice([0, 1, 7, 4095, 4096, 4097, 65537, 1 << 20])
        data = rng.randbytes(size)
        r = target.put("rnd", f"p/{i}", data)
        if size < 70000:  # pure-Python XXH64 is slow; larger ones are checked by content
            assert r.headers["ais-checksum-value"] == xxh64(data)
        assert target.get("rnd", f"p/{i}").content == data


def test_unsupported_features_say_so(target):
    target.create_bucket("ns")
    target.put("ns", "o", b"data")
    u = f"{target.url}/v1/objects/ns/o"
    # reading inside an object that is no archive (test_archive_read.py reads inside archives)
    r = requests.get(u, params={"archpath": "file.txt"})
    assert r.status_code == 400 and "not an archive" in r.json()["message"]
    assert requests.get(u, params={"archpath": ""}).content == b"data"  # the SDK always sends an empty one
    # cloud providers
    r = requests.get(u, params={"provider": "aws"})
    assert r.status_code == 501 and r.json()["status"] == 501
    r = requests.put(u, params={"provider": "gcp"}, data=b"x")
    assert r.status_code == 501
    # (appends are served: test_append_multipart.py)
    assert target.get("ns", "o").content == b"data"
    assert target.tmp_files() == []


def test_easy_url(target):
    """/ais/B/O is /v1/objects/B/O, /ais/B is /v1/buckets/B, /ais is /v1/buckets."""
    u = target.url
    target.create_bucket("easy")
    assert requests.put(f"{u}/ais/easy/dir/o.txt", data=b"easy body", timeout=30).status_code == 200
    assert requests.get(f"{u}/v1/objects/easy/dir/o.txt", timeout=30).content == b"easy body"
    assert requests.get(f"{u}/ais/easy/dir/o.txt", timeout=30).content == b"easy body"
    r = requests.get(f"{u}/ais/easy/dir/o.txt", headers={"Range": "bytes=5-"}, timeout=30)
    assert r.status_code == 206 and r.content == b"body"
    h = requests.head(f"{u}/ais/easy/dir/o.txt", timeout=30)
    assert h.status_code == 200 and h.headers["Content-Length"] == "9"
    names = [e["name"] for e in requests.get(f"{u}/ais/easy", timeout=30).json()["entries"]]
    assert names == ["dir/o.txt"]
    assert "easy" in [b["name"] for b in requests.get(f"{u}/ais", timeout=30).json()]
    r = requests.put(f"{u}/ais/easy", data=b"x", timeout=30)
    assert r.status_code == 400 and "easy URL" in r.json()["message"]
    r = requests.get(f"{u}/gs/easy/dir/o.txt", timeout=30)
    assert r.status_code == 501
    assert requests.delete(f"{u}/ais/easy/dir/o.txt", timeout=30).status_code == 200
    assert requests.get(f"{u}/v1/objects/easy/dir/o.txt", timeout=30).status_code == 404
    assert requests.get(f"{u}/ais/nosuch/x", timeout=30).status_code == 404


# ---- GET and HEAD take an unchanged object's metadata from a cache (objread.c);
# every change of the object must show at once

def test_metadata_of_a_read_object_follows_its_changes(target, xxh64):
    t, bck = target, target.create_bucket("metacache")
    t.put(bck, "o", b"first")
    time.sleep(1.2)  # a file changed within the last second is never cached: wait, to test the cache
    for _ in range(2):  # the second read comes from the cache
        r = t.get(bck, "o")
        assert r.content == b"first" and r.headers["ais-version"] == "1"
        assert r.headers["ais-checksum-value"] == xxh64(b"first")
    r = requests.patch(f"{t.url}/v1/objects/{bck}/o", json={"action": "", "value": {"k": "v"}})
    assert r.status_code == 200, r.text
    assert t.get(bck, "o").headers.get("ais-custom-md") == "k=v"
    assert requests.head(f"{t.url}/v1/objects/{bck}/o").headers.get("ais-custom-md") == "k=v"
    # a new version of the object, read again after it settles
    t.put(bck, "o", b"second!")
    time.sleep(1.2)
    for _ in range(2):
        r = t.get(bck, "o")
        assert r.content == b"second!" and r.headers["ais-version"] == "2"
        assert r.headers["ais-checksum-value"] == xxh64(b"second!")
        assert "ais-custom-md" not in r.headers
    h = requests.head(f"{t.url}/v1/objects/{bck}/o").headers
    assert h["Content-Length"] == "7" and h["ais-version"] == "2"


def test_get_small_and_large_objects_with_ranges(target):
    # up to 64 KiB the body is read into the reply, above it sent from the file
    t, bck = target, target.create_bucket("sizes")
    for size in (0, 1, 16384, 65536, 65537, 300000):
        data = os.urandom(size)
        t.put(bck, f"s{size}", data)
        r = t.get(bck, f"s{size}")
        assert r.status_code == 200 and r.content == data
        assert r.headers["Content-Length"] == str(size)
        if size > 10:
            r = requests.get(f"{t.url}/v1/objects/{bck}/s{size}", headers={"Range": "bytes=3-9"})
            assert r.status_code == 206 and r.content == data[3:10]
            assert r.headers["Content-Range"] == f"bytes 3-9/{size}"
