"""AIStore's own Python SDK integration tests (v3.22), unmodified, against a
cluster of three targets and a real etcd, through one node's endpoint: the
47 that pass on one target (test_sdk_acceptance.py) must pass here too, so
every bucket, list, job and summary request that node serves covers the
whole cluster. Skipped, saying why, without etcd, the harness or the
NVIDIA/aistore mirror."""
import os
import subprocess

import pytest

from cluster_fixtures import SKIP_WITHOUT_ETCD, Etcd, start_nodes
from conftest import beside_project

RUN_SH = beside_project("ETLFS_SDK_ACCEPTANCE", "shared", "acceptance", "sdk", "run.sh")
MIRROR = beside_project("AIS_MIRROR", ".mirror", "NVIDIA+aistore", "repo")

pytestmark = [
    SKIP_WITHOUT_ETCD,
    pytest.mark.skipif(not os.path.exists(RUN_SH), reason=f"no SDK acceptance harness at {RUN_SH}"),
    pytest.mark.skipif(not os.path.isdir(MIRROR), reason=f"no NVIDIA/aistore mirror at {MIRROR}"),
]


def test_aistore_sdk_integration_suite_on_three_targets(tmp_path):
    # The promote test writes its files under the SDK's export (AIS_SDK_CACHE):
    # the folder every target may promote from (the node asked reads them).
    cache = os.environ.get("AIS_SDK_CACHE") or os.path.join(os.environ.get("TMPDIR") or "/tmp", "etlfs-ais-sdk")
    os.makedirs(cache, exist_ok=True)
    etcd = Etcd(str(tmp_path))
    try:
        nodes = start_nodes(etcd, str(tmp_path), "sdk", ["t1", "t2", "t3"], extra=["--promote-root", cache])
        try:
            # one node's endpoint; "localhost" (not 127.0.0.1) so that the SDK's promote test runs too
            endpoint = f"http://localhost:{nodes[0].port}"
            env = dict(os.environ, AIS_MIRROR=MIRROR, AIS_SDK_TEST_TIMEOUT="300", AIS_SDK_CACHE=cache)
            proc = subprocess.run(["bash", RUN_SH, endpoint, "-q"], env=env, capture_output=True, text=True,
                                  timeout=1500)
        finally:
            rcs = [(t, t.stop()) for t in nodes]
    finally:
        etcd.stop()
    tail = (proc.stdout + proc.stderr)[-6000:]
    for t, rc in rcs:
        assert rc == 0, t.log_text()
    assert proc.returncode == 0, tail
    assert "47 passed" in proc.stdout, tail
