"""One of the soak's mount readers (a process of its own): until the deadline
(and at most a bounded number of rounds) it lists MNT/src, reads every file
there and through the ETL view MNT/VIEW/src, and checks each against the
expected md5. Prints {"reads": N, "errors": [...]} as JSON.

usage: mount_reader.py MNT VIEW EXPECT.json DEADLINE SEED"""
import hashlib
import json
import os
import random
import sys
import time

MAX_ROUNDS = 100_000


def main(mnt, view, expect_path, deadline, seed):
    with open(expect_path) as f:
        expect = json.load(f)  # name -> [md5 hex, size]
    rnd = random.Random(int(seed))
    names = sorted(expect)
    reads, errors = 0, []

    def err(msg):
        if len(errors) < 20:
            errors.append(msg)

    for rnd_i in range(MAX_ROUNDS):
        if time.time() >= float(deadline) or len(errors) >= 20:
            break
        if rnd_i % 10 == 0:
            listed = sorted(os.path.relpath(os.path.join(d, f), os.path.join(mnt, "src"))
                            for d, _, fs in os.walk(os.path.join(mnt, "src")) for f in fs)
            if listed != names:
                err(f"listing of {mnt}/src: {listed[:5]}... != {names[:5]}...")
        name = rnd.choice(names)
        md5, size = expect[name]
        try:
            with open(os.path.join(mnt, "src", name), "rb") as f:
                if rnd.random() < 0.3 and size > 0:  # a read at an offset
                    off = rnd.randrange(size)
                    f.seek(off)
                    part = f.read(4096)
                    f.seek(0)
                    data = f.read()
                    if part != data[off:off + 4096]:
                        err(f"src/{name}: read at {off} differs")
                else:
                    data = f.read()
            if hashlib.md5(data).hexdigest() != md5:
                err(f"src/{name}: {len(data)} bytes, md5 differs")
            with open(os.path.join(mnt, view, "src", name), "rb") as f:
                if f.read() != md5.encode():
                    err(f"{view}/src/{name}: not the md5 of the object")
            reads += 2
        except OSError as e:
            err(f"{name}: {e}")
    print(json.dumps({"reads": reads, "errors": errors}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
