"""AIStore 5.0's own Python SDK integration tests (NVIDIA/aistore at
583e7729, SDK 1.25.0), unmodified, against a throwaway etlfs-target, beside
the v3.22 suite (test_sdk_acceptance.py) on the same binary.

The SDK and its tests are exported from a git mirror of NVIDIA/aistore
(AIS_HEAD_MIRROR, else the v3.22 harness's AIS_MIRROR / .mirror beside the
project); without one the test is skipped, saying why. The SDK's
dependencies, which Debian lacks (pydantic 2, msgspec...), go into a venv
under the build folder from PyPI. Tests that need what this node does not
have (several nodes, AuthN, cloud backends, dsort, GetBatch...) are
deselected by name in sdk5_deselected.txt, each with its reason; the same
list is the table in docs/compat.md."""
import os
import subprocess
import sys

import pytest

from conftest import BUILD, Target, beside_project

COMMIT = "583e7729eb3532d3999b13466a729181d8d16907"
MIRROR = os.environ.get("AIS_HEAD_MIRROR") or beside_project("AIS_MIRROR", ".mirror", "NVIDIA+aistore", "repo")
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(BUILD, "sdk5")
SUITES = ["test_etl_ops.py", "test_etl_pipeline_ops.py", "test_etl_streaming.py", "test_etl_webserver_pipeline.py",
          "test_bucket_ops.py", "test_object_ops.py", "test_object_group_ops.py", "test_job_ops.py",
          "test_object_multipart_ops.py"]
# the SDK's own requirements (python/pyproject.toml at COMMIT), its "etl" extra,
# and what its tests import
REQUIREMENTS = ["requests>=2.28.2", "urllib3>=1.26.18", "packaging>=23.0", "overrides>=7.4.0",
                "python-dateutil>=2.9.0", "PyYAML>=6.0.1", "pydantic>=2.5.0", "cloudpickle>=3.0.0", "humanize>=4.9.0",
                "braceexpand>=0.1.7", "msgspec>=0.18.5", "xxhash==3.5.0", "tenacity>=9.0.0",
                "fastapi>=0.109.1", "httpx>=0.28.0", "aiofiles>=23.2.1", "uvicorn[standard]>=0.32.0", "flask",
                "gunicorn", "pytest", "pytest-timeout", "boto3", "webdataset"]


def git_dir():
    return MIRROR if os.path.isfile(os.path.join(MIRROR, "HEAD")) else os.path.join(MIRROR, ".git")


def have_commit():
    if not os.path.isdir(MIRROR):
        return False
    r = subprocess.run(["git", "--git-dir", git_dir(), "cat-file", "-e", f"{COMMIT}^{{commit}}"], capture_output=True)
    return r.returncode == 0


def export_sdk():
    """python/ of COMMIT under WORK (once: a folder without .complete is redone)."""
    dest = os.path.join(WORK, f"aistore-{COMMIT[:12]}")
    if os.path.exists(os.path.join(dest, ".complete")):
        return os.path.join(dest, "python")
    subprocess.run(["rm", "-rf", dest], check=True)
    os.makedirs(dest)
    archive = subprocess.Popen(["git", "--git-dir", git_dir(), "archive", COMMIT, "python"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    assert archive.wait() == 0
    open(os.path.join(dest, ".complete"), "w").close()
    return os.path.join(dest, "python")


def venv():
    """A venv with the SDK's requirements (once per build folder)."""
    path = os.path.join(WORK, "venv")
    py = os.path.join(path, "bin", "python")
    stamp = os.path.join(path, ".requirements")
    want = "\n".join(REQUIREMENTS)
    if os.path.exists(stamp) and open(stamp).read() == want:
        return py
    subprocess.run(["rm", "-rf", path], check=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", path], check=True)
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"pip could not install the SDK's requirements:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    with open(stamp, "w") as f:
        f.write(want)
    return py


def deselected():
    """{test id: reason} from sdk5_deselected.txt ("ID  # reason" per line)."""
    out = {}
    with open(os.path.join(HERE, "sdk5_deselected.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test, _, why = line.partition("#")
                out[test.strip()] = why.strip()
    return out


# AIStore 5.0 promotes only from this folder (api/apc/promote.go); its SDK's
# promote test writes there: the target is given it as its --promote-root
PROMOTE_ROOT = "/var/lib/ais/promote"


@pytest.mark.skipif(not have_commit(), reason=f"no NVIDIA/aistore mirror holding {COMMIT[:8]} at {MIRROR}")
def test_aistore5_sdk_integration_suites(tmp_path):
    py = venv()
    sdk = export_sdk()
    skip = deselected()
    for test in skip:
        assert os.path.exists(os.path.join(sdk, test.split("::")[0])), f"deselected test {test} is not in the suite"
    args = [py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "--timeout", "300"]
    args += [f"tests/integration/sdk/{s}" for s in SUITES]
    args += [f"--deselect={t}" for t in skip]
    os.makedirs(PROMOTE_ROOT, exist_ok=True)
    target = Target(str(tmp_path), extra_args=["--promote-root", PROMOTE_ROOT])
    env = dict(os.environ, AIS_ENDPOINT=f"http://localhost:{target.port}", PYTHONPATH=sdk)
    env.pop("AIS_AUTHN_TOKEN", None)
    try:
        proc = subprocess.run(args, cwd=sdk, env=env, capture_output=True, text=True, timeout=2400)
    finally:
        target.stop()
    tail = (proc.stdout + proc.stderr)[-8000:]
    sys.stdout.write(tail)
    assert proc.returncode == 0, tail
    assert " failed" not in proc.stdout.splitlines()[-1], tail
