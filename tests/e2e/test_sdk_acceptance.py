"""AIStore's own Python SDK integration tests (v3.22), unmodified, against a
throwaway etlfs-target. The harness lives beside the project
(../shared/acceptance/sdk/run.sh) and needs a git mirror of NVIDIA/aistore;
without them the test is skipped, saying why."""
import os
import subprocess

import pytest

from conftest import beside_project


RUN_SH = beside_project("ETLFS_SDK_ACCEPTANCE", "shared", "acceptance", "sdk", "run.sh")
MIRROR = beside_project("AIS_MIRROR", ".mirror", "NVIDIA+aistore", "repo")


@pytest.mark.skipif(not os.path.exists(RUN_SH), reason=f"no SDK acceptance harness at {RUN_SH}")
@pytest.mark.skipif(not os.path.isdir(MIRROR), reason=f"no NVIDIA/aistore mirror at {MIRROR}")
def test_aistore_sdk_integration_suite(target):
    # "localhost" (not 127.0.0.1) so that the SDK's promote test runs too
    endpoint = f"http://localhost:{target.port}"
    env = dict(os.environ, AIS_MIRROR=MIRROR, AIS_SDK_TEST_TIMEOUT="300")
    proc = subprocess.run(
        ["bash", RUN_SH, endpoint, "-q"],
        env=env, capture_output=True, text=True, timeout=1500,
    )
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    assert "47 passed" in proc.stdout, tail
