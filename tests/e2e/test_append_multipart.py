"""Object append and multipart upload (AIStore 5.0's forms) against a real
target, through plain HTTP: appends add to a work file the target keeps
behind an opaque handle and publish it only on flush; multipart parts arrive
in any order and complete assembles them atomically, recording the part
count and largest part for HEAD ?props=chunked. Bad handles, unknown
uploads and wrong part lists are 4xx naming the object and the id; a crash,
an idle timeout or an abort leaves no work file behind."""
import os
import threading

import pytest
import requests

import authtok
from authtok import bearer, token
from conftest import Target, wait_for, xxh64_hex

MAX_PARTS = 10000
MAX_UPLOADS = 1024
MAX_APPENDS = 256


def message(r):
    return r.json()["message"]


def append(t, bck, obj, data, handle="", flush=False, **kw):
    params = {"append_type": "flush" if flush else "append", "append_handle": handle}
    return requests.put(f"{t.url}/v1/objects/{bck}/{obj}", params=params, data=data, timeout=60, **kw)


def mpt_create(t, bck, obj):
    r = requests.post(f"{t.url}/v1/objects/{bck}/{obj}", json={"action": "mpt-upload"}, timeout=60)
    assert r.status_code == 200 and r.text, r.text
    return r.text


def mpt_part(t, bck, obj, upload, num, data):
    return requests.put(f"{t.url}/v1/objects/{bck}/{obj}", params={"uploadId": upload, "partNumber": num},
                        data=data, timeout=60)


def mpt_complete(t, bck, obj, upload, nums):
    value = [{"part-number": n, "etag": ""} for n in nums]
    return requests.post(f"{t.url}/v1/objects/{bck}/{obj}", params={"uploadId": upload},
                         json={"action": "mpt-complete", "value": value}, timeout=60)


def mpt_abort(t, bck, obj, upload):
    return requests.delete(f"{t.url}/v1/objects/{bck}/{obj}", params={"uploadId": upload},
                           json={"action": "mpt-abort"}, timeout=60)


# ------------------------------------------------------------------ append

def test_append_three_times_then_flush(target):
    target.create_bucket("ap")
    target.put("ap", "o", b"base:")
    handle = ""
    pieces = [b"1111111111", b"222222222222222", b"333333333"]
    for piece in pieces:
        r = append(target, "ap", "o", piece, handle)
        assert r.status_code == 200, r.text
        assert r.headers["ais-append-handle"] and (not handle or r.headers["ais-append-handle"] == handle)
        handle = r.headers["ais-append-handle"]
        assert target.get("ap", "o").content == b"base:"  # nothing visible before the flush
    assert "/" not in handle and "ap" not in handle  # opaque: no path, no names
    r = append(target, "ap", "o", b"", handle, flush=True)
    assert r.status_code == 200, r.text
    assert "ais-append-handle" not in r.headers  # the SDK reads an empty handle after a flush
    want = b"base:" + b"".join(pieces)
    assert target.get("ap", "o").content == want
    h = requests.head(f"{target.url}/v1/objects/ap/o")
    assert h.headers["ais-checksum-value"] == xxh64_hex(want) and h.headers["ais-version"] == "2"
    assert target.tmp_files() == []
    # the handle ended with the flush
    r = append(target, "ap", "o", b"more", handle)
    assert r.status_code == 400 and handle in message(r) and "ais://ap/o" in message(r)
    assert target.get("ap", "o").content == want


def test_append_creates_a_missing_object_and_a_flush_may_carry_bytes(target):
    target.create_bucket("ap")
    r = append(target, "ap", "new", b"first,")
    assert r.status_code == 200
    assert target.get("ap", "new").status_code == 404
    r = append(target, "ap", "new", b"last", r.headers["ais-append-handle"], flush=True)
    assert r.status_code == 200, r.text
    assert target.get("ap", "new").content == b"first,last"


def test_append_without_flush_leaves_the_object_unchanged(target):
    target.create_bucket("ap")
    target.put("ap", "o", b"original")
    handle = append(target, "ap", "o", b"tail").headers["ais-append-handle"]
    append(target, "ap", "o", b"more", handle)
    assert target.get("ap", "o").content == b"original"
    h = requests.head(f"{target.url}/v1/objects/ap/o")
    assert h.headers["Content-Length"] == "8" and h.headers["ais-version"] == "1"
    # a PUT in between wins now; a later flush publishes the append's own bytes
    target.put("ap", "o", b"replaced")
    assert append(target, "ap", "o", b"", handle, flush=True).status_code == 200
    assert target.get("ap", "o").content == b"originaltailmore"


def test_bad_handles_and_types_are_400(target):
    target.create_bucket("ap")
    target.put("ap", "o", b"keep")
    target.put("ap", "other", b"x")
    good = append(target, "ap", "o", b"+").headers["ais-append-handle"]
    for bad in ["../../etc/passwd", "/tmp/x", good + "x", good[:-1] + "!", "a" * 5000]:
        r = append(target, "ap", "o", b"data", bad)
        assert r.status_code == 400 and "invalid append handle" in message(r) and "ais://ap/o" in message(r), r.text
    unknown = "Z" * len(good)
    r = append(target, "ap", "o", b"data", unknown)
    assert r.status_code == 400 and "no append in progress" in message(r) and unknown in message(r)
    # a handle belongs to its object
    r = append(target, "ap", "other", b"data", good)
    assert r.status_code == 400 and "belongs to ais://ap/o" in message(r), r.text
    r = append(target, "ap", "o", b"", "", flush=True)
    assert r.status_code == 400 and "flush needs" in message(r)
    r = requests.put(f"{target.url}/v1/objects/ap/o", params={"append_type": "prepend"}, data=b"x")
    assert r.status_code == 400 and "prepend" in message(r)
    r = append(target, "nobucket", "o", b"x")
    assert r.status_code == 404 and "nobucket" in message(r)
    # none of that touched the good append or the objects
    assert append(target, "ap", "o", b"", good, flush=True).status_code == 200
    assert target.get("ap", "o").content == b"keep+"
    assert target.get("ap", "other").content == b"x"


def test_append_body_streams_past_the_control_message_limit(tmp_path):
    t = Target(str(tmp_path), extra_args=["--max-body", "4096"])
    try:
        t.create_bucket("ap")
        big = os.urandom(256 * 1024)
        r = append(t, "ap", "big", big)
        assert r.status_code == 200, r.text
        r = append(t, "ap", "big", big, r.headers["ais-append-handle"], flush=True)
        assert r.status_code == 200, r.text
        assert t.get("ap", "big").content == big + big
        # multipart parts stream the same way
        upload = mpt_create(t, "ap", "mp")
        assert mpt_part(t, "ap", "mp", upload, 1, big).status_code == 200
        assert mpt_complete(t, "ap", "mp", upload, [1]).status_code == 200
        assert t.get("ap", "mp").content == big
    finally:
        assert t.stop() == 0, t.log_text()


def test_append_limit(target):
    target.create_bucket("ap")
    handles = []
    for i in range(MAX_APPENDS):
        r = append(target, "ap", f"o{i}", b"x")
        assert r.status_code == 200, r.text
        handles.append(r.headers["ais-append-handle"])
    r = append(target, "ap", "one-more", b"x")
    assert r.status_code == 503 and str(MAX_APPENDS) in message(r) and "ais://ap/one-more" in message(r)
    # a flush frees a slot
    assert append(target, "ap", "o0", b"", handles[0], flush=True).status_code == 200
    assert append(target, "ap", "one-more", b"x").status_code == 200


# --------------------------------------------------------------- multipart

def test_multipart_happy_path(target):
    target.create_bucket("mp")
    upload = mpt_create(target, "mp", "o")
    parts = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]
    for i, data in enumerate(parts, 1):
        r = mpt_part(target, "mp", "o", upload, i, data)
        assert r.status_code == 200, r.text
    assert target.get("mp", "o").status_code == 404  # not before complete
    r = mpt_complete(target, "mp", "o", upload, [1, 2, 3])
    assert r.status_code == 200, r.text
    want = b"".join(parts)
    assert target.get("mp", "o").content == want
    h = requests.head(f"{target.url}/v1/objects/mp/o", params={"props": "chunked,checksum"})
    assert h.headers["ais-chunks-count"] == "3" and h.headers["ais-chunks-max-chunk-size"] == str(64 * 1024)
    assert h.headers["ais-checksum-value"] == xxh64_hex(want)
    # chunk info only when asked for, and only for multipart-made objects
    assert "ais-chunks-count" not in requests.head(f"{target.url}/v1/objects/mp/o").headers
    target.put("mp", "plain", b"plain")
    h = requests.head(f"{target.url}/v1/objects/mp/plain", params={"props": "chunked"})
    assert h.status_code == 200 and "ais-chunks-count" not in h.headers
    # a plain PUT over it drops the chunk info
    target.put("mp", "o", b"now plain")
    h = requests.head(f"{target.url}/v1/objects/mp/o", params={"props": "chunked"})
    assert "ais-chunks-count" not in h.headers
    assert target.tmp_files() == []
    # done: the id is gone
    r = mpt_complete(target, "mp", "o", upload, [1, 2, 3])
    assert r.status_code == 404 and "does not exist" in message(r) and upload in message(r)


def test_multipart_parts_out_of_order_and_replaced(target):
    target.create_bucket("mp")
    target.put("mp", "o", b"old object")
    upload = mpt_create(target, "mp", "o")
    for num, data in [(3, b"third"), (1, b"first-draft"), (2, b"second"), (1, b"first")]:
        assert mpt_part(target, "mp", "o", upload, num, data).status_code == 200
    assert target.get("mp", "o").content == b"old object"
    r = mpt_complete(target, "mp", "o", upload, [3, 1, 2])  # the list's order does not matter
    assert r.status_code == 200, r.text
    assert target.get("mp", "o").content == b"firstsecondthird"
    h = requests.head(f"{target.url}/v1/objects/mp/o", params={"props": "chunked"})
    assert h.headers["ais-chunks-count"] == "3" and h.headers["ais-chunks-max-chunk-size"] == "6"
    assert h.headers["ais-version"] == "2"


def test_multipart_parallel_parts(target):
    target.create_bucket("mp")
    upload = mpt_create(target, "mp", "o")
    parts = {i: os.urandom(20000 + i) for i in range(1, 9)}
    results = {}

    def put(i):
        results[i] = mpt_part(target, "mp", "o", upload, i, parts[i]).status_code

    threads = [threading.Thread(target=put, args=(i,)) for i in parts]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert results == {i: 200 for i in parts}
    assert mpt_complete(target, "mp", "o", upload, sorted(parts)).status_code == 200
    assert target.get("mp", "o").content == b"".join(parts[i] for i in sorted(parts))


def test_multipart_abort(target):
    target.create_bucket("mp")
    target.put("mp", "o", b"before")
    upload = mpt_create(target, "mp", "o")
    assert mpt_part(target, "mp", "o", upload, 1, b"part one").status_code == 200
    assert mpt_part(target, "mp", "o", upload, 2, b"part two").status_code == 200
    assert len(target.tmp_files()) == 2
    r = mpt_abort(target, "mp", "o", upload)
    assert r.status_code == 200, r.text
    assert target.tmp_files() == []
    assert target.get("mp", "o").content == b"before"
    for r in [mpt_complete(target, "mp", "o", upload, [1, 2]), mpt_part(target, "mp", "o", upload, 3, b"x"),
              mpt_abort(target, "mp", "o", upload)]:
        assert r.status_code == 404 and "does not exist" in message(r) and upload in message(r), r.text
    assert target.tmp_files() == []


def test_multipart_complete_checks_the_list(target):
    target.create_bucket("mp")
    upload = mpt_create(target, "mp", "o")
    r = mpt_complete(target, "mp", "o", upload, [])
    assert r.status_code == 400 and "no chunks" in message(r) and upload in message(r)
    assert mpt_part(target, "mp", "o", upload, 1, b"one,").status_code == 200
    assert mpt_part(target, "mp", "o", upload, 3, b"three").status_code == 200
    cases = [([1, 2], "part 2 was not uploaded"), ([1, 2, 3], "partial completion is not allowed"),
             ([1], "partial completion is not allowed"), ([1, 1], "part 1 is listed twice"),
             ([1, 1, 3], "partial completion")]
    for nums, why in cases:
        r = mpt_complete(target, "mp", "o", upload, nums)
        assert r.status_code == 400 and why in message(r) and "ais://mp/o" in message(r) and upload in message(r), \
            (nums, r.text)
        assert target.get("mp", "o").status_code == 404
    # malformed lists
    for value in [{"part-number": 1}, [{"part-number": 0}], [{"part-number": "1"}], [{"etag": ""}], [1.5], None]:
        r = requests.post(f"{target.url}/v1/objects/mp/o", params={"uploadId": upload},
                          json={"action": "mpt-complete", "value": value})
        assert r.status_code == 400, (value, r.text)
    # the upload survived every refusal
    r = mpt_complete(target, "mp", "o", upload, [1, 3])
    assert r.status_code == 200, r.text
    assert target.get("mp", "o").content == b"one,three"


def test_multipart_bad_requests(target):
    target.create_bucket("mp")
    upload = mpt_create(target, "mp", "o")
    for num in ["0", "-1", str(MAX_PARTS + 1), "x", "1.5", ""]:
        r = mpt_part(target, "mp", "o", upload, num, b"data")
        assert r.status_code == 400 and "invalid part number" in message(r) and upload in message(r), (num, r.text)
    assert mpt_part(target, "mp", "o", upload, MAX_PARTS, b"last possible").status_code == 200
    r = mpt_part(target, "mp", "o", upload, 1, b"")
    assert r.status_code == 400 and "invalid size (0)" in message(r)
    r = mpt_part(target, "mp", "o", "NoSuchUpload", 1, b"x")
    assert r.status_code == 404 and "NoSuchUpload does not exist" in message(r) and "ais://mp/o" in message(r)
    r = mpt_part(target, "mp", "other", upload, 1, b"x")
    assert r.status_code == 400 and "is of ais://mp/o" in message(r) and upload in message(r)
    r = requests.post(f"{target.url}/v1/objects/mp/o", json={"action": "mpt-complete", "value": []})
    assert r.status_code == 400 and "missing uploadId" in message(r)
    r = requests.post(f"{target.url}/v1/objects/nobucket/o", json={"action": "mpt-upload"})
    assert r.status_code == 404 and "nobucket" in message(r)
    assert mpt_abort(target, "mp", "o", upload).status_code == 200
    assert target.tmp_files() == []


def test_multipart_upload_limit(target):
    target.create_bucket("mp")
    with requests.Session() as s:
        ids = []
        for i in range(MAX_UPLOADS):
            r = s.post(f"{target.url}/v1/objects/mp/o{i}", json={"action": "mpt-upload"})
            assert r.status_code == 200
            ids.append(r.text)
        r = s.post(f"{target.url}/v1/objects/mp/more", json={"action": "mpt-upload"})
        assert r.status_code == 503 and str(MAX_UPLOADS) in r.json()["message"]
        assert len(set(ids)) == MAX_UPLOADS
        r = s.delete(f"{target.url}/v1/objects/mp/o0", params={"uploadId": ids[0]}, json={"action": "mpt-abort"})
        assert r.status_code == 200
        assert s.post(f"{target.url}/v1/objects/mp/more", json={"action": "mpt-upload"}).status_code == 200


# --------------------------------------------------- crashes and idle ones

def test_kill9_mid_upload_then_restart(target):
    target.create_bucket("k")
    target.put("k", "a", b"object a")
    target.put("k", "m", b"object m")
    handle = append(target, "k", "a", b"appended").headers["ais-append-handle"]
    upload = mpt_create(target, "k", "m")
    assert mpt_part(target, "k", "m", upload, 1, b"part").status_code == 200
    # a part still arriving when the target dies
    sent, release = threading.Event(), threading.Event()

    def body():
        yield b"x" * 65536
        sent.set()
        release.wait(30)
        yield b"y"

    def put_slowly():
        try:
            mpt_part(target, "k", "m", upload, 2, body())
        except requests.RequestException:
            pass

    th = threading.Thread(target=put_slowly)
    th.start()
    assert sent.wait(30)
    wait_for(lambda: len(target.tmp_files()) == 3, "the streaming part's work file")
    target.kill9()
    release.set()
    th.join(60)
    assert len(target.tmp_files()) >= 2  # what the crash left
    target.start()
    assert target.tmp_files() == []
    assert target.get("k", "a").content == b"object a"
    assert target.get("k", "m").content == b"object m"
    r = append(target, "k", "a", b"", handle, flush=True)
    assert r.status_code == 400 and "restarted" in message(r)
    r = mpt_complete(target, "k", "m", upload, [1])
    assert r.status_code == 404 and upload in message(r)


def test_idle_appends_and_uploads_are_dropped(tmp_path):
    t = Target(str(tmp_path), extra_args=["--upload-timeout", "1"])
    try:
        t.create_bucket("idle")
        t.put("idle", "o", b"kept")
        handle = append(t, "idle", "o", b"never flushed").headers["ais-append-handle"]
        upload = mpt_create(t, "idle", "m")
        assert mpt_part(t, "idle", "m", upload, 1, b"never completed").status_code == 200
        assert len(t.tmp_files()) == 2
        wait_for(lambda: t.tmp_files() == [], "idle work files removed")
        r = append(t, "idle", "o", b"", handle, flush=True)
        assert r.status_code == 400 and "idle" in message(r)
        assert mpt_complete(t, "idle", "m", upload, [1]).status_code == 404
        assert t.get("idle", "o").content == b"kept" and t.get("idle", "m").status_code == 404
        assert "dropped" in t.log_text()
    finally:
        assert t.stop() == 0, t.log_text()


def test_shutdown_drops_work_files(target):
    target.create_bucket("sd")
    append(target, "sd", "o", b"pending")
    upload = mpt_create(target, "sd", "m")
    mpt_part(target, "sd", "m", upload, 1, b"pending")
    assert len(target.tmp_files()) == 2
    assert target.stop() == 0
    assert target.tmp_files() == []
    target.start()


# -------------------------------------------------------------- who may

def test_append_and_multipart_need_their_access(tmp_path):
    secret = "append-secret"
    t = Target(str(tmp_path), extra_args=["--auth-secret", secret])
    try:
        admin = bearer(token(secret, user="root", admin=True))
        assert requests.post(f"{t.url}/v1/buckets/b", headers=admin, json={"action": "create-bck"}).status_code == 200
        assert requests.put(f"{t.url}/v1/objects/b/o", headers=admin, data=b"orig").status_code == 200
        put_only = bearer(token(secret, user="p", buckets={"b": authtok.RO | authtok.PUT}))
        r = append(t, "b", "o", b"x", headers=put_only)
        assert r.status_code == 403 and "APPEND" in message(r).upper(), r.text
        r = requests.post(f"{t.url}/v1/objects/b/o", headers=put_only, json={"action": "mpt-upload"})
        assert r.status_code == 403
        rw = bearer(token(secret, user="w", buckets={"b": authtok.RW}))
        r = append(t, "b", "o", b"+", headers=rw)
        assert r.status_code == 200, r.text
        assert append(t, "b", "o", b"", r.headers["ais-append-handle"], flush=True, headers=rw).status_code == 200
        r = requests.post(f"{t.url}/v1/objects/b/m", headers=rw, json={"action": "mpt-upload"})
        assert r.status_code == 200
        upload = r.text
        r = requests.put(f"{t.url}/v1/objects/b/m", headers=put_only, params={"uploadId": upload, "partNumber": 1},
                         data=b"p")
        assert r.status_code == 200, r.text  # a part needs PUT, as AIStore
        r = requests.post(f"{t.url}/v1/objects/b/m", headers=rw, params={"uploadId": upload},
                          json={"action": "mpt-complete", "value": [{"part-number": 1}]})
        assert r.status_code == 200, r.text
        assert requests.get(f"{t.url}/v1/objects/b/o", headers=rw).content == b"orig+"
        assert requests.get(f"{t.url}/v1/objects/b/m", headers=rw).content == b"p"
    finally:
        assert t.stop() == 0, t.log_text()
