#!/bin/bash
# mount.sh - how fast the etlfs mount reads, against the same files read from
# local disk (the anchor; see /work/shared/bench/ANCHORS.md, compare ratios).
#   small: 20,000 x 16 KiB (`find | xargs cat`), first read and re-read, with the
#          node-local fqn fast path and without it (every byte over HTTP)
#   large: LARGE_N x 8 MiB files (`cat`), MB/s
# usage: bench/mount.sh            (BUILD=build DATA=/tmp/etlfs-bench-data LARGE_N=16)
# Every step is bounded by STEP_TIMEOUT seconds (default 300).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-/tmp/etlfs-bench-data}
LARGE_N=${LARGE_N:-16}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
DATASET=${DATASET:-/work/shared/bench/dataset.sh}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/etlfs-bench-mount.XXXXXX)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
TPID="" MNTS=()

cleanup() {
  for m in "${MNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true; done
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
mbps() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / 1048576 / (b - a) }'; }
t() { timeout "$STEP_TIMEOUT" "$@"; }

echo "== dataset" >&2
t "$DATASET" "$DATA"

echo "== target on $URL" >&2
"$BUILD/bin/etlfs-target" --listen "127.0.0.1:$PORT" --data "$WORK/mp0" --data "$WORK/mp1" >"$WORK/target.log" 2>&1 &
TPID=$!
for _ in $(seq 100); do curl -sf "$URL/v1/health" >/dev/null && break; sleep 0.1; done

echo "== PUT small + $LARGE_N large" >&2
t0=$(now)
t $PY - "$URL" "$DATA" "$LARGE_N" <<'EOF'
import os, sys, threading, requests
url, data, large_n = sys.argv[1], sys.argv[2], int(sys.argv[3])
requests.post(f"{url}/v1/buckets/bench", json={"action": "create-bck", "name": "", "value": None}).raise_for_status()
files = []
for d, _, fs in os.walk(os.path.join(data, "small")):
    files += [os.path.join(d, f) for f in fs]
files += [os.path.join(data, "large", f"b{i:02d}.bin") for i in range(large_n)]
def put(chunk):
    s = requests.Session()
    for p in chunk:
        with open(p, "rb") as f:
            s.put(f"{url}/v1/objects/bench/{os.path.relpath(p, data)}", data=f.read()).raise_for_status()
ts = [threading.Thread(target=put, args=(files[i::4],)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
EOF
t1=$(now)
echo "PUT: $(rate 20000 "$t0" "$t1") objects/s (requests, 4 threads)"

mount_etlfs() { # mount_etlfs DIR [options]
  local m=$1; shift
  mkdir -p "$m"
  "$BUILD/bin/etlfs" --endpoint "$URL" "$m" -f "$@" >"$m.log" 2>&1 &
  MNTS+=("$m")
  for _ in $(seq 100); do grep -q " $m fuse" /proc/mounts && return; sleep 0.05; done
  echo "etlfs did not mount: $(cat "$m.log")" >&2; exit 1
}
readall() { timeout "$STEP_TIMEOUT" sh -c 'find "$1" -type f | xargs -d "\n" cat >/dev/null' sh "$1"; }

# the anchor: the same files from local disk (warm page cache: they were just read)
readall "$DATA/small"
t0=$(now); readall "$DATA/small"; t1=$(now)
LOCAL=$(rate 20000 "$t0" "$t1")
echo "small local (warm): $LOCAL files/s"

mount_etlfs "$WORK/mnt"
mount_etlfs "$WORK/mnt-http" -o fqn=off
for m in mnt mnt-http; do
  t0=$(now); readall "$WORK/$m/bench/small"; t1=$(now)
  first=$(rate 20000 "$t0" "$t1")
  t0=$(now); readall "$WORK/$m/bench/small"; t1=$(now)
  again=$(rate 20000 "$t0" "$t1")
  echo "small $m: first read $first files/s ($(awk -v a="$first" -v b="$LOCAL" 'BEGIN{printf "%.2f", a/b}') x local)," \
       "re-read $again files/s ($(awk -v a="$again" -v b="$LOCAL" 'BEGIN{printf "%.2f", a/b}') x local)"
done

BYTES=$((LARGE_N * 8 * 1048576))
LARGE=()
for i in $(seq 0 $((LARGE_N - 1))); do LARGE+=("$(printf '%s/large/b%02d.bin' "$DATA" "$i")"); done
cat "${LARGE[@]}" >/dev/null
t0=$(now); t cat "${LARGE[@]}" >/dev/null; t1=$(now)
LOCAL_MB=$(mbps $BYTES "$t0" "$t1")
echo "large local (warm, $LARGE_N x 8 MiB): $LOCAL_MB MB/s"
for m in mnt mnt-http; do
  t0=$(now); t sh -c "cat $WORK/$m/bench/large/*.bin >/dev/null"; t1=$(now)
  mb=$(mbps $BYTES "$t0" "$t1")
  echo "large $m: $mb MB/s ($(awk -v a="$mb" -v b="$LOCAL_MB" 'BEGIN{printf "%.2f", a/b}') x local)"
done
echo "stats: $($PY -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.etlfs.stats').decode())" "$WORK/mnt")"
