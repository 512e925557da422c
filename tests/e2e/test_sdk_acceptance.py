"""AIStore's own Python SDK integration tests (v3.22), unmodified, against a
throwaway etlfs-target. The harness lives beside the project
(../shared/acceptance/sdk/run.sh) and needs a git mirror of NVIDIA/aistore;
without them the test is skipped, saying why."""
import os
import subprocess

import pytest

from conftest import Target, beside_project


RUN_SH = beside_project("ETLFS_SDK_ACCEPTANCE", "shared", "acceptance", "sdk", "run.sh")
MIRROR = beside_project("AIS_MIRROR", ".mirror", "NVIDIA+aistore", "repo")


@pytest.mark.skipif(not os.path.exists(RUN_SH), reason=f"no SDK acceptance harness at {RUN_SH}")
@pytest.mark.skipif(not os.path.isdir(MIRROR), reason=f"no NVIDIA/aistore mirror at {MIRROR}")
def test_aistore_sdk_integration_suite(tmp_path):
    # The SDK's promote test writes its files where run.sh exports the SDK
    # (its AIS_SDK_CACHE): that folder is the one the target may promote from.
    cache = os.environ.get("AIS_SDK_CACHE") or os.path.join(os.environ.get("TMPDIR") or "/tmp", "etlfs-ais-sdk")
    os.makedirs(cache, exist_ok=True)
    target = Target(str(tmp_path), extra_args=["--promote-root", cache])
    # "localhost" (not 127.0.0.1) so that the SDK's promote test runs too
    endpoint = f"http://localhost:{target.port}"
    env = dict(os.environ, AIS_MIRROR=MIRROR, AIS_SDK_TEST_TIMEOUT="300", AIS_SDK_CACHE=cache)
    try:
        proc = subprocess.run(
            ["bash", RUN_SH, endpoint, "-q"],
            env=env, capture_output=True, text=True, timeout=1500,
        )
    finally:
        rc = target.stop()
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert rc == 0, target.log_text()
    assert proc.returncode == 0, tail
    assert "47 passed" in proc.stdout, tail
