"""The ETL guide's console examples (shared/seed/etl.md, "Inline ETL example"
and "Offline ETL example") run command line by command line through the
shell, with our `ais` first on PATH and AIS_ENDPOINT at a real etlfs-target.
Only what needs the internet is replaced: the md5 pod spec comes from
etl/transformers/md5/pod.yaml, and ImageNet by a dozen generated JPEGs.
Each step's effect or output is checked."""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT, Target, beside_project

AIS = os.path.join(BIN, "ais")
SEED = beside_project("ETLFS_SEED", "shared", "seed", "etl.md")
MD5_POD = os.path.join(ROOT, "etl", "transformers", "md5", "pod.yaml")

pytestmark = pytest.mark.timeout(600)

# The guide's commands, verbatim (checked against the guide when it is present).
INLINE = [
    "ais bucket create ais://src",
    "ais etl show",
    'echo "hello world" > text.txt',
    "ais put text.txt ais://src",
    "curl -s https://raw.githubusercontent.com/NVIDIA/ais-etl/master/transformers/md5/pod.yaml -o md5_spec.yaml",
    "ais etl init spec --from-file md5_spec.yaml --name etl-md5 --comm-type hpull",
    "ais etl show",
    "ais etl object etl-md5 ais://src/text.txt -",
]

OFFLINE = [
    "wget -O imagenet.tar https://image-net.org/data/ILSVRC/2012/ILSVRC2012_img_val.tar --no-check-certificate",
    "mkdir imagenet && tar -C imagenet -xvf imagenet.tar >/dev/null",
    "cd imagenet",
    "ls | head -5",
    "ais bucket create ais://imagenet",
    "ais put . ais://imagenet -r",
    "ais ls ais://imagenet | head -5",
    "cat > code.py",
    "cat > deps.txt",
    "ais etl init code --name etl-torchvision --from-file code.py --deps-file deps.txt --runtime python3.11v2 "
    "--comm-type hpull",
    'ais etl bucket etl-torchvision ais://imagenet ais://imagenet-transformed --ext="{JPEG:JPEG}"',
    "ais ls ais://imagenet-transformed | head -5",
    "ais object get ais://imagenet-transformed/ILSVRC2012_val_00050000.JPEG test.JPEG",
]

TORCHVISION_CODE = """import io
from PIL import Image
from torchvision import transforms as T

preprocess = T.Compose(
    [
        T.Resize(256),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        T.ToPILImage(),
    ]
)

# Define the transform function
def transform(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))    
    processed = preprocess(image)
    buf = io.BytesIO()
    processed.save(buf, format='JPEG')
    byte_im = buf.getvalue()
    return byte_im
"""  # noqa: W291 (the guide's trailing blanks, kept)

SEED_DEPS = "torch==2.0.1\ntorchvision==0.15.2\n"
# what Debian 12 has (python3-torch 1.13, python3-torchvision 0.14, python3-pil)
LOCAL_DEPS = "torch\ntorchvision\nPillow\n"


def seed_block(title):
    """The '$ ' command lines of the console block under a '## title' heading,
    and the text typed into each `cat > file`."""
    with open(SEED) as f:
        text = f.read()
    sec = text.split("## " + title, 1)[1]
    block = sec.split("```console", 1)[1].split("```", 1)[0]
    cmds, typed, cur = [], {}, None
    for line in block.splitlines():
        if line.startswith("$ "):
            cmd = line[2:].strip()
            cur = None
            if cmd.startswith("#"):
                continue
            cmds.append(cmd)
            m = re.fullmatch(r"cat > (\S+)", cmd)
            if m:
                cur = m.group(1)
                typed[cur] = []
        elif cur is not None:
            typed[cur].append(line)
    return cmds, {k: "\n".join(v).strip("\n") + "\n" for k, v in typed.items()}


class Shell:
    """Runs the guide's lines one at a time, remembering `cd`."""

    def __init__(self, target, cwd):
        self.cwd = str(cwd)
        self.env = dict(os.environ, AIS_ENDPOINT=target.url, PATH=BIN + ":" + os.environ.get("PATH", ""))
        self.env.pop("AIS_AUTHN_TOKEN", None)

    def run(self, line, ok=True, timeout=300, stdin=None):
        if line.startswith("cd "):
            self.cwd = os.path.join(self.cwd, line[3:].strip())
            assert os.path.isdir(self.cwd)
            return None
        r = subprocess.run(line, shell=True, cwd=self.cwd, env=self.env, capture_output=True, timeout=timeout,
                           input=stdin)
        if ok:
            assert r.returncode == 0, (line, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
        return r


def test_guide_text_matches():
    if not os.path.exists(SEED):
        pytest.skip(f"{SEED} is not here")
    cmds, _ = seed_block("Inline ETL example")
    assert cmds == INLINE
    cmds, typed = seed_block("Offline ETL example")
    assert cmds == OFFLINE
    assert typed["code.py"].replace("    \n", "\n") == TORCHVISION_CODE.replace("    \n", "\n")
    assert typed["deps.txt"] == SEED_DEPS


def test_inline_example(target, tmp_path):
    assert shutil.which("ais", path=BIN) == AIS
    sh = Shell(target, tmp_path)
    # Step 1: Create a new bucket
    r = sh.run(INLINE[0])
    assert r.stdout.decode() == '"ais://src" created\n'
    assert requests.head(f"{target.url}/v1/buckets/src", timeout=10).status_code == 200
    # Step 2: Show existing ETLs: an empty answer without errors
    r = sh.run(INLINE[1])
    assert r.stdout == b"" and r.stderr == b""
    # Step 3: a file into the bucket
    sh.run(INLINE[2])
    assert (tmp_path / "text.txt").read_bytes() == b"hello world\n"
    r = sh.run(INLINE[3])
    assert r.stdout.decode() == 'PUT "text.txt" => ais://src/text.txt\n\n'  # upstream's blank line
    assert target.get("src", "text.txt").content == b"hello world\n"
    # Step 4: the spec file (no internet: the local md5 pod under the guide's name)
    shutil.copyfile(MD5_POD, tmp_path / "md5_spec.yaml")
    # Step 5: Initialize the ETL
    t0 = time.time()
    r = sh.run(INLINE[5], timeout=180)
    assert re.fullmatch(r'ETL\[etl-md5\]: job "etl-[A-Za-z0-9]+"\n', r.stdout.decode()), r.stdout
    assert time.time() - t0 < 60
    show = requests.get(f"{target.url}/v1/etl/etl-md5", timeout=10).json()
    assert show["communication"] == "hpull://" and show["status"] == "running"
    # Step 6: it is listed
    r = sh.run(INLINE[6])
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["ETL", "NAME", "XACTION", "OBJECTS"]
    assert len(lines) == 2 and lines[1].split()[0] == "etl-md5"
    lst = requests.get(f"{target.url}/v1/etl", timeout=10).json()
    assert lines[1].split()[1] == lst[0]["xaction_id"]
    # Step 7: the transformation, to standard output
    r = sh.run(INLINE[7])
    assert r.stdout.decode().strip() == hashlib.md5(b"hello world\n").hexdigest()
    assert r.stderr == b""
    # the same bytes as the REST API gives (through the 307 to the ETL)
    g = requests.get(f"{target.url}/v1/objects/src/text.txt", params={"etl_name": "etl-md5"}, timeout=30)
    assert [h.status_code for h in g.history] == [307]
    assert r.stdout == g.content


# ---- offline

def make_images(folder, n=12):
    """RGB JPEGs of various sizes and aspect ratios, named as ImageNet's
    validation set (the last one is the guide's 00050000), plus two .jpg."""
    from PIL import Image, ImageDraw

    os.makedirs(folder)
    names = []
    for i in range(n):
        w, h = [(500, 375), (375, 500), (64, 48), (224, 224), (1024, 300), (256, 257), (99, 700), (800, 600),
                (333, 333), (640, 427), (227, 1000), (300, 200)][i % 12]
        img = Image.new("RGB", (w, h), (20 * i % 256, 255 - 15 * i % 256, 128))
        d = ImageDraw.Draw(img)
        d.ellipse([w // 5, h // 5, w - w // 5, h - h // 5], fill=(250, 30 + 10 * i, 10))
        d.line([0, 0, w, h], fill=(0, 0, 0), width=3)
        name = f"ILSVRC2012_val_{50000 - n + 1 + i:08d}.JPEG"
        img.save(os.path.join(folder, name), format="JPEG", quality=90)
        names.append(name)
    for j in range(2):
        name = f"extra_{j}.jpg"
        Image.new("RGB", (300 + j, 280), (10, 200, 30)).save(os.path.join(folder, name), format="JPEG")
        names.append(name)
    return sorted(names)


def listed(out):
    return [ln.split()[0] for ln in out.decode().splitlines()[1:] if ln.strip()]


def check_224_jpeg(data, what):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG", what
        assert im.size == (224, 224), (what, im.size)
        im.load()  # the whole image decodes


@pytest.fixture
def torchvision_ok():
    r = subprocess.run(["/usr/bin/python3", "-c", "import torchvision, PIL"], capture_output=True, timeout=120)
    if r.returncode != 0:
        pytest.skip("needs Debian's python3-torchvision and python3-pil: " + r.stderr.decode()[-300:])


def test_offline_example(target, tmp_path, torchvision_ok):
    pytest.importorskip("PIL")
    sh = Shell(target, tmp_path)
    # instead of wget + tar: a small image folder
    names = make_images(str(tmp_path / "imagenet"))
    sh.run(OFFLINE[2])  # cd imagenet
    r = sh.run(OFFLINE[3])
    assert r.stdout.decode().split() == names[:5]

    r = sh.run(OFFLINE[4])
    assert r.stdout.decode() == '"ais://imagenet" created\n'
    r = sh.run(OFFLINE[5], timeout=120)
    assert "PUT 14 files" in r.stdout.decode(), r.stdout
    for n in names:
        assert target.get("imagenet", n).content == (tmp_path / "imagenet" / n).read_bytes(), n
    r = sh.run(OFFLINE[6])
    out = r.stdout.decode().splitlines()
    assert len(out) == 5 and out[0].split() == ["NAME", "SIZE"]
    assert listed(r.stdout) == names[:4]

    # cat > code.py / cat > deps.txt: typed on stdin, as in the guide
    sh.run(OFFLINE[7], stdin=TORCHVISION_CODE.encode())
    sh.run(OFFLINE[8], stdin=LOCAL_DEPS.encode())
    assert (tmp_path / "imagenet" / "code.py").read_text() == TORCHVISION_CODE

    t0 = time.time()
    r = sh.run(OFFLINE[9], timeout=300)
    assert r.stdout.decode().startswith('ETL[etl-torchvision]: job "'), r.stdout
    assert time.time() - t0 < 120
    show = requests.get(f"{target.url}/v1/etl/etl-torchvision", timeout=10).json()
    assert show["runtime"] == "python3.11v2" and show["communication"] == "hpull://"
    assert any("satisfied by system packages" in w for w in show.get("warnings") or []), show.get("warnings")

    # the guide's offline transform (no --wait): the job id comes back at once
    r = sh.run(OFFLINE[10], timeout=120)
    first = r.stdout.decode().splitlines()[0]
    m = re.match(r"etl-bucket\[([A-Za-z0-9]+)\] ais://imagenet => ais://imagenet-transformed", first)
    assert m, r.stdout
    sh.run(f"ais job wait {m.group(1)} --timeout 5m", timeout=330)
    st = json.loads(sh.run(f"ais job show {m.group(1)} --json").stdout)
    assert st["end_time"] != 0 and not st.get("err") and not st.get("aborted"), st

    r = sh.run(OFFLINE[11])
    assert listed(r.stdout) == names[:4]
    r = sh.run("ais ls ais://imagenet-transformed --no-headers --no-footers --props name")
    assert sorted(r.stdout.decode().split()) == names  # {JPEG:JPEG}: names kept, .jpg untouched
    for n in names:
        g = target.get("imagenet-transformed", n)
        assert g.status_code == 200, n
        check_224_jpeg(g.content, n)

    r = sh.run(OFFLINE[12])
    got = (tmp_path / "imagenet" / "test.JPEG").read_bytes()
    assert got == target.get("imagenet-transformed", "ILSVRC2012_val_00050000.JPEG").content
    check_224_jpeg(got, "test.JPEG")

    # an extension that changes, and --wait
    r = sh.run('ais etl bucket etl-torchvision ais://imagenet ais://imagenet-jpg --ext="{JPEG:jpg}" --wait',
               timeout=330)
    r = sh.run("ais ls ais://imagenet-jpg --no-headers --no-footers --props name")
    assert sorted(r.stdout.decode().split()) == sorted(n.replace(".JPEG", ".jpg") for n in names)
    for n in names:
        check_224_jpeg(target.get("imagenet-jpg", n.replace(".JPEG", ".jpg")).content, n)


@pytest.fixture
def offline_target(tmp_path, monkeypatch):
    """A target whose ETLs' pip has no package index (the operator's
    PIP_INDEX_URL, passed to pip, names a closed port): a node off the
    internet, whatever this machine can reach."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    os.makedirs(tmp_path / "t", exist_ok=True)
    t = Target(str(tmp_path / "t"))
    yield t
    t.stop()


def test_offline_seed_deps_unsatisfiable_offline(offline_target, tmp_path, torchvision_ok):
    """The guide's pinned deps.txt (torch 2.0.1) is not what Debian has, and
    there is no package index here: init fails cleanly, naming the
    requirement, in bounded time, and leaves nothing behind."""
    target = offline_target
    sh = Shell(target, tmp_path)
    (tmp_path / "code.py").write_text(TORCHVISION_CODE)
    (tmp_path / "deps.txt").write_text(SEED_DEPS)
    t0 = time.time()
    r = sh.run(OFFLINE[9], ok=False, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr)
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "torch==2.0.1" in err, err
    assert time.time() - t0 < 150
    assert requests.get(f"{target.url}/v1/etl/etl-torchvision", timeout=10).status_code == 404
    assert sh.run("ais etl show").stdout == b""
