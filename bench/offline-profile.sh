#!/bin/bash
# offline-profile.sh - what one offline job costs the target per object, in
# counts that a shared machine does not disturb: system calls (strace -c -f)
# or instructions (valgrind --tool=callgrind). A fixed job of N objects of
# 16 KiB (the first N files of the benchmark dataset's "small"): etl-bck
# through the native md5 transformer (hpush://, the target hands it the
# file's path) or copy-bck. Only the target is counted, from the job's
# request to its end; the transformer is a process of its own. The counted
# job is the second of its kind (WARMUP=1, the default): the first pays
# what a process pays once (OpenSSL's first digest fetch, 3.1M
# instructions, in the first WebSocket handshake) and dials the ETL's
# connections, which the second reuses; WARMUP=0 counts the first.
#
# cpu: no tracer; where the job's wall time goes in CPU: the target's and
# the ETL's ticks (/proc/PID/stat, all threads) and the machine's busy,
# idle and iowait ticks (/proc/stat) from the job's request to its end, as
# shares of the wall time times the cores: a job whose cores sit idle is
# waiting, not computing. With strace, STRACE_W=1 gives system call wall
# times (strace -w: how long syncfs and the waits take) instead of CPU.
#
# On an ext4 without a journal (this machine's disk) a file created within
# 60 s of the deletion of many files costs the kernel ~10x the time (see
# bench/etl-offline.sh): leave 65 s between runs (each deletes its folder at
# the end), or the cpu mode's figures measure that instead of the job.
#
# usage: bench/offline-profile.sh strace|callgrind|cpu [etl-bck|copy-bck]
#   ETLFS_BUILD   build folder (default ./build); N objects (default 2000)
#   WORKERS       num_workers for the job (default: the target's default)
#   COMM, ARG     the ETL's communicator and argument (default hpush:// and "";
#                 ws:// and fqn: one stream per worker, the ETL opens the file)
#   OUT           where callgrind.out is kept (default: a temporary folder)
#   PERF          cpu only: also perf record -g the target over the job into this file
# Prints the per-object figures; strace's table or callgrind's top
# functions follow. With strace an etl-bck also counts the ETL process's
# system calls; its poll calls are its waits for a next object.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOL=${1:?usage: offline-profile.sh strace|callgrind|cpu [etl-bck|copy-bck]}
JOB=${2:-etl-bck}
BUILD=${ETLFS_BUILD:-$ROOT/build}
N=${N:-2000}
WARMUP=${WARMUP:-1}
WORKERS=${WORKERS:-0}
COMM=${COMM:-hpush://}
ARG=${ARG:-}
DATA=${DATA:-/tmp/etlfs-bench-data}
PY=/usr/bin/python3
root=$ROOT
source "$ROOT/bench/lib.sh"
case "$TOOL" in strace | callgrind | cpu) ;; *) echo "tool: strace, callgrind or cpu" >&2; exit 2 ;; esac
STRACE_W=${STRACE_W:-0}
case "$JOB" in etl-bck | copy-bck) ;; *) echo "job: etl-bck or copy-bck" >&2; exit 2 ;; esac
[ -x "$BUILD/bin/etlfs-target" ] || { echo "no $BUILD/bin/etlfs-target" >&2; exit 1; }
"${DATASET_SH:-/work/shared/bench/dataset.sh}" "$DATA"

WORK=$(mktemp -d /tmp/offline-profile.XXXXXX)
OUT=${OUT:-$WORK}
$PY - "$DATA/small" "$WORK/src" "$N" <<'EOF'
import os, shutil, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.path.join(p, f) for p, _, fs in os.walk(src) for f in fs)[:n]
for f in files:
    os.makedirs(os.path.dirname(os.path.join(dst, os.path.relpath(f, src))), exist_ok=True)
    shutil.copyfile(f, os.path.join(dst, os.path.relpath(f, src)))
EOF

PORT=$(free_port)
ARGS=(--listen 127.0.0.1:$PORT --data "$WORK/mp0" --data "$WORK/mp1" --promote-root "$WORK/src")
if [ "$TOOL" = callgrind ]; then
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
        "$BUILD/bin/etlfs-target" "${ARGS[@]}" >"$WORK/target.log" 2>&1 &
else
    "$BUILD/bin/etlfs-target" "${ARGS[@]}" >"$WORK/target.log" 2>&1 &
fi
TPID=$!
SPID=
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null
    [ "$OUT" = "$WORK" ] && [ "$TOOL" = callgrind ] && cp "$WORK/callgrind.out" /tmp/offline-profile.callgrind.out 2>/dev/null
    rm -rf "$WORK"
    sync # deleted inodes whose table blocks are dirty wait 360 s, not 60, for reuse
}
trap cleanup EXIT

# the job's side, bounded: start, wait at most 600 s
job() {
    timeout 900 $PY - "$PORT" "$WORK" "$JOB" "$WORKERS" "$ROOT" "$1" "$COMM" "$ARG" <<'EOF'
import base64, os, sys, time, urllib.parse
import requests
port, work, kind, workers, root, step, comm, arg = sys.argv[1:9]
url = f"http://127.0.0.1:{port}"
def check(r):
    if r.status_code != 200:
        sys.exit(f"{r.request.method} {r.url}: {r.status_code} {r.text}")
    return r
if step == "setup":
    check(requests.post(url + "/v1/buckets/src", json={"action": "create-bck"}))
    src = f"{work}/src"
    check(requests.post(url + "/v1/objects/src", json={"action": "promote", "name": src,
          "value": {"src": src, "obj": "", "rcr": True}}, timeout=600))
    if kind == "etl-bck":
        pod = open(os.path.join(root, "etl/transformers/md5_native/pod.yaml")).read()
        check(requests.put(url + "/v1/etl", json={"id": "md5-prof", "communication": comm, "argument": arg,
              "timeout": "5m", "spec": base64.b64encode(pod.encode()).decode()}, timeout=600))
    sys.exit(0)
value = {"prefix": "", "prepend": "", "dry_run": False}
if kind == "etl-bck":
    value["id"] = "md5-prof"
if int(workers):
    value["num_workers"] = int(workers)
to = urllib.parse.quote("ais/@#/%s/" % ("warm" if step == "warm" else "dst"), safe="")
job = check(requests.post(f"{url}/v1/buckets/src?bck_to={to}", json={"action": kind, "value": value})).text
t0 = time.time()
while time.time() - t0 < 600:
    st = check(requests.get(url + "/v1/cluster", params={"what": "status"}, json={"ID": job})).json()
    if st["end_time"]:
        break
    time.sleep(0.02)
else:
    sys.exit("the job did not end in 600 s")
print(f"{kind}: {st['objects']} objects, {st.get('errors', 0)} errors")
if st["objects"] == 0 or st.get("errors"):
    sys.exit(1)
EOF
}
wait_health "http://127.0.0.1:$PORT" 120 || { echo "etlfs-target did not start" >&2; exit 1; }
job setup
[ "$WARMUP" = 1 ] && job warm >/dev/null
per_obj() { $PY -c "print(round($1 / $N, 2))"; }
if [ "$TOOL" = strace ]; then
    SW=(); [ "$STRACE_W" = 1 ] && SW=(-w)
    strace -c "${SW[@]}" -f -p "$TPID" -o "$WORK/strace.txt" 2>/dev/null &
    SPID=$!
    # the ETL too (the target's child): its waits for a next object are
    # its poll calls, so this says whether it has enough in flight
    EPID=$(pgrep -P "$TPID" | head -1 || true)
    EST=
    if [ "$JOB" = etl-bck ] && [ -n "$EPID" ]; then
        strace -c "${SW[@]}" -f -p "$EPID" -o "$WORK/strace-etl.txt" 2>/dev/null &
        EST=$!
    fi
    sleep 1
    job run
    sleep 0.5 # the job's thread ends after its status says so
    kill -INT "$SPID"; wait "$SPID" || true; SPID=
    [ -n "$EST" ] && { kill -INT "$EST"; wait "$EST" || true; }
    calls=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { n += $4 } END { print n }' "$WORK/strace.txt")
    echo "system calls per object (target, all threads): $(per_obj "$calls")"
    if [ -n "$EST" ]; then
        calls=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { n += $4 } END { print n + 0 }' "$WORK/strace-etl.txt")
        polls=$(awk '$NF == "poll" { print $4 }' "$WORK/strace-etl.txt")
        echo "system calls per object (the ETL, pid $EPID): $(per_obj "$calls"), of which poll (waiting for an object): $(per_obj "${polls:-0}")"
    fi
    sed -n '1,40p' "$WORK/strace.txt"
    [ -n "$EST" ] && sed -n '1,16p' "$WORK/strace-etl.txt"
elif [ "$TOOL" = cpu ]; then
    EPID=$(pgrep -P "$TPID" | head -1 || true)
    # ticks: the machine's (busy, idle, iowait) and each process's utime+stime
    snap() {
        local e=0
        [ -n "$EPID" ] && e=$(awk '{ print $14 + $15 }' "/proc/$EPID/stat" 2>/dev/null || echo 0)
        echo "$(date +%s.%N) $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5, $6 }' /proc/stat)" \
            "$(awk '{ print $14 + $15 }' "/proc/$TPID/stat") $e"
    }
    PP=
    if [ -n "${PERF:-}" ]; then # perf record -g of the target over the counted job
        perf record -q -g -p "$TPID" -o "$PERF" 2>/dev/null &
        PP=$!
        sleep 0.5
    fi
    a=$(snap)
    job run
    b=$(snap)
    [ -n "$PP" ] && { kill -INT "$PP"; wait "$PP" || true; }
    $PY - "$a" "$b" "$(nproc)" "$(getconf CLK_TCK)" "$N" <<'EOF'
import sys
a, b = ([float(x) for x in s.split()] for s in sys.argv[1:3])
cores, hz, n = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wall = b[0] - a[0]
d = [y - x for x, y in zip(a, b)]
cap = wall * hz * cores / 100  # ticks per percent of the cores
print(f"wall {wall:.2f} s over {cores} cores ({n / wall:.0f} obj/s, the status polls' 0.02 s included)")
print(f"machine: busy {d[1] / cap:.0f}%, idle {d[2] / cap:.0f}%, iowait {d[3] / cap:.0f}% of the cores")
print(f"target {d[4] / cap:.0f}%, ETL {d[5] / cap:.0f}% of the cores; "
      f"CPU per object: target {d[4] / hz / n * 1e6:.0f} us, ETL {d[5] / hz / n * 1e6:.0f} us")
EOF
else
    callgrind_control -i on "$TPID" >/dev/null
    job run
    sleep 0.5
    callgrind_control -i off "$TPID" >/dev/null
    callgrind_control -d "$TPID" >/dev/null
    sleep 1
    f=$(ls -t "$OUT"/callgrind.out* | head -1)
    ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !ir { gsub(",", "", $1); ir = $1 } END { print ir }')
    echo "instructions per object (target, all threads): $((ir / N))"
    callgrind_annotate --inclusive=no "$f" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n 1,30p
fi
