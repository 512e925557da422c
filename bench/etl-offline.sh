#!/bin/bash
# etl-offline.sh - offline jobs against plain tools on the same data:
#   etl-bck md5 over "small" (20,000 x 16 KiB) and "large" (64 x 8 MiB)
#     vs  find | xargs -P2 md5sum, then awk writing each digest to OUT/<path>
#   copy-bck of the same buckets  vs  cp -r (+ sync: the target fsyncs each object)
# Prints objects/s, MB/s (input bytes) and the ratio tool_time / etlfs_time
# (above 1: etlfs is faster). Datasets come from /work/shared/bench/dataset.sh.
#
# usage: bench/etl-offline.sh [DATA_DIR]
#   ETLFS_BUILD  build folder holding bin/etlfs-target (default ./build)
#   ETL          "code" (init-code Python md5, default) or "native" (etlfs-md5
#                transformer, needs bin/etlfs-md5 in ETLFS_BUILD)
#   PHASE_TIMEOUT  seconds any one measured run may take (default 300)
#   WORKERS      num_workers for the jobs (default: the target's default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-/tmp/etlfs-bench-data}
BUILD=${ETLFS_BUILD:-$ROOT/build}
ETL=${ETL:-code}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-300}
WORKERS=${WORKERS:-0}
PY=/usr/bin/python3

[ -x "$BUILD/bin/etlfs-target" ] || { echo "no $BUILD/bin/etlfs-target: build it or set ETLFS_BUILD" >&2; exit 1; }
DATASET=${DATASET_SH:-/work/shared/bench/dataset.sh}
"$DATASET" "$DATA"

WORK=$(mktemp -d /tmp/etl-offline.XXXXXX)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/bin/etlfs-target" --listen 127.0.0.1:$PORT --data "$WORK/mp0" --data "$WORK/mp1" --promote-root "$DATA" >"$WORK/target.log" 2>&1 &
TPID=$!
cleanup() { kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# everything else (HTTP, timing, baselines) in one Python program, bounded per phase
timeout $((PHASE_TIMEOUT * 12)) $PY - "$PORT" "$DATA" "$WORK" "$ETL" "$PHASE_TIMEOUT" "$WORKERS" "$ROOT" <<'EOF'
import base64, os, subprocess, sys, time, urllib.parse
import requests

port, data, work, etl_kind, phase_timeout, workers, root = sys.argv[1:8]
phase_timeout, workers = int(phase_timeout), int(workers)
url = f"http://127.0.0.1:{port}"

deadline = time.time() + 15
while True:
    try:
        if requests.get(url + "/v1/health", timeout=1).status_code == 200:
            break
    except requests.RequestException:
        pass
    if time.time() > deadline:
        sys.exit("etlfs-target did not start; see its log")
    time.sleep(0.1)

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
for name in ("small", "large"):
    check(requests.post(url + "/v1/buckets/" + name, json={"action": "create-bck"}))
    check(requests.post(url + "/v1/objects/" + name, json={"action": "promote", "name": f"{data}/{name}",
          "value": {"src": f"{data}/{name}", "obj": "", "rcr": True}}, timeout=phase_timeout))

if etl_kind == "native":
    pod = open(os.path.join(root, "etl/transformers/md5_native/pod.yaml")).read()
    msg = {"id": "md5-bench", "communication": "hpush://", "argument": "", "timeout": "5m",
           "spec": base64.b64encode(pod.encode()).decode()}
else:
    code = "import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n"
    msg = {"id": "md5-bench", "runtime": "python3.11v2", "communication": "hpush://",
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

def report(what, n, nbytes, t_etlfs, t_tool, tool):
    print(f"{what:<22} etlfs {n / t_etlfs:9.0f} obj/s {nbytes / t_etlfs / 1e6:8.1f} MB/s ({t_etlfs:6.2f}s) | "
          f"{tool} {n / t_tool:9.0f} obj/s {nbytes / t_tool / 1e6:8.1f} MB/s ({t_tool:6.2f}s) | "
          f"ratio {t_tool / t_etlfs:5.2f}")

print(f"etl-offline: ETL={etl_kind}, workers={workers or 'default'}, data={data}")
for name in ("small", "large"):
    src = f"{data}/{name}"
    nfiles = sum(len(fs) for _, _, fs in os.walk(src))
    nbytes = dir_bytes(src)
    t_etl, done = run_job("etl-bck", name, name + "-md5", "md5-bench")
    assert done == nfiles, (done, nfiles)
    out = f"{work}/md5-{name}"
    t_tool = run_tool(
        f"cd {src} && mkdir -p {out} && find . -type d -printf '{out}/%P\\0' | xargs -0 mkdir -p && "
        f"find . -type f -print0 | xargs -0 -P2 -n 500 md5sum | "
        f"awk '{{ f = \"{out}/\" substr($2, 3); printf \"%s\", $1 > f; close(f) }}'")
    report(f"etl-bck md5 {name}", nfiles, nbytes, t_etl, t_tool, "md5sum")
    t_cp, done = run_job("copy-bck", name, name + "-copy")
    t_tool = run_tool(f"cp -r {src} {work}/cp-{name} && sync -f {work}")
    report(f"copy-bck {name}", nfiles, nbytes, t_cp, t_tool, "cp -r+sync")
EOF
