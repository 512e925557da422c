#!/bin/bash
# view-cost.sh - what one reader going through a view's files in order costs per
# file: `xargs cat` over DIRS of the dataset's small set through MNT/@etl-md5/
# (native md5 transformer), in PASSES passes on one fresh mount. Per file: FUSE
# and HTTP requests (the daemon's counters), CPU of the daemon, the target and
# the ETL (/proc, utime + stime), context switches of the daemon and the target
# (every thread's), and read-ahead's counters. Counts are stable on a busy
# machine; CPU and files/s are not (say the load average with them).
# usage: bench/view-cost.sh [daemon options, e.g. -o etl_keep_cache=1]
#   env: BUILD=build DATA=/tmp/etlfs-bench-data DIRS="d00 d01" PASSES=1
#        COMM=ws:// ARG= (the ETL's communicator and argument; ws://, the
#        cheapest for the target, as bench/mount.sh's md5 and cp rows: an ETL of
#        ours reads the file the control message names whatever ARG says)
#   Root (FUSE mounts). Every step is bounded (120 s), the whole run by 10 min.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-/tmp/etlfs-bench-data}
DIRS=${DIRS:-d00 d01}
PASSES=${PASSES:-1}
COMM=${COMM:-ws://}
ARG=${ARG:-}
PY=/usr/bin/python3
root=$ROOT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build view-cost.sh
if [ -z "${VIEW_COST_BOUNDED:-}" ]; then
  VIEW_COST_BOUNDED=1 exec timeout -k 10 600 "$0" "$@"
fi
t() { timeout 120 "$@"; }
t "${DATASET:-/work/shared/bench/dataset.sh}" "$DATA"
bench_workdir view-cost
W=$work
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$BUILD/bin/etlfs-target" --listen "127.0.0.1:$PORT" --data "$W/mp0" --data "$W/mp1" --promote-root "$DATA" >"$W/target.log" 2>&1 &
TPID=$!
pids+=($TPID)
wait_health "$URL" 10 || { echo "view-cost.sh: etlfs-target did not start:" >&2; tail -5 "$W/target.log" >&2; exit 1; }
curl -sf -X POST "$URL/v1/buckets/bench" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
for d in $DIRS; do
  curl -sf -X POST "$URL/v1/objects/bench" -H 'Content-Type: application/json' --max-time 120 \
    -d "{\"action\":\"promote\",\"name\":\"$DATA/small/$d\",\"value\":{\"src\":\"$DATA/small/$d\",\"obj\":\"small/$d/\",\"rcr\":true}}" >/dev/null
done
SPEC=$(base64 -w0 "$ROOT/etl/transformers/md5_native/pod.yaml")
curl -sf -X PUT "$URL/v1/etl" -H 'Content-Type: application/json' --max-time 120 \
  -d "{\"id\":\"etl-md5\",\"communication\":\"$COMM\",\"argument\":\"$ARG\",\"timeout\":\"5m\",\"spec\":\"$SPEC\"}" >/dev/null
find "$W/mp0" "$W/mp1" -type f -print0 | t xargs -0 cat >/dev/null # the sources warm
EPID=$(pgrep -n -P "$TPID" etlfs-md5 || pgrep -n etlfs-md5)
start_mount "$BUILD" "$URL" "$W/mnt" "$@"
FPID=$fpid
KEYS="fuse_ops http_requests readahead_fetches readahead_hits view_page_cache_opens view_kept_opens readahead_waits"
TCK=$(getconf CLK_TCK)
for pass in $(seq "$PASSES"); do
  read -r o0 h0 f0 k0 c0 p0 w0 <<<"$(mount_stats "$W/mnt" $KEYS)"
  a0="$(proc_ticks "$FPID") $(proc_ticks "$TPID") $(proc_ticks "$EPID") $(proc_switches "$FPID") $(proc_switches "$TPID")"
  s0=$(date +%s.%N)
  (cd "$W/mnt/@etl-md5/bench/small" && for d in $DIRS; do ls "$d" | sed "s|^|$d/|"; done | t xargs -d '\n' cat) >"$W/out"
  s1=$(date +%s.%N)
  a1="$(proc_ticks "$FPID") $(proc_ticks "$TPID") $(proc_ticks "$EPID") $(proc_switches "$FPID") $(proc_switches "$TPID")"
  read -r o1 h1 f1 k1 c1 p1 w1 <<<"$(mount_stats "$W/mnt" $KEYS)"
  N=$(($(wc -c <"$W/out") / 32))
  echo "$a0 $a1" | awk -v n="$N" -v a="$s0" -v b="$s1" -v tck="$TCK" -v pass="$pass" -v comm="$COMM" \
    -v fo=$((o1 - o0 - 1)) -v hh=$((h1 - h0)) -v rf=$((f1 - f0)) -v rk=$((k1 - k0)) -v pc=$((c1 - c0)) -v kp=$((p1 - p0)) -v rw=$((w1 - w0)) \
    -v l="$(cut -d' ' -f1-3 /proc/loadavg)" '{
      printf "%s pass %d: %d files, %.0f files/s; per file: FUSE %.2f, HTTP %.2f; CPU daemon %.0f us, target %.0f us, ETL %.0f us;", comm, pass, n, n / (b - a), fo / n, hh / n, ($6 - $1) / tck * 1e6 / n, ($7 - $2) / tck * 1e6 / n, ($8 - $3) / tck * 1e6 / n
      printf " context switches daemon %.1f, target %.1f; read-ahead %d made, %d taken, %d waited for; page cache opens %d, kept %d; load %s\n", ($9 - $4) / n, ($10 - $5) / n, rf, rk, rw, pc, kp, l }'
done
