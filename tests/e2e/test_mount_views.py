"""@etl views of the mount read by real clients: cat, cp, dd, Python's
open().read(), PIL and a PyTorch DataLoader, through init-spec ETLs from
etl/transformers (echo: output = source; compress: gzip, shorter or longer
than the source; image_resize: 224x224 JPEGs; torchvision_preprocess with
FORMAT=npy: arrays; md5). Concurrent readers of one
view file, and `cp -r` between two `mount -t etlfs` mounts from a view to a
plain bucket done server-side (no byte read through FUSE)."""
import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import threading

import pytest
import requests

from conftest import ROOT
from mount_fixtures import Mount, is_mounted, mount  # noqa: F401
from test_mount_helper import fuse_mounts_of, node  # noqa: F401

pytestmark = pytest.mark.timeout(300)


def pod(name, env=None):
    with open(os.path.join(ROOT, "etl", "transformers", name, "pod.yaml")) as f:
        text = f.read()
    for k, v in (env or {}).items():  # set a value the way envsubst would
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip() == f"- name: {k}":
                lines[i + 1] = lines[i + 1].split("value:")[0] + f"value: {v}"
        text = "\n".join(lines) + "\n"
        assert f"value: {v}" in text, k
    return text


def init_spec(target, etl, spec, comm="hpush://"):
    msg = {"id": etl, "communication": comm, "argument": "", "timeout": "60s",
           "spec": base64.b64encode(spec.encode()).decode()}
    r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=120)
    assert r.status_code == 200, r.text
    return etl


def read_all_ways(path, skip_blocks=1):
    """The file's bytes as cat, cp, open().read() and dd (from block skip_blocks
    of 4 KiB) see them."""
    out = {}
    out["cat"] = subprocess.run(["cat", path], capture_output=True, check=True, timeout=60).stdout
    local = path.replace("/", "_")[-60:]
    local = os.path.join("/tmp", f"etlfs-views-{os.getpid()}-{local}")
    try:
        subprocess.run(["cp", path, local], check=True, timeout=60)
        with open(local, "rb") as f:
            out["cp"] = f.read()
    finally:
        if os.path.exists(local):
            os.unlink(local)
    with open(path, "rb") as f:
        out["open"] = f.read()
    out["dd"] = subprocess.run(["dd", f"if={path}", "bs=4096", f"skip={skip_blocks}", "status=none"],
                               capture_output=True, check=True, timeout=60).stdout
    return out


TEXT = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i for i in range(20_000))
OBJECTS = {
    "small.txt": b"hello world\n",
    "text/big.txt": TEXT,                      # ~1.1 MB, compresses well
    "rand/r.bin": os.urandom(3 * 1024 * 1024 + 17),  # gzip makes it longer
    "rand/with space.bin": os.urandom(70_001),
}


@pytest.fixture
def src(target):
    target.create_bucket("vsrc")
    for k, v in OBJECTS.items():
        target.put("vsrc", k, v)
    return "vsrc"


def test_echo_view_every_reader(target, mount, src):
    etl = init_spec(target, "etl-echo", pod("echo"))
    view = mount.path("@" + etl, src)
    assert sorted(os.listdir(view)) == ["rand", "small.txt", "text"]
    for name, data in OBJECTS.items():
        got = read_all_ways(os.path.join(view, name))
        for how in ("cat", "cp", "open"):
            assert got[how] == data, (name, how, len(got[how]), len(data))
        assert got["dd"] == data[4096:], name
    assert mount.stats()["etl_reads"] >= len(OBJECTS)


def test_compress_view_shorter_and_longer(target, mount, src):
    etl = init_spec(target, "etl-gzip", pod("compress"))
    view = mount.path("@" + etl, src)
    for name, data in OBJECTS.items():
        p = os.path.join(view, name)
        assert os.path.getsize(p) == len(data)  # the source's size until read once
        got = read_all_ways(p)
        for how in ("cat", "cp", "open"):
            assert gzip.decompress(got[how]) == data, (name, how)
            assert len(got[how]) == len(got["open"]), (name, how)
        # bytes past the 10-byte gzip header (which holds a time stamp) are
        # the same for every read
        assert got["dd"] == got["open"][4096:], name
        if name == "text/big.txt":
            assert len(got["open"]) < len(data) // 10
        if name.startswith("rand/"):
            assert len(got["open"]) > len(data)
        assert os.path.getsize(p) == len(got["open"])  # now the output's size
    http = requests.get(f"{target.url}/v1/objects/{src}/rand/r.bin", params={"etl_name": etl}, timeout=60)
    assert http.status_code == 200 and gzip.decompress(http.content) == OBJECTS["rand/r.bin"]


def make_jpegs(n=10):
    from PIL import Image

    out = {}
    for i in range(n):
        w, h = 64 + 97 * i, 48 + 61 * (n - i)
        img = Image.new("RGB", (w, h), ((i * 40) % 256, (i * 90) % 256, 200))
        for x in range(0, w, 7):  # some detail so JPEG has work to do
            img.putpixel((x, (x * 3) % h), (255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, format="JPEG" if i % 3 else "PNG")
        out[f"img/{i:03d}." + ("jpg" if i % 3 else "png")] = buf.getvalue()
    return out


@pytest.fixture
def images(target):
    pytest.importorskip("PIL")
    target.create_bucket("imgs")
    imgs = make_jpegs()
    for k, v in imgs.items():
        target.put("imgs", k, v)
    init_spec(target, "etl-img", pod("image_resize", {"FORMAT": "JPEG", "SIZE": "224x224"}))
    return imgs


def test_pil_opens_resized_images_through_view(target, mount, images):
    from PIL import Image

    view = mount.path("@etl-img", "imgs", "img")
    names = sorted(os.listdir(view))
    assert names == sorted(os.path.basename(k) for k in images)
    for n in names:
        with Image.open(os.path.join(view, n)) as im:
            assert im.format == "JPEG" and im.size == (224, 224), n
            im.load()
            assert im.mode == "RGB"
        src = Image.open(io.BytesIO(images["img/" + n]))
        assert src.size != (224, 224)


DATALOADER = r"""
import json, os, sys
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

root = sys.argv[1]

class Images(Dataset):
    def __init__(self, root):
        self.files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    def __len__(self):
        return len(self.files)
    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
        return torch.from_numpy(a.copy()).permute(2, 0, 1), os.path.relpath(self.files[i], root), os.getpid()

ds = Images(root)
seen, shapes, pids = [], set(), set()
for x, names, wpids in DataLoader(ds, batch_size=3, num_workers=2, shuffle=False, timeout=120):
    shapes.add(tuple(x.shape[1:]))
    assert x.dtype == torch.uint8
    seen += list(names)
    pids |= set(int(p) for p in wpids)
print(json.dumps({"seen": seen, "shapes": sorted(shapes), "workers": len(pids - {os.getpid()})}))
"""


def test_torch_dataloader_over_view(target, mount, images, tmp_path):
    r = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True, timeout=120)
    if r.returncode != 0:
        pytest.skip("needs Debian's python3-torch")
    script = tmp_path / "dl.py"
    script.write_text(DATALOADER)
    root = mount.path("@etl-img", "imgs")
    r = subprocess.run(["/usr/bin/python3", str(script), root], capture_output=True, timeout=240)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    res = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert sorted(res["seen"]) == sorted(images)
    assert res["shapes"] == [[3, 224, 224]]
    assert res["workers"] == 2


def test_torchvision_npy_view_gives_the_local_tensor(target, mount):
    """A view of the torchvision transformer with FORMAT=npy: each file is the
    transformed pixels, the same array a DataLoader computes from the source
    itself (Resize 256 + CenterCrop 224 on the PIL image)."""
    pytest.importorskip("torchvision")
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    target.create_bucket("tvn")
    want = {}
    for i, size in enumerate(((800, 600), (640, 480), (300, 520))):
        buf = io.BytesIO()
        pixels = hashlib.shake_256(b"tv%d" % i).digest(size[0] * size[1] * 3)
        Image.frombytes("RGB", size, pixels).save(buf, format="JPEG")
        target.put("tvn", f"i{i}.jpg", buf.getvalue())
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            local = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(img.convert("RGB"))
        want[f"i{i}.jpg"] = np.asarray(local)
    init_spec(target, "etl-tvnpy", pod("torchvision_preprocess", {"FORMAT": "npy"}))
    view = mount.path("@etl-tvnpy", "tvn")
    assert sorted(os.listdir(view)) == sorted(want)
    for name, arr in want.items():
        ways = read_all_ways(os.path.join(view, name), skip_blocks=0)
        assert len(set(ways.values())) == 1, name
        got = np.load(io.BytesIO(ways["open"]))
        assert got.shape == (224, 224, 3) and got.dtype == np.uint8, name
        assert np.array_equal(got, arr), name


def test_concurrent_readers_of_one_view_file(target, mount, src):
    etl = init_spec(target, "etl-echo2", pod("echo"))
    p = mount.path("@" + etl, src, "rand", "r.bin")
    results, errors = [None] * 8, []

    def reader(i):
        try:
            with open(p, "rb") as f:
                chunks = []
                while True:
                    b = f.read(65536 + i * 4099)  # different read sizes
                    if not b:
                        break
                    chunks.append(b)
            results[i] = b"".join(chunks)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    procs = [subprocess.Popen(["cat", p], stdout=subprocess.PIPE) for _ in range(4)]
    threads = [threading.Thread(target=reader, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    outs = [pr.communicate(timeout=120)[0] for pr in procs]
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert all(pr.returncode == 0 for pr in procs)
    for got in results + outs:
        assert got == OBJECTS["rand/r.bin"]


def test_cp_r_from_md5_view_between_mounts_is_server_side(target, node, tmp_path):  # noqa: F811
    etl = init_spec(target, "etl-md5", pod("md5"))
    target.create_bucket("msrc")
    target.create_bucket("mdst")
    data = {"a.txt": b"alpha\n", "d1/b.bin": os.urandom(200_000), "d1/d2/c.bin": os.urandom(5_000_000),
            "d1/d2/d3/with space": b"x" * 33, "z": os.urandom(31)}
    for k, v in data.items():
        target.put("msrc", k, v)
    v = node.mount(f"ais://msrc@{etl}", tmp_path / "view", extra=",ro")
    d = node.mount("ais://mdst", tmp_path / "dst")
    assert len(fuse_mounts_of(node.root)) == 1
    before = node.stats()
    r = subprocess.run(["cp", "-r", v + "/.", d], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    subprocess.run(["sync", d], check=True, timeout=120)  # copies land asynchronously: wait for them
    after = node.stats()
    assert after["read_bytes"] == before["read_bytes"], "object bytes went through FUSE"
    assert after["server_copies"] - before["server_copies"] == len(data)
    for k in data:
        want = requests.get(f"{target.url}/v1/objects/msrc/{k}", params={"etl_name": etl}, timeout=60)
        assert want.status_code == 200
        got = target.get("mdst", k)
        assert got.status_code == 200, k
        assert got.content == want.content, k
        assert len(got.content) == 32
        with open(os.path.join(d, k), "rb") as f:  # and through the destination mount
            assert f.read() == want.content
    assert is_mounted(v) and is_mounted(d)


def test_pipeline_view_reads_and_copies_the_chain(target, mount, src):
    """MNT/@A>>B/ reads each file through A then B (AIStore 5.0's pipeline);
    cp -r from it into a bucket runs the same chain server-side."""
    md5 = init_spec(target, "etl-md5", pod("md5"))
    first = init_spec(target, "etl-md5b", pod("md5"))  # md5 twice: gzip output holds a time, md5 is stable
    view = mount.path(f"@{first}>>{md5}", src)
    for name, data in OBJECTS.items():
        with open(os.path.join(view, name), "rb") as f:
            assert f.read() == hashlib.md5(hashlib.md5(data).hexdigest().encode()).hexdigest().encode(), name
    target.create_bucket("vchain")
    r = subprocess.run(["cp", "-r", view + "/.", mount.path("vchain")], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    subprocess.run(["sync", mount.path("vchain")], check=True, timeout=120)
    for name in OBJECTS:
        chained = requests.get(f"{target.url}/v1/objects/{src}/{name}",
                               params={"etl_name": first, "etl_pipeline": md5}, timeout=60).content
        assert target.get("vchain", name).content == chained, name
    # a stage that does not run: no such view
    assert not os.path.exists(mount.path(f"@{first}>>etl-missing", src))
    assert not os.path.exists(mount.path(f"@{first}>>", src))
