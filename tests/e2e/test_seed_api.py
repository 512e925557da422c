"""The API table of the seed document (etl.md, "API Reference"), each row sent
with curl as written there: only `-d` where the seed omits it, a real host and
real names are added. Asserts each row's effect."""
import base64
import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import ROOT

MD5_POD = os.path.join(ROOT, "etl", "transformers", "md5", "pod.yaml")
MD5_CODE = "import hashlib\ndef transform(input_bytes):\n    return hashlib.md5(input_bytes).hexdigest().encode()\n"


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=120)
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def wait_job(url, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = requests.get(f"{url}/v1/cluster?what=status", json={"ID": job_id}).json()
        if st["end_time"]:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def running_etls(url):
    return [e["id"] for e in requests.get(f"{url}/v1/etl").json()]


def test_seed_api_table(target):
    G = target.url
    src = target.create_bucket("from-name")
    objs = {"prefix-a.jpg": b"alpha", "prefix-b.jpg": b"bravo", "prefix-c.png": b"charlie", "other.jpg": b"delta"}
    for name, data in objs.items():
        target.put(src, name, data)

    # Init code ETL: runtime "python3", no funcs, code and dependencies as plain text
    body = json.dumps({"code": MD5_CODE, "dependencies": "", "runtime": "python3", "id": "md5-code"})
    code, out = curl("-X", "PUT", f"{G}/v1/etl", "-d", body)
    assert code == 200, out
    assert out.startswith("etl-")

    # List ETLs
    code, out = curl("-L", "-X", "GET", f"{G}/v1/etl")
    assert code == 200 and [e["id"] for e in json.loads(out)] == ["md5-code"]

    # View ETL's init code: stored as base64, runtime resolved, funcs defaulted
    code, out = curl("-L", "-X", "GET", f"{G}/v1/etl/md5-code")
    view = json.loads(out)
    assert code == 200 and base64.b64decode(view["code"]).decode() == MD5_CODE
    assert view["runtime"].startswith("python3.") and view["Funcs"]["transform"] == "transform"

    # Transform object
    dest = os.path.join(target.workdir, "transformed.out")
    code, _ = curl("-L", "-X", "GET", f"{G}/v1/objects/{src}/prefix-a.jpg?etl_name=md5-code", "-o", dest)
    assert code == 200
    assert open(dest, "rb").read() == hashlib.md5(b"alpha").hexdigest().encode()

    # Dry run transform bucket: counts, writes nothing (one ETL runs: it is the one used)
    body = json.dumps({"action": "etl-bck", "name": "to-dry", "value": {"ext": "destext", "dry_run": True}})
    code, job = curl("-i", "-X", "POST", "-H", "Content-Type: application/json", "-d", body, f"{G}/v1/buckets/{src}")
    assert code == 200
    job = job.split("\n\n", 1)[1]
    st = wait_job(G, job)
    assert not st["aborted"] and st["objects"] == 4 and st["bytes"] == 4 * 32, st
    assert requests.head(f"{G}/v1/buckets/to-dry").status_code == 404

    # Transform bucket: destination in "name", string ext, prefix and suffix filters
    body = json.dumps({"action": "etl-bck", "name": "to-name",
                       "value": {"ext": "destext", "prefix": "prefix", "suffix": ".jpg"}})
    code, job = curl("-i", "-X", "POST", "-H", "Content-Type: application/json", "-d", body, f"{G}/v1/buckets/{src}")
    assert code == 200
    st = wait_job(G, job.split("\n\n", 1)[1])
    assert st["objects"] == 2 and st["errors"] == 0, st
    lst = requests.get(f"{G}/v1/buckets/to-name", json={"action": "list", "value": {}}).json()
    assert sorted(e["name"] for e in lst["entries"]) == ["prefix-a.destext", "prefix-b.destext"]
    assert target.get("to-name", "prefix-b.destext").content == hashlib.md5(b"bravo").hexdigest().encode()

    # Init spec ETL: the Pod YAML as plain text, and as base64 (the SDK's form)
    pod = open(MD5_POD).read()
    code, out = curl("-X", "PUT", f"{G}/v1/etl", "-d", json.dumps({"spec": pod, "id": "md5-spec"}))
    assert code == 200, out
    code, out = curl("-X", "PUT", f"{G}/v1/etl",
                     "-d", json.dumps({"spec": base64.b64encode(pod.encode()).decode(), "id": "md5-spec-b64"}))
    assert code == 200, out
    assert sorted(running_etls(G)) == ["md5-code", "md5-spec", "md5-spec-b64"]
    r = target.get(src, "other.jpg", etl_name="md5-spec")
    assert r.content == hashlib.md5(b"delta").hexdigest().encode()

    # With several ETLs running, an etl-bck that names none is ambiguous: 400 naming the field
    body = json.dumps({"action": "etl-bck", "name": "to-x", "value": {"ext": "destext"}})
    code, out = curl("-X", "POST", "-d", body, f"{G}/v1/buckets/{src}")
    assert code == 400 and '\\"id\\"' in out and "etl_name" in out, out

    # Stop ETL: the seed's example (POST) and its table (DELETE): both stop, neither deletes
    code, _ = curl("-X", "POST", f"{G}/v1/etl/md5-spec/stop")
    assert code == 200
    code, _ = curl("-X", "DELETE", f"{G}/v1/etl/md5-spec-b64/stop")
    assert code == 200
    assert running_etls(G) == ["md5-code"]
    for name in ("md5-spec", "md5-spec-b64"):
        assert requests.get(f"{G}/v1/etl/{name}").status_code == 200

    # Delete ETL
    code, _ = curl("-X", "DELETE", f"{G}/v1/etl/md5-spec")
    assert code == 200
    assert requests.get(f"{G}/v1/etl/md5-spec").status_code == 404
    for name in ("md5-code", "md5-spec-b64"):
        requests.delete(f"{G}/v1/etl/{name}")


def test_seed_forms_are_validated(target):
    G = target.url
    # a runtime that is neither AIStore's nor the seed's alias: 400 naming the forms
    code, out = curl("-X", "PUT", f"{G}/v1/etl", "-d",
                     json.dumps({"code": MD5_CODE, "runtime": "python2", "id": "bad-runtime"}))
    assert code == 400 and "python3" in out and "runtime" in out
    # funcs given but empty
    code, out = curl("-X", "PUT", f"{G}/v1/etl", "-d",
                     json.dumps({"code": MD5_CODE, "runtime": "python3", "funcs": {}, "id": "bad-funcs"}))
    assert code == 400 and "funcs" in out
    # etl-bck with neither bck_to nor name
    target.create_bucket("src2")
    code, out = curl("-X", "POST", "-d", json.dumps({"action": "etl-bck", "value": {"id": "x"}}), f"{G}/v1/buckets/src2")
    assert code == 400 and "bck_to" in out and "name" in out
    assert requests.get(f"{G}/v1/etl").json() == []
