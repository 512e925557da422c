"""`ais etl ...` in AIStore 5.0's forms against a real etlfs-target: init -f
with a multi-document runtime spec, show [N...], show errors, view-logs,
object/bucket with --args and "A>>B" pipelines, object cp, stop/start/rm by
spec file and --all, inspect, and bad input (unknown image, bad YAML, a
pipeline naming a missing ETL) with clear messages and non-zero exits.
The v3.22 forms are tests/e2e/test_cli.py's; the exact requests of a few
5.0 forms are checked against test_cli_etl_wire.py's recording stand-in."""
import hashlib
import json
import os
import re
import textwrap

import pytest
import requests

from conftest import xxh64_hex
from test_cli import ais, ok
from test_etl_api import etl_pids
from test_etl_v5 import SLOW_SERVER
from test_cli_etl_wire import Fake, run

TWO = """\
name: cli5-md5
runtime:
  image: aistorage/transformer_md5:latest
communication: hpush://
init_timeout: 60s
---
# the second ETL: a seeded hash, its default seed from the environment
name: cli5-hash
runtime:
  image: aistorage/transformer_hash_with_args:latest
  env:
    - name: SEED_DEFAULT
      value: 7
obj_timeout: 30s
"""

FAILING = """
def transform(data):
    raise ValueError("cli5 refuses " + data[:5].decode())
"""

PICKY = """
def transform(data):
    if data.startswith(b"third"):
        raise ValueError("cli5 inspect rejects " + data.decode())
    return data
"""

OBJS = {"a.txt": b"hello world", "b.txt": b"second object", "c.txt": b"third"}


def md5hex(b):
    return hashlib.md5(b).hexdigest()


@pytest.fixture(scope="module")
def t5(shared_target, tmp_path_factory):
    """A target with two ETLs made by `ais etl init -f` from one file, and a source bucket."""
    t = shared_target
    d = tmp_path_factory.mktemp("cli5")
    (d / "two.yaml").write_text(TWO)
    r = ais(t, "etl", "init", "-f", str(d / "two.yaml"), timeout=300)
    t.init_result = r
    t.spec_dir = d
    assert r.returncode == 0, r.stderr
    t.create_bucket("cli5src")
    for name, data in OBJS.items():
        t.put("cli5src", name, data)
    yield t
    for name in ["cli5-md5", "cli5-hash", "cli5-fail", "cli5-picky"]:
        requests.delete(f"{t.url}/v1/etl/{name}", timeout=30)


def ais_names(t, bucket):
    r = requests.get(f"{t.url}/v1/buckets/{bucket}", json={"action": "list", "value": {"props": "name"}},
                     timeout=10)
    r.raise_for_status()
    return [e["name"] for e in r.json()["entries"]]


def running(t):
    return sorted(e["id"] for e in requests.get(f"{t.url}/v1/etl", timeout=10).json())


def init_code_etl(t5, tmp_path, name, code):
    """`ais etl init code` of code (no dependencies) as ETL name."""
    (tmp_path / f"{name}.py").write_text(code)
    (tmp_path / "deps.txt").write_text("")
    ok(t5, "etl", "init", "code", "--name", name, "--from-file", str(tmp_path / f"{name}.py"),
       "--deps-file", str(tmp_path / "deps.txt"), "--runtime", "python3.11v2", timeout=300)


# ---- init -f, show


def test_init_two_documents(t5):
    out = t5.init_result.stdout.decode()
    docs = out.split("---\n")
    assert len(docs) == 2, out
    assert re.match(r'ETL\[cli5-md5\]: job "[^"]+"\nname:  cli5-md5\ncommunication_type:  hpush://\nruntime:\n'
                    r'   image:  aistorage/transformer_md5:latest\n$', docs[0]), docs[0]
    assert docs[1].startswith('ETL[cli5-hash]: job "') and '   env:  [{"SEED_DEFAULT":"7"}]\n' in docs[1]
    assert {"cli5-md5", "cli5-hash"} <= set(running(t5))
    # what the node keeps is what the file said
    shown = requests.get(f"{t5.url}/v1/etl/cli5-hash", timeout=10).json()
    assert shown["runtime"]["image"] == "aistorage/transformer_hash_with_args:latest"
    assert shown["obj_timeout"] == "30s" and {"name": "SEED_DEFAULT", "value": "7"} in shown["runtime"]["env"]


def test_show_list_and_details(t5):
    lines = ok(t5, "etl", "show").splitlines()
    assert lines[0].split() == ["NAME", "STAGE", "XACTION", "OBJECTS"]  # 5.0's table: it lists runtime specs
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows["cli5-md5"][1] == "Running" and rows["cli5-hash"][1] == "Running"
    assert ok(t5, "etl", "show", "--no-headers").splitlines()[0].split()[0] != "NAME"
    det = ok(t5, "etl", "show", "cli5-md5", "cli5-hash")
    assert det.count("\n---\n") == 1 and "name:  cli5-md5\n" in det and "name:  cli5-hash\n" in det
    assert "   image:  aistorage/transformer_hash_with_args:latest\n" in det
    # a missing one among several: printed, the others still shown, exit 1
    r = ais(t5, "etl", "show", "cli5-md5", "cli5-nope")
    assert r.returncode == 1 and "name:  cli5-md5" in r.stdout.decode()
    assert "cli5-nope" in r.stderr.decode()


def test_init_overrides_and_their_limits(t5):
    d = t5.spec_dir
    r = ais(t5, "etl", "init", "-f", str(d / "two.yaml"), "--name", "cli5-other")
    assert r.returncode == 2 and b"cannot use override flags [--name] with a multi-ETL file" in r.stderr
    one = d / "one.yaml"
    one.write_text(TWO.split("---\n")[0])
    r = ais(t5, "etl", "init", "--spec", str(one), "--name", "cli5-md5b", "--comm-type", "hpull",
            "--object-timeout", "12s", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "name:  cli5-md5b\ncommunication_type:  hpull://\n" in r.stdout.decode()
    shown = requests.get(f"{t5.url}/v1/etl/cli5-md5b", timeout=10).json()
    assert shown["communication"] == "hpull://" and shown["obj_timeout"] == "12s"
    # the same name again: upstream's duplicate guard, nothing sent
    r = ais(t5, "etl", "init", "spec", "-f", str(one), "--name", "cli5-md5b")
    assert r.returncode == 1
    assert r.stderr.decode() == ('Skipping document: duplicate ETL name "cli5-md5b": '
                                 'ETL[cli5-md5b] already exists\n')
    ok(t5, "etl", "rm", "cli5-md5b")


# ---- transforming


def test_object_args_and_pipeline(t5, tmp_path):
    data = OBJS["a.txt"]
    r = ais(t5, "etl", "object", "cli5-hash", "ais://cli5src/a.txt", "-")
    assert r.returncode == 0 and r.stdout.decode() == xxh64_hex(data, 7), r.stderr  # SEED_DEFAULT
    r = ais(t5, "etl", "object", "cli5-hash", "ais://cli5src/a.txt", "-", "--args", "123")
    assert r.stdout.decode() == xxh64_hex(data, 123)
    out = tmp_path / "chain.txt"
    ok(t5, "etl", "object", "cli5-md5>>cli5-hash", "ais://cli5src/a.txt", str(out), "--args=5")
    assert out.read_text() == xxh64_hex(md5hex(data).encode(), 5)
    # blanks around '>>' are trimmed, as upstream
    r = ais(t5, "etl", "object", "cli5-md5 >> cli5-hash", "ais://cli5src/a.txt", "-")
    assert r.stdout.decode() == xxh64_hex(md5hex(data).encode(), 7)


def test_object_cp_through_a_pipeline(t5):
    t5.create_bucket("cli5cp")  # as AIStore's, the destination bucket must exist
    r = ais(t5, "etl", "object", "cli5-md5>>cli5-hash", "cp", "ais://cli5src/b.txt", "ais://cli5cp/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ETL[cli5-md5>>cli5-hash]: ais://cli5src/b.txt => ais://cli5cp/b.txt\n"
    assert t5.get("cli5cp", "b.txt").content.decode() == xxh64_hex(md5hex(OBJS["b.txt"]).encode(), 7)
    ok(t5, "etl", "object", "cli5-hash", "cp", "ais://cli5src/b.txt", "ais://cli5cp/renamed", "--args", "3")
    assert t5.get("cli5cp", "renamed").content.decode() == xxh64_hex(OBJS["b.txt"], 3)
    assert t5.get("cli5src", "b.txt").content == OBJS["b.txt"]  # the source untouched


def test_bucket_pipeline_and_args(t5):
    r = ais(t5, "etl", "bucket", "cli5-md5>>cli5-hash", "ais://cli5src", "ais://cli5dst", "--args", "9",
            "--wait", "--num-workers", "2", timeout=300)
    assert r.returncode == 0, r.stderr
    assert re.match(r"etl-bucket\[[^\]]+\] ais://cli5src => ais://cli5dst \.\.\.\n", r.stdout.decode())
    for name, data in OBJS.items():
        got = t5.get("cli5dst", name)
        assert got.status_code == 200 and got.content.decode() == xxh64_hex(md5hex(data).encode(), 9), name


# ---- --list and --template: etl-listrange jobs


@pytest.fixture(scope="module")
def lrsrc(t5):
    t5.create_bucket("cli5lrsrc")
    for i in range(1, 6):
        t5.put("cli5lrsrc", f"shard-{i}.txt", f"shard {i}".encode())
    t5.put("cli5lrsrc", "other/x.txt", b"not a shard")
    return "cli5lrsrc"


def test_bucket_list_transforms_only_the_named_objects(t5, lrsrc):
    r = ais(t5, "etl", "bucket", "cli5-md5", f"ais://{lrsrc}", "ais://cli5lrdst", "--list", "shard-1.txt, shard-4.txt",
            "--wait", timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"Transforming objects ais://{lrsrc} => ais://cli5lrdst ...Done.\n"
    assert sorted(ais_names(t5, "cli5lrdst")) == ["shard-1.txt", "shard-4.txt"]
    assert t5.get("cli5lrdst", "shard-4.txt").content.decode() == md5hex(b"shard 4")
    # without --wait: the job's id, in upstream's words
    r = ais(t5, "etl", "bucket", "cli5-md5", f"ais://{lrsrc}", "ais://cli5lrdst2", "--list", "shard-2.txt")
    m = re.match(rf"Transforming objects ais://{lrsrc} => ais://cli5lrdst2\. To monitor the progress, "
                 r"run 'ais show job ([^']+)'\n$", r.stdout.decode())
    assert r.returncode == 0 and m, (r.stdout, r.stderr)
    ok(t5, "job", "wait", m.group(1), timeout=300)
    assert ais_names(t5, "cli5lrdst2") == ["shard-2.txt"]


def test_bucket_template_with_a_pipeline_and_args(t5, lrsrc):
    r = ais(t5, "etl", "bucket", "cli5-md5>>cli5-hash", f"ais://{lrsrc}", "ais://cli5tmpldst", "--template",
            "shard-{2..4}.txt", "--args", "11", "--prepend", "out/", "--wait", timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(ais_names(t5, "cli5tmpldst")) == ["out/shard-2.txt", "out/shard-3.txt", "out/shard-4.txt"]
    got = t5.get("cli5tmpldst", "out/shard-3.txt").content.decode()
    assert got == xxh64_hex(md5hex(b"shard 3").encode(), 11)
    # the template as the source's object name, as upstream's SRC_BUCKET/TEMPLATE
    r = ais(t5, "etl", "bucket", "cli5-md5", f"ais://{lrsrc}/shard-{{4..5}}.txt", "ais://cli5embdst", "--wait",
            timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(ais_names(t5, "cli5embdst")) == ["shard-4.txt", "shard-5.txt"]
    # --prefix keeps selecting by prefix (an etl-bck job)
    r = ais(t5, "etl", "bucket", "cli5-md5", f"ais://{lrsrc}", "ais://cli5prefdst", "--prefix", "other/", "--wait",
            timeout=300)
    assert r.returncode == 0 and r.stdout.decode().startswith("etl-bucket["), r.stderr
    assert ais_names(t5, "cli5prefdst") == ["other/x.txt"]


def test_list_and_template_bad_input(t5, lrsrc):
    src = f"ais://{lrsrc}"
    r = ais(t5, "etl", "bucket", "cli5-md5", src, "ais://cli5x", "--list", "a", "--template", "b-{1..2}")
    assert r.returncode == 2 and b"flags '--list' and '--template' are mutually exclusive" in r.stderr
    r = ais(t5, "etl", "bucket", "cli5-md5", src, "ais://cli5x", "--prefix", "a", "--template", "b-{1..2}")
    assert r.returncode == 2 and b"flags '--prefix' and '--template' are mutually exclusive" in r.stderr
    r = ais(t5, "etl", "bucket", "cli5-md5", f"{src}/shard-{{1..2}}.txt", "ais://cli5x", "--list", "a")
    assert r.returncode == 1 and b"cannot be used together with flags '--list' and '--template'" in r.stderr
    # the target's 400 for a template it cannot read, the job's error for a missing name
    r = ais(t5, "etl", "bucket", "cli5-md5", src, "ais://cli5x", "--template", "shard-{3..1}.txt")
    assert r.returncode == 1 and r.stdout == b"" and b"template" in r.stderr, r.stderr
    r = ais(t5, "etl", "bucket", "cli5-md5>>cli5-missing", src, "ais://cli5x", "--list", "shard-1.txt")
    assert r.returncode == 1 and b"cli5-missing" in r.stderr
    r = ais(t5, "etl", "bucket", "cli5-md5", src, "ais://cli5lrmiss", "--list", "shard-1.txt,no-such.txt",
            "--wait", timeout=300)
    assert b"no-such.txt" in r.stderr, (r.stdout, r.stderr)
    assert ais_names(t5, "cli5lrmiss") == ["shard-1.txt"]  # the others still done


def test_inspect_a_list_and_a_template(t5, lrsrc, tmp_path):
    init_code_etl(t5, tmp_path, "cli5-picky-lr", PICKY.replace("third", "shard 3"))
    try:
        before = sorted(ais_names(t5, lrsrc))
        for flag, value in [("--list", "shard-2.txt,shard-3.txt"), ("--template", "shard-{1..3}.txt")]:
            r = ais(t5, "etl", "inspect", "cli5-picky-lr", f"ais://{lrsrc}", flag, value, "--wait", timeout=300)
            m = re.match(rf"etl-objects\[([^\]]+)\] ais://{lrsrc} \.\.\.\n", r.stdout.decode())
            assert m, (r.stdout, r.stderr)
            rows = ok(t5, "etl", "show", "errors", "cli5-picky-lr", m.group(1), "--no-headers").splitlines()
            assert len(rows) == 1 and rows[0].startswith(f"ais://{lrsrc}/shard-3.txt"), rows
        assert sorted(ais_names(t5, lrsrc)) == before  # a dry run: nothing written
    finally:
        ok(t5, "etl", "rm", "cli5-picky-lr")


# ---- errors and logs


def test_show_errors_after_a_failing_etl(t5, tmp_path):
    init_code_etl(t5, tmp_path, "cli5-fail", FAILING)
    r = ais(t5, "etl", "object", "cli5-fail", "ais://cli5src/a.txt", "-")
    assert r.returncode == 1 and b"cli5-fail" in r.stderr and b"cli5 refuses hello" in r.stderr
    out = ok(t5, "etl", "show", "errors", "cli5-fail").splitlines()
    assert out[0].split() == ["OBJECT", "ECODE", "ERROR"]
    row = [ln for ln in out[1:] if ln.startswith("ais://cli5src/a.txt")]
    assert row and row[0].split()[1] == "502" and "cli5 refuses hello" in row[0], out
    # one offline job's failures, by its id
    r = ais(t5, "etl", "bucket", "cli5-fail", "ais://cli5src", "ais://cli5faildst", "--wait", timeout=300)
    job = re.match(r"etl-bucket\[([^\]]+)\]", r.stdout.decode()).group(1)
    out = ok(t5, "etl", "show", "errors", "cli5-fail", job, "--no-headers").splitlines()
    assert sorted(ln.split()[0] for ln in out) == [f"ais://cli5src/{n}" for n in sorted(OBJS)]
    assert ok(t5, "etl", "show", "errors", "cli5-fail", "no-such-job") == "OBJECT\t ECODE\t ERROR\n"
    r = ais(t5, "etl", "show", "errors")
    assert r.returncode == 2 and b"Incorrect usage" in r.stderr
    ok(t5, "etl", "rm", "cli5-fail")


def test_view_logs(t5):
    out = ok(t5, "etl", "view-logs", "cli5-hash")
    assert out.startswith("t1etlfs:\n") and "hash_with_args" in out
    alone = ok(t5, "etl", "view-logs", "cli5-hash", "t1etlfs")
    assert not alone.startswith("t1etlfs:") and "hash_with_args" in alone
    r = ais(t5, "etl", "view-logs", "cli5-none")
    assert r.returncode == 1 and b"cli5-none" in r.stderr


# ---- bad input


def test_unknown_image_prints_the_targets_400(t5, tmp_path):
    f = tmp_path / "img.yaml"
    f.write_text("name: cli5-badimg\nruntime:\n  image: example.com/nobody/no-such-image:1\n")
    before = running(t5)
    r = ais(t5, "etl", "init", "-f", str(f))
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode()
    assert err.startswith("Skipping document: ETL init failed: ") and "example.com/nobody/no-such-image:1" in err
    assert err.count("\n") == 1
    assert running(t5) == before
    assert requests.get(f"{t5.url}/v1/etl/cli5-badimg", timeout=10).status_code == 404


def test_bad_yaml_and_bad_documents(t5, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: cli5-x\n  runtime: [\n")
    r = ais(t5, "etl", "init", "-f", str(bad))
    assert r.returncode == 1 and r.stderr.decode().startswith("failed to decode YAML: yaml: line 2: ")
    r = ais(t5, "etl", "init", "-f", str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and b"missing.yaml" in r.stderr
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("kind: Nothing\n---\nname: cli5-noimg\nruntime:\n  command: [x]\n---\n"
                     "name: cli5-badtmo\nruntime:\n  image: aistorage/transformer_md5\nobj_timeout: soon\n")
    r = ais(t5, "etl", "init", "-f", str(mixed))
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().splitlines() == [
        "Skipping document: parse spec node: unknown document (missing 'runtime' or 'spec')",
        'Skipping document: validation failed: [etl="cli5-noimg"] runtime.image must be specified',
        'Skipping document: parse spec node: failed to decode ETLSpecMsg: "obj_timeout": time: invalid duration '
        '"soon"']
    r = ais(t5, "etl", "init", "-f", str(mixed), "--init-timeout", "later")
    assert r.returncode == 2 and b"--init-timeout" in r.stderr
    r = ais(t5, "etl", "init", "spec", "-f", str(mixed), "--from-file", str(mixed))
    assert r.returncode == 2


def test_pipeline_naming_a_missing_etl(t5):
    r = ais(t5, "etl", "object", "cli5-md5>>cli5-missing", "ais://cli5src/a.txt", "-")
    assert r.returncode == 1 and r.stdout == b"" and b"cli5-missing" in r.stderr
    r = ais(t5, "etl", "bucket", "cli5-md5>>cli5-missing", "ais://cli5src", "ais://cli5nodst")
    assert r.returncode == 1 and b"cli5-missing" in r.stderr
    r = ais(t5, "etl", "object", "cli5-md5>>", "ais://cli5src/a.txt", "-")
    assert r.returncode == 2
    assert b"failed to parse ETL name or pipeline: empty ETL name at position 2 in pipeline" in r.stderr
    r = ais(t5, "etl", "object", "cli5-md5", "cp", "ais://cli5src/a.txt")
    assert r.returncode == 2


# an ETL as a plain command: upper-cases bodies, hangs on objects named slow*
SLOW_SPEC = """\
name: cli5-slow
obj_timeout: 2s
runtime:
  image: example.com/own/slow:1
  command:
    - /usr/bin/python3
    - -c
    - |
""" + textwrap.indent(SLOW_SERVER.lstrip("\n"), "      ")


def test_bad_args_a_failing_stage_and_an_object_timeout(t5, tmp_path):
    # etl_args longer than the node takes: the node's 400, naming ETL and object
    r = ais(t5, "etl", "object", "cli5-hash", "ais://cli5src/a.txt", "-", "--args", "x" * 5000)
    err = r.stderr.decode()
    assert r.returncode == 1 and r.stdout == b"", err
    assert "etl_args: 5000 bytes, at most 4096" in err and "cli5-hash" in err and "ais://cli5src/a.txt" in err
    # a later stage that fails names itself and the object; its failure is the pipeline's too
    init_code_etl(t5, tmp_path, "cli5-stagefail", FAILING)
    try:
        r = ais(t5, "etl", "object", "cli5-md5>>cli5-stagefail", "ais://cli5src/b.txt", "-")
        err = r.stderr.decode()
        assert r.returncode == 1 and r.stdout == b"", err
        assert "etl[cli5-stagefail]" in err and "ais://cli5src/b.txt" in err and "cli5 refuses" in err, err
        rows = ok(t5, "etl", "show", "errors", "cli5-md5", "--no-headers").splitlines()
        assert [ln for ln in rows if ln.startswith("ais://cli5src/b.txt") and "cli5-stagefail" in ln], rows
    finally:
        ok(t5, "etl", "rm", "cli5-stagefail")
    # a stage that takes too long on one object: 504 naming ETL and object; the others are served
    (tmp_path / "slow.yaml").write_text(SLOW_SPEC)
    ok(t5, "etl", "init", "-f", str(tmp_path / "slow.yaml"), timeout=300)
    t5.put("cli5src", "slow-1", b"zzz")
    try:
        r = ais(t5, "etl", "object", "cli5-slow", "ais://cli5src/slow-1", "-", timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 1 and r.stdout == b"", err
        assert "cli5-slow" in err and "ais://cli5src/slow-1" in err and "no complete answer within 2s" in err, err
        rows = ok(t5, "etl", "show", "errors", "cli5-slow", "--no-headers").splitlines()
        assert [ln for ln in rows if ln.startswith("ais://cli5src/slow-1") and ln.split()[1] == "504"], rows
        assert ok(t5, "etl", "object", "cli5-slow", "ais://cli5src/a.txt", "-") == "HELLO WORLD"
    finally:
        ok(t5, "etl", "rm", "cli5-slow")
        requests.delete(f"{t5.url}/v1/objects/cli5src/slow-1", timeout=10)


def test_init_timeout_fails_and_leaves_nothing_running(t5, tmp_path):
    f = tmp_path / "sleepy.yaml"
    f.write_text("name: cli5-sleepy\nruntime:\n  image: example.com/own/sleepy:1\n  command: [/bin/sleep, '60']\n")
    r = ais(t5, "etl", "init", "-f", str(f), "--init-timeout", "2s", timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1 and r.stdout == b"", err
    assert err.startswith("Skipping document: ETL init failed: ") and "cli5-sleepy" in err and "not ready" in err
    assert not [p for p in etl_pids(t5) if b"sleep" in open(f"/proc/{p}/cmdline", "rb").read()]
    assert "cli5-sleepy" not in running(t5)
    ais(t5, "etl", "rm", "cli5-sleepy")


def test_inspect_collects_failures_and_writes_nothing(t5, tmp_path):
    init_code_etl(t5, tmp_path, "cli5-picky", PICKY)
    before = sorted(ais_names(t5, "cli5src"))
    r = ais(t5, "etl", "inspect", "cli5-picky", "ais://cli5src", "--wait", timeout=300)
    out = r.stdout.decode()
    m = re.match(r"etl-bucket\[([^\]]+)\] ais://cli5src \.\.\.\n", out)
    assert m, (out, r.stderr)
    job = m.group(1)
    assert out.endswith(f"To view failed objects, run 'ais etl show errors cli5-picky {job}'\n")
    rows = ok(t5, "etl", "show", "errors", "cli5-picky", job, "--no-headers").splitlines()
    assert len(rows) == 1 and rows[0].startswith("ais://cli5src/c.txt") and "cli5 inspect rejects" in rows[0]
    assert sorted(ais_names(t5, "cli5src")) == before  # a dry run: nothing written
    assert t5.get("cli5src", "c.txt").content == OBJS["c.txt"]
    ok(t5, "etl", "rm", "cli5-picky")


# ---- stop/start/rm by spec file and --all


def test_stop_start_rm_by_spec_and_all(t5, tmp_path):
    f = tmp_path / "life.yaml"
    f.write_text("name: cli5-life\nruntime:\n  image: aistorage/transformer_md5\n---\n"
                 "name: cli5-life2\nruntime:\n  image: aistorage/transformer_md5\n")
    ok(t5, "etl", "init", "-f", str(f), timeout=300)
    assert ok(t5, "etl", "stop", "-f", str(f)) == "ETL[cli5-life] stopped\nETL[cli5-life2] stopped\n"
    assert "cli5-life" not in running(t5)
    assert ok(t5, "etl", "start", "--spec", str(f)) == ("ETL[cli5-life] started successfully\n"
                                                         "ETL[cli5-life2] started successfully\n")
    r = ais(t5, "etl", "stop", "--all", "cli5-life")
    assert r.returncode == 2 and b"flag --all cannot be used together with ETL_NAME" in r.stderr
    r = ais(t5, "etl", "stop", "-f", str(f), "cli5-life")
    assert r.returncode == 2
    assert ok(t5, "etl", "rm", "-f", str(f)) == "ETL[cli5-life] removed\nETL[cli5-life2] removed\n"
    assert requests.get(f"{t5.url}/v1/etl/cli5-life", timeout=10).status_code == 404


def test_stop_and_rm_all(target, tmp_path):
    f = tmp_path / "all.yaml"
    f.write_text("name: cli5-all1\nruntime:\n  image: aistorage/transformer_md5\n---\n"
                 "name: cli5-all2\nruntime:\n  image: aistorage/transformer_md5\n")
    ok(target, "etl", "init", "-f", str(f), timeout=300)
    ok(target, "etl", "stop", "cli5-all1")
    # the stopped one is listed with its stage, and stop --all leaves it be
    rows = {ln.split()[0]: ln.split()[1] for ln in ok(target, "etl", "show", "-H").splitlines()}
    assert rows == {"cli5-all1": "Aborted", "cli5-all2": "Running"}
    assert ok(target, "etl", "stop", "--all") == "ETL[cli5-all2] stopped\n"
    assert ok(target, "etl", "rm", "--all") == "ETL[cli5-all1] removed\nETL[cli5-all2] removed\n"
    assert running(target) == [] and ok(target, "etl", "show") == ""
    assert ok(target, "etl", "rm", "--all") == "No ETL jobs found to remove\n"
    assert ok(target, "etl", "stop", "--all") == ""


# ---- the exact requests (recording stand-in)


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.close()


def test_wire_init_runtime_spec(fake, tmp_path):
    (tmp_path / "s.yaml").write_text("""\
name: etl-md5
runtime:
  image: aistorage/transformer_md5:latest
---
name: etl-new
communication: hpull
init_timeout: 2m
obj_timeout: 20s
support_direct_put: true
env:
  - name: TOP
    value: "x"
runtime:
  image: aistorage/transformer_hello_world
  command: ["python", "server.py", "--port", 8000]
  env:
    - name: A
      value: 1
resources:
  limits:
    memory: 512Mi
    cpu: 1
""")
    r = run(fake, "etl", "init", "-f", "s.yaml", cwd=tmp_path)
    # etl-md5 is running already: skipped without a request, as upstream's duplicate guard
    assert r.returncode == 1
    assert r.stderr == b'Skipping document: duplicate ETL name "etl-md5": ETL[etl-md5] already exists\n'
    puts = [json.loads(x[3]) for x in fake.requests if x[0] == "PUT"]
    assert puts == [{"name": "etl-new", "communication": "hpull://", "env": [{"name": "TOP", "value": "x"}],
                     "init_timeout": "2m", "obj_timeout": "20s", "support_direct_put": True,
                     "runtime": {"image": "aistorage/transformer_hello_world",
                                 "command": ["python", "server.py", "--port", "8000"],
                                 "env": [{"name": "A", "value": "1"}]},
                     "resources": {"limits": {"memory": "512Mi", "cpu": "1"}}}]
    assert r.stdout.decode() == ('ETL[etl-new]: job "etl-Xk3jd8Qa1"\nname:  etl-new\ncommunication_type:  hpull://\n'
                                 'runtime:\n   image:  aistorage/transformer_hello_world\n'
                                 '   command:  [python server.py --port 8000]\n   env:  [{"A":"1"}]\n')


def test_wire_inline_pipeline_and_inspect(fake, tmp_path):
    r = run(fake, "etl", "inspect", "e-x>>e-y", "ais://src")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"etl-bucket[JobAbc123] ais://src\n"
                        b"To view failed objects, run 'ais etl show errors e-x JobAbc123'\n")
    post = [x for x in fake.requests if x[0] == "POST"][0]
    assert post[1] == "/v1/buckets/src" and post[2]["bck_to"] == ["ais/@#/src/"]
    msg = json.loads(post[3])
    assert msg["action"] == "etl-bck"
    v = msg["value"]
    assert v["id"] == "e-x" and v["pipeline"] == ["e-y"] and v["dry_run"] is True and v["coer"] is True
    r = run(fake, "etl", "bucket", "a-etl>>b-etl>>c-etl", "ais://src", "ais://dst", "--args", "s 1",
            "--num-workers", "3", "--cont-on-err")
    assert r.returncode == 0, r.stderr
    v = json.loads([x for x in fake.requests if x[0] == "POST"][-1][3])["value"]
    assert v["id"] == "a-etl" and v["pipeline"] == ["b-etl", "c-etl"] and v["etl_args"] == "s 1"
    assert v["num-workers"] == 3 and v["coer"] is True
    post = [x for x in fake.requests if x[0] == "POST"][-1]
    assert "presence" not in post[2]
    r = run(fake, "etl", "bucket", "a-etl", "ais://src", "ais://dst", "--all")
    assert r.returncode == 0, r.stderr
    assert [x for x in fake.requests if x[0] == "POST"][-1][2]["presence"] == ["0"]


def test_wire_bucket_and_inspect_list_template(fake):
    r = run(fake, "etl", "bucket", "a-etl>>b-etl", "ais://src", "ais://dst", "--list", " o1, o2 ,,o3",
            "--args", "x", "--num-workers", "2", "--prepend", "p/")
    assert r.returncode == 0, r.stderr
    post = [x for x in fake.requests if x[0] == "POST"][-1]
    assert post[1] == "/v1/buckets/src" and "bck_to" not in post[2]
    msg = json.loads(post[3])
    assert msg["action"] == "etl-listrange"
    v = msg["value"]
    assert v["tobck"] == {"name": "dst", "provider": "ais"} and v["objnames"] == ["o1", "o2", "o3"]
    assert "template" not in v and "prefix" not in v
    assert v["id"] == "a-etl" and v["pipeline"] == ["b-etl"] and v["etl_args"] == "x" and v["num-workers"] == 2
    assert v["prepend"] == "p/" and v["dry_run"] is False
    r = run(fake, "etl", "bucket", "e-x", "ais://src/shard-{0001..0999}.tar", "ais://dst")
    assert r.returncode == 0, r.stderr
    v = json.loads([x for x in fake.requests if x[0] == "POST"][-1][3])["value"]
    assert v["template"] == "shard-{0001..0999}.tar" and "objnames" not in v
    # an empty or '*' template is the whole bucket: etl-bck
    for tmpl in ("", "*"):
        r = run(fake, "etl", "bucket", "e-x", "ais://src", "ais://dst", "--template", tmpl)
        assert r.returncode == 0, r.stderr
        assert json.loads([x for x in fake.requests if x[0] == "POST"][-1][3])["action"] == "etl-bck"
    r = run(fake, "etl", "inspect", "e-x", "ais://src", "--template", "o-{1..3}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"etl-objects[JobAbc123] ais://src\n"
                        b"To view failed objects, run 'ais etl show errors e-x JobAbc123'\n")
    msg = json.loads([x for x in fake.requests if x[0] == "POST"][-1][3])
    v = msg["value"]
    assert msg["action"] == "etl-listrange" and v["tobck"] == {"name": "src", "provider": "ais"}
    assert v["template"] == "o-{1..3}" and v["dry_run"] is True and v["coer"] is True
