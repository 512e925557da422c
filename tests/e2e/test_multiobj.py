"""Multi-object operations on a list or a range of names: copy-listrange,
etl-listrange, delete-listrange, evict/prefetch refusals, archive, and the
single-object server-side copy (copy-obj) the FUSE daemon uses."""
import hashlib
import io
import os
import tarfile
import time
import zipfile

import requests

from test_offline import MD5_CODE, init_etl, list_names, put_many, uname, wait_job


def post_listrange(t, bck, action, value, method="POST"):
    return requests.request(method, f"{t.url}/v1/buckets/{bck}", json={"action": action, "name": "", "value": value})


def wait_idle(t, job_id, timeout=60):
    """The SDK's wait_for_idle: qryxstats until every snap with the id is idle."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = requests.get(f"{t.url}/v1/cluster", params={"what": "qryxstats"}, json={"ID": job_id, "Kind": ""})
        assert r.status_code == 200, r.text
        snaps = [s for v in r.json().values() for s in v if s["id"] == job_id]
        if snaps and all(s["is_idle"] for s in snaps):
            return snaps
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not idle in {timeout}s")


def test_copy_listrange_names_and_template(shared_target, bucket):
    t = shared_target
    items = [(f"pre-{i}-suf", b"v%d" % i) for i in range(10)] + [("other", b"o")]
    put_many(t, bucket, items)
    dst = bucket + "-lr"
    r = post_listrange(t, bucket, "copy-listrange",
                       {"objnames": ["pre-1-suf", "pre-2-suf", "missing"], "prepend": "n/", "dry_run": False,
                        "tobck": {"name": dst, "provider": "ais"}, "coer": False})
    assert r.status_code == 200, r.text
    job = r.text
    # a demand job: listed as running right after the POST
    running = requests.get(f"{t.url}/v1/cluster", params={"what": "running_all"},
                           json={"kind": "copy-listrange", "node": "", "show_active": True}).json()
    assert f"copy-listrange[{job}]" in running
    wait_idle(t, job)
    st = wait_job(t, job)
    assert "missing" in st["err"] and st["objects"] == 2
    assert sorted(list_names(t, dst)) == ["n/pre-1-suf", "n/pre-2-suf"]
    # a template with a stepped range; names absent in the range are skipped silently
    r = post_listrange(t, bucket, "copy-listrange",
                       {"template": "pre-{0..14..2}-suf", "tobck": {"name": dst, "provider": "ais"}})
    st = wait_job(t, r.text)
    assert st["err"] == "" and st["objects"] == 5
    assert sorted(list_names(t, dst, "pre-")) == sorted(f"pre-{i}-suf" for i in range(0, 10, 2))
    assert t.get(dst, "pre-4-suf").content == b"v4"
    # a template without ranges is a prefix
    r = post_listrange(t, bucket, "copy-listrange", {"template": "oth", "tobck": {"name": dst + "2"}})
    wait_job(t, r.text)
    assert list_names(t, dst + "2") == ["other"]


def test_template_padding(shared_target, bucket):
    t = shared_target
    put_many(t, bucket, [(f"s{i:03d}/{j}", b"x") for i in range(5) for j in "ab"])
    dst = bucket + "-pad"
    r = post_listrange(t, bucket, "copy-listrange", {"template": "s{001..003}/{a..a}", "tobck": {"name": dst}})
    assert r.status_code == 400  # letters are not a numeric range
    r = post_listrange(t, bucket, "copy-listrange", {"template": "s{001..003}/b", "tobck": {"name": dst}})
    wait_job(t, r.text)
    assert list_names(t, dst) == ["s001/b", "s002/b", "s003/b"]


def test_etl_listrange(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "md5-etl", MD5_CODE)
    items = [(f"f{i}.jpg", os.urandom(300)) for i in range(6)]
    put_many(t, bucket, items)
    dst = bucket + "-etl"
    r = post_listrange(t, bucket, "etl-listrange",
                       {"objnames": ["f1.jpg", "f2.jpg"], "prefix": "", "prepend": "prefix-", "dry_run": False,
                        "force": False, "latest-ver": False, "synchronize": False, "id": etl, "ext": {"jpg": "md5"},
                        "request_timeout": "5m", "tobck": {"name": dst, "provider": "ais"}, "coer": False})
    assert r.status_code == 200, r.text
    wait_idle(t, r.text)
    assert sorted(list_names(t, dst)) == ["prefix-f1.md5", "prefix-f2.md5"]
    assert t.get(dst, "prefix-f2.md5").content == hashlib.md5(items[2][1]).hexdigest().encode()
    r = post_listrange(t, bucket, "etl-listrange", {"objnames": ["f1.jpg"], "id": "faulty-name",
                                                     "tobck": {"name": dst}})
    assert r.status_code == 404


def test_delete_listrange(shared_target, bucket):
    t = shared_target
    put_many(t, bucket, [(f"d-{i}", b"x" * i) for i in range(10)] + [("keep", b"k")])
    r = post_listrange(t, bucket, "delete-listrange", {"objnames": ["d-1", "d-2", "nope"]}, method="DELETE")
    assert r.status_code == 200, r.text
    st = wait_job(t, r.text)
    assert st["objects"] == 2 and st["bytes"] == 3 and "nope" in st["err"]
    r = post_listrange(t, bucket, "delete-listrange", {"template": "d-{0..20}"}, method="DELETE")
    st = wait_job(t, r.text)
    assert st["objects"] == 8 and st["err"] == ""
    assert list_names(t, bucket) == ["keep"]


def test_evict_prefetch_refused_on_ais(shared_target, bucket):
    t = shared_target
    r = post_listrange(t, bucket, "evict-listrange", {"objnames": ["a"]}, method="DELETE")
    assert r.status_code == 400 and "remote buckets only" in r.json()["message"]
    r = post_listrange(t, bucket, "prefetch-listrange", {"objnames": ["a"]})
    assert r.status_code == 400 and "remote buckets only" in r.json()["message"]


def test_archive_tar(shared_target, bucket):
    t = shared_target
    items = {f"dir/file{i}.txt": os.urandom(1000 + i) for i in range(5)}
    put_many(t, bucket, items.items())
    names = sorted(items)
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "name": "",
                           "value": {"objnames": names, "archname": "out/arch.tar", "mime": "", "isbn": False,
                                     "aate": False, "coer": False}})
    assert r.status_code == 200, r.text
    wait_idle(t, r.text)
    data = t.get(bucket, "out/arch.tar").content
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == names
        for n in names:
            assert tf.extractfile(n).read() == items[n]
    # append to the existing archive, with the bucket name in member names
    t.put(bucket, "late.txt", b"late")
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"objnames": ["late.txt"], "archname": "out/arch.tar",
                                                          "isbn": True, "aate": True}})
    wait_job(t, r.text)
    with tarfile.open(fileobj=io.BytesIO(t.get(bucket, "out/arch.tar").content)) as tf:
        assert tf.getnames() == names + [f"{bucket}/late.txt"]


def test_archive_formats_and_errors(shared_target, bucket):
    t = shared_target
    put_many(t, bucket, [("a", b"AAA"), ("b", b"BBBB")])
    dst = bucket + "-arch"
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"template": "", "archname": "all.tgz",
                                                          "tobck": {"name": dst, "provider": "ais"}}})
    wait_job(t, r.text)
    with tarfile.open(fileobj=io.BytesIO(t.get(dst, "all.tgz").content), mode="r:gz") as tf:
        assert tf.getnames() == ["a", "b"]
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"objnames": ["a", "b"], "archname": "x.zip"}})
    wait_job(t, r.text)
    with zipfile.ZipFile(io.BytesIO(t.get(bucket, "x.zip").content)) as zf:
        assert zf.read("b") == b"BBBB"
    # a missing object without coer: no archive at all; with coer: the rest
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"objnames": ["a", "zz"], "archname": "bad.tar"}})
    st = wait_job(t, r.text)
    assert "zz" in st["err"] and t.get(bucket, "bad.tar").status_code == 404
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"objnames": ["a", "zz"], "archname": "ok.tar", "coer": True}})
    wait_job(t, r.text)
    with tarfile.open(fileobj=io.BytesIO(t.get(bucket, "ok.tar").content)) as tf:
        assert tf.getnames() == ["a"]
    r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                     json={"action": "archive", "value": {"objnames": ["a"], "archname": "x.rar"}})
    assert r.status_code == 400


def test_copy_obj(shared_target, bucket):
    t = shared_target
    dst = t.create_bucket(bucket + "-co")
    data = os.urandom(70000)
    t.put(bucket, "src/obj", data)
    url = f"{t.url}/v1/objects/{bucket}/src/obj?bck_to={uname(dst)}"
    r = requests.post(url, json={"action": "copy-obj", "name": "copied", "value": {"id": ""}})
    assert r.status_code == 200, r.text
    assert r.headers["ais-size"] == str(len(data)) and r.headers["ais-version"] == "1"
    assert t.get(dst, "copied").content == data
    r = requests.post(url, json={"action": "copy-obj", "name": "copied", "value": {"id": ""}})
    assert r.headers["ais-version"] == "2"
    r = requests.post(url, json={"action": "copy-obj", "name": "c2", "value": {"id": "faulty-name"}})
    assert r.status_code == 404 and "etl job faulty-name does not exist" in r.json()["message"]
    r = requests.post(f"{t.url}/v1/objects/{bucket}/nope?bck_to={uname(dst)}",
                      json={"action": "copy-obj", "name": "c3", "value": {"id": ""}})
    assert r.status_code == 404


def test_copy_obj_etl(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "md5-etl", MD5_CODE)
    data = os.urandom(5000)
    t.put(bucket, "o", data)
    r = requests.post(f"{t.url}/v1/objects/{bucket}/o?bck_to={uname(bucket)}",
                      json={"action": "copy-obj", "name": "o.md5", "value": {"id": etl}})
    assert r.status_code == 200, r.text
    assert r.headers["ais-size"] == "32"
    assert t.get(bucket, "o.md5").content == hashlib.md5(data).hexdigest().encode()
