"""AIStore's own Python SDK integration tests (v3.22), unmodified, against a
throwaway etlfs-target. The harness lives beside the project
(../shared/acceptance/sdk/run.sh) and needs a git mirror of NVIDIA/aistore;
without them the test is skipped, saying why."""
import os
import subprocess

import pytest

from conftest import ROOT



def first_existing(env, *candidates):
    """The environment's choice, else the first candidate that exists."""
    if os.environ.get(env):
        return os.environ[env]
    for c in candidates:
        if os.path.exists(c):
            return c
    return candidates[0]


# beside the project's checkout, or where this machine keeps them
RUN_SH = first_existing(
    "ETLFS_SDK_ACCEPTANCE",
    os.path.join(os.path.dirname(ROOT), "shared", "acceptance", "sdk", "run.sh"),
    "/work/shared/acceptance/sdk/run.sh",
)
MIRROR = first_existing(
    "AIS_MIRROR",
    os.path.join(os.path.dirname(ROOT), ".mirror", "NVIDIA+aistore", "repo"),
    "/work/.mirror/NVIDIA+aistore/repo",
)


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
