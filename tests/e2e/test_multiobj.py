"""Multi-object operations on a list or a range of names: copy-listrange,
etl-listrange, delete-listrange, evict/prefetch refusals, archive, and the
single-object server-side copy (copy-obj) the FUSE daemon uses."""
import hashlib
import io
import os
import random
import tarfile
import threading
import time
import zipfile

import requests

from test_offline import MD5_CODE, SLOW_CODE, init_etl, job_status, list_names, put_many, uname, wait_job


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


def test_template_expansion_is_bounded(shared_target, bucket):
    """A template names at most a million objects: one that names more (or
    whose every name is invalid, which no visit would ever stop) is refused
    before any job starts, and the bucket is untouched."""
    t = shared_target
    put_many(t, bucket, [("d-0-0", b"x")])
    for action, method, tmpl in [("delete-listrange", "DELETE", "d-{0..999}-{0..1000}"),
                                 ("delete-listrange", "DELETE", "/{000..396666666669}"),
                                 ("copy-listrange", "POST", "{0..9223372036854775807}")]:
        value = {"template": tmpl}
        if action == "copy-listrange":
            value["tobck"] = {"name": bucket + "-dst"}
        r = post_listrange(t, bucket, action, value, method=method)
        assert r.status_code == 400, (tmpl, r.text)
        assert "more than 1000000 objects" in r.json()["message"], r.text
    assert list_names(t, bucket) == ["d-0-0"]
    # a million exactly is a template like any other (stopped: only its start is of interest)
    r = post_listrange(t, bucket, "delete-listrange", {"template": "z{0..999}-{0..999}"}, method="DELETE")
    assert r.status_code == 200, r.text
    requests.put(f"{t.url}/v1/cluster", json={"action": "stop", "value": {"ID": r.text}})
    wait_job(t, r.text)


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


def test_archive_append_reads_only_what_it_writes(shared_target, bucket):
    """aate reads the existing archive with the formats etlfs writes (TAR,
    gzip'd TAR, ZIP): another one (here a bzip2'd TAR) is a job error and
    the archive is left as it was."""
    t = shared_target
    t.put(bucket, "late.txt", b"late")

    def append(archname):
        r = requests.put(f"{t.url}/v1/buckets/{bucket}",
                         json={"action": "archive", "value": {"objnames": ["late.txt"], "archname": archname,
                                                              "aate": True}})
        assert r.status_code == 200, r.text
        return wait_job(t, r.text)

    def tar_bytes(mode):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tf:
            ti = tarfile.TarInfo("old.txt")
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"old"))
        return buf.getvalue()

    t.put(bucket, "a.tgz", tar_bytes("w:gz"))
    assert append("a.tgz")["err"] == ""
    with tarfile.open(fileobj=io.BytesIO(t.get(bucket, "a.tgz").content), mode="r:gz") as tf:
        assert tf.getnames() == ["old.txt", "late.txt"]
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("old.txt", b"old")
    t.put(bucket, "a.zip", zbuf.getvalue())
    assert append("a.zip")["err"] == ""
    with zipfile.ZipFile(io.BytesIO(t.get(bucket, "a.zip").content)) as zf:
        assert zf.namelist() == ["old.txt", "late.txt"]
    bz = tar_bytes("w:bz2")
    t.put(bucket, "b.tar", bz)
    st = append("b.tar")
    assert "cannot append" in st["err"], st
    assert t.get(bucket, "b.tar").content == bz


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


# ---- dst_names (an etlfs extension) and requests added to a running job

def snap_idle(t, job_id):
    r = requests.get(f"{t.url}/v1/cluster", params={"what": "qryxstats"}, json={"ID": job_id, "Kind": ""})
    assert r.status_code == 200, r.text
    snaps = [s for v in r.json().values() for s in v if s["id"] == job_id]
    assert snaps, r.text
    return all(s["is_idle"] for s in snaps)


def test_copy_listrange_dst_names(shared_target, bucket):
    t = shared_target
    items = {"dir/a.txt": os.urandom(1000), "dir/sub/b.bin": os.urandom(70000), "dir/c": b""}
    put_many(t, bucket, items.items())
    dst = bucket + "-dn"
    srcs = sorted(items)
    dsts = ["other/a.txt", "other/sub/b.bin", "other/renamed-c"]
    r = post_listrange(t, bucket, "copy-listrange", {"objnames": srcs, "dst_names": dsts, "tobck": {"name": dst}})
    assert r.status_code == 200, r.text
    wait_idle(t, r.text)
    assert sorted(list_names(t, dst)) == sorted(dsts)
    for s, d in zip(srcs, dsts):
        assert t.get(dst, d).content == items[s]
    st = wait_job(t, r.text)
    assert st["err"] == "" and st["objects"] == 3 and st["bytes"] == sum(len(v) for v in items.values())

    def refused(value, action="copy-listrange", words="dst_names"):
        value = dict(value, tobck={"name": dst + "-no"})
        r = post_listrange(t, bucket, action, value)
        assert r.status_code == 400, r.text
        assert words in r.json()["message"], r.text
        return r.json()["message"]

    refused({"objnames": srcs, "dst_names": dsts[:2]})                     # lengths differ
    refused({"template": "dir/{0..3}", "dst_names": dsts})                  # not a list of names
    refused({"template": "dir/", "dst_names": dsts})                        # a prefix
    refused({"objnames": srcs, "dst_names": dsts, "prepend": "p/"})         # prepend
    refused({"objnames": srcs, "dst_names": dsts, "id": "any", "ext": {"txt": "md5"}}, "etl-listrange")
    refused({"objnames": srcs, "dst_names": dsts, "id": "any", "ext": ".md5"}, "etl-listrange")
    msg = refused({"objnames": srcs, "dst_names": ["x", "../y", "z"]})      # an invalid name
    assert "../y" in msg
    refused({"objnames": srcs, "dst_names": ["x", "y/", "z"]})
    refused({"objnames": srcs, "dst_names": "x"})
    assert requests.head(f"{t.url}/v1/buckets/{dst}-no").status_code == 404  # nothing was started


def test_copy_listrange_added_to_running_job(shared_target, bucket):
    t = shared_target
    items = [(f"o{i:03d}", b"%d" % i * 50) for i in range(600)]
    put_many(t, bucket, items)
    dst = bucket + "-add"
    r1 = post_listrange(t, bucket, "copy-listrange", {"template": "o{000..299}", "prepend": "a/",
                                                       "tobck": {"name": dst}})
    r2 = post_listrange(t, bucket, "copy-listrange", {"template": "o{300..599}", "prepend": "b/",
                                                       "tobck": {"name": dst}})
    # each request keeps its own options, dst_names included
    r3 = post_listrange(t, bucket, "copy-listrange", {"objnames": ["o007", "o008"], "dst_names": ["x/7", "x/8"],
                                                       "tobck": {"name": dst}})
    assert r1.status_code == r2.status_code == r3.status_code == 200, (r1.text, r2.text, r3.text)
    assert r1.text == r2.text == r3.text
    # another destination, or a dry run, is another job
    r4 = post_listrange(t, bucket, "copy-listrange", {"objnames": ["o001"], "tobck": {"name": dst + "-2"}})
    r5 = post_listrange(t, bucket, "copy-listrange", {"objnames": ["o001"], "dry_run": True,
                                                       "tobck": {"name": dst}})
    assert len({r1.text, r4.text, r5.text}) == 3
    wait_idle(t, r1.text)
    names = list_names(t, dst)
    want = [f"a/o{i:03d}" for i in range(300)] + [f"b/o{i:03d}" for i in range(300, 600)] + ["x/7", "x/8"]
    assert sorted(names) == sorted(want)
    assert t.get(dst, "b/o432").content == items[432][1] and t.get(dst, "x/8").content == items[8][1]
    st = wait_job(t, r1.text)
    assert st["err"] == "" and not st["aborted"] and st["objects"] == 602, st
    assert st["bytes"] == sum(len(d) for _, d in items) + len(items[7][1]) + len(items[8][1])
    assert wait_job(t, r5.text)["objects"] == 1 and list_names(t, dst, "o") == []
    # once the job has ended, a request starts a new one
    r6 = post_listrange(t, bucket, "copy-listrange", {"objnames": ["o001"], "tobck": {"name": dst}})
    assert r6.status_code == 200 and r6.text != r1.text
    assert wait_job(t, r6.text)["objects"] == 1 and job_status(t, r1.text)["objects"] == 602


def test_is_idle_follows_added_work(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "slow-md5-etl", SLOW_CODE)
    items = [(f"s{i:03d}", os.urandom(100 + i)) for i in range(120)]
    put_many(t, bucket, items)
    dst = bucket + "-idle"

    def post(names):
        r = post_listrange(t, bucket, "etl-listrange", {"objnames": names, "id": etl, "tobck": {"name": dst}})
        assert r.status_code == 200, r.text
        return r.text

    job = post([n for n, _ in items[:60]])
    assert not snap_idle(t, job)
    wait_idle(t, job)
    # lingering idle: an addition makes it work again before its reply
    assert post([n for n, _ in items[60:]]) == job
    assert not snap_idle(t, job)
    wait_idle(t, job)
    for n, d in items:  # idle means published: every output is readable
        assert t.get(dst, n).content == hashlib.md5(d).hexdigest().encode(), n
    assert sorted(list_names(t, dst)) == sorted(n for n, _ in items)
    st = wait_job(t, job)
    assert st["objects"] == 120 and st["err"] == "" and st["bytes"] == 120 * 32


def test_etl_listrange_added_to_running_job(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "md5-etl", MD5_CODE)
    items = [(f"e{i}.jpg", os.urandom(200 + i)) for i in range(40)]
    put_many(t, bucket, items)
    dst = bucket + "-etladd"
    r1 = post_listrange(t, bucket, "etl-listrange", {"template": "e{0..19}.jpg", "id": etl, "ext": {"jpg": "md5"},
                                                      "tobck": {"name": dst}})
    r2 = post_listrange(t, bucket, "etl-listrange", {"objnames": [n for n, _ in items[20:]], "id": etl,
                                                      "dst_names": [f"named/{i}" for i in range(20, 40)],
                                                      "tobck": {"name": dst}})
    # the same buckets without the ETL is another kind, so another job
    r3 = post_listrange(t, bucket, "copy-listrange", {"objnames": ["e0.jpg"], "tobck": {"name": dst}})
    assert r1.status_code == r2.status_code == r3.status_code == 200, (r1.text, r2.text, r3.text)
    assert r1.text == r2.text != r3.text
    wait_idle(t, r1.text)
    for i, (n, d) in enumerate(items):
        out = f"e{i}.md5" if i < 20 else f"named/{i}"
        assert t.get(dst, out).content == hashlib.md5(d).hexdigest().encode(), out
    st = wait_job(t, r1.text)
    assert st["objects"] == 40 and st["err"] == ""
    wait_job(t, r3.text)


def test_abort_drops_added_work(shared_target, bucket):
    t = shared_target
    etl = init_etl(t, "slow-md5-etl", SLOW_CODE)
    put_many(t, bucket, [(f"x{i:03d}", b"x") for i in range(300)])
    dst = bucket + "-abort"
    value = {"id": etl, "tobck": {"name": dst}, "num_workers": 2}
    r1 = post_listrange(t, bucket, "etl-listrange", dict(value, template="x{000..149}"))
    r2 = post_listrange(t, bucket, "etl-listrange", dict(value, template="x{150..299}"))
    assert r1.text == r2.text
    assert requests.put(f"{t.url}/v1/cluster", json={"action": "stop", "value": {"ID": r1.text}}).status_code == 200
    st = wait_job(t, r1.text, timeout=30)
    assert st["aborted"] and st["objects"] < 300, st
    # an aborted job takes no more work
    r3 = post_listrange(t, bucket, "etl-listrange", dict(value, objnames=["x000"]))
    assert r3.status_code == 200 and r3.text != r1.text
    st = wait_job(t, r3.text)
    assert st["objects"] == 1 and not st["aborted"]


def test_no_request_lost_around_job_end(shared_target, bucket):
    """Requests from several clients at once, in rounds about the linger apart
    so that some land as a job decides to end: each one's objects all land,
    and the jobs' counters add up to them all."""
    t = shared_target
    put_many(t, bucket, [(f"r{i}", b"r" * i) for i in range(10)])
    dst = bucket + "-race"
    ids, errors = [], []
    rng = random.Random(7)
    # pauses about the linger (2 s): some requests come as a job decides to end
    pauses = [rng.uniform(1.95, 2.1) for _ in range(4)]

    def client(k):
        try:
            for j, pause in enumerate(pauses):
                r = post_listrange(t, bucket, "copy-listrange", {"template": "r{0..9}", "prepend": f"c{k}-{j}/",
                                                                  "tobck": {"name": dst}})
                assert r.status_code == 200, r.text
                ids.append(r.text)
                time.sleep(pause)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    total = 0
    for job in set(ids):
        st = wait_job(t, job)
        assert st["err"] == "" and not st["aborted"], st
        total += st["objects"]
    assert total == 4 * 4 * 10
    assert len(list_names(t, dst)) == 4 * 4 * 10
