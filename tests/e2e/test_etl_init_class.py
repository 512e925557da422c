"""AIStore 5.0's @etl.init_class, sent by the SDK 1.25 itself (tests/e2e/sdk5.py),
running on the local aistorage/runtime_python runtime: the SDK's three
webserver kinds (FastAPIServer, FlaskServer, HTTPMultiThreadedServer), inline
and offline transforms, etl_args and the object path reaching transform(),
PACKAGES, OS_PACKAGES, direct_file_access, a failing transform, and nothing
left running after stop and delete. The first init creates the runtime's
venv from PyPI (once per target)."""
import os
import subprocess

import pytest
import requests

import sdk5
from conftest import procs_with_env, wait_until
from test_offline import wait_job

SERVERS = ["FastAPIServer", "FlaskServer", "HTTPMultiThreadedServer"]

# Defines an ETL named NAME with a class of KIND whose transform is BODY;
# KWARGS go to init_class as given.
INIT = '''
import os, sys
from aistore.sdk import Client
from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer
from aistore.sdk.etl.webserver.flask_server import FlaskServer
from aistore.sdk.etl.webserver.http_multi_threaded_server import HTTPMultiThreadedServer
from aistore.sdk.etl.webserver.base_etl_server import ETLServer
client = Client(os.environ["AIS_ENDPOINT"])
etl = client.etl("NAME")

@etl.init_class(ETLFS_TEST_MARK="NAME"KWARGS)
class Transformer(KIND):
    def transform(self, data, path, etl_args):
BODY

print("initialized NAME")
'''

# upper-case, then what reached transform(): the path and the etl_args
UPPER = '''        return data.upper() + b"|" + path.strip("/").encode() + b"|" + etl_args.encode()'''


def init_class(t, name, kind="FastAPIServer", body=UPPER, **kwargs):
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    code = INIT.replace("NAME", name).replace("KIND", kind).replace("BODY", body).replace("KWARGS", kw)
    return sdk5.run_script(code, t.url)


def init_class_fails(t, name, kind="FastAPIServer", body=UPPER, **kwargs):
    """The init's failure as the SDK raised it (its message)."""
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    code = INIT.replace("NAME", name).replace("KIND", kind).replace("BODY", body).replace("KWARGS", kw)
    code = "try:\n" + "\n".join("    " + l for l in code.splitlines()) + (
        "\n    print('NO ERROR')\nexcept Exception as e:\n    print('ERROR', type(e).__name__, e)\n")
    out = sdk5.run_script(code, t.url)
    assert "NO ERROR" not in out, out
    return out


def marked_pids(name):
    """Every process with this ETL's mark in its environment (workers inherit it)."""
    return procs_with_env(f"ETLFS_TEST_MARK={name}\0".encode())


def wait_no_pids(name, within=10):
    return wait_until(lambda: not marked_pids(name), within, 0.1)


def delete(t, name):
    requests.post(f"{t.url}/v1/etl/{name}/stop", timeout=60)
    return requests.delete(f"{t.url}/v1/etl/{name}", timeout=60)


@pytest.fixture(scope="module")
def t(shared_target):
    sdk5.ensure()  # skips the module, loudly, without the mirror or PyPI
    shared_target.create_bucket("icsrc")
    for i in range(4):
        shared_target.put("icsrc", f"dir/obj-{i}", f"hello {i}".encode())
    return shared_target


def get(t, obj, **q):
    return requests.get(f"{t.url}/v1/objects/icsrc/{obj}", params=q, timeout=120)


@pytest.mark.parametrize("kind", SERVERS)
def test_each_server_kind_inline_with_path_and_etl_args(t, kind):
    name = "ic-" + kind[:5].lower()
    init_class(t, name, kind)
    try:
        r = get(t, "dir/obj-1", etl_name=name)
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 1|icsrc/dir/obj-1|"
        r = get(t, "dir/obj-2", etl_name=name, etl_args="seed=7 & more")
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 2|icsrc/dir/obj-2|seed=7 & more"
        # listening where the target said, on the loopback only
        pids = marked_pids(name)
        assert pids
        info = requests.get(f"{t.url}/v1/etl/{name}", timeout=30).json()
        assert info["runtime"]["image"].startswith("aistorage/runtime_python:")
        assert info["status"] == "running"
    finally:
        assert delete(t, name).status_code == 200
    assert wait_no_pids(name), f"{name}: processes left: {marked_pids(name)}"
    assert requests.get(f"{t.url}/v1/etl/{name}", timeout=30).status_code == 404


def test_stop_start_and_workers(t):
    name = "ic-workers"
    init_class(t, name, "FastAPIServer", NUM_WORKERS="3")
    try:
        # uvicorn's supervisor and its three workers
        assert len(marked_pids(name)) >= 4, marked_pids(name)
        assert requests.post(f"{t.url}/v1/etl/{name}/stop", timeout=60).status_code == 200
        assert wait_no_pids(name)
        assert get(t, "dir/obj-0", etl_name=name).status_code >= 400
        assert requests.post(f"{t.url}/v1/etl/{name}/start", timeout=300).status_code == 200
        r = get(t, "dir/obj-0", etl_name=name)
        assert r.status_code == 200 and r.content.startswith(b"HELLO 0|"), r.text
    finally:
        delete(t, name)
    assert wait_no_pids(name)


def test_offline_bucket_transform_through_the_sdk(t):
    name = "ic-offline"
    init_class(t, name, "FlaskServer")
    try:
        out = sdk5.run_script('''
import os
from aistore.sdk import Client
c = Client(os.environ["AIS_ENDPOINT"])
job = c.bucket("icsrc").transform(etl_name="ic-offline", to_bck=c.bucket("icdst"))
print("JOB", job)
''', t.url)
        job = out.split("JOB", 1)[1].strip()
        st = wait_job(t, job)
        assert not st.get("err") and not st.get("abort_err"), st
        for i in range(4):
            r = requests.get(f"{t.url}/v1/objects/icdst/dir/obj-{i}", timeout=30)
            assert r.status_code == 200, r.text
            assert r.content == f"HELLO {i}|icsrc/dir/obj-{i}|".encode()
    finally:
        delete(t, name)
    assert wait_no_pids(name)


def test_init_class_keywords_reach_the_process_env(t):
    """The SDK sends other init_class keywords as env variables (SEED_DEFAULT, as its hash example)."""
    name = "ic-seed"
    body = '''        return os.environ["SEED_DEFAULT"].encode() + b"|" + data'''
    init_class(t, name, "HTTPMultiThreadedServer", body=body, SEED_DEFAULT="500")
    try:
        r = get(t, "dir/obj-1", etl_name=name)
        assert r.status_code == 200 and r.content == b"500|hello 1", r.text
        env = requests.get(f"{t.url}/v1/etl/{name}", timeout=30).json()["runtime"]["env"]
        assert {"name": "SEED_DEFAULT", "value": "500"} in env, env
    finally:
        delete(t, name)
    assert wait_no_pids(name)


def test_packages_go_into_the_etls_own_venv(t):
    name = "ic-packages"
    body = '''        import tabulate
        return (tabulate.__file__ + "|" + tabulate.tabulate([[data.decode()]], tablefmt="plain")).encode()'''
    init_class(t, name, "HTTPMultiThreadedServer", body=body, dependencies=["tabulate"])
    try:
        r = get(t, "dir/obj-3", etl_name=name)
        assert r.status_code == 200, r.text
        where, table = r.content.decode().split("|", 1)
        assert f"/{name}/work/venv/" in where  # not the shared runtime's venv
        assert table.strip() == "hello 3"
    finally:
        delete(t, name)


def test_direct_file_access_gets_the_objects_file(t):
    name = "ic-directfqn"
    body = '''        assert isinstance(data, str), type(data)
        with open(data, "rb") as f:
            return f.read().upper() + b"|" + os.path.basename(data).encode()'''
    init_class(t, name, "FastAPIServer", body=body, direct_file_access=True)
    try:
        r = get(t, "dir/obj-2", etl_name=name)
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 2|obj-2"
    finally:
        delete(t, name)


def test_ws_comm_type_with_and_without_direct_file_access(t):
    """comm_type="ws": the SDK's FastAPIServer /ws; direct_file_access makes
    the control message name the file (no bytes sent), as 5.0's target does."""
    init_class(t, "ic-wsbytes", "FastAPIServer", comm_type="ws")
    body = '''        assert isinstance(data, str), type(data)
        with open(data, "rb") as f:
            return f.read().upper() + b"|" + os.path.basename(data).encode()'''
    init_class(t, "ic-ws-direct", "FastAPIServer", body=body, comm_type="ws", direct_file_access=True)
    try:
        r = get(t, "dir/obj-2", etl_name="ic-wsbytes", etl_args="k=v")
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 2|dir/obj-2|k=v"
        r = get(t, "dir/obj-2", etl_name="ic-ws-direct")
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 2|obj-2"
    finally:
        delete(t, "ic-wsbytes")
        delete(t, "ic-ws-direct")


def test_a_transform_that_raises_is_a_5xx_naming_etl_and_object(t):
    name = "ic-raises"
    body = '''        raise ValueError("refusing " + path)'''
    init_class(t, name, "FastAPIServer", body=body)
    try:
        r = get(t, "dir/obj-0", etl_name=name)
        assert r.status_code >= 500, r.text
        msg = r.json()["message"]
        assert name in msg and "icsrc/dir/obj-0" in msg and "refusing" in msg, msg
        details = requests.get(f"{t.url}/v1/etl/{name}/details", timeout=30).json()
        assert [e["obj_name"] for e in details["obj_errors"]] == ["ais://icsrc/dir/obj-0"]
    finally:
        delete(t, name)
    assert wait_no_pids(name)


def test_os_packages_only_when_installed(t):
    out = init_class_fails(t, "ic-ospkg", os_packages=["etlfs-no-such-os-package"])
    assert "400" in out and "ic-ospkg" in out and "etlfs-no-such-os-package" in out and "OS_PACKAGES" in out, out
    assert requests.get(f"{t.url}/v1/etl/ic-ospkg", timeout=30).status_code == 404
    name = "ic-ospkg-ok"
    init_class(t, name, os_packages=["coreutils"])  # on every Debian
    try:
        assert get(t, "dir/obj-0", etl_name=name).content.startswith(b"HELLO 0|")
    finally:
        delete(t, name)


def test_a_package_pip_cannot_find_fails_the_init_with_pips_words(t):
    out = init_class_fails(t, "ic-nopkg", dependencies=["etlfs-no-such-package-0"])
    assert "400" in out and "ic-nopkg" in out and "etlfs-no-such-package-0" in out, out
    assert "No matching distribution" in out or "ERROR" in out, out
    assert requests.get(f"{t.url}/v1/etl/ic-nopkg", timeout=30).status_code == 404
    assert wait_no_pids("ic-nopkg")


def test_a_class_outside_the_webserver_framework_is_refused(t):
    out = init_class_fails(t, "ic-bare", "ETLServer", body=UPPER + "\n    def start(self):\n        pass")
    assert "400" in out and "ic-bare" in out and "extends none of" in out, out
    assert wait_no_pids("ic-bare")


def test_the_runtime_venv_is_built_once_within_the_init_timeout(target):
    """A fresh target: an init that cannot finish pip in time is a 504 that
    leaves nothing; two inits at once then build the shared venv once."""
    sdk5.ensure()
    runtimes = os.path.join(target.data[0], ".etlfs", "etl", "_runtimes")
    msg = {"name": "ic-slow", "init_timeout": "2s",
           "runtime": {"image": "aistorage/runtime_python:3.11",
                       "env": [{"name": "ETL_CLASS_PAYLOAD", "value": "not used"}]}}
    r = requests.put(f"{target.url}/v1/etl", json=msg, timeout=60)
    assert r.status_code == 504, r.text
    assert "ic-slow" in r.json()["message"] and "init timeout" in r.json()["message"], r.text
    assert requests.get(f"{target.url}/v1/etl/ic-slow", timeout=30).status_code == 404
    assert not [n for n in os.listdir(runtimes) if ".tmp-" in n or not n.endswith((".lock", ".log"))]

    target.create_bucket("icsrc")
    target.put("icsrc", "obj", b"race")
    procs = {}
    for name in ("ic-race-a", "ic-race-b"):
        code = INIT.replace("NAME", name).replace("KIND", "FastAPIServer").replace("BODY", UPPER).replace("KWARGS", "")
        python, path = sdk5.ensure()
        env = dict(os.environ, PYTHONPATH=path, AIS_ENDPOINT=target.url)
        env.pop("AIS_AUTHN_TOKEN", None)
        procs[name] = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, env=env)
    try:
        for name, p in procs.items():
            out, _ = p.communicate(timeout=600)
            assert p.returncode == 0, out[-3000:]
            r = requests.get(f"{target.url}/v1/objects/icsrc/obj", params={"etl_name": name}, timeout=60)
            assert r.status_code == 200 and r.content == b"RACE|icsrc/obj|", r.text
        venvs = [n for n in os.listdir(runtimes) if not n.endswith((".lock", ".log"))]
        assert len(venvs) == 1 and ".tmp-" not in venvs[0], venvs
        with open(target.log_path, errors="replace") as f:
            builds = f.read().count("(pip, once)")
        assert builds == 2, builds  # the timed-out one, then one of the pair
    finally:
        for name in procs:
            delete(target, name)
    for name in procs:
        assert wait_no_pids(name)


# A class whose pickle is far beyond the kernel's 128 KiB for one environment
# string: a 300 KiB constant travels with it.
BIG = '''
import hashlib, os
from aistore.sdk import Client
from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer
client = Client(os.environ["AIS_ENDPOINT"])
etl = client.etl("NAME")
BLOB = os.urandom(300 * 1024)

@etl.init_class(ETLFS_TEST_MARK="NAME")
class Transformer(FastAPIServer):
    CONST = BLOB
    def transform(self, data, path, etl_args):
        return data.upper() + b"|" + hashlib.sha256(self.CONST).hexdigest().encode()

print("DIGEST", hashlib.sha256(BLOB).hexdigest())
'''


def test_a_class_larger_than_an_environment_variable(t):
    """The pickled class goes to the ETL as a file (its name in the env) when
    it would not fit in one variable; a small one stays in the env, as the
    SDK's image expects."""
    name = "ic-big"
    out = sdk5.run_script(BIG.replace("NAME", name), t.url)
    digest = out.split("DIGEST", 1)[1].strip()
    try:
        env = requests.get(f"{t.url}/v1/etl/{name}", timeout=30).json()["runtime"]["env"]
        payload = [e["value"] for e in env if e["name"] == "ETL_CLASS_PAYLOAD"]
        assert payload and len(payload[0]) > 4 * 200 * 1024 // 3, [len(p) for p in payload]  # > 200 KiB pickled
        r = get(t, "dir/obj-1", etl_name=name)
        assert r.status_code == 200, r.text
        assert r.content == b"HELLO 1|" + digest.encode()  # the constant arrived whole
        # offline too, the same process
        r = requests.post(f"{t.url}/v1/buckets/icsrc", params={"bck_to": "ais/@#/icbigdst/"},
                          json={"action": "etl-bck", "value": {"id": name}}, timeout=60)
        assert r.status_code == 200, r.text
        st = wait_job(t, r.text.strip().strip('"'))
        assert not st.get("err") and not st.get("abort_err"), st
        assert requests.get(f"{t.url}/v1/objects/icbigdst/dir/obj-3", timeout=30).content == b"HELLO 3|" + digest.encode()
        pids = marked_pids(name)
        assert pids
        for pid in pids:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            assert not [v for v in environ if v.startswith(b"ETL_CLASS_PAYLOAD=")]
            assert [v for v in environ if v.startswith(b"ETL_CLASS_PAYLOAD_FILE=")]
    finally:
        assert delete(t, name).status_code == 200
    assert wait_no_pids(name)


def test_a_small_class_still_travels_in_the_environment(t):
    name = "ic-small-env"
    init_class(t, name, "HTTPMultiThreadedServer")
    try:
        assert get(t, "dir/obj-0", etl_name=name).content.startswith(b"HELLO 0|")
        pids = marked_pids(name)
        assert pids
        with open(f"/proc/{pids[0]}/environ", "rb") as f:
            environ = f.read().split(b"\0")
        assert [v for v in environ if v.startswith(b"ETL_CLASS_PAYLOAD=") and len(v) > 100]
        assert not [v for v in environ if v.startswith(b"ETL_CLASS_PAYLOAD_FILE=")]
    finally:
        delete(t, name)
    assert wait_no_pids(name)
