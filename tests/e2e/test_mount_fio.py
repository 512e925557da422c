"""fio with verify=crc32c through the mount: sequential and random writes
(and mixed read/write) verified while the file is open, then verified again
by a second fio run that reads the published object back."""
import shutil
import subprocess

import pytest

from mount_fixtures import mount  # noqa: F401

pytestmark = pytest.mark.skipif(not shutil.which("fio"), reason="needs fio (Debian package fio)")


def fio(*args, cwd):
    r = subprocess.run(["fio", "--ioengine=psync", "--bs=16k", "--size=8m", "--verify=crc32c",
                        "--minimal", *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    # terse v3: field 5 is the job's error number
    fields = r.stdout.strip().splitlines()[-1].split(";") if r.stdout.strip() else []
    return r.returncode, fields[4] if len(fields) > 4 else None, r.stdout + r.stderr


@pytest.mark.parametrize("rw", ["write", "randwrite", "rw", "randrw"])
def test_fio_verify(target, mount, rw):  # noqa: F811
    target.create_bucket("fio")
    d = mount.path("fio")
    rc, err, out = fio(f"--name=w-{rw}", f"--filename=f-{rw}", f"--rw={rw}", "--do_verify=1", cwd=d)
    assert rc == 0 and err == "0", out
    if rw in ("write", "randwrite"):  # the object as published, read back
        rc, err, out = fio(f"--name=v-{rw}", f"--filename=f-{rw}", f"--rw={rw}", "--verify_only=1", cwd=d)
        assert rc == 0 and err == "0", out
    assert target.get("fio", f"f-{rw}").status_code == 200


def test_fio_verify_catches_changed_bytes(target, mount):  # noqa: F811
    """The check above can fail: bytes changed behind fio's back are found."""
    target.create_bucket("fio")
    d = mount.path("fio")
    rc, err, out = fio("--name=w", "--filename=f", "--rw=write", cwd=d)
    assert rc == 0 and err == "0", out
    data = bytearray(target.get("fio", "f").content)
    data[20000] ^= 0xFF
    target.put("fio", "f", bytes(data))
    rc, err, out = fio("--name=v", "--filename=f", "--rw=write", "--verify_only=1", cwd=d)
    assert err != "0" or rc != 0, out
