"""Authentication and TLS end to end: a target run with --auth-secret-file
wants AIStore AuthN tokens (401 without a valid one, 403 when it does not
allow the request), ETL and bucket administration are for admins, ETLs keep
reading their input through the callback, and `ais`, the mount and
AIStore's SDK send the token. TLS: --tls-cert/--tls-key with a self-signed
certificate made by openssl, checked by curl and by our clients
(AIS_CLIENT_CA, AIS_SKIP_VERIFY_CRT)."""
import base64
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

import authtok
from authtok import bearer, token
from conftest import BIN, Target, beside_project

SECRET = "etlfs-test-secret"
AIS = os.path.join(BIN, "ais")


def workdir(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    return str(d)


@pytest.fixture
def secured(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")  # the newline is dropped
    t = Target(workdir(tmp_path), extra_args=["--auth-secret-file", str(secret_file)])
    t.admin = token(SECRET, user="root", admin=True)
    yield t
    assert t.stop() == 0, t.log_text()


def as_admin(t, method, path, **kw):
    return requests.request(method, t.url + path, headers=bearer(t.admin), timeout=60, **kw)


def make_bucket(t, name, objects=()):
    r = as_admin(t, "POST", f"/v1/buckets/{name}", json={"action": "create-bck"})
    assert r.status_code == 200, r.text
    for obj in objects:
        r = as_admin(t, "PUT", f"/v1/objects/{name}/{obj}", data=f"{name}/{obj}".encode())
        assert r.status_code == 200, r.text


def error(r):
    """AIStore's JSON error body (for HEAD: the Hdr-Error header)."""
    text = r.headers.get("Hdr-Error") if r.request.method == "HEAD" else r.text
    return json.loads(text)


def test_health_needs_no_token_everything_else_does(secured):
    assert requests.get(secured.url + "/v1/health").status_code == 200
    for method, path, kw in [("GET", "/v1/buckets", {}), ("GET", "/v1/daemon?what=smap", {}),
                             ("PUT", "/v1/objects/b/o", {"data": b"x" * 100000}), ("GET", "/v1/etl", {}),
                             ("HEAD", "/v1/objects/b/o", {}), ("GET", "/v1/nothing/here", {})]:
        r = requests.request(method, secured.url + path, **kw)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        e = error(r)
        assert e["status"] == 401 and "token required" in e["message"], e
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token required" in secured.log_text()


def test_bad_tokens_are_401_and_say_why(secured):
    now = int(time.time())
    cases = {
        "wrong secret": (token("another-secret", admin=True), "signature is invalid"),
        "expired": (token(SECRET, admin=True, ttl=-10), "token expired"),
        "no exp": (authtok.sign({"sub": "root", "admin": True}, SECRET), "exp claim is required"),
        "alg none": (authtok.sign({"sub": "root", "admin": True, "exp": now + 60}, SECRET, {"alg": "none"}),
                     "is invalid"),
        "RS256": (authtok.sign({"sub": "root", "exp": now + 60}, SECRET, {"alg": "RS256"}), "not supported"),
        "admin as a string": (authtok.sign({"sub": "root", "admin": "true", "exp": now + 60}, SECRET), "wrong type"),
        "no sub": (authtok.sign({"admin": True, "exp": now + 60}, SECRET), "missing 'sub' claim"),
        "garbage": ("not-a-jwt", "invalid number of segments"),
        "padded base64": (token(SECRET, admin=True).replace(".", "=.", 1), "base64"),
    }
    for what, (tok, why) in cases.items():
        r = requests.get(secured.url + "/v1/buckets", headers=bearer(tok))
        assert r.status_code == 401, (what, r.text)
        assert why in error(r)["message"] and "invalid token" in error(r)["message"], (what, r.text)
    # not a bearer token at all
    r = requests.get(secured.url + "/v1/buckets", headers={"Authorization": "Basic cm9vdDpwdw=="})
    assert r.status_code == 401 and "token required" in r.text


def test_user_reads_its_bucket_and_gets_403_elsewhere(secured):
    make_bucket(secured, "mine", ["a", "dir/b"])
    make_bucket(secured, "theirs", ["c"])
    ro = bearer(token(SECRET, user="bob", buckets={"mine": authtok.RO}))
    u = secured.url
    r = requests.get(f"{u}/v1/objects/mine/a", headers=ro)
    assert r.status_code == 200 and r.content == b"mine/a"
    assert requests.head(f"{u}/v1/objects/mine/dir/b", headers=ro).status_code == 200
    r = requests.get(f"{u}/v1/buckets/mine", headers=ro, json={"action": "list", "value": {"prefix": ""}})
    assert r.status_code == 200 and sorted(e["name"] for e in r.json()["entries"]) == ["a", "dir/b"]
    # read-only: no writes
    r = requests.put(f"{u}/v1/objects/mine/new", headers=ro, data=b"x")
    assert r.status_code == 403 and "needs PUT" in error(r)["message"], r.text
    assert requests.delete(f"{u}/v1/objects/mine/a", headers=ro).status_code == 403
    # no entry for the other bucket: 403 on every kind of access
    for method, path in [("GET", "/v1/objects/theirs/c"), ("HEAD", "/v1/objects/theirs/c"),
                         ("GET", "/v1/buckets/theirs"), ("PUT", "/v1/objects/theirs/x")]:
        r = requests.request(method, u + path, headers=ro, data=b"x" if method == "PUT" else None)
        assert r.status_code == 403, (method, path, r.text)
        e = error(r)
        assert "user `bob` has insufficient permissions" in e["message"] and "ais://theirs" in e["message"], e
    # the object PUT refused above stored nothing
    assert as_admin(secured, "HEAD", "/v1/objects/theirs/x").status_code == 404
    # read-write: PUT and DELETE
    rw = bearer(token(SECRET, user="bob", buckets={"mine": authtok.RW}))
    assert requests.put(f"{u}/v1/objects/mine/new", headers=rw, data=b"fresh").status_code == 200
    assert requests.delete(f"{u}/v1/objects/mine/a", headers=rw).status_code == 200
    assert as_admin(secured, "GET", "/v1/objects/mine/new").content == b"fresh"


def test_admin_only_operations(secured):
    make_bucket(secured, "data", ["o"])
    user = bearer(token(SECRET, user="bob", buckets={"data": authtok.RW}))
    u = secured.url
    forbidden = [
        ("POST", "/v1/buckets/newb", {"action": "create-bck"}),
        ("DELETE", "/v1/buckets/data", {"action": "destroy-bck"}),
        ("POST", "/v1/objects/data", {"action": "promote", "value": {"src": "/etc/hostname", "obj": "h"}}),
        ("PUT", "/v1/cluster", {"action": "stop", "value": {"kind": "copy-bck"}}),
        ("PUT", "/v1/etl", {"id": "x", "runtime": "python3.11v2", "code": "", "communication": "hpush://"}),
        ("GET", "/v1/etl", None),
        ("DELETE", "/v1/etl/x", None),
        ("POST", "/v1/etl/x/stop", None),
    ]
    for method, path, body in forbidden:
        r = requests.request(method, u + path, headers=user, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert "needs ADMIN" in error(r)["message"], r.text
    assert as_admin(secured, "HEAD", "/v1/buckets/data").status_code == 200
    assert as_admin(secured, "HEAD", "/v1/buckets/newb").status_code == 404
    # the same requests as an admin get past the check (to the handlers' own answers)
    assert as_admin(secured, "GET", "/v1/etl").json() == []
    assert as_admin(secured, "POST", "/v1/buckets/newb", json={"action": "create-bck"}).status_code == 200
    assert as_admin(secured, "DELETE", "/v1/buckets/newb", json={"action": "destroy-bck"}).status_code == 200


def test_copy_needs_put_on_the_destination(secured):
    make_bucket(secured, "src", ["o1", "o2"])
    make_bucket(secured, "dst")
    make_bucket(secured, "other")
    user = bearer(token(SECRET, user="bob", buckets={"src": authtok.RO, "dst": authtok.RW}))
    u = secured.url
    r = requests.post(f"{u}/v1/buckets/src", headers=user, params={"bck_to": "ais/@#/other/"},
                      json={"action": "copy-bck", "value": {}})
    assert r.status_code == 403 and "ais://other" in error(r)["message"], r.text
    # a missing destination would be created: that is an admin's
    r = requests.post(f"{u}/v1/buckets/src", headers=user, params={"bck_to": "ais/@#/brandnew/"},
                      json={"action": "copy-bck", "value": {}})
    assert r.status_code == 403, r.text
    r = requests.post(f"{u}/v1/buckets/src", headers=user, params={"bck_to": "ais/@#/dst/"},
                      json={"action": "copy-bck", "value": {}})
    assert r.status_code == 200, r.text
    job = r.text.strip().strip('"')
    deadline = time.time() + 60
    while time.time() < deadline:  # the user may watch its job (SHOW-CLUSTER)
        st = requests.get(f"{u}/v1/cluster", headers=user, params={"what": "status"}, json={"ID": job, "Kind": ""})
        assert st.status_code == 200, st.text
        if st.json()["end_time"] != 0:
            break
        time.sleep(0.1)
    assert as_admin(secured, "GET", "/v1/objects/dst/o2").content == b"src/o2"


def test_single_object_copy_needs_put_on_its_destination(secured):
    """AIStore 5.0's PUT ?object_to= reads the source and writes the bucket its uname names."""
    make_bucket(secured, "src", ["o1"])
    make_bucket(secured, "dst")
    make_bucket(secured, "other")
    user = bearer(token(SECRET, user="bob", buckets={"src": authtok.RO, "dst": authtok.RW}))
    u = secured.url
    r = requests.put(f"{u}/v1/objects/src/o1", headers=user, params={"object_to": "ais/@#/other/o1"})
    assert r.status_code == 403 and "ais://other" in error(r)["message"], r.text
    r = requests.put(f"{u}/v1/objects/src/o1", headers=user, params={"object_to": "ais/@#/dst/copied"})
    assert r.status_code == 200, r.text
    assert as_admin(secured, "GET", "/v1/objects/dst/copied").content == b"src/o1"
    assert as_admin(secured, "HEAD", "/v1/objects/other/o1").status_code == 404


def test_etl_callback_works_and_users_read_through_etls(secured):
    """hpull: the ETL fetches its input back from the target (it has no
    token: the ETL listener's callback row needs none); a user allowed to
    GET the bucket reads through the ETL an admin started."""
    make_bucket(secured, "src", ["obj"])
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "etl", "transformers", "md5_native",
                           "pod.yaml")) as f:
        spec = f.read()
    msg = {"id": "md5-auth", "communication": "hpull://", "argument": "", "timeout": "30s",
           "spec": base64.b64encode(spec.encode()).decode()}
    r = as_admin(secured, "PUT", "/v1/etl", json=msg)
    if r.status_code != 200:
        pytest.skip(f"ETL init failed: {r.text}")
    import hashlib

    user = bearer(token(SECRET, user="bob", buckets={"src": authtok.RO}))
    r = requests.get(f"{secured.url}/v1/objects/src/obj", headers=user, params={"etl_name": "md5-auth"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.content.strip() == hashlib.md5(b"src/obj").hexdigest().encode()
    # the callback path on the main listener is not a way around tokens
    r = requests.get(f"{secured.url}/v1/etl/_object/guess/ais/@#/src/obj")
    assert r.status_code == 401
    r = requests.get(f"{secured.url}/v1/etl/_object/guess/ais/@#/src/obj", headers=user)
    assert r.status_code == 403
    assert as_admin(secured, "DELETE", "/v1/etl/md5-auth").status_code == 200


def ais(t, *args, env=None, timeout=60):
    e = dict(os.environ, AIS_ENDPOINT=t.url, HOME=t.workdir)
    e.pop("AIS_AUTHN_TOKEN", None)
    e.update(env or {})
    return subprocess.run([AIS, *args], env=e, capture_output=True, text=True, timeout=timeout)


def test_ais_sends_the_token(secured):
    make_bucket(secured, "clib", ["x"])
    r = ais(secured, "ls", "ais://clib")
    assert r.returncode == 1 and "token required" in r.stderr, r
    # ais auth token mints what the target accepts
    r = ais(secured, "auth", "token", "--user", "carol", "--buckets", "clib=ro", "--secret", SECRET)
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    r = ais(secured, "ls", "ais://clib", "--token", tok)
    assert r.returncode == 0 and "x" in r.stdout, r
    r = ais(secured, "--token=" + tok, "get", "ais://clib/x", "-")
    assert r.returncode == 0 and r.stdout == "clib/x", r
    r = ais(secured, "ls", "ais://clib", env={"AIS_AUTHN_TOKEN": tok})
    assert r.returncode == 0 and "x" in r.stdout, r
    r = ais(secured, "bucket", "create", "ais://nope", env={"AIS_AUTHN_TOKEN": tok})
    assert r.returncode == 1 and "insufficient permissions" in r.stderr, r
    # AIStore's CLI token file in $HOME
    cfg = os.path.join(secured.workdir, ".config", "ais", "cli")
    os.makedirs(cfg)
    with open(os.path.join(cfg, "auth.token"), "w") as f:
        json.dump({"token": tok}, f)
    r = ais(secured, "ls", "ais://clib")
    assert r.returncode == 0 and "x" in r.stdout, r
    r = ais(secured, "ls", "ais://clib", env={"AIS_AUTHN_TOKEN_FILE": "/nonexistent/auth.token"})
    assert r.returncode == 1 and "/nonexistent/auth.token" in r.stderr, r


def test_mount_with_a_token(secured, tmp_path):
    from mount_fixtures import Mount

    make_bucket(secured, "mb", ["f.txt"])
    tok = token(SECRET, user="dan", buckets={"mb": authtok.RW})
    tok_file = tmp_path / "auth.token"
    tok_file.write_text(json.dumps({"token": tok}))
    m = Mount(secured, tmp_path / "mnt", options=[f"token_file={tok_file}"])
    try:
        with open(m.path("mb", "f.txt"), "rb") as f:
            assert f.read() == b"mb/f.txt"
        with open(m.path("mb", "new.txt"), "wb") as f:
            f.write(b"written through the mount")
    finally:
        assert m.stop() == 0, m.log_text()
    assert as_admin(secured, "GET", "/v1/objects/mb/new.txt").content == b"written through the mount"
    # a mount without a token is refused by the target: EACCES
    m = Mount(secured, tmp_path / "mnt2", options=["token=not.a.token"])
    try:
        with pytest.raises(PermissionError):
            os.listdir(m.path("mb"))
    finally:
        assert m.stop() == 0, m.log_text()


SDK_TAG = "v1.3.24"  # the first SDK release that reads AIS_AUTHN_TOKEN


def test_python_sdk_sends_aistore_authn_token(secured, tmp_path):
    mirror = beside_project("AIS_MIRROR", ".mirror", "NVIDIA+aistore", "repo")
    shim = beside_project("ETLFS_SDK_SHIM", "shared", "acceptance", "sdk", "shim")
    src = tmp_path / "sdk"
    src.mkdir()
    export = subprocess.run(f"git -C {mirror} archive --format=tar {SDK_TAG} python/aistore | tar -x -C {src}",
                            shell=True, capture_output=True, timeout=120)
    if export.returncode != 0:
        pytest.skip(f"no AIStore SDK {SDK_TAG} in {mirror}: {export.stderr.decode()[-300:]}")
    # The SDK imports webdataset for datasets only; Debian has none: a stub.
    (src / "stub").mkdir()
    (src / "stub" / "webdataset.py").write_text("class ShardWriter:\n    pass\n")
    make_bucket(secured, "sdkb", ["hello"])
    make_bucket(secured, "hidden", ["secret"])
    script = """
import sys
from aistore.sdk import Client
from aistore.sdk.errors import AISError
c = Client(sys.argv[1])
print(c.bucket("sdkb").object("hello").get().read_all().decode())
try:
    c.bucket("hidden").object("secret").get().read_all()
    print("READ hidden")
except AISError as e:
    print("refused", e.status_code)
"""
    env = dict(os.environ, PYTHONPATH=f"{shim}:{src / 'stub'}:{src / 'python'}", PYTHONDONTWRITEBYTECODE="1",
               AIS_AUTHN_TOKEN=token(SECRET, user="eve", buckets={"sdkb": authtok.RO}))
    probe = subprocess.run([sys.executable, "-c", "import aistore.sdk"], env=env, capture_output=True, text=True,
                           timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"AIStore SDK {SDK_TAG} does not import here: {probe.stderr[-300:]}")
    r = subprocess.run([sys.executable, "-c", script, secured.url], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[:2] == ["sdkb/hello", "refused 403"], r.stdout
    env.pop("AIS_AUTHN_TOKEN")
    r = subprocess.run([sys.executable, "-c", script, secured.url], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "token required" in r.stderr, r.stderr[-2000:]


@pytest.fixture
def tls_files(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl (Debian package openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_tls_with_a_self_signed_certificate(tmp_path, tls_files):
    cert, key = tls_files
    t = Target(workdir(tmp_path), extra_args=["--tls-cert", cert, "--tls-key", key])
    try:
        assert t.url.startswith("https://")
        curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"]
        r = subprocess.run(curl + ["--cacert", cert, t.url + "/v1/health"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == "200", r
        r = subprocess.run(curl + [t.url + "/v1/health"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 60, r  # the certificate is nobody's CA: refused
        r = subprocess.run(curl + ["--cacert", cert, "http" + t.url[5:] + "/v1/health"], capture_output=True,
                           text=True, timeout=30)
        assert r.stdout != "200", r  # plain HTTP is not served
        # the smap advertises https
        r = requests.get(t.url + "/v1/daemon", params={"what": "smap"}, verify=cert)
        assert r.status_code == 200 and "https://127.0.0.1" in r.text
        # our clients verify; AIS_CLIENT_CA or AIS_SKIP_VERIFY_CRT make them accept it
        r = ais(t, "bucket", "create", "ais://tlsb")
        assert r.returncode == 1 and "AIS_SKIP_VERIFY_CRT" in r.stderr, r
        r = ais(t, "bucket", "create", "ais://tlsb", env={"AIS_CLIENT_CA": cert})
        assert r.returncode == 0, r
        r = ais(t, "ls", env={"AIS_SKIP_VERIFY_CRT": "true"})
        assert r.returncode == 0 and "tlsb" in r.stdout, r
    finally:
        assert t.stop() == 0, t.log_text()


def test_tls_and_tokens_together(tmp_path, tls_files):
    cert, key = tls_files
    t = Target(workdir(tmp_path), extra_args=["--tls-cert", cert, "--tls-key", key, "--auth-secret", SECRET])
    try:
        r = requests.get(t.url + "/v1/buckets", verify=cert)
        assert r.status_code == 401
        r = requests.get(t.url + "/v1/buckets", verify=cert, headers=bearer(token(SECRET)))
        assert r.status_code == 200 and r.json() == []
    finally:
        assert t.stop() == 0, t.log_text()
