"""The ETL sandbox (docs/etl.md, "Sandbox") against a real etlfs-target: an
ETL that tries to read /etc/shadow, write a mountpath, call the REST API,
reach another port or host, allocate past its memory limit or fork without
end fails in that attempt, the target says so and stays healthy, and the
other bucket is still there. Links an ETL plants are never followed by root,
and a setsid grandchild does not outlive stop."""
import os
import socket
import time

import pytest
import requests

import conftest
from test_etl_api import init_code, message

MEMORY = "256Mi"
PIDS = 64


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """One target with small limits for the whole module."""
    t = conftest.Target(str(tmp_path_factory.mktemp("sandbox")),
                        extra_args=["--etl-memory", MEMORY, "--etl-pids", str(PIDS)])
    t.create_bucket("src")
    t.put("src", "obj", b"some bytes")
    t.create_bucket("other")
    t.put("other", "keep", b"keep me")
    yield t
    assert t.stop() == 0, t.log_text()


def healthy(t):
    """The target answers, and the bucket no ETL may touch is intact."""
    assert requests.get(f"{t.url}/v1/health", timeout=10).status_code == 200
    r = t.get("other", "keep")
    assert r.status_code == 200 and r.content == b"keep me", r.text


def run_attempt(t, name, code):
    """Inits an ETL with code, reads src/obj through it; the failed reply."""
    r = init_code(t, name, code=code, deps="")
    assert r.status_code == 200, r.text
    try:
        g = t.get("src", "obj", etl_name=name)
        assert g.status_code >= 400, f"the attempt succeeded: {g.content[:300]!r}"
        return message(g)
    finally:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=60)


def test_cannot_read_etc_shadow(limited):
    msg = run_attempt(limited, "etl-shadow", """
def transform(data):
    return open('/etc/shadow', 'rb').read()
""")
    assert "PermissionError" in msg or "Permission denied" in msg, msg
    healthy(limited)


def test_cannot_write_a_mountpath(limited):
    planted = os.path.join(limited.data[0], "planted")
    msg = run_attempt(limited, "etl-write-mp", f"""
def transform(data):
    with open({planted!r}, 'wb') as f:
        f.write(b'x')
    return b'written'
""")
    assert "Permission" in msg, msg
    assert not os.path.exists(planted)
    healthy(limited)


def test_cannot_call_the_rest_api(limited):
    msg = run_attempt(limited, "etl-rest", f"""
import urllib.request
def transform(data):
    req = urllib.request.Request({limited.url!r} + '/v1/buckets/other', method='DELETE',
                                 data=b'{{"action": "destroy-bck"}}', headers={{'Content-Type': 'application/json'}})
    return urllib.request.urlopen(req, timeout=10).read()
""")
    assert "Permission" in msg, msg
    healthy(limited)


def test_callback_listener_serves_object_reads_only(limited):
    """The one port an ETL may reach answers object reads and nothing else."""
    name = "etl-cb-only"
    assert init_code(limited, name, deps="").status_code == 200
    try:
        env = None
        for p in os.listdir("/proc"):
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    e = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            except (OSError, ValueError):
                continue
            if e.get(b"ETLFS_CODE_DIR", b"").startswith(limited.data[0].encode()) and b"/" + name.encode() + b"/" in e[b"ETLFS_CODE_DIR"]:
                env = e
                break
        assert env, "the ETL process was not found"
        base = env[b"AIS_TARGET_URL"].decode().split("/v1/")[0]
        for path in ("/v1/etl", f"/v1/etl/{name}", "/v1/buckets/other", "/v1/objects/other/keep"):
            r = requests.get(base + path, timeout=10)
            assert r.status_code == 403, (path, r.status_code, r.text)
    finally:
        requests.delete(f"{limited.url}/v1/etl/{name}", timeout=60)
    healthy(limited)


def test_cannot_open_other_connections(limited):
    """Neither TCP to another port nor UDP reaches the listeners the test opens."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(4)
    tcp.settimeout(0.5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    try:
        for kind, code in [("tcp", f"""
import socket
def transform(data):
    socket.create_connection(('127.0.0.1', {tcp.getsockname()[1]}), timeout=5).sendall(b'leak')
    return b'connected'
"""), ("udp", f"""
import socket
def transform(data):
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak', ('127.0.0.1', {udp.getsockname()[1]}))
    return b'sent'
""")]:
            msg = run_attempt(limited, f"etl-net-{kind}", code)
            assert "Permission" in msg, (kind, msg)
        with pytest.raises(socket.timeout):
            tcp.accept()
        with pytest.raises(socket.timeout):
            udp.recvfrom(100)
    finally:
        tcp.close()
        udp.close()
    healthy(limited)


def test_unix_sockets_only_in_its_work_folder(limited):
    """An ETL may make a Unix socket in its work folder (where its launcher
    names ETLFS_SOCKET) and nowhere else: /dev/shm, which it may write
    files in, refuses one."""
    name = "etl-unix-where"
    r = init_code(limited, name, deps="", code="""
import os, socket
def transform(data):
    out = []
    for d in (os.environ["HOME"], "/dev/shm"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(os.path.join(d, "probe-%d.sock" % os.getpid()))
            out.append(d + ": made")
        except OSError as e:
            out.append(d + ": " + type(e).__name__)
        finally:
            s.close()
    return "\\n".join(out).encode()
""")
    assert r.status_code == 200, r.text
    try:
        g = limited.get("src", "obj", etl_name=name)
        assert g.status_code == 200, g.text
        home, shm = g.content.decode().split("\n")
        assert home.endswith(": made") and "/work" in home, home
        assert shm == "/dev/shm: PermissionError", shm
        assert not [f for f in os.listdir("/dev/shm") if f.startswith("probe-")]
    finally:
        requests.delete(f"{limited.url}/v1/etl/{name}", timeout=60)
    healthy(limited)


def etl_state(t, name):
    return requests.get(f"{t.url}/v1/etl/{name}", timeout=10).json()


def test_memory_limit_holds(limited):
    name = "etl-memhog"
    r = init_code(limited, name, deps="", code="""
def transform(data):
    hog = bytearray(1 << 30)  # 1 GiB, zero-filled: every page touched
    return bytes(hog[:10])
""")
    assert r.status_code == 200, r.text
    try:
        g = limited.get("src", "obj", etl_name=name)
        assert g.status_code >= 400, g.content[:100]
        # killed by the memory cgroup (the ETL is then in error) or a
        # MemoryError from RLIMIT_AS where the host has no memory cgroup
        deadline = time.time() + 10
        while time.time() < deadline and etl_state(limited, name)["status"] == "running" \
                and "MemoryError" not in message(g):
            time.sleep(0.1)
        st = etl_state(limited, name)
        assert "out of memory" in st["last_error"] or "MemoryError" in message(g), (st, message(g))
    finally:
        requests.delete(f"{limited.url}/v1/etl/{name}", timeout=60)
    healthy(limited)


FORK_BOMB = """
import os, time
def transform(data):
    n, t0 = 0, time.time()
    while n < 10000 and time.time() - t0 < 30:  # bounded, in count and time
        try:
            pid = os.fork()
        except OSError as e:
            raise RuntimeError(f'fork number {n + 1} failed: {e}')
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    return f'forked {n}'.encode()
"""


procs_with = conftest.procs_with_env


def wait_none(marker, within=10):
    """[] once no process holds marker, else those that still do."""
    conftest.wait_until(lambda: not procs_with(marker), within, 0.1)
    return procs_with(marker)


def test_fork_bomb_stops_at_the_process_limit(limited):
    name = "etl-forkbomb"
    msg = run_attempt(limited, name, FORK_BOMB)
    assert "fork number" in msg and "Resource temporarily unavailable" in msg, msg
    n = int(msg.split("fork number ")[1].split()[0])
    assert n <= PIDS, msg
    assert wait_none(f"/{name}/work".encode()) == []  # deleted: every child is gone
    healthy(limited)


def test_setsid_grandchild_gone_after_stop(target):
    target.create_bucket("src")
    target.put("src", "obj", b"x")
    name = "etl-setsid"
    # at import: a grandchild in its own session (out of the ETL's process group)
    code = """
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sleep', ['sleep', '3141'])
    os._exit(0)
def transform(data):
    return data
"""
    assert init_code(target, name, code=code, deps="").status_code == 200
    marker = f"/{name}/work".encode()  # HOME of its processes
    deadline = time.time() + 10
    while time.time() < deadline and not any(
            open(f"/proc/{p}/cmdline", "rb").read() == b"sleep\x003141\x00" for p in procs_with(marker)
            if os.path.exists(f"/proc/{p}")):
        time.sleep(0.05)
    sleepers = [p for p in procs_with(marker) if open(f"/proc/{p}/cmdline", "rb").read() == b"sleep\x003141\x00"]
    assert sleepers, "the grandchild did not start"
    assert os.getpgid(sleepers[0]) == os.getsid(sleepers[0])  # out of the ETL's process group
    assert requests.post(f"{target.url}/v1/etl/{name}/stop", timeout=60).status_code == 200
    assert wait_none(marker) == []


def test_links_planted_by_an_etl_are_not_followed(target, tmp_path):
    """An ETL plants links where root writes (code.py, log, msg.json.tmp,
    deps files, in its own folder and the one above); starting it again,
    and after a target restart, leaves the file they point to alone."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"root's file\n")
    target.create_bucket("src")
    target.put("src", "obj", b"x")
    name = "etl-planter"
    code = f"""
import os
OUT = {str(outside)!r}
here = os.getcwd()
names = [os.path.join(here, n) for n in ('code.py', 'log', 'msg.json', 'msg.json.tmp', 'deps.missing', 'deps.log',
                                         'requirements.txt', 'check_deps.py')]
names += [os.path.join(here, '..', n) for n in ('log', 'msg.json.tmp', 'deps.log', 'requirements.txt', 'check_deps.py')]
names += [os.path.join(here, '..', 'code', 'code.py'), os.path.join(here, 'code', 'code.py')]
planted = []
for p in names:
    try:
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(OUT, p)
        planted.append(p)
    except OSError:
        pass
def transform(data):
    return repr(planted).encode()
"""
    assert init_code(target, name, code=code, deps="requests\n").status_code == 200
    assert target.get("src", "obj", etl_name=name).status_code == 200
    for _ in range(2):
        assert requests.post(f"{target.url}/v1/etl/{name}/stop", timeout=60).status_code == 200
        r = requests.post(f"{target.url}/v1/etl/{name}/start", timeout=120)
        assert r.status_code == 200, r.text
        assert outside.read_bytes() == b"root's file\n"
    target.restart()
    assert requests.post(f"{target.url}/v1/etl/{name}/start", timeout=120).status_code == 200
    assert target.get("src", "obj", etl_name=name).status_code == 200
    assert outside.read_bytes() == b"root's file\n"
    assert os.stat(outside).st_uid == 0
