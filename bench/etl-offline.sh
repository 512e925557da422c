#!/bin/bash
# etl-offline.sh - offline jobs against plain tools on the same data, each
# pair measured from the same state and with the same durability:
#   etl-bck md5 over "small" (20,000 x 16 KiB) and "large" (64 x 8 MiB):
#     etlfs: one etl-bck job through the md5 ETL into a fresh bucket; each
#            digest is a file of its own (a work file: open, write, one
#            xattr, close), the target syncs the file system once per 256
#            outputs and then renames them, and once more after the last
#            renames: every output and its name are durable when the job ends
#     tool:  find | xargs -P2 md5sum, awk writing each digest to a file of
#            its own, OUT/<path> (open, write, close), then sync -f OUT
#     Equal durable work: the same digests (32 hex characters), a file each,
#     on the same file system (the mountpaths and OUT are all under one
#     temporary folder), their bytes and names durable at the end through
#     syncfs on both sides. The job does more, never less: its outputs are
#     atomic (work file, rename) and carry their metadata, and it syncs once
#     per 256 outputs (an output is never visible before its bytes are
#     durable) where the tool syncs once.
#   copy-bck of the same buckets:
#     etlfs: one copy-bck job into a fresh bucket (durable as above)
#     tool:  cp -r SRC OUT, then sync -f OUT
# Nothing is deleted while the script measures: each side writes into a
# destination of its own in every round (bucket DST-N, folder OUT-N), and
# all outputs go with the work folder when the script ends. This disk's
# ext4 has no journal, and such an ext4 steps over every inode deleted in
# the last 60 s (360 s while the inode's table block is not yet written
# back) when it allocates a new one (fs/ext4/ialloc.c, recently_deleted):
# right after `rm -rf` of 20,000 files and `sync` every new file cost the
# kernel ~10x the system time (350 against 25-35 us), and each new file
# dirties its table block again, so a job creating files keeps the slow
# state going for minutes. Deleting one pair's 120,000 outputs before the
# next pair made whichever side of it ran first up to 4x slower. The first
# pair starts 65 s after the script started (a previous run's clean-up;
# the wait is printed); run the script 6 minutes after any large deletion
# for figures free of it.
# Before every measured side everything is synced (no writeback left over
# from the other side), the script waits until the work folder's disk is
# idle (/sys/block's stat: no I/O in flight, no write, discard or flush
# completed for 2 s, at most 60 s; printed), and the
# sources of BOTH sides (the target's bucket files and the tool's folder) are
# put in the same page-cache state: STATE=warm (default) reads them all,
# STATE=cold drops their pages (posix_fadvise DONTNEED per file: no root, no
# effect on other files). The sides alternate (etlfs first in odd rounds, the
# tool first in even ones) over ROUNDS rounds; the medians are printed, with
# every round's figures. Ratio = tool time / etlfs time (above 1: etlfs is
# faster). Datasets come from /work/shared/bench/dataset.sh.
#
# usage: bench/etl-offline.sh [DATA_DIR]
#   ETLFS_BUILD  build folder holding bin/etlfs-target (default ./build)
#   ETL          "code" (init-code Python md5, default) or "native" (etlfs-md5
#                transformer, needs bin/etlfs-md5 in ETLFS_BUILD)
#   COMM         the ETL's communicator (default hpush://; ws:// streams)
#   ARG          the ETL's argument: "" (default) or "fqn" (the ETL opens the file)
#   ROUNDS       alternated rounds per pair (default 3, at least 2)
#   STATE        warm (default) or cold: the sources' page cache before each side
#   SETS         the datasets to run (default "small large")
#   PHASE_TIMEOUT  seconds any one measured run may take (default 300)
#   WORKERS      num_workers for the jobs (default: the target's default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-/tmp/etlfs-bench-data}
BUILD=${ETLFS_BUILD:-$ROOT/build}
ETL=${ETL:-code}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-300}
WORKERS=${WORKERS:-0}
COMM=${COMM:-hpush://}
ARG=${ARG:-}
ROUNDS=${ROUNDS:-3}
STATE=${STATE:-warm}
SETS=${SETS:-small large}
PY=/usr/bin/python3
root=$ROOT
source "$ROOT/bench/lib.sh"
[ "$ROUNDS" -ge 2 ] || { echo "ROUNDS must be at least 2" >&2; exit 1; }
case "$STATE" in warm | cold) ;; *) echo "STATE: warm or cold" >&2; exit 1 ;; esac

[ -x "$BUILD/bin/etlfs-target" ] || { echo "no $BUILD/bin/etlfs-target: build it or set ETLFS_BUILD" >&2; exit 1; }
DATASET=${DATASET_SH:-/work/shared/bench/dataset.sh}
"$DATASET" "$DATA"

WORK=$(mktemp -d /tmp/etl-offline.XXXXXX)
PORT=$(free_port)
"$BUILD/bin/etlfs-target" --listen 127.0.0.1:$PORT --data "$WORK/mp0" --data "$WORK/mp1" --promote-root "$DATA" >"$WORK/target.log" 2>&1 &
TPID=$!
cleanup() { kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; bench_rm "$WORK"; }
trap cleanup EXIT
wait_health "http://127.0.0.1:$PORT" 15 || { echo "etlfs-target did not start; see its log" >&2; exit 1; }

# everything else (HTTP, timing, baselines) in one Python program, bounded per phase
timeout $((PHASE_TIMEOUT * (8 * ROUNDS + 4))) $PY - "$PORT" "$DATA" "$WORK" "$ETL" "$PHASE_TIMEOUT" "$WORKERS" "$ROOT" \
    "$COMM" "$ARG" "$ROUNDS" "$STATE" "$SETS" <<'EOF'
import base64, os, statistics, subprocess, sys, time, urllib.parse
import requests

port, data, work, etl_kind, phase_timeout, workers, root, comm, arg, rounds, state, sets = sys.argv[1:13]
phase_timeout, workers, rounds, sets = int(phase_timeout), int(workers), int(rounds), sets.split()
url = f"http://127.0.0.1:{port}"

def check(r):
    if r.status_code != 200:
        sys.exit(f"{r.request.method} {r.url}: {r.status_code} {r.text}")
    return r

def wait(job):
    t0 = time.time()
    while time.time() - t0 < phase_timeout:
        st = check(requests.get(url + "/v1/cluster", params={"what": "status"}, json={"ID": job})).json()
        if st["end_time"]:
            return st
        time.sleep(0.05)
    requests.put(url + "/v1/cluster", json={"action": "stop", "value": {"ID": job}})
    sys.exit(f"job {job} took more than {phase_timeout}s: aborted")

def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(d) for f in fs)

# load the datasets (not measured): promote is a local copy on the target
for name in sets:
    check(requests.post(url + "/v1/buckets/" + name, json={"action": "create-bck"}))
    check(requests.post(url + "/v1/objects/" + name, json={"action": "promote", "name": f"{data}/{name}",
          "value": {"src": f"{data}/{name}", "obj": "", "rcr": True}}, timeout=phase_timeout))

if etl_kind == "native":
    pod = open(os.path.join(root, "etl/transformers/md5_native/pod.yaml")).read()
    msg = {"id": "md5-bench", "communication": comm, "argument": arg, "timeout": "5m",
           "spec": base64.b64encode(pod.encode()).decode()}
else:
    code = "import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n"
    msg = {"id": "md5-bench", "runtime": "python3.11v2", "communication": comm, "argument": arg,
           "funcs": {"transform": "transform"}, "code": base64.b64encode(code.encode()).decode(),
           "dependencies": "", "timeout": "5m"}
check(requests.put(url + "/v1/etl", json=msg, timeout=phase_timeout))

def run_job(action, src, dst, etl=None):
    value = {"prefix": "", "prepend": "", "dry_run": False}
    if etl:
        value["id"] = etl
    if workers:
        value["num_workers"] = workers
    to = urllib.parse.quote(f"ais/@#/{dst}/", safe="")
    t0 = time.time()
    job = check(requests.post(f"{url}/v1/buckets/{src}?bck_to={to}", json={"action": action, "value": value})).text
    st = wait(job)
    dt = time.time() - t0
    if st.get("errors"):
        print(f"  ({st['errors']} errors: {st['err'][:200]})")
    return dt, st["objects"]

def run_tool(cmd):
    t0 = time.time()
    subprocess.run(["bash", "-c", cmd], check=True, timeout=phase_timeout)
    return time.time() - t0

def files(d):
    return [os.path.join(p, f) for p, _, fs in os.walk(d) for f in fs]

def disk_stat():
    """The work folder's block device: I/O in flight, and the writes,
    discards and flushes it completed (/sys/block's stat fields 9, 5, 12, 16)."""
    dev = os.stat(work).st_dev
    path = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat"
    try:
        f = open(path).read().split()
    except OSError:
        return None
    return int(f[8]), tuple(int(f[i]) for i in (4, 11, 15) if i < len(f))

waits = []  # seconds each settle waited for the disk

def disk_idle(quiet=2.0, bound=60.0):
    """Waits until the disk has had nothing in flight and completed no
    write, discard or flush for `quiet` seconds (at most `bound`): the
    deletion just synced leaves the disk work (discards, the journal) that
    would slow whichever side ran next. Returns the seconds waited."""
    t0 = time.time()
    last, since = disk_stat(), time.time()
    if last is None:
        return 0.0
    while time.time() - t0 < bound:
        time.sleep(0.1)
        cur = disk_stat()
        if cur[0] or cur[1] != last[1]:
            last, since = cur, time.time()
        elif time.time() - since >= quiet:
            break
    return time.time() - t0

def settle(srcs):
    """The same state before either side: nothing dirty, the disk idle, the
    sources of both sides warm (read) or cold (their pages dropped)."""
    subprocess.run(["sync"], check=True, timeout=phase_timeout)
    waits.append(disk_idle())
    for d in srcs:
        for f in files(d):
            fd = os.open(f, os.O_RDONLY)
            try:
                if state == "cold":
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                else:
                    while os.read(fd, 1 << 20):
                        pass
            finally:
                os.close(fd)

REUSE_S = 65  # ext4 without a journal reuses a deleted inode 60 s after its deletion
started_at = time.time()  # a previous run's clean-up may have deleted files just before

def pair(what, name, job, tool_cmd, tool, dst, out):
    """job(bucket) and tool_cmd(folder) write into a destination of their
    own in every round: nothing is deleted between the sides."""
    src = f"{data}/{name}"
    nfiles, nbytes = len(files(src)), dir_bytes(src)
    srcs = [src] + [f"{work}/{mp}/@ais/{name}" for mp in ("mp0", "mp1")]
    reuse_wait = max(0.0, started_at + REUSE_S - time.time())
    time.sleep(reuse_wait)
    t_e, t_t = [], []
    for i in range(rounds):
        order = ("etlfs", "tool") if i % 2 == 0 else ("tool", "etlfs")
        for side in order:
            settle(srcs)
            if side == "etlfs":
                dt, done = job(f"{dst}-{i}")
                assert done == nfiles, (done, nfiles)
                t_e.append(dt)
            else:
                t_t.append(run_tool(tool_cmd(f"{out}-{i}")))
    me, mt = statistics.median(t_e), statistics.median(t_t)
    print(f"{what:<22} etlfs {nfiles / me:9.0f} obj/s {nbytes / me / 1e6:8.1f} MB/s ({me:6.2f}s) | "
          f"{tool} {nfiles / mt:9.0f} obj/s {nbytes / mt / 1e6:8.1f} MB/s ({mt:6.2f}s) | ratio {mt / me:5.2f}")
    print(f"{'':<22} rounds (etlfs, {tool}, ratio): " +
          "; ".join(f"{nfiles / a:.0f}, {nfiles / b:.0f}, {b / a:.2f}" for a, b in zip(t_e, t_t)))
    print(f"{'':<22} waited {reuse_wait:.0f} s after the start; for an idle disk before each side (s): "
          + ", ".join(f"{w:.1f}" for w in waits))
    waits.clear()

shown_arg = arg or "''"
print(f"etl-offline: ETL={etl_kind} {comm} argument={shown_arg}, workers={workers or 'default'}, "
      f"{rounds} rounds, sources {state}, data={data}, load {os.getloadavg()[0]:.2f}")
for name in sets:
    src = f"{data}/{name}"
    pair(f"etl-bck md5 {name}", name, lambda dst: run_job("etl-bck", name, dst, "md5-bench"),
         lambda out: f"cd {src} && mkdir -p {out} && find . -type d -printf '{out}/%P\\0' | xargs -0 mkdir -p && "
         f"find . -type f -print0 | xargs -0 -P2 -n 500 md5sum | "
         f"awk '{{ f = \"{out}/\" substr($2, 3); printf \"%s\", $1 > f; close(f) }}' && sync -f {out}",
         "md5sum", name + "-md5", f"{work}/md5-{name}")
    pair(f"copy-bck {name}", name, lambda dst: run_job("copy-bck", name, dst),
         lambda out: f"cp -r {src} {out} && sync -f {out}", "cp -r+sync", name + "-copy", f"{work}/cp-{name}")
print(f"load at the end {os.getloadavg()[0]:.2f}")
EOF
