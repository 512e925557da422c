"""etlfs-target: list objects: JSON and msgpack shapes, paging (2,500 objects
in pages of 1,000: every name once, in order), prefix, the name-only and
name-size flags, and the no-recursion view with directory entries."""
import concurrent.futures
import os
import threading
import time

import pytest
import requests

msgpack = pytest.importorskip("msgpack")  # Debian python3-msgpack

LS_NAME_ONLY, LS_NAME_SIZE, LS_NO_RECURSION = 16, 32, 2048
IS_CACHED, IS_DIR = 64, 256


def lso(t, bck, msgpack_reply=True, **value):
    value.setdefault("flags", "0")
    headers = {"Accept": "application/msgpack"} if msgpack_reply else {}
    r = requests.get(f"{t.url}/v1/buckets/{bck}", json={"action": "list", "name": "", "value": value},
                     headers=headers)
    assert r.status_code == 200, r.text
    if msgpack_reply:
        assert r.headers["Content-Type"] == "application/msgpack"
        return msgpack.unpackb(r.content, raw=False, strict_map_key=True)
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def list_all(t, bck, **value):
    names, token, uuid, pages = [], "", "", 0
    while True:
        page = lso(t, bck, continuation_token=token, uuid=uuid, **value)
        assert page["UUID"]
        uuid = page["UUID"]
        names += page["Entries"]
        token = page["ContinuationToken"]
        pages += 1
        if not token:
            return names, pages


@pytest.fixture(scope="module")
def big_bucket(shared_target):
    """2,500 small objects under a few prefixes (written by 4 threads)."""
    t = shared_target
    t.create_bucket("lso-big")
    names = [f"d{i % 5}/obj-{i:05d}" for i in range(2400)] + [f"top-{i:03d}" for i in range(100)]

    def put(chunk):
        with requests.Session() as s:
            for n in chunk:
                r = s.put(f"{t.url}/v1/objects/lso-big/{n}", data=n.encode())
                assert r.status_code == 200, r.text

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(put, [names[i::4] for i in range(4)]))
    return sorted(names)


def test_msgpack_shape(target):
    target.create_bucket("mp")
    target.put("mp", "a/b c", b"12345")
    target.put("mp", "x", b"")
    raw = requests.get(f"{target.url}/v1/buckets/mp", json={"action": "list", "name": "", "value": {"flags": "0"}},
                       headers={"Accept": "application/msgpack"})
    assert raw.headers["Content-Type"] == "application/msgpack"
    page = msgpack.unpackb(raw.content, raw=False)  # str, not bin: raw=False would keep bin as bytes
    assert list(page.keys()) == ["UUID", "ContinuationToken", "Entries", "Flags"]
    assert isinstance(page["UUID"], str) and page["UUID"]
    assert page["ContinuationToken"] == ""
    assert page["Flags"] == 0
    e0, e1 = page["Entries"]
    assert e0["n"] == "a/b c" and e0["s"] == 5 and e0["f"] & IS_CACHED
    assert e1["n"] == "x" and "s" not in e1  # zero size is omitted, as Go's msgp does
    for e in page["Entries"]:
        for k, v in e.items():
            assert isinstance(k, str)
            assert isinstance(v, (str, int)) and not isinstance(v, bool), (k, v)
    # empty bucket: an empty array, never nil
    target.create_bucket("mp-empty")
    assert lso(target, "mp-empty")["Entries"] == []


def test_json_shape(target):
    target.create_bucket("js")
    target.put("js", "a", b"123")
    page = lso(target, "js", msgpack_reply=False)
    assert page["uuid"] and page["continuation_token"] == "" and page["flags"] == 0
    assert page["entries"] == [{"name": "a", "size": "3", "flags": IS_CACHED}]  # size is a JSON string
    page = lso(target, "js", msgpack_reply=False, props="name,size,checksum,version,atime")
    (e,) = page["entries"]
    assert e["checksum"] and len(e["checksum"]) == 16
    assert e["version"] == "1" and e["atime"].endswith("UTC")


def test_paging_2500(shared_target, big_bucket):
    entries, pages = list_all(shared_target, "lso-big", pagesize=1000)
    names = [e["n"] for e in entries]
    assert names == big_bucket  # every name exactly once, sorted
    assert pages == 3
    # the session id is echoed
    p1 = lso(shared_target, "lso-big", pagesize=1000)
    p2 = lso(shared_target, "lso-big", pagesize=1000, uuid=p1["UUID"], continuation_token=p1["ContinuationToken"])
    assert p2["UUID"] == p1["UUID"]
    assert p1["ContinuationToken"] == p1["Entries"][-1]["n"]


def test_paging_exact_pages(shared_target, big_bucket):
    """2,500 in pages of 500: the last full page is followed by an empty one with token ""."""
    entries, pages = list_all(shared_target, "lso-big", pagesize=500)
    assert [e["n"] for e in entries] == big_bucket
    assert pages == 6


def test_default_page_size(shared_target, big_bucket):
    page = lso(shared_target, "lso-big")  # pagesize 0 -> 10000: all in one page
    assert len(page["Entries"]) == len(big_bucket) and page["ContinuationToken"] == ""


def test_prefix(shared_target, big_bucket):
    for prefix in ("d3/", "d3/obj-0001", "top-", "d", "nothing", "top-099"):
        entries, _ = list_all(shared_target, "lso-big", prefix=prefix, pagesize=300)
        assert [e["n"] for e in entries] == [n for n in big_bucket if n.startswith(prefix)], prefix


def test_prefix_with_dotdot_is_400(shared_target, big_bucket):
    r = requests.get(f"{shared_target.url}/v1/buckets/lso-big",
                     json={"action": "list", "value": {"prefix": "d1/../", "flags": "0"}})
    assert r.status_code == 400


def test_numbers_out_of_range(shared_target, big_bucket):
    """Numbers no integer can hold (found by fuzz_actmsg): flags that are not
    bits are a 400; a page size that is no whole number 0 or more is a 400 too
    (test_target_input.py), and one past 10000 is a full page."""
    url = f"{shared_target.url}/v1/buckets/lso-big"
    for flags in ("-1", "1e300", "1e999", "18446744073709551616"):
        r = requests.get(url, data='{"action":"list","value":{"flags":%s}}' % flags,
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "flags" in r.json()["message"], (flags, r.text)
    for pagesize in ("1e999", "-1e999", "0.5"):
        r = requests.get(url, data='{"action":"list","value":{"flags":"0","pagesize":%s,"prefix":"d1/"}}' % pagesize,
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "pagesize" in r.json()["message"], (pagesize, r.text)
    for pagesize in ("3000000000",):
        r = requests.get(url, data='{"action":"list","value":{"flags":"0","pagesize":%s,"prefix":"d1/"}}' % pagesize,
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (pagesize, r.text)
        page = r.json()
        assert page["continuation_token"] == "" and len(page["entries"]) == sum(n.startswith("d1/") for n in big_bucket)


def test_start_after(shared_target, big_bucket):
    page = lso(shared_target, "lso-big", start_after="d4/obj-02399", pagesize=5)
    assert [e["n"] for e in page["Entries"]] == [n for n in big_bucket if n > "d4/obj-02399"][:5]


def test_flags_name_only_and_name_size(target):
    target.create_bucket("fl")
    target.put("fl", "a", b"abc")
    page = lso(target, "fl", flags="17")  # cached + name-only
    (e,) = page["Entries"]
    assert e["n"] == "a" and "s" not in e and "cs" not in e and "a" not in e
    page = lso(target, "fl", flags="32")  # name-size
    (e,) = page["Entries"]
    assert e["n"] == "a" and e["s"] == 3 and "cs" not in e
    page = lso(target, "fl", flags="1")  # cached: name,size,checksum,atime
    (e,) = page["Entries"]
    assert e["s"] == 3 and len(e["cs"]) == 16 and e["a"]
    page = lso(target, "fl", props="name,size,version,checksum,copies")
    (e,) = page["Entries"]
    assert e["v"] == "1" and e["c"] == 1


def test_no_recursion(target):
    target.create_bucket("nr")
    for n in ("a", "a-b", "a.b/c", "dir/x", "dir/y", "dir/sub/z", "dir/sub2/w", "e f/g", "zz"):
        target.put("nr", n, b"1")
    page = lso(target, "nr", flags=str(LS_NO_RECURSION))
    got = [(e["n"], e["f"] & IS_DIR) for e in page["Entries"]]
    assert got == [("a", 0), ("a-b", 0), ("a.b", IS_DIR), ("dir", IS_DIR), ("e f", IS_DIR), ("zz", 0)]
    for e in page["Entries"]:
        if e["f"] & IS_DIR:
            assert "s" not in e


def test_no_recursion_under_prefix(target):
    """What `ais ls --no-recursion ais://nr/dir/` (and a FUSE readdir) asks for: the directory's children."""
    target.create_bucket("nr")
    for n in ("dir/x", "dir/y", "dir/sub/z", "dir/sub/q", "dir/sub2/w", "other"):
        target.put("nr", n, b"1")
    page = lso(target, "nr", prefix="dir/", flags=str(LS_NO_RECURSION))
    got = [(e["n"], e["f"] & IS_DIR) for e in page["Entries"]]
    assert got == [("dir/sub", IS_DIR), ("dir/sub2", IS_DIR), ("dir/x", 0), ("dir/y", 0)]


def test_no_recursion_paging_reports_dirs_once(target):
    target.create_bucket("nrp")
    names = [f"d{i}/f{j}" for i in range(6) for j in range(3)] + [f"f{i}" for i in range(5)]
    for n in names:
        target.put("nrp", n, b"1")
    entries, _ = list_all(target, "nrp", flags=str(LS_NO_RECURSION), pagesize=2)
    got = [e["n"] for e in entries]
    assert got == sorted([f"d{i}" for i in range(6)] + [f"f{i}" for i in range(5)])


def test_lso_missing_bucket(target):
    r = requests.get(f"{target.url}/v1/buckets/none", json={"action": "list", "value": {}},
                     headers={"Accept": "application/msgpack"})
    assert r.status_code == 404 and "does not exist" in r.json()["message"]


# ---- pages across concurrent writes: a directory's sorted names are kept
# between pages (walk.c) while it does not change; every change must show.

def _fill(t, bck, names):
    def put(chunk):
        with requests.Session() as s:
            for n in chunk:
                assert s.put(f"{t.url}/v1/objects/{bck}/{n}", data=b"x").status_code == 200

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(put, [names[i::4] for i in range(4)]))


def _settle():
    # a directory changed less than a second ago is never kept (walk.c): wait
    # so that the first page reads the kept copy, the path under test
    time.sleep(1.2)


@pytest.mark.parametrize("under", ["", "sub/"])
def test_pages_across_put_and_delete_between_pages(target, under):
    t, bck = target, target.create_bucket("churn")
    stable = [f"{under}s-{i:04d}" for i in range(0, 1200, 2)]
    doomed = [f"{under}s-{i:04d}x" for i in range(0, 1200, 10)]
    _fill(t, bck, stable + doomed)
    _settle()
    value = {"pagesize": 37, "prefix": under}
    if under:
        value["flags"] = str(LS_NO_RECURSION)
    listed, token, added, deleted, step = [], "", set(), set(), 0
    while True:
        page = lso(t, bck, continuation_token=token, **value)
        names = [e["n"] for e in page["Entries"]]
        listed += names
        token = page["ContinuationToken"]
        if not token:
            break
        # between pages: a name after the token, one before it, and a delete after it
        step += 1
        after, before = f"{token}-{step:03d}", f"{under}s-{step:04d}b"
        assert before < token < after
        for n in (after, before):
            t.put(bck, n, b"y")
            added.add(n)
        later = [n for n in doomed if n > token and n not in deleted]
        if later:
            assert requests.delete(f"{t.url}/v1/objects/{bck}/{later[0]}").status_code == 200
            deleted.add(later[0])
    assert listed == sorted(listed) and len(listed) == len(set(listed)), "out of order or twice"
    got = set(listed)
    assert set(stable) <= got
    assert not (deleted & got), "deleted before its page, yet listed"
    assert set(doomed) - deleted <= got
    # every name added after the token of its page is listed; none before it is
    assert {n for n in added if not n.endswith("b")} <= got
    assert not {n for n in added if n.endswith("b")} & got


def test_pages_with_a_writer_running(target):
    t, bck = target, target.create_bucket("churn2")
    stable = [f"k-{i:05d}" for i in range(0, 3000, 3)]
    _fill(t, bck, stable)
    _settle()
    stop = threading.Event()

    def writer():
        # puts and deletes names between the stable ones while the pages are read
        with requests.Session() as s:
            for i in range(4000):
                if stop.is_set():
                    return
                n = f"k-{(i * 7) % 3000:05d}w"
                s.put(f"{t.url}/v1/objects/{bck}/{n}", data=b"w")
                if i % 2:
                    s.delete(f"{t.url}/v1/objects/{bck}/{n}")

    th = threading.Thread(target=writer)
    th.start()
    try:
        names, pages = list_all(t, bck, pagesize=50)
    finally:
        stop.set()
        th.join(60)
    listed = [e["n"] for e in names]
    assert pages > 20
    assert listed == sorted(listed) and len(listed) == len(set(listed))
    assert set(stable) <= set(listed)


def test_name_placed_by_hand_between_pages_is_listed(target):
    t, bck = target, target.create_bucket("byhand")
    _fill(t, bck, [f"h-{i:04d}" for i in range(600)])
    _settle()
    first = lso(t, bck, pagesize=100)
    token = first["ContinuationToken"]
    # the layout of docs/target.md: a file in the bucket's directory is an object
    with open(os.path.join(t.data[0], "@ais", bck, "h-0599z"), "wb") as f:
        f.write(b"z")
    os.unlink(os.path.join(t.data[0] if os.path.exists(os.path.join(t.data[0], "@ais", bck, "h-0598"))
                           else t.data[1], "@ais", bck, "h-0598"))
    listed = []
    while token:
        page = lso(t, bck, pagesize=100, continuation_token=token)
        listed += [e["n"] for e in page["Entries"]]
        token = page["ContinuationToken"]
    token = first["ContinuationToken"]
    assert "h-0599z" in listed and "h-0598" not in listed
    assert listed[0] > token and listed == sorted(listed)
