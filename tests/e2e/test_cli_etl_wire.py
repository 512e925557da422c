"""What `ais etl ...` and `ais job ...` put on the wire, checked against a
recording stand-in for the cluster (no target, no ETL runtime needed): the
exact REST paths, query strings and JSON bodies AIStore v3.22 expects."""
import base64
import json
import os
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN

AIS = os.environ.get("ETLFS_AIS", os.path.join(BIN, "ais"))


class Fake:
    """Answers from a table keyed by (method, path, what=); records requests."""

    def __init__(self):
        self.requests = []
        self.status_calls = 0
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
                fake.requests.append((self.command, u.path, q, body))
                code, ctype, out, extra = fake.answer(self.command, u.path, q, body)
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _do

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def answer(self, method, path, q, body):
        js = "application/json"
        what = q.get("what", [""])[0]
        if method == "PUT" and path == "/v1/etl":
            return 200, "text/plain", b"etl-Xk3jd8Qa1", {}
        if method == "GET" and path == "/v1/etl":
            return 200, js, json.dumps([{"id": "etl-md5", "xaction_id": "etl-Xk3jd8Qa1", "obj_count": 0,
                                         "in_bytes": 0, "out_bytes": 0},
                                        {"id": "etl-torchvision", "xaction_id": "etl-Yy", "obj_count": 12,
                                         "in_bytes": 5, "out_bytes": 6}]).encode(), {}
        if method == "GET" and path == "/v1/etl/etl-md5":
            return 200, js, json.dumps({"id": "etl-md5", "communication": "hpush://", "argument": "", "timeout": "5m",
                                        "code": base64.b64encode(b"def transform(b):\n    return b\n").decode(),
                                        "dependencies": base64.b64encode(b"torch==2.0.1").decode(),
                                        "runtime": "python3.11v2", "Funcs": {"transform": "transform"},
                                        "chunk_size": 0, "flags": 0}).encode(), {}
        if method == "GET" and path == "/v1/etl/etl-gone":
            return 404, js, json.dumps({"message": "p[x]: etl job etl-gone does not exist", "status": 404}).encode(), {}
        if method in ("POST", "DELETE") and path.startswith("/v1/etl/"):
            return 200, "text/plain", b"", {}
        if method == "HEAD" and path == "/v1/buckets/dst":
            return 404, js, b"", {}
        if method == "HEAD" and path.startswith("/v1/buckets/"):
            return 200, js, b"", {}
        if method == "GET" and path == "/v1/buckets/src":
            return 200, js, json.dumps({"uuid": "u1", "continuation_token": "", "flags": 0,
                                        "entries": [{"name": "a.JPEG", "size": "3", "flags": 64}]}).encode(), {}
        if method == "POST" and path == "/v1/buckets/src":
            return 200, "text/plain", b"JobAbc123", {}
        if path == "/v1/cluster" and what == "status":
            self.status_calls += 1
            end = 1708871234567890123 if self.status_calls >= 3 else 0
            return 200, js, json.dumps({"kind": "etl-bck", "uuid": "JobAbc123", "err": "", "end_time": end,
                                        "aborted": False}).encode(), {}
        if path == "/v1/cluster" and what == "qryxstats":
            return 200, js, json.dumps({"t1": [{"id": "JobAbc123", "kind": "etl-bck", "start-time": "2024-02-25T10:00:00Z",
                                                "end-time": "0001-01-01T00:00:00Z",
                                                "stats": {"loc-objs": "7", "loc-bytes": "2048", "out-objs": "0",
                                                          "out-bytes": "0", "in-objs": "0", "in-bytes": "0"}}]}).encode(), {}
        if path == "/v1/cluster" and what == "status_all":
            return 200, js, json.dumps([{"kind": "etl-bck", "uuid": "JobAbc123", "err": "", "end_time": 1708871234567890123,
                                         "aborted": False}]).encode(), {}
        return 400, js, json.dumps({"message": f"unexpected {method} {path}", "status": 400}).encode(), {}

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.close()


def run(fake, *args, cwd=None):
    env = dict(os.environ, AIS_ENDPOINT=fake.url)
    return subprocess.run([AIS, *args], env=env, capture_output=True, timeout=60, cwd=cwd)


def test_init_spec_body(fake, tmp_path):
    spec = b"apiVersion: v1\nkind: Pod\n"
    (tmp_path / "md5_spec.yaml").write_bytes(spec)
    r = run(fake, "etl", "init", "spec", "--from-file", "md5_spec.yaml", "--name", "etl-md5", "--comm-type", "hpull",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'ETL[etl-md5]: job "etl-Xk3jd8Qa1"\n'
    method, path, q, body = fake.requests[-1]
    assert (method, path) == ("PUT", "/v1/etl")
    msg = json.loads(body)
    assert msg["id"] == "etl-md5" and msg["communication"] == "hpull://" and msg["argument"] == ""
    assert base64.b64decode(msg["spec"]) == spec
    assert "code" not in msg


def test_init_code_body(fake, tmp_path):
    (tmp_path / "code.py").write_text("def transform(b):\n    return b\n")
    (tmp_path / "deps.txt").write_text("torch==2.0.1\ntorchvision==0.15.2\n")
    r = run(fake, "etl", "init", "code", "--name", "etl-torchvision", "--from-file", "code.py", "--deps-file",
            "deps.txt", "--runtime", "python3.11v2", "--comm-type", "hpull", "--chunk-size", "64KiB",
            "--arg-type", "url", "--timeout", "5m", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    msg = json.loads(fake.requests[-1][3])
    assert msg["id"] == "etl-torchvision" and msg["runtime"] == "python3.11v2"
    assert msg["communication"] == "hpull://" and msg["argument"] == "url" and msg["timeout"] == "5m"
    assert msg["funcs"] == {"transform": "transform"}
    assert base64.b64decode(msg["code"]).decode().startswith("def transform")
    assert base64.b64decode(msg["dependencies"]) == b"torch==2.0.1\ntorchvision==0.15.2\n"
    assert msg["chunk_size"] == 65536


def test_etl_bucket_body_and_wait(fake):
    r = run(fake, "etl", "bucket", "etl-torchvision", "ais://src", "ais://dst", "--ext={JPEG:JPEG}",
            "--prefix", "ILSVRC", "--wait", "--progress")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("etl-bucket[JobAbc123] ais://src => ais://dst ...\n")
    assert "objects: 7" in out  # progress: on a terminal, or with --progress
    assert "doesn't exist and will be created" in r.stderr.decode()
    post = [x for x in fake.requests if x[0] == "POST"][0]
    assert post[1] == "/v1/buckets/src"
    assert post[2]["bck_to"] == ["ais/@#/dst/"] and post[2]["provider"] == ["ais"]
    msg = json.loads(post[3])
    assert msg["action"] == "etl-bck" and msg["name"] == ""
    v = msg["value"]
    assert v["id"] == "etl-torchvision" and v["prefix"] == "ILSVRC" and v["ext"] == {"JPEG": "JPEG"}
    assert v["dry_run"] is False and v["force"] is False and v["prepend"] == "" and v["request_timeout"] == ""
    polls = [json.loads(x[3]) for x in fake.requests if x[2].get("what") == ["status"]]
    assert len(polls) == 3 and polls[0]["ID"] == "JobAbc123" and polls[0]["Kind"] == ""


def test_etl_bucket_ext_json_and_multi(fake):
    r = run(fake, "etl", "bucket", "e-x", "ais://src", "ais://dst", "--ext", '{"jpg": "txt", "png": "out"}')
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"etl-bucket[JobAbc123] ais://src => ais://dst\n"
    v = json.loads([x for x in fake.requests if x[0] == "POST"][0][3])["value"]
    assert v["ext"] == {"jpg": "txt", "png": "out"}
    r = run(fake, "etl", "bucket", "e-x", "ais://src", "ais://dst", "--ext={in1:out1,in2:out2}", "--dry-run")
    assert r.returncode == 0, r.stderr
    v = json.loads([x for x in fake.requests if x[0] == "POST"][-1][3])["value"]
    assert v["ext"] == {"in1": "out1", "in2": "out2"} and v["dry_run"] is True


def test_etl_stop_start_rm_paths(fake):
    assert run(fake, "etl", "stop", "etl-md5").stdout == b"ETL[etl-md5] stopped\n"
    assert fake.requests[-1][:2] == ("POST", "/v1/etl/etl-md5/stop")
    assert run(fake, "etl", "start", "etl-md5").stdout == b"ETL[etl-md5] started successfully\n"
    assert fake.requests[-1][:2] == ("POST", "/v1/etl/etl-md5/start")
    assert run(fake, "etl", "rm", "etl-md5").returncode == 0
    assert fake.requests[-1][:2] == ("DELETE", "/v1/etl/etl-md5")


def test_server_error_message(fake):
    r = run(fake, "etl", "show", "etl-gone")
    assert r.returncode == 1
    assert r.stderr == b"p[x]: etl job etl-gone does not exist\n"


def test_job_show_and_wait(fake):
    r = run(fake, "job", "show")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["NODE", "ID", "KIND", "OBJECTS", "BYTES", "START", "END", "STATE"]
    assert lines[1].split()[:5] == ["t1", "JobAbc123", "etl-bck", "7", "2.00KiB"]
    assert lines[1].split()[-1] == "Finished"
    q = [json.loads(x[3]) for x in fake.requests if x[2].get("what") == ["status_all"]][0]
    assert q == {"kind": "", "node": "", "show_active": False}
    r = run(fake, "job", "show", "--json")
    assert json.loads(r.stdout)[0]["end_time"] == 1708871234567890123  # every digit kept
    r = run(fake, "job", "wait", "JobAbc123")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Waiting for etl-bucket[JobAbc123] ...\nDone.\n"


def test_etl_show_table_and_details(fake):
    r = run(fake, "etl", "show")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"ETL NAME\t XACTION\t OBJECTS\n"
                        b"etl-md5\t\t etl-Xk3jd8Qa1\t -\n"
                        b"etl-torchvision\t etl-Yy\t\t 12\n")
    assert json.loads(run(fake, "etl", "show", "--json").stdout)[1]["obj_count"] == 12
    r = run(fake, "etl", "show", "etl-md5")
    assert r.stdout.decode() == ("NAME:  etl-md5\nCOMMUNICATION TYPE:  hpush://\nARGUMENT TYPE:  \n"
                                 "RUNTIME:  python3.11v2\nCODE: \ndef transform(b):\n    return b\n\n"
                                 "DEPS:  torch==2.0.1\nCHUNK SIZE:  0\n")
