"""ETL transformers and the init-code runner as standalone processes: each
is started on a free loopback port and driven the way the target drives it
(hpush PUT, hpull/hrev GET of an escaped uname, ARG_TYPE=fqn). A small
http.server stands in for the target's AIS_TARGET_URL object endpoint."""
import bz2
import gzip
import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import BIN, ROOT, free_port, log_tail, wait_until

PY = "/usr/bin/python3"
XF = os.path.join(ROOT, "etl", "transformers")
RUNNER = os.path.join(ROOT, "etl", "runtimes", "python", "runner.py")
TIMEOUT = 20  # seconds for any one request or start-up

UNAME = "ais%2F@%23%2Fbck%2Fdir%2Fobj.bin"  # PathEscape("ais/@#/bck/dir/obj.bin")
SECRET_PREFIX = "/v1/etl/_object/SECRET"


# ---- a stand-in for the target's object endpoint (AIS_TARGET_URL)

class ObjectStore(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.objects = {}  # raw escaped path after the prefix -> bytes
        self.seen = []
        super().__init__(("127.0.0.1", 0), ObjectHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PREFIX}"


class ObjectHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(self.path)
        path = self.path.split("?", 1)[0]
        key = path[len(SECRET_PREFIX) + 1:] if path.startswith(SECRET_PREFIX + "/") else None
        data = self.server.objects.get(key)
        if data is None:
            body = b'{"message":"not found","status":404}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
        else:
            body = data
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def store():
    s = ObjectStore()
    yield s
    s.shutdown()
    s.server_close()


# ---- starting programs

class Proc:
    def __init__(self, args, env, port, log_dir):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(log_dir, f"proc-{port}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env)
        self.proc = subprocess.Popen(args, env=full_env, stdout=self.log, stderr=self.log)

    def wait_ready(self):
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode}: {self.log_text()}")
            try:
                r = requests.get(self.url + "/health", timeout=1)
            except requests.RequestException:
                return False
            assert r.status_code != 200 or r.text == "Running"
            return r.status_code == 200

        if not wait_until(up, TIMEOUT):
            raise RuntimeError("never became healthy: " + self.log_text())
        return self

    def log_text(self):
        return log_tail(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start(tmp_path, store):
    procs = []

    def _start(args, env=None, ready=True):
        port = free_port()
        env = {"AIS_TARGET_URL": store.url, **(env or {})}
        args = [a.replace("{port}", str(port)) for a in args]
        p = Proc(args, env, port, str(tmp_path))
        procs.append(p)
        return p.wait_ready() if ready else p

    yield _start
    for p in procs:
        rc = p.stop()
        if os.path.basename(p.proc.args[0]) == "etlfs-md5":  # exits 0 on SIGTERM, sanitizers quiet
            assert rc == 0 and "Sanitizer" not in p.log_text(), p.log_text()


def transformer(start, name, env=None):
    return start([PY, os.path.join(XF, name, "server.py"), "--listen", "127.0.0.1", "--port", "{port}"], env)


def md5_native(start, env=None):
    binary = os.path.join(BIN, "etlfs-md5")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} not built")
    return start([binary, "-l", "127.0.0.1", "-p", "{port}"], env)


def put(p, path, data):
    return requests.put(p.url + path, data=data, timeout=TIMEOUT)


def get(p, path):
    return requests.get(p.url + path, timeout=TIMEOUT)


def escape_fqn(path):
    return "/" + urllib.parse.quote(path, safe="@")


DATA = os.urandom(300_000) + b"tail"


# ---- md5 (python and native)

@pytest.mark.parametrize("impl", ["python", "native"])
def test_md5_push_pull_fqn(start, store, tmp_path, impl):
    launch = (lambda env=None: transformer(start, "md5", env)) if impl == "python" else \
        (lambda env=None: md5_native(start, env))
    want = hashlib.md5(DATA).hexdigest()
    p = launch()
    r = put(p, "/bck/dir/obj.bin", DATA)
    assert r.status_code == 200 and r.text == want
    assert r.headers["Content-Type"].startswith("text/plain")
    assert put(p, "/bck/empty", b"").text == hashlib.md5(b"").hexdigest()
    # several requests on one keep-alive connection
    with requests.Session() as s:
        for i in range(5):
            body = DATA[: 1000 * i]
            assert s.put(p.url + "/b/o", data=body, timeout=TIMEOUT).text == hashlib.md5(body).hexdigest()
    # hpull/hrev: the raw escaped uname is appended to AIS_TARGET_URL
    store.objects[UNAME] = DATA
    r = get(p, "/" + UNAME)
    assert r.status_code == 200 and r.text == want
    assert SECRET_PREFIX + "/" + UNAME in store.seen
    r = get(p, "/ais%2F@%23%2Fbck%2Fmissing")
    assert r.status_code == 404 and "not found" in r.text

    f = tmp_path / "mp" / "@ais" / "bck" / "%ob" / "obj #1"
    f.parent.mkdir(parents=True)
    f.write_bytes(DATA)
    q = launch({"ARG_TYPE": "fqn"})
    r = put(q, escape_fqn(str(f)), b"")
    assert r.status_code == 200 and r.text == want
    r = get(q, escape_fqn(str(f)))
    assert r.status_code == 200 and r.text == want
    assert put(q, escape_fqn(str(tmp_path / "nope")), b"").status_code in (404, 500)


def test_md5_native_concurrent(start):
    p = md5_native(start)
    bodies = [os.urandom(n) for n in (0, 1, 4095, 65536, 1 << 20)] * 4
    results = [None] * len(bodies)

    def one(i):
        results[i] = put(p, f"/b/o{i}", bodies[i]).text

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert results == [hashlib.md5(b).hexdigest() for b in bodies]


def test_md5_native_stops_cleanly(start):
    p = md5_native(start)
    assert put(p, "/b/o", b"x").status_code == 200
    assert p.stop() == 0, p.log_text()


# ---- echo, hello_world

def test_echo(start, store):
    p = transformer(start, "echo")
    assert put(p, "/bck/obj", DATA).content == DATA
    store.objects[UNAME] = b"pulled"
    assert get(p, "/" + UNAME).content == b"pulled"


def test_hello_world(start, store, tmp_path):
    p = transformer(start, "hello_world")
    assert put(p, "/bck/obj", DATA).content == b"Hello World!"
    store.objects[UNAME] = b"x"
    assert get(p, "/" + UNAME).content == b"Hello World!"
    f = tmp_path / "obj"
    f.write_bytes(b"abc")
    q = transformer(start, "hello_world", {"ARG_TYPE": "fqn"})
    assert put(q, escape_fqn(str(f)), b"").content == b"Hello World!"
    assert put(q, escape_fqn(str(tmp_path / "nope")), b"").status_code == 500


def test_unexpanded_pod_placeholders(start):
    # values straight from a pod.yaml that nobody ran envsubst on
    p = transformer(start, "hello_world", {"ARG_TYPE": '${ARG_TYPE:-""}'})
    assert put(p, "/bck/obj", b"data").content == b"Hello World!"


# ---- compress

@pytest.mark.parametrize("codec,mod", [("gzip", gzip), ("bz2", bz2)])
def test_compress_round_trip(start, store, codec, mod):
    c = transformer(start, "compress", {"COMPRESS_OPTIONS": f'{{"mode":"compress","compression":"{codec}"}}'})
    d = transformer(start, "compress", {"COMPRESS_OPTIONS": f'{{"mode":"decompress","compression":"{codec}"}}'})
    packed = put(c, "/bck/obj", DATA).content
    assert mod.decompress(packed) == DATA
    assert put(d, "/bck/obj", packed).content == DATA
    store.objects[UNAME] = packed
    assert get(d, "/" + UNAME).content == DATA
    r = put(d, "/bck/obj", b"not compressed")
    assert r.status_code == 500 and r.text == "Data processing failed"


def test_compress_defaults(start):
    p = transformer(start, "compress", {"COMPRESS_OPTIONS": '${COMPRESS_OPTIONS:-"{}"}'})
    assert gzip.decompress(put(p, "/b/o", b"hello").content) == b"hello"


def test_compress_bad_options_fail_at_start(start):
    p = start([PY, os.path.join(XF, "compress", "server.py"), "-p", "{port}"],
              {"COMPRESS_OPTIONS": '{"compression":"zip"}'}, ready=False)
    assert p.proc.wait(timeout=TIMEOUT) != 0
    assert "zip" in p.log_text()


# ---- images

def _image(fmt="PNG", size=(640, 480)):
    from PIL import Image
    img = Image.new("RGB", size, (10, 200, 30))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _size(data):
    from PIL import Image
    with Image.open(io.BytesIO(data)) as img:
        return img.size, img.format


def test_image_resize(start, store):
    pytest.importorskip("PIL")
    p = transformer(start, "image_resize", {"FORMAT": "JPEG", "SIZE": "224x224"})
    assert _size(put(p, "/b/o.png", _image()).content) == ((224, 224), "JPEG")
    store.objects[UNAME] = _image("JPEG", (50, 80))
    assert _size(get(p, "/" + UNAME).content) == ((224, 224), "JPEG")
    r = put(p, "/b/o", b"not an image")
    assert r.status_code == 500 and "UnidentifiedImageError" in r.text


def test_torchvision_preprocess(start):
    pytest.importorskip("torchvision")
    p = transformer(start, "torchvision_preprocess",
                    {"FORMAT": "PNG", "TRANSFORM": '{"Resize": {"size": [224, 224]}}'})
    assert _size(put(p, "/b/o", _image("JPEG")).content) == ((224, 224), "PNG")
    # the default pipeline: Resize(256) + CenterCrop(224), JPEG out
    q = transformer(start, "torchvision_preprocess", {"TRANSFORM": "${TRANSFORM}"})
    assert _size(put(q, "/b/o", _image()).content) == ((224, 224), "JPEG")
    # byte for byte what the same transforms give a DataLoader on the PIL image
    from PIL import Image
    from torchvision import transforms
    noisy = io.BytesIO()  # noise, so that resampling differences show
    Image.frombytes("RGB", (400, 300), hashlib.shake_256(b"img").digest(400 * 300 * 3)).save(noisy, format="JPEG")
    src = noisy.getvalue()
    want, pinned = io.BytesIO(), io.BytesIO()
    with Image.open(io.BytesIO(src)) as img:
        local = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(img.convert("RGB"))
    local.save(want, format="JPEG")
    got = put(q, "/b/o", src).content
    assert got == want.getvalue()
    # the documented JPEG: baseline, quality 75, 4:2:0 (Pillow's defaults, pinned)
    from PIL import JpegImagePlugin
    local.save(pinned, format="JPEG", quality=75, subsampling="4:2:0")
    assert got == pinned.getvalue()
    with Image.open(io.BytesIO(got)) as img:
        assert JpegImagePlugin.get_sampling(img) == 2 and "progressive" not in img.info
    assert b"\xff\xc0" in got and b"\xff\xc2" not in got  # SOF0: baseline, Huffman coded
    # grayscale stays one channel at the same quality (no chroma to subsample)
    gray, gwant = io.BytesIO(), io.BytesIO()
    Image.frombytes("L", (300, 260), hashlib.shake_256(b"gray").digest(300 * 260)).save(gray, format="PNG")
    with Image.open(io.BytesIO(gray.getvalue())) as img:
        transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(img).save(gwant, format="JPEG")
    assert put(q, "/b/o", gray.getvalue()).content == gwant.getvalue()
    # 5.0's etl_args pick the output format
    assert _size(put(q, "/b/o?etl_args=%7B%22format%22%3A%22PNG%22%7D", src).content) == ((224, 224), "PNG")


def test_torchvision_preprocess_npy(start):
    """FORMAT=npy: the transformed pixels as a .npy that a DataLoader takes
    without decoding: the same tensor the DataLoader's own transform gives."""
    pytest.importorskip("torchvision")
    import numpy as np
    import torch
    from PIL import Image
    from torchvision import transforms
    noisy = io.BytesIO()  # noise, so that resampling differences show
    Image.frombytes("RGB", (500, 375), hashlib.shake_256(b"npy").digest(500 * 375 * 3)).save(noisy, format="JPEG")
    src = noisy.getvalue()
    with Image.open(io.BytesIO(src)) as img:  # what the local DataLoader computes
        local = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(img.convert("RGB"))
    want = transforms.ToTensor()(local)

    p = transformer(start, "torchvision_preprocess", {"FORMAT": "npy", "TRANSFORM": "${TRANSFORM}"})
    r = put(p, "/b/o", src)
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\x93NUMPY")
    arr = np.load(io.BytesIO(r.content))
    assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr, np.asarray(local))  # no lossy step: exactly the resized pixels
    got = torch.from_numpy(arr).permute(2, 0, 1).float().div(255)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert torch.equal(got, want)
    # the JPEG output of the same transform only comes near it
    q = transformer(start, "torchvision_preprocess", {"TRANSFORM": "${TRANSFORM}"})
    jpeg = put(q, "/b/o", src).content
    with Image.open(io.BytesIO(jpeg)) as img:
        lossy = np.asarray(img.convert("RGB")).astype(int)
    assert 0 < np.abs(lossy - arr.astype(int)).mean() < 40
    # 5.0's etl_args pick npy on the JPEG server, and JPEG back on the npy one
    r = put(q, "/b/o?etl_args=%7B%22format%22%3A%22npy%22%7D", src)
    assert np.array_equal(np.load(io.BytesIO(r.content)), arr)
    assert put(p, "/b/o?etl_args=%7B%22format%22%3A%22jpeg%22%7D", src).content == jpeg
    # grayscale stays one channel: HxW
    gray = io.BytesIO()
    Image.frombytes("L", (300, 300), hashlib.shake_256(b"g").digest(300 * 300)).save(gray, format="PNG")
    g = np.load(io.BytesIO(put(p, "/b/o", gray.getvalue()).content))
    assert g.shape == (224, 224) and g.dtype == np.uint8
    # a pipeline that ends in a tensor gives that tensor: float32 CxHxW
    t = transformer(start, "torchvision_preprocess",
                    {"FORMAT": "npy", "TRANSFORM": '{"Resize": {"size": 256}, "CenterCrop": {"size": 224}, '
                                                   '"ToTensor": {}}'})
    ft = np.load(io.BytesIO(put(t, "/b/o", src).content))
    assert ft.shape == (3, 224, 224) and ft.dtype == np.float32
    assert torch.equal(torch.from_numpy(ft), want)

    # a portrait image: its short side is the horizontal one, cropped by the box
    tall = io.BytesIO()
    Image.frombytes("RGB", (375, 500), hashlib.shake_256(b"tall").digest(500 * 375 * 3)).save(tall, format="JPEG")
    with Image.open(io.BytesIO(tall.getvalue())) as img:
        local = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(img.convert("RGB"))
    assert np.array_equal(np.load(io.BytesIO(put(p, "/b/o", tall.getvalue()).content)), np.asarray(local))


def test_torchvision_resize_crop_same_pixels():
    """The transformer's Resize + CenterCrop that resamples only the kept
    pixels gives torchvision's bytes: sizes of both orientations, odd ones,
    crops that need torchvision's padding, grayscale, several filters."""
    pytest.importorskip("torchvision")
    import random
    import numpy as np
    from PIL import Image
    from torchvision import transforms
    sys.path.insert(0, os.path.join(XF, "torchvision_preprocess"))
    try:
        import resize_crop
    finally:
        sys.path.pop(0)
    modes = transforms.InterpolationMode
    rnd = random.Random(15)
    fused_boxes = 0
    for interp in (modes.BILINEAR, modes.BICUBIC, modes.LANCZOS):
        for size, crop in ((256, 224), ([256], (224, 200)), (224, 224), ([300, 200], 150), (256, 300)):
            steps = [transforms.Resize(size, interpolation=interp), transforms.CenterCrop(crop)]
            fused = transforms.Compose(resize_crop.fuse(steps))
            assert isinstance(fused.transforms[0], resize_crop.ResizeCenterCrop)
            sizes = [(800, 600), (600, 800), (640, 480), (480, 640), (720, 540), (333, 257)]
            sizes += [(rnd.randint(100, 1300), rnd.randint(100, 1300)) for _ in range(8)]
            for w, h in sizes:
                mode = rnd.choice(["RGB", "L"])
                pixels = hashlib.shake_256(b"%d %d" % (w, h)).digest(w * h * len(mode))
                img = Image.frombytes(mode, (w, h), pixels)
                want = np.asarray(transforms.Compose(steps)(img))
                got = np.asarray(fused(img))
                assert got.shape == want.shape and np.array_equal(got, want), (interp, size, crop, w, h, mode)
                step = fused.transforms[0]
                nh, nw = resize_crop.F._compute_resized_output_size((h, w), step.size, None)
                ch, cw = step.crop.size
                if cw <= nw and ch <= nh:  # else torchvision's steps (padding)
                    top, left = int(round((nh - ch) / 2.0)), int(round((nw - cw) / 2.0))
                    fused_boxes += bool(resize_crop._axis_box(h, nh, top, ch) or resize_crop._axis_box(w, nw, left, cw))
    assert fused_boxes > 50  # the box path ran, not only torchvision's own steps
    # the benchmark's images crop their short side by the box
    assert resize_crop._axis_box(600, 256, 16, 224) == (37.5, 562.5)
    assert resize_crop._axis_box(800, 341, 58, 224) is None  # 800/341: resized whole, cropped after
    # a Resize not followed by a CenterCrop, or with a max_size, stays as it is
    steps = [transforms.Resize(256), transforms.ToTensor()]
    assert resize_crop.fuse(steps) == steps
    steps = [transforms.Resize(256, max_size=300), transforms.CenterCrop(224)]
    assert resize_crop.fuse(steps) == steps


# ---- the init-code runner

def runner(start, tmp_path, code, comm="hpush://", ready=True, **env):
    code_dir = tmp_path / f"code-{free_port()}"
    code_dir.mkdir()
    (code_dir / "code.py").write_text(textwrap.dedent(code))
    full = {"MOD_NAME": "code", "ETLFS_CODE_DIR": str(code_dir), "FUNC_TRANSFORM": "transform",
            "COMM_TYPE": comm, "CHUNK_SIZE": "", "ARG_TYPE": "",
            "ETLFS_PYTHON": PY}
    full.update({k: str(v) for k, v in env.items()})
    port = free_port()
    full["ETLFS_PORT"] = str(port)
    # start() picks its own port for argv; the runner takes it from the env
    p = Proc([PY, RUNNER], {"AIS_TARGET_URL": start.store_url, **full}, port, str(tmp_path))
    start.procs.append(p)
    return p.wait_ready() if ready else p


@pytest.fixture
def rstart(tmp_path, store):
    class R:
        procs = []
        store_url = store.url
    yield R
    for p in R.procs:
        p.stop()


MD5_CODE = """
import hashlib
def transform(data):
    return hashlib.md5(data).hexdigest().encode()
"""


def test_runner_hpush(rstart, tmp_path):
    p = runner(rstart, tmp_path, MD5_CODE)
    r = put(p, "/bck/obj", DATA)
    assert r.status_code == 200 and r.text == hashlib.md5(DATA).hexdigest()
    assert r.headers["Content-Length"] == "32"
    with requests.Session() as s:  # keep-alive, and not 40 ms per request
        t0 = time.time()
        for _ in range(50):
            assert s.put(p.url + "/b/o", data=b"abc", timeout=TIMEOUT).text == hashlib.md5(b"abc").hexdigest()
        assert time.time() - t0 < 1.5


def test_runner_sdk_payload(rstart, tmp_path):
    cloudpickle = pytest.importorskip("cloudpickle")
    import base64

    def transform(input_bytes):
        return hashlib.md5(input_bytes).hexdigest().encode()

    # what aistore.sdk Etl.init_code() sends (CODE_TEMPLATE)
    pickled = base64.b64encode(cloudpickle.dumps(transform)).decode()
    code = f"import pickle\nimport base64\nimport importlib\n\nfor mod in []:\n    importlib.import_module(mod)\n" \
           f"\ntransform = pickle.loads(base64.b64decode('{pickled}'))\n\n"
    p = runner(rstart, tmp_path, code)
    assert put(p, "/b/o", DATA).text == hashlib.md5(DATA).hexdigest()


def test_runner_chunked(rstart, tmp_path):
    code = """
    import hashlib
    def transform(reader, writer):
        md5 = hashlib.md5()
        sizes = []
        for chunk in reader:
            sizes.append(len(chunk))
            md5.update(chunk)
        assert all(s == 32768 for s in sizes[:-1]) and 0 < sizes[-1] <= 32768, sizes
        writer.write(md5.hexdigest().encode())
    """
    p = runner(rstart, tmp_path, code, CHUNK_SIZE=32768)
    r = put(p, "/bck/obj", DATA)
    assert r.status_code == 200, r.text
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert r.text == hashlib.md5(DATA).hexdigest()


def test_runner_chunked_xor_stream(rstart, tmp_path):
    # the SDK's xor test: many small writes, output longer than input
    code = """
    import hashlib
    from itertools import cycle
    def transform(reader, writer):
        checksum = hashlib.md5()
        for chunk in reader:
            out = bytes(a ^ b for a, b in zip(chunk, cycle(b"AISTORE")))
            writer.write(out)
            checksum.update(out)
        writer.write(checksum.hexdigest().encode())
    """
    p = runner(rstart, tmp_path, code, CHUNK_SIZE=32)
    body = DATA[:100_000]
    out = put(p, "/b/o", body).content
    data, checksum = out[:-32], out[-32:]
    assert len(data) == len(body)
    assert hashlib.md5(data).hexdigest().encode() == checksum


def test_runner_chunked_read_all_and_failure(rstart, tmp_path):
    code = """
    def transform(reader, writer):
        data = reader.read_all()
        if data == b"boom":
            raise ValueError("bad object")
        writer.write(data[::-1])
    """
    p = runner(rstart, tmp_path, code, CHUNK_SIZE=1024)
    assert put(p, "/b/o", b"abcdef").content == b"fedcba"
    r = put(p, "/b/o", b"boom")
    assert r.status_code == 500 and r.text == "ValueError: bad object"


def test_runner_chunked_failure_mid_stream(rstart, tmp_path):
    # once bytes went out, a failure must look like truncation, not a clean end
    code = """
    def transform(reader, writer):
        for chunk in reader:
            writer.write(chunk)
        raise ValueError("late failure")
    """
    p = runner(rstart, tmp_path, code, CHUNK_SIZE=65536)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        put(p, "/b/o", DATA)
    assert put(p, "/b/o", b"").status_code == 500  # nothing sent yet: a clean 500


def test_runner_chunked_needs_two_params(rstart, tmp_path):
    p = runner(rstart, tmp_path, MD5_CODE, ready=False, CHUNK_SIZE=32768)
    assert p.proc.wait(timeout=TIMEOUT) != 0
    assert "reader, writer" in p.log_text()


def test_runner_exception_is_500(rstart, tmp_path):
    code = """
    def transform(data):
        raise RuntimeError("cannot transform " + data.decode())
    """
    p = runner(rstart, tmp_path, code)
    r = put(p, "/b/o", b"obj1")
    assert r.status_code == 500 and r.text == "RuntimeError: cannot transform obj1"
    assert get(p, "/health").text == "Running"  # still serving


def test_runner_missing_function(rstart, tmp_path):
    p = runner(rstart, tmp_path, "def other(x):\n    return x\n", ready=False)
    assert p.proc.wait(timeout=TIMEOUT) != 0
    assert "no function 'transform'" in p.log_text()


def test_runner_custom_function_name(rstart, tmp_path):
    p = runner(rstart, tmp_path, "def upper(x):\n    return x.upper()\n", FUNC_TRANSFORM="upper")
    assert put(p, "/b/o", b"abc").content == b"ABC"


def test_runner_io(rstart, tmp_path):
    code = """
    import hashlib, sys
    def transform():
        sys.stdout.buffer.write(hashlib.md5(sys.stdin.buffer.read()).hexdigest().encode())
    transform()
    """
    p = runner(rstart, tmp_path, code, comm="io://")
    r = requests.put(p.url + "/bck/obj", params=[("command", "bash"), ("command", "-c"),
                                                  ("command", "python /code/code.py")],
                     data=DATA, timeout=TIMEOUT)
    assert r.status_code == 200 and r.text == hashlib.md5(DATA).hexdigest()


def test_runner_io_failure(rstart, tmp_path):
    code = """
    import sys
    sys.stdin.buffer.read()
    sys.exit("io script refused the object")
    """
    p = runner(rstart, tmp_path, code, comm="io://")
    r = put(p, "/bck/obj", b"x")
    assert r.status_code == 500 and "io script refused the object" in r.text


def test_runner_hpull_bytes(rstart, tmp_path, store):
    p = runner(rstart, tmp_path, MD5_CODE, comm="hpull://")
    store.objects[UNAME] = DATA
    r = get(p, "/" + UNAME)
    assert r.status_code == 200 and r.text == hashlib.md5(DATA).hexdigest()
    assert get(p, "/ais%2F@%23%2Fbck%2Fnope").status_code == 404


def test_runner_hpull_url(rstart, tmp_path, store):
    code = """
    def transform(url):
        return url
    """
    p = runner(rstart, tmp_path, code, comm="hpull://", ARG_TYPE="url")
    r = get(p, "/" + UNAME + "?archpath=x")
    assert r.status_code == 200
    assert r.text == store.url + "/" + UNAME + "?archpath=x"


def test_runner_fqn(rstart, tmp_path):
    f = tmp_path / "mp" / "obj #1"
    f.parent.mkdir()
    f.write_bytes(DATA)
    p = runner(rstart, tmp_path, MD5_CODE, ARG_TYPE="fqn")
    r = put(p, escape_fqn(str(f)), b"")
    assert r.status_code == 200 and r.text == hashlib.md5(DATA).hexdigest()
    assert put(p, escape_fqn(str(tmp_path / "nope")), b"").status_code == 500


def test_runner_concurrent(rstart, tmp_path):
    code = """
    import time
    def transform(data):
        time.sleep(0.3)
        return data
    """
    p = runner(rstart, tmp_path, code)
    out = [None] * 6

    def one(i):
        out[i] = put(p, "/b/o", b"%d" % i).content

    t0 = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert out == [b"%d" % i for i in range(6)]
    assert time.time() - t0 < 1.5  # served in parallel, not one after another


def test_nodelay_small_replies(start):
    # 40 ms Nagle/delayed-ACK stalls would make 50 round trips take > 2 s
    p = transformer(start, "md5")
    with socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT) as s:
        f = s.makefile("rb")
        t0 = time.time()
        for _ in range(50):
            s.sendall(b"PUT /b/o HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            assert f.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert f.read(length) == hashlib.md5(b"abc").hexdigest().encode()
        assert time.time() - t0 < 1.5


# ---- the runner's ws:// framing, driven by a raw client

WS_CODE = """
def transform(data, etl_args=None):
    return data[::-1] + (b"|" + etl_args.encode() if etl_args else b"")
"""


def ws_frame(op, data, fin=True):
    """A client's frame, masked (RFC 6455)."""
    n = len(data)
    head = bytes([(0x80 if fin else 0) | op])
    head += bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big") if n < 65536 \
        else bytes([0xFF]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_read(f):
    """The server's next frame: (opcode, payload); the server never masks."""
    b0, b1 = f.read(2)
    assert not b1 & 0x80
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(f.read(2), "big")
    elif n == 127:
        n = int.from_bytes(f.read(8), "big")
    return b0 & 0x0F, f.read(n)


def test_runner_ws_framing(rstart, tmp_path):
    """Frames that came with the upgrade request, in pieces, fragmented
    around a ping, several in one write; 7-, 16- and 64-bit lengths both
    ways; the target's own control message and any other JSON; files
    shorter and longer than one read; a close answered with a close."""
    p = runner(rstart, tmp_path, WS_CODE, comm="ws://")
    small, big = os.urandom(300), os.urandom(200_000)  # big: longer than ws_stream's READ_GUESS
    d = tmp_path / "mp" / "dir #1%2F"
    d.mkdir(parents=True)
    (d / "small").write_bytes(small)
    (d / "big").write_bytes(big)
    esc = {n: urllib.parse.quote(str(d / n), safe="-_.~$&+,:;=@") for n in ("small", "big")}  # Go's PathEscape
    assert "%2F" in esc["small"] and "%252F" in esc["small"]
    with socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT) as s:
        f = s.makefile("rb")
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  + ws_frame(2, b'{"path":"b/first"}') + ws_frame(2, b"abc"))
        assert f.readline().startswith(b"HTTP/1.1 101")
        while f.readline() not in (b"\r\n", b""):
            pass
        assert ws_read(f) == (2, b"cba")
        # the target's own shape, a file of one read and one of several
        s.sendall(ws_frame(2, b'{"fqn":"%s","path":"b/small"}' % esc["small"].encode()))
        assert ws_read(f) == (2, small[::-1])
        s.sendall(ws_frame(2, b'{"fqn":"%s","path":"b/big"}' % esc["big"].encode()))
        assert ws_read(f) == (2, big[::-1])
        # other JSON: fields in another order, escapes, etl_args
        s.sendall(ws_frame(2, b'{"path":"b/\\"q\\"","etl_args":"a\\"b","fqn":"%s"}' % esc["small"].encode()))
        assert ws_read(f) == (2, small[::-1] + b'|a"b')
        # a 64-bit length, sent in pieces; then two objects in one write
        msg = ws_frame(2, b'{"path":"b/p"}') + ws_frame(2, big)
        for i in range(0, len(msg), 50_000):
            s.sendall(msg[i:i + 50_000])
            time.sleep(0.01)
        assert ws_read(f) == (2, big[::-1])
        s.sendall(ws_frame(2, b'{"path":"b/1"}') + ws_frame(2, small) + ws_frame(2, b'{"path":"b/2"}') + ws_frame(2, b"xy"))
        assert ws_read(f) == (2, small[::-1])
        assert ws_read(f) == (2, b"yx")
        # a control message in two fragments with a ping between them
        s.sendall(ws_frame(2, b'{"path":', fin=False) + ws_frame(9, b"hi") + ws_frame(0, b'"b/f"}') + ws_frame(2, b"12"))
        assert ws_read(f) == (10, b"hi")
        assert ws_read(f) == (2, b"21")
        # a missing file fails its object only
        s.sendall(ws_frame(2, b'{"fqn":"%s","path":"b/gone"}' % esc["small"].replace("small", "gone").encode()))
        op, text = ws_read(f)
        assert op == 1 and text.startswith(b"Transform error:")
        s.sendall(ws_frame(2, b'{"fqn":"%s","path":"b/small"}' % esc["small"].encode()))
        assert ws_read(f) == (2, small[::-1])
        s.sendall(ws_frame(8, (1000).to_bytes(2, "big")))
        assert ws_read(f) == (8, (1000).to_bytes(2, "big"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
