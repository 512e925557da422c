"""etlfs-target: files inside archived objects, as AIStore serves sharded
datasets. GET ?archpath= (one archived file, each format, ranges, errors),
GET ?archregx=&archmode= (a TAR of the matching files, every match mode),
and list-objects with the ARCH_DIR flag (each archive's files after it, in
byte order, paged with the usual continuation token, JSON and msgpack)."""
import io
import shutil
import subprocess
import tarfile
import zipfile

import pytest
import requests

from test_offline import wait_job

msgpack = pytest.importorskip("msgpack")  # Debian python3-msgpack

LS_ARCH_DIR = 8
IS_CACHED, IN_ARCH, IS_DIR, IS_ARCHIVE = 64, 128, 256, 512

FILES = {  # in archive order
    "file1.txt": b"Content of file one",
    "file2.txt": b"Content of file two",
    "sub/file3.txt": b"Content of file three",
    "file1.cls": b"1",
    "file2.cls": b"2",
    "sub/file3.cls": b"3",
    "empty.bin": b"",
}


def make_tar(files, mode="w", dirs=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("sub/", b"")  # a directory entry: never a file
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def make_lz4(files):
    if not shutil.which("lz4"):
        pytest.skip("no lz4 command (Debian lz4) to make a .tar.lz4")
    return subprocess.run(["lz4", "-q", "-c"], input=make_tar(files), capture_output=True, check=True).stdout


SHARDS = {
    "s.tar": lambda: make_tar(FILES, dirs=["sub/"]),
    "s.tgz": lambda: make_tar(FILES, "w:gz"),
    "s.tar.gz": lambda: make_tar(FILES, "w:gz"),
    "s.zip": lambda: make_zip(FILES),
    "s.tar.lz4": lambda: make_lz4(FILES),
}


def get(t, bck, obj, headers=None, **params):
    return requests.get(f"{t.url}/v1/objects/{bck}/{obj}", params=params, headers=headers or {})


def untar(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def lso(t, bck, msgpack_reply=False, flags=LS_ARCH_DIR, **value):
    value["flags"] = str(flags)
    headers = {"Accept": "application/msgpack"} if msgpack_reply else {}
    r = requests.get(f"{t.url}/v1/buckets/{bck}", json={"action": "list", "name": "", "value": value},
                     headers=headers)
    assert r.status_code == 200, r.text
    if msgpack_reply:
        page = msgpack.unpackb(r.content, raw=False)
        return [(e["n"], e.get("s", 0), e["f"]) for e in page["Entries"]], page["ContinuationToken"]
    page = r.json()
    return [(e["name"], int(e.get("size", 0)), e["flags"]) for e in page["entries"]], page["continuation_token"]


def list_all(t, bck, pagesize, **value):
    out, token = [], ""
    for _ in range(200):
        entries, token = lso(t, bck, msgpack_reply=True, pagesize=pagesize, continuation_token=token, **value)
        out += entries
        if not token:
            return out
    raise AssertionError("the listing does not end")


@pytest.mark.parametrize("shard", list(SHARDS))
def test_archpath_reads_one_file_of_each_format(shared_target, bucket, shard):
    t = shared_target
    t.put(bucket, shard, SHARDS[shard]())
    for name, data in FILES.items():
        r = get(t, bucket, shard, archpath=name)
        assert r.status_code == 200, r.text
        assert r.content == data, name
        assert r.headers["Content-Length"] == str(len(data))
        assert r.headers["Content-Type"] == "application/octet-stream"
    # a leading '/' is dropped, and so is the archive's own name (the name as listed), as upstream
    assert get(t, bucket, shard, archpath="/sub/file3.txt").content == FILES["sub/file3.txt"]
    assert get(t, bucket, shard, archpath=f"{shard}/sub/file3.txt").content == FILES["sub/file3.txt"]


def test_archpath_missing_file_names_archive_and_file(shared_target, bucket):
    t = shared_target
    t.put(bucket, "s.tar", SHARDS["s.tar"]())
    r = get(t, bucket, "s.tar", archpath="nope.txt")
    assert r.status_code == 404
    assert "nope.txt" in r.json()["message"] and f"ais://{bucket}/s.tar" in r.json()["message"]
    # a directory inside the archive is no file
    assert get(t, bucket, "s.tar", archpath="sub").status_code == 404
    # nor is the archive itself there
    r = get(t, bucket, "missing.tar", archpath="file1.txt")
    assert r.status_code == 404 and f"ais://{bucket}/missing.tar" in r.json()["message"]


def test_not_an_archive_is_400(shared_target, bucket):
    t = shared_target
    t.put(bucket, "plain.tar", b"just some text, not a tar at all\n" * 40)
    t.put(bucket, "empty.zip", b"")
    for obj in ("plain.tar", "empty.zip"):
        r = get(t, bucket, obj, archpath="x")
        assert r.status_code == 400, r.text
        assert "not an archive" in r.json()["message"] and obj in r.json()["message"]
        assert get(t, bucket, obj, archregx="x", archmode="substr").status_code == 400


def test_format_comes_from_the_bytes(shared_target, bucket):
    """A shard whose name does not say its format is read all the same (GET)."""
    t = shared_target
    t.put(bucket, "shard-0001", make_tar(FILES, "w:gz"))
    assert get(t, bucket, "shard-0001", archpath="file2.txt").content == FILES["file2.txt"]


def test_bad_queries_are_400(shared_target, bucket):
    t = shared_target
    t.put(bucket, "s.tar", SHARDS["s.tar"]())
    cases = [
        {"archpath": "../file1.txt"},
        {"archpath": "sub/./file3.txt"},
        {"archpath": "sub/"},
        {"archpath": "file1.txt", "archmode": "prefix"},       # one or many, not both
        {"archregx": "file"},                                  # a regex needs its mode
        {"archregx": "file", "archmode": "glob"},              # unknown mode
        {"archregx": "file(", "archmode": "regexp"},           # bad regex
        {"archpath": "file1.txt", "archmime": "application/x-rar"},
        {"archpath": "file1.txt", "etl_name": "md5"},          # no ETL through archpath
    ]
    for params in cases:
        r = get(t, bucket, "s.tar", **params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["message"], params
    assert "missing closing parenthesis" in get(t, bucket, "s.tar", archregx="file(", archmode="regexp").text
    # a known archmime is accepted
    assert get(t, bucket, "s.tar", archpath="file1.txt", archmime=".tar").content == FILES["file1.txt"]


def test_archpath_range(shared_target, bucket):
    t = shared_target
    t.put(bucket, "s.tgz", SHARDS["s.tgz"]())
    data = FILES["file1.txt"]
    r = get(t, bucket, "s.tgz", headers={"Range": "bytes=3-9"}, archpath="file1.txt")
    assert r.status_code == 206
    assert r.content == data[3:10]
    assert r.headers["Content-Range"] == f"bytes 3-9/{len(data)}"
    r = get(t, bucket, "s.tgz", headers={"Range": "bytes=-4"}, archpath="file1.txt")
    assert r.status_code == 206 and r.content == data[-4:]
    r = get(t, bucket, "s.tgz", headers={"Range": f"bytes={len(data)}-"}, archpath="file1.txt")
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_dot_slash_and_absolute_names(shared_target, bucket):
    """Archives made by "tar c ." or "tar -P": files named without "./" and '/'."""
    t = shared_target
    t.put(bucket, "dots.tar", make_tar({"./a/x.txt": b"x", "/abs.txt": b"abs", "./é.txt": b"utf8"}))
    assert get(t, bucket, "dots.tar", archpath="a/x.txt").content == b"x"
    assert get(t, bucket, "dots.tar", archpath="abs.txt").content == b"abs"
    assert get(t, bucket, "dots.tar", archpath="é.txt").content == b"utf8"
    names = [n for n, _, _ in lso(t, bucket, prefix="dots.tar")[0]]
    assert names == ["dots.tar", "dots.tar/a/x.txt", "dots.tar/abs.txt", "dots.tar/é.txt"]


MATCHES = [  # (archmode, archregx, the matching files in archive order)
    ("prefix", "file2", ["file2.txt", "file2.cls"]),
    ("prefix", "sub/", ["sub/file3.txt", "sub/file3.cls"]),
    ("suffix", ".cls", ["file1.cls", "file2.cls", "sub/file3.cls"]),
    ("substr", "3", ["sub/file3.txt", "sub/file3.cls"]),
    ("wdskey", "sub/file3", ["sub/file3.txt", "sub/file3.cls"]),
    ("wdskey", "file3", []),                                   # the key is the whole name less its extension
    ("regexp", r"file\d\.txt$", ["file1.txt", "file2.txt", "sub/file3.txt"]),
    ("regexp", r"^file[12]", ["file1.txt", "file2.txt", "file1.cls", "file2.cls"]),
    ("regexp", "(?i)EMPTY", ["empty.bin"]),
    ("prefix", "", list(FILES)),                               # "" matches every file
    ("regexp", "*", list(FILES)),                              # so does "*", whatever the mode
]


@pytest.mark.parametrize("shard", ["s.tar", "s.tgz", "s.zip"])
def test_archregx_answers_a_tar_of_the_matches(shared_target, bucket, shard):
    t = shared_target
    t.put(bucket, shard, SHARDS[shard]())
    for mode, regx, want in MATCHES:
        r = get(t, bucket, shard, archregx=regx, archmode=mode)
        if not want:
            assert r.status_code == 404, (mode, regx, r.text)
            assert regx in r.json()["message"] and shard in r.json()["message"]
            continue
        assert r.status_code == 200, (mode, regx, r.text)
        assert r.headers["Content-Type"] == "application/x-tar"
        assert untar(r.content) == [(n, FILES[n]) for n in want], (mode, regx)


def test_one_match_is_a_tar_too(shared_target, bucket):
    """As AIStore: a regex that matches one file still answers a TAR of it."""
    t = shared_target
    t.put(bucket, "s.tar", SHARDS["s.tar"]())
    r = get(t, bucket, "s.tar", archregx="file1.txt", archmode="substr")
    assert r.status_code == 200
    assert untar(r.content) == [("file1.txt", FILES["file1.txt"])]


def test_large_file_streams_whole(shared_target, bucket):
    t = shared_target
    big = bytes(range(256)) * (24 * 1024)  # 6 MiB
    t.put(bucket, "big.tgz", make_tar({"a": b"a", "big.bin": big, "z": b"z"}, "w:gz"))
    r = get(t, bucket, "big.tgz", archpath="big.bin")
    assert r.status_code == 200 and r.content == big
    r = get(t, bucket, "big.tgz", archregx="big", archmode="prefix")
    assert untar(r.content) == [("big.bin", big)]


def body_broke_off(**params):
    """Whether a GET's body ended short of what its headers promised (urllib3
    1.x does not raise for a short Content-Length body: compare)."""
    try:
        r = requests.get(params.pop("url"), params=params)
    except requests.exceptions.ChunkedEncodingError:
        return True
    return "Content-Length" in r.headers and len(r.content) < int(r.headers["Content-Length"])


def test_truncated_archive_never_ends_cleanly(shared_target, bucket):
    """An archive cut inside a file: the body breaks off, never a short 200."""
    t = shared_target
    whole = make_tar({"big.bin": b"x" * (2 << 20)})
    t.put(bucket, "cut.tar", whole[: len(whole) // 2])
    url = f"{t.url}/v1/objects/{bucket}/cut.tar"
    assert body_broke_off(url=url, archpath="big.bin")
    assert body_broke_off(url=url, archregx="big", archmode="prefix")
    assert requests.get(f"{t.url}/v1/health").status_code == 200


def test_the_archive_jobs_output_reads_back(shared_target, bucket):
    """Archives made by the archive action (names with non-ASCII letters too)
    are read file by file and listed."""
    t = shared_target
    files = {"a.txt": b"a", "é/ü.txt": b"utf-8 names", "日本.bin": b"jp"}
    for name, data in files.items():
        t.put(bucket, name, data)
    r = requests.put(f"{t.url}/v1/buckets/{bucket}", json={"action": "archive", "name": "", "value": {
        "objnames": list(files), "archname": "out.tgz"}})
    assert r.status_code == 200, r.text
    wait_job(t, r.text)
    assert get(t, bucket, "out.tgz").status_code == 200
    for name, data in files.items():
        assert get(t, bucket, "out.tgz", archpath=name).content == data, name
    names = [n for n, _, _ in lso(t, bucket, prefix="out.tgz")[0]]
    assert names == ["out.tgz"] + sorted(f"out.tgz/{n}" for n in files)


@pytest.fixture
def listed(shared_target, bucket):
    """Archives of three formats among plain objects, with a name ("s.tar-x")
    that sorts between an archive and its files."""
    t = shared_target
    objs = {"a-plain": b"plain", "s.tar": SHARDS["s.tar"](), "s.tar-x": b"between", "s.zip": SHARDS["s.zip"](),
            "t/s.tgz": SHARDS["s.tgz"](), "z-plain": b"z", "bad.tar": b"not a tar" * 100}
    for name, data in objs.items():
        t.put(bucket, name, data)
    want = []
    for name in objs:
        if name in ("s.tar", "s.zip", "t/s.tgz"):
            want.append((name, len(objs[name]), IS_CACHED | IS_ARCHIVE))
            want += [(f"{name}/{f}", len(d), IS_CACHED | IN_ARCH) for f, d in FILES.items()]
        else:
            want.append((name, len(objs[name]), IS_CACHED))
    return bucket, sorted(want)


def test_list_arch_dir(shared_target, listed):
    bck, want = listed
    entries, token = lso(shared_target, bck, props="name,size")
    assert token == ""
    assert entries == want  # byte order, "s.tar-x" before "s.tar/..."; bad.tar listed, not expanded
    # without the flag: the objects only
    plain, _ = lso(shared_target, bck, flags=0, props="name,size")
    assert [n for n, _, _ in plain] == sorted(n for n, _, f in want if not f & IN_ARCH)


def test_list_arch_dir_msgpack(shared_target, listed):
    bck, want = listed
    entries, token = lso(shared_target, bck, msgpack_reply=True, props="name,size")
    assert token == "" and entries == want
    # name only, as the SDK's list_archive asks
    entries, _ = lso(shared_target, bck, msgpack_reply=True, props="name", prefix="s.tar")
    assert [(n, f) for n, _, f in entries] == [(n, f) for n, _, f in want if n.startswith("s.tar")]


@pytest.mark.parametrize("pagesize", [1, 2, 3, 5, 7, 8, 13])
def test_list_arch_dir_pages(shared_target, listed, pagesize):
    """Pages cut anywhere (inside an archive too) join up into the whole listing."""
    bck, want = listed
    assert list_all(shared_target, bck, pagesize, props="name,size") == want


def test_list_prefix_into_an_archive(shared_target, listed):
    bck, want = listed
    for prefix in ("s.tar/sub/", "s.tar/file1", "t/s.tgz/", "s.zip/sub/file3.c", "s.tar/none"):
        got = list_all(shared_target, bck, 2, prefix=prefix, props="name,size")
        assert got == [e for e in want if e[0].startswith(prefix)], prefix
    got = list_all(shared_target, bck, 3, prefix="s.tar", props="name,size")
    assert [e[0] for e in got] == [e[0] for e in want if e[0].startswith("s.tar")]


def test_list_start_after_inside_an_archive(shared_target, listed):
    bck, want = listed
    after = "s.tar/file2.cls"
    entries, _ = lso(shared_target, bck, start_after=after, pagesize=4, props="name,size")
    assert entries == [e for e in want if e[0] > after][:4]
