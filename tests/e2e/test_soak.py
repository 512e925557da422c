"""The soak (bench/soak.sh) for 60 s: 32 clients of mixed object requests,
inline ETL through hpush and hpull, etl-bck jobs started and stopped, and a
mount read by 4 processes, against the build under test (ASan in tests/run.sh).
Zero unexpected errors, every object verified, RSS and fds flat, nothing left."""
import json
import os
import sys

from conftest import BUILD, ROOT
from mount_fixtures import need_fuse

sys.path.insert(0, os.path.join(ROOT, "bench", "soak"))
import soak  # noqa: E402


def test_soak_60s():
    need_fuse()
    rep = soak.run(BUILD, seconds=60, clients=32)
    print(soak.curve(rep))
    summary = {k: v for k, v in rep.items() if k != "samples"}
    assert rep["ok"], json.dumps(summary, indent=1)
    assert rep["errors"] == 0 and rep["objects_verified"] > 0
    assert rep["jobs"]["started"] >= 2 and rep["mount_reads"]["reads"] > 0
    assert all(rep["ops"].get(op, 0) > 0 for op in ("put", "get", "head", "delete", "list",
                                                      "etl-soak-push", "etl-soak-pull"))
    assert all(c["flat"] for c in rep["flat"].values()), rep["flat"]
