"""AIStore's Python SDK 1.25 (NVIDIA/aistore at 583e7729, AIStore 5.0) as a
client for tests: the tree and the venv test_sdk5_acceptance.py makes under
the build folder (python/ exported from a git mirror; the SDK's requirements
from PyPI). Without the mirror, or without PyPI, the tests that need them are
skipped, saying why."""
import os
import subprocess

import pytest

from test_sdk5_acceptance import COMMIT, MIRROR, export_sdk, have_commit, venv


def ensure():
    """(python, PYTHONPATH) of the SDK 1.25 client; skips loudly when it cannot be had."""
    if not have_commit():
        pytest.skip(f"SDK 1.25 TESTS SKIPPED: no git mirror of NVIDIA/aistore holding {COMMIT[:12]} at {MIRROR} "
                    "(set AIS_HEAD_MIRROR)")
    try:
        python = venv()
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"SDK 1.25 TESTS SKIPPED: no venv with its requirements (PyPI?): {str(e)[-800:]}")
    return python, export_sdk()


def run_script(code, endpoint, timeout=300, env=None):
    """Runs code with the SDK 1.25 client against endpoint; its stdout, or the assertion with all it said."""
    python, path = ensure()
    e = dict(os.environ, PYTHONPATH=path, AIS_ENDPOINT=endpoint, PYTHONUNBUFFERED="1", **(env or {}))
    e.pop("AIS_AUTHN_TOKEN", None)
    p = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=timeout, env=e)
    assert p.returncode == 0, f"SDK script failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-4000:]}"
    return p.stdout
