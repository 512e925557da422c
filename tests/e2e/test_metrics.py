"""GET /metrics on the target (Prometheus' text format, AIStore's metric
names) and the mount's counters in a metrics file: a scrape before and after
real traffic, and the counters moved by exactly what was done."""
import os
import re
import time

import requests

from mount_fixtures import Mount
from test_etl_api import init_code
from test_offline import wait_job

LINE = re.compile(r'^([a-z_]+)\{([^}]*)\} (-?[0-9]+)$')


def scrape(t, **kw):
    r = requests.get(f"{t.url}/metrics", timeout=10, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return parse(r.text)


def parse(text):
    """{name or name{labels}: value}; every line is a comment or a sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        name, labels, value = m.groups()
        out[name if "mountpath" not in labels else f"{name}{{{labels}}}"] = int(value)
    return out


def test_target_counters_move_with_traffic(target):
    t = target
    before = scrape(t)
    t.create_bucket("m1")
    for i in range(3):
        t.put("m1", f"o{i}", b"x" * (100 + i))
    assert t.get("m1", "o0").status_code == 200
    assert t.get("m1", "o1").status_code == 200
    assert t.get("m1", "missing").status_code == 404
    assert requests.head(f"{t.url}/v1/objects/m1/o2", timeout=10).status_code == 200
    assert requests.delete(f"{t.url}/v1/objects/m1/o2", timeout=10).status_code == 200
    assert requests.get(f"{t.url}/v1/buckets/m1", json={"action": "list", "value": {}}, timeout=10).ok
    r = init_code(t, "met-md5", deps="")
    assert r.status_code == 200, r.text
    assert len(t.get("m1", "o0", etl_name="met-md5").content) == 32
    r = requests.post(f"{t.url}/v1/buckets/m1", params={"bck_to": "ais/@#/m2/"},
                      json={"action": "etl-bck", "value": {"id": "met-md5"}}, timeout=30)
    assert r.status_code == 200, r.text
    wait_job(t, r.text)
    after = scrape(t)
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert d["ais_target_put_count"] == 3 and d["ais_target_put_bytes"] == 100 + 101 + 102
    assert d["ais_target_get_count"] == 2 and d["ais_target_get_bytes"] == 100 + 101
    assert d["ais_target_err_get_count"] == 1
    assert d["ais_target_head_count"] == 1 and d["ais_target_del_count"] == 1
    assert d["ais_target_lst_count"] >= 1
    assert d["ais_target_etl_inline_count"] == 1 and d["ais_target_etl_inline_bytes"] == 32
    assert d["ais_target_etl_offline_count"] == 2 and d["ais_target_etl_offline_bytes"] == 64
    assert d["ais_target_get_ns_total"] > 0 and d["ais_target_etl_offline_ns_total"] > 0
    assert d["ais_target_jobs_started_count"] >= 1
    assert d["ais_target_http_count"] >= 12
    assert any(k.startswith("ais_target_disk_used_bytes{") for k in after)
    requests.delete(f"{t.url}/v1/etl/met-md5", timeout=30)


def test_mount_counters_in_a_metrics_file(target, tmp_path):
    t = target
    t.create_bucket("mm")
    t.put("mm", "f", b"y" * 5000)
    path = tmp_path / "etlfs.prom"
    m = Mount(t, tmp_path / "mnt", options=[f"metrics_file={path}", "fqn=off"])
    try:
        with open(m.path("mm", "f"), "rb") as f:
            assert f.read() == b"y" * 5000
        deadline = time.time() + 15
        got = {}
        while time.time() < deadline:
            if path.exists():
                got = parse(path.read_text())
                if got.get("etlfs_mount_read_bytes", 0) >= 5000:
                    break
            time.sleep(0.5)
        assert got.get("etlfs_mount_read_bytes", 0) >= 5000, got
        assert got["etlfs_mount_objects_read"] >= 1
    finally:
        assert m.stop() == 0, m.log_text()
    assert not [p for p in os.listdir(tmp_path) if ".tmp." in p]  # renamed into place, nothing left
