"""AIStore's Python SDK 1.25 (NVIDIA/aistore at 583e7729, AIStore 5.0) for
tests: python/ exported from a git mirror of NVIDIA/aistore into the build
folder, and a venv beside it with the SDK's dependencies from PyPI. Both are
made once (a marker file says complete). Without the mirror, or without
PyPI, the tests that need them are skipped, saying why."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD, beside_project

COMMIT = "583e7729eb3532d3999b13466a729181d8d16907"
MIRROR = beside_project("AIS_HEAD_MIRROR", ".mirror", "NVIDIA+aistore", "repo")
HOME = os.path.join(BUILD, "sdk5")
TREE = os.path.join(HOME, f"aistore-{COMMIT[:12]}")
VENV = os.path.join(HOME, "venv")
PYTHON = os.path.join(VENV, "bin", "python")
# the SDK's dependencies (python/pyproject.toml at COMMIT), its "etl" extra
# (its webserver classes are imported by the client too) and pytest for its suites
REQUIREMENTS = [
    "requests>=2.28.2", "urllib3>=1.26.18", "packaging>=23.0", "overrides>=7.4.0", "python-dateutil>=2.9.0",
    "PyYAML>=6.0.1", "pydantic>=2.5.0", "cloudpickle>=3.0.0", "humanize>=4.9.0", "braceexpand>=0.1.7",
    "msgspec>=0.18.5", "xxhash==3.5.0", "tenacity>=9.0.0",
    "fastapi", "uvicorn[standard]", "flask", "gunicorn", "httpx", "aiofiles",
    "pytest", "pytest-timeout",
]


def _run(args, timeout, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def _export():
    if os.path.exists(os.path.join(TREE, ".complete")):
        return
    tmp = TREE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    archive = subprocess.Popen(["git", "-C", MIRROR, "archive", COMMIT, "python"], stdout=subprocess.PIPE)
    untar = _run(["tar", "-x", "-C", tmp], 120, stdin=archive.stdout)
    archive.stdout.close()
    if archive.wait(timeout=120) != 0 or untar.returncode != 0:
        pytest.skip(f"SDK 1.25: cannot export python/ of {COMMIT[:12]} from {MIRROR}: {untar.stderr[-500:]}")
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(TREE, ignore_errors=True)
    os.rename(tmp, TREE)


def _venv():
    marker = os.path.join(VENV, ".complete")
    if os.path.exists(marker):
        return
    shutil.rmtree(VENV, ignore_errors=True)
    mk = _run(["/usr/bin/python3", "-m", "venv", VENV], 120)
    if mk.returncode != 0:
        pytest.skip(f"SDK 1.25: cannot create a venv at {VENV} (python3-venv?): {mk.stderr[-500:]}")
    pip = _run([PYTHON, "-m", "pip", "install", "--no-cache-dir", "--timeout", "10", "--retries", "1",
                *REQUIREMENTS], 900)
    if pip.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        pytest.skip(f"SDK 1.25: pip cannot install its dependencies from PyPI: {(pip.stdout + pip.stderr)[-800:]}")
    open(marker, "w").close()


def ensure():
    """(python, PYTHONPATH) of the SDK 1.25 client; skips loudly when it cannot be had."""
    if not os.path.isdir(MIRROR) or _run(["git", "-C", MIRROR, "cat-file", "-e", COMMIT], 30).returncode != 0:
        pytest.skip(f"SDK 1.25 TESTS SKIPPED: no git mirror of NVIDIA/aistore holding {COMMIT[:12]} at {MIRROR} "
                    "(set AIS_HEAD_MIRROR)")
    os.makedirs(HOME, exist_ok=True)
    _export()
    _venv()
    return PYTHON, os.path.join(TREE, "python")


def run_script(code, endpoint, timeout=300, env=None):
    """Runs code with the SDK 1.25 client against endpoint; its stdout, or the assertion with all it said."""
    python, path = ensure()
    e = dict(os.environ, PYTHONPATH=path, AIS_ENDPOINT=endpoint, PYTHONUNBUFFERED="1", **(env or {}))
    p = _run([python, "-c", code], timeout, env=e)
    assert p.returncode == 0, f"SDK script failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-4000:]}"
    return p.stdout


if __name__ == "__main__":  # prepare ahead of a test run
    print(ensure(), file=sys.stderr)
