#!/bin/bash
# view-bytes.sh - what moving a large view output costs the target and the
# mount daemon per file: FILES objects of SIZE random bytes (default 150,672,
# the DataLoader's .npy) read once each, in order and whole (open, read, close,
# as the DataLoader's workers read), through MNT/@etl-echo/ (the output is the
# input, so the ETL's own work is small and the same in every build). Per
# file: FUSE and HTTP requests (the daemon's counters), CPU of the daemon and
# the target (/proc, utime + stime), their context switches, and with
# STRACE=1 a second pass's system calls of each (`strace -c -f`, which slows
# every call: counts, not CPU). Counts are stable on a busy machine; CPU is
# not (say the load average with it).
# usage: bench/view-bytes.sh [daemon options]
#   env: BUILD=build FILES=500 SIZE=150672 COMM=ws:// STRACE=0
#   Root (FUSE mounts). Every step is bounded (120 s), the whole run by 10 min.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${FILES:-500}
SIZE=${SIZE:-150672}
COMM=${COMM:-ws://}
STRACE=${STRACE:-0}
PY=/usr/bin/python3
root=$ROOT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build view-bytes.sh
[ "$STRACE" != 1 ] || command -v strace >/dev/null || { echo "view-bytes.sh: STRACE=1 needs strace (deploy/dev/deps.sh --test)" >&2; exit 2; }
if [ -z "${VIEW_BYTES_BOUNDED:-}" ]; then
  VIEW_BYTES_BOUNDED=1 exec timeout -k 10 600 "$0" "$@"
fi
t() { timeout 120 "$@"; }
bench_workdir view-bytes
W=$work
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
mkdir -p "$W/src"
$PY -c "import os,sys; [open(f'{sys.argv[1]}/f{i:05d}','wb').write(os.urandom(int(sys.argv[3]))) for i in range(int(sys.argv[2]))]" "$W/src" "$FILES" "$SIZE"
"$BUILD/bin/etlfs-target" --listen "127.0.0.1:$PORT" --data "$W/mp0" --data "$W/mp1" --promote-root "$W/src" >"$W/target.log" 2>&1 &
TPID=$!
pids+=($TPID)
wait_health "$URL" 10 || { echo "view-bytes.sh: etlfs-target did not start:" >&2; tail -5 "$W/target.log" >&2; exit 1; }
curl -sf -X POST "$URL/v1/buckets/bench" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
curl -sf -X POST "$URL/v1/objects/bench" -H 'Content-Type: application/json' --max-time 120 \
  -d "{\"action\":\"promote\",\"name\":\"$W/src\",\"value\":{\"src\":\"$W/src\",\"obj\":\"v/\",\"rcr\":true}}" >/dev/null
SPEC=$(base64 -w0 "$ROOT/etl/transformers/echo/pod.yaml")
curl -sf -X PUT "$URL/v1/etl" -H 'Content-Type: application/json' --max-time 120 \
  -d "{\"id\":\"etl-echo\",\"communication\":\"$COMM\",\"argument\":\"fqn\",\"timeout\":\"5m\",\"spec\":\"$SPEC\"}" >/dev/null
start_mount "$BUILD" "$URL" "$W/mnt" "$@"
FPID=$fpid
KEYS="fuse_ops http_requests readahead_hits view_page_cache_opens"
readall() { # every file once, whole, in order; prints the bytes read
  t $PY -c "
import os,sys
d=sys.argv[1]; n=0
for f in sorted(os.listdir(d)):
    with open(os.path.join(d,f),'rb') as fh: n+=len(fh.read())
print(n)" "$W/mnt/@etl-echo/bench/v"
}
TCK=$(getconf CLK_TCK)
readall >/dev/null # warm: the ETL's first requests, the sources' pages
read -r o0 h0 k0 c0 <<<"$(mount_stats "$W/mnt" $KEYS)"
a0="$(proc_ticks "$FPID") $(proc_ticks "$TPID") $(proc_switches "$FPID") $(proc_switches "$TPID")"
B=$(readall)
a1="$(proc_ticks "$FPID") $(proc_ticks "$TPID") $(proc_switches "$FPID") $(proc_switches "$TPID")"
read -r o1 h1 k1 c1 <<<"$(mount_stats "$W/mnt" $KEYS)"
[ "$B" -eq $((FILES * SIZE)) ] || { echo "view-bytes.sh: read $B bytes, want $((FILES * SIZE))" >&2; exit 1; }
echo "$a0 $a1" | awk -v n="$FILES" -v tck="$TCK" -v comm="$COMM" -v fo=$((o1 - o0 - 1)) -v hh=$((h1 - h0)) \
  -v rk=$((k1 - k0)) -v pc=$((c1 - c0)) -v l="$(cut -d' ' -f1-3 /proc/loadavg)" '{
    printf "%s: %d files of %d bytes; per file: FUSE %.2f, HTTP %.2f; CPU daemon %.0f us, target %.0f us;", comm, n, '"$SIZE"', fo / n, hh / n, ($5 - $1) / tck * 1e6 / n, ($6 - $2) / tck * 1e6 / n
    printf " context switches daemon %.1f, target %.1f; read-ahead taken %d, page cache opens %d; load %s\n", ($7 - $3) / n, ($8 - $4) / n, rk, pc, l }'
if [ "$STRACE" = 1 ]; then
  SP=()
  for p in "$FPID" "$TPID"; do
    strace -c -f -p "$p" -o "$W/strace.$p" 2>/dev/null & SP+=($!)
  done
  pids+=("${SP[@]}")
  sleep 1
  readall >/dev/null
  kill -INT "${SP[@]}" 2>/dev/null || true
  wait "${SP[@]}" 2>/dev/null || true
  for p in "$FPID" "$TPID"; do
    [ "$p" = "$FPID" ] && echo "daemon, system calls per file:" || echo "target, system calls per file:"
    awk -v n="$FILES" '$NF != "total" && $4 ~ /^[0-9]+$/ && $4 / n >= 0.05 { printf "  %-16s %.2f\n", $NF, $4 / n } $NF == "total" { printf "  %-16s %.2f\n", "total", $4 / n }' "$W/strace.$p"
  done
fi
