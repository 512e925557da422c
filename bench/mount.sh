#!/bin/bash
# mount.sh - how fast the etlfs mount reads, against three anchors reading the same
# files (see /work/shared/bench/ANCHORS.md; compare ratios measured in one run):
#   passthrough  a trivial libfuse3 passthrough of the dataset (bench/passthrough/,
#                built here with cc): what any FUSE file system pays at least
#   disk         plain reads of the dataset directory
#   rclone       `rclone mount :http:` (vfs-cache off) of an nginx serving the dataset
# Workloads (reader: `find DIR -type f | xargs cat`, large: `cat *.bin`):
#   small  20,000 x 16 KiB, first read (page cache dropped before each contender's
#          first read, mounts fresh) and re-read
#   large  LARGE_N x 8 MiB, first read and re-read
#   md5    digest of every small file through MNT/@etl-md5/ (`find | sort | xargs cat`,
#          one reader; with read-ahead and with -o etl_readahead=0) vs `md5sum` of
#          the same files over the passthrough (digests compared). Each side runs on a
#          fresh mount of its own after the same cache state: MD5_CACHE=warm (default:
#          the source files, the dataset and the target's copies, read just before
#          each side) or cold (page cache dropped before each side). MD5_ROUNDS rounds
#          (default 3), each starting with another side, stopping early once
#          MD5_BUDGET seconds (default 240) are spent; the medians are compared.
#          `cp -r MNT/@etl-md5/small/. MNT/dst/`
#          (server-side copies, sent as one job; timed until `sync` says all landed;
#          with the daemon's FUSE and HTTP requests per file) vs the offline job
#          etl-bck over REST
# Goals printed at the end: small first read >= 0.8x passthrough and >= 3x rclone;
# large >= 0.9x passthrough; re-read >= 0.8x passthrough re-read; daemon RSS < 100 MiB.
#
# usage: bench/mount.sh     env: BUILD=build DATA=/tmp/etlfs-bench-data LARGE_N=64
#   ETL=native (etlfs-md5 transformer from etl/transformers/md5_native) | code (Python)
#   COMM=ws:// (the md5 and cp rows' ETL communicator: ws://, hpush://, ...). ws://
#     by default: its control message names the file, the ETL of ours reads it, and
#     the target serves the view's GET on its event thread without a worker
#     (bench/view-cost.sh counts ~90 us of target CPU per file against ~185 for hpush://)
#   ETLFS_OPTS="-o opt,..." extra daemon options; PARTS="passthrough etlfs" runs only those.
#   Root only (drop_caches, mounts).
# Each step is bounded by STEP_TIMEOUT seconds (default 120), the whole run by 12 min.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
root=$ROOT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-/tmp/etlfs-bench-data}
LARGE_N=${LARGE_N:-64}
ETL=${ETL:-native}
COMM=${COMM:-ws://}
ETLFS_OPTS=${ETLFS_OPTS:-}
PARTS=${PARTS:-disk passthrough etlfs rclone md5 cp} # a subset for quick comparisons
STEP_TIMEOUT=${STEP_TIMEOUT:-120}
MD5_ROUNDS_MAX=${MD5_ROUNDS:-3}
MD5_BUDGET=${MD5_BUDGET:-240}
MD5_CACHE=${MD5_CACHE:-warm}
DATASET=${DATASET:-/work/shared/bench/dataset.sh}
PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "mount.sh: needs root (drop_caches, FUSE mounts)" >&2; exit 1; }
[ -x "$BUILD/bin/etlfs" ] || { echo "mount.sh: no $BUILD/bin/etlfs; build it or set BUILD" >&2; exit 1; }
if [ -z "${MOUNT_SH_BOUNDED:-}" ]; then # the whole run, bounded
  MOUNT_SH_BOUNDED=1 exec timeout -k 10 720 "$0" "$@"
fi
command -v rclone >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null
command -v nginx >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null

WORK=$(mktemp -d /tmp/etlfs-bench-mount.XXXXXX)
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(freeport)
NGPORT=$(freeport)
URL=http://127.0.0.1:$PORT
PIDS=() MNTS=()

cleanup() {
  for m in "${MNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_rm "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
t() { timeout "$STEP_TIMEOUT" "$@"; }
dropcaches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
LOADS=()
load() { LOADS+=("$1 $(cut -d' ' -f1-3 /proc/loadavg)"); }
load start

echo "== dataset" >&2
t "$DATASET" "$DATA"
SMALL_N=$(find "$DATA/small" -type f | wc -l)
BYTES_SMALL=$((SMALL_N * 16384))
LARGE=()
for i in $(seq 0 $((LARGE_N - 1))); do LARGE+=("$(printf 'large/b%02d.bin' "$i")"); done
BYTES_LARGE=$((LARGE_N * 8 * 1048576))

echo "== build the passthrough" >&2
cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -o "$WORK/passthrough" "$ROOT/bench/passthrough/passthrough.c" \
  $(pkg-config --cflags --libs fuse3)

echo "== target on $URL, promote small + large into bucket bench" >&2
"$BUILD/bin/etlfs-target" --listen "127.0.0.1:$PORT" --data "$WORK/mp0" --data "$WORK/mp1" --promote-root "$DATA" >"$WORK/target.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "$URL/v1/health" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "$URL/v1/buckets/bench" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
for s in small large; do
  curl -sf -X POST "$URL/v1/objects/bench" -H 'Content-Type: application/json' --max-time "$STEP_TIMEOUT" \
    -d "{\"action\":\"promote\",\"name\":\"$DATA/$s\",\"value\":{\"src\":\"$DATA/$s\",\"obj\":\"$s/\",\"rcr\":true}}" >/dev/null
done
if [ "$ETL" = native ]; then
  SPEC=$(base64 -w0 "$ROOT/etl/transformers/md5_native/pod.yaml")
  MSG="{\"id\":\"etl-md5\",\"communication\":\"$COMM\",\"argument\":\"\",\"timeout\":\"5m\",\"spec\":\"$SPEC\"}"
else
  CODE=$(printf 'import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n' | base64 -w0)
  MSG="{\"id\":\"etl-md5\",\"runtime\":\"python3.11v2\",\"communication\":\"$COMM\",\"funcs\":{\"transform\":\"transform\"},\"code\":\"$CODE\",\"dependencies\":\"\",\"timeout\":\"5m\"}"
fi
curl -sf -X PUT "$URL/v1/etl" -H 'Content-Type: application/json' --max-time "$STEP_TIMEOUT" -d "$MSG" >/dev/null ||
  { echo "ETL init failed: $(tail -5 "$WORK/target.log")" >&2; exit 1; }

echo "== nginx on 127.0.0.1:$NGPORT" >&2
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server { listen 127.0.0.1:$NGPORT; root $DATA; autoindex on; }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NGPORT/" >/dev/null && break; sleep 0.1; done

# mount_* DIR: a fresh mount (no daemon-side or kernel-side state from an earlier run)
waitmnt() {
  for _ in $(seq 200); do grep -q " $1 fuse" /proc/mounts && return; sleep 0.05; done
  echo "$2 did not mount: $(cat "$1.log")" >&2; exit 1
}
ETLFS_PID=
mount_etlfs() {
  mkdir -p "$1"
  # shellcheck disable=SC2086
  "$BUILD/bin/etlfs" --endpoint "$URL" "$1" -f $ETLFS_OPTS >"$1.log" 2>&1 &
  ETLFS_PID=$!
  PIDS+=($!) MNTS+=("$1")
  waitmnt "$1" etlfs
}
mount_pt() {
  mkdir -p "$1"
  "$WORK/passthrough" "$DATA" "$1" -f >"$1.log" 2>&1 &
  PIDS+=($!) MNTS+=("$1")
  waitmnt "$1" passthrough
}
mount_rclone() {
  mkdir -p "$1"
  rclone mount :http: --http-url "http://127.0.0.1:$NGPORT/" "$1" --vfs-cache-mode off --read-only >"$1.log" 2>&1 &
  PIDS+=($!) MNTS+=("$1")
  waitmnt "$1" rclone
}
umount_() { fusermount3 -u "$1" 2>/dev/null || fusermount3 -u -z "$1"; }

# Peak VmRSS of the etlfs daemon, sampled while the benchmark runs
RSS_FILE=$WORK/rss
sample_rss() {
  local max=0 v
  while kill -0 "$1" 2>/dev/null; do
    v=$(awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$max" ] && max=$v && echo "$max" >"$RSS_FILE"
    sleep 0.2
  done
}

# timed ROW DIR: first read (caches dropped) and re-read of small and large
declare -A R
for row in disk passthrough etlfs rclone; do for k in small1 small2 large1 large2; do R[$row.$k]=0; done; done
readsmall() { t sh -c 'find "$1" -type f | xargs -d "\n" cat >/dev/null' sh "$1"; }
readlarge() { (cd "$1" && t cat "${LARGE[@]}" >/dev/null); }
measure() {
  local row=$1 dir=$2 t0 t1
  dropcaches
  t0=$(now); readsmall "$dir/small"; t1=$(now)
  R[$row.small1]=$(awk -v n="$SMALL_N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  t0=$(now); readsmall "$dir/small"; t1=$(now)
  R[$row.small2]=$(awk -v n="$SMALL_N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  dropcaches
  t0=$(now); readlarge "$dir"; t1=$(now)
  R[$row.large1]=$(awk -v n="$BYTES_LARGE" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / 1048576 / (b - a) }')
  t0=$(now); readlarge "$dir"; t1=$(now)
  R[$row.large2]=$(awk -v n="$BYTES_LARGE" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / 1048576 / (b - a) }')
  load "$row"
  echo "  $row: small ${R[$row.small1]} / ${R[$row.small2]} files/s, large ${R[$row.large1]} / ${R[$row.large2]} MB/s" >&2
}

echo "== reads (first read after drop_caches / re-read)" >&2
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
part disk && measure disk "$DATA"
if part passthrough; then
  mount_pt "$WORK/pt"
  measure passthrough "$WORK/pt"
  umount_ "$WORK/pt"
fi
mount_etlfs "$WORK/mnt"
sample_rss "$ETLFS_PID" &
part etlfs && measure etlfs "$WORK/mnt/bench"
if part rclone; then
  mount_rclone "$WORK/rc"
  measure rclone "$WORK/rc"
  umount_ "$WORK/rc"
fi

MD5_ETL=0 MD5_NORA=0 MD5_PT=0 MD5_OK=- MD5_ROUNDS=0 CP_RATE=0 CP_N=0 CP_OK=- CP_OPS=- CP_HTTP=- JOB_N=0 JOB_RATE=0
MD5_ALL_ETL= MD5_ALL_NORA= MD5_ALL_PT=
if part md5; then
echo "== md5 of small: MNT/@etl-md5/ vs md5sum over the passthrough, $MD5_ROUNDS_MAX rounds ($MD5_CACHE)" >&2
# The same state before each side: a fresh mount (no daemon or kernel cache left by
# another side) and the same page cache (warm: both copies of the files read just
# before; cold: dropped)
md5_prepare() {
  if [ "$MD5_CACHE" = cold ]; then
    dropcaches
  else
    find "$DATA/small" "$WORK/mp0" "$WORK/mp1" -type f -path '*small*' -print0 | t xargs -0 cat >/dev/null
  fi
}
rate() { awk -v n="$SMALL_N" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", n / (b - a) }'; }
md5_side() { # md5_side etl|nora|pt ROUND: one pass, its rate in MD5_V, digests in $WORK/md5-SIDE
  local side=$1 dir=$WORK/md5-$1-$2 t0 t1
  case $side in
    etl) mkdir -p "$dir"; "$BUILD/bin/etlfs" --endpoint "$URL" "$dir" -f $ETLFS_OPTS >"$dir.log" 2>&1 & ;;
    nora) mkdir -p "$dir"; "$BUILD/bin/etlfs" --endpoint "$URL" "$dir" -f $ETLFS_OPTS -o etl_readahead=0 >"$dir.log" 2>&1 & ;;
    pt) mkdir -p "$dir"; "$WORK/passthrough" "$DATA" "$dir" -f >"$dir.log" 2>&1 & ;;
  esac
  PIDS+=($!) MNTS+=("$dir")
  waitmnt "$dir" "$side"
  md5_prepare
  t0=$(now)
  if [ "$side" = pt ]; then
    (cd "$dir/small" && find . -type f | LC_ALL=C sort | t xargs -d '\n' md5sum | cut -c1-32) >"$WORK/md5-pt"
  else
    (cd "$dir/@etl-md5/bench/small" && find . -type f | LC_ALL=C sort | t xargs -d '\n' cat | fold -w32; echo) >"$WORK/md5-$side"
  fi
  t1=$(now)
  umount_ "$dir"
  MD5_V=$(rate "$t0" "$t1")
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# A/B/C alternated: each round starts with another side, so drift of the shared
# machine spreads over all of them; rounds stop once MD5_BUDGET seconds are spent
sides=(pt etl nora)
md5_t0=$(now)
MD5_OK=same
for r in $(seq 1 "$MD5_ROUNDS_MAX"); do
  [ "$r" -gt 1 ] && awk -v a="$md5_t0" -v b="$(now)" -v m="$MD5_BUDGET" 'BEGIN { exit !(b - a > m) }' && break
  for i in 0 1 2; do
    side=${sides[$(((r - 1 + i) % 3))]}
    md5_side "$side" "$r"
    case $side in etl) MD5_ALL_ETL+=" $MD5_V" ;; nora) MD5_ALL_NORA+=" $MD5_V" ;; pt) MD5_ALL_PT+=" $MD5_V" ;; esac
  done
  cmp -s "$WORK/md5-etl" "$WORK/md5-pt" && cmp -s "$WORK/md5-nora" "$WORK/md5-pt" &&
    [ "$(wc -l <"$WORK/md5-pt")" = "$SMALL_N" ] || MD5_OK=mismatch
  MD5_ROUNDS=$r
  echo "  round $r: etl $(echo $MD5_ALL_ETL | awk '{print $NF}'), no read-ahead $(echo $MD5_ALL_NORA | awk '{print $NF}'), passthrough $(echo $MD5_ALL_PT | awk '{print $NF}') files/s" >&2
done
MD5_ETL=$(median $MD5_ALL_ETL) MD5_NORA=$(median $MD5_ALL_NORA) MD5_PT=$(median $MD5_ALL_PT)
load md5
fi

if part cp; then
[ -s "$WORK/md5-pt" ] || (cd "$DATA/small" && find . -type f | LC_ALL=C sort | xargs -d '\n' md5sum | cut -c1-32) >"$WORK/md5-pt"
echo "== cp -r MNT/@etl-md5/bench/small/. MNT/dst/ vs etl-bck" >&2
mkdir "$WORK/mnt/dst"
dropcaches
# the daemon's counters around the copy: FUSE requests and HTTP requests per file
counter() { $PY -c "import json,os,sys; print(json.loads(os.getxattr(sys.argv[1], 'user.etlfs.stats'))[sys.argv[2]])" "$WORK/mnt" "$1"; }
ops0=$(counter fuse_ops) http0=$(counter http_requests)
# cp returns once the copies are queued; sync waits until the last one landed
t0=$(now); t cp -r "$WORK/mnt/@etl-md5/bench/small/." "$WORK/mnt/dst/"; t sync "$WORK/mnt/dst"; t1=$(now)
CP_RATE=$(awk -v n="$SMALL_N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
# (the first counter read is a request of its own)
CP_OPS=$(awk -v n="$SMALL_N" -v a="$ops0" -v b="$(counter fuse_ops)" 'BEGIN { printf "%.2f", (b - a - 1) / n }')
CP_HTTP=$(awk -v n="$SMALL_N" -v a="$http0" -v b="$(counter http_requests)" 'BEGIN { printf "%.2f", (b - a) / n }')
CP_N=$(find "$WORK/mnt/dst" -type f | wc -l)
CP_OK=mismatch
(cd "$WORK/mnt/dst" && find . -type f | LC_ALL=C sort | xargs -d '\n' cat | fold -w32; echo) |
  cmp -s - "$WORK/md5-pt" && CP_OK=same
dropcaches
JOB_OUT=$(t $PY - "$URL" "$STEP_TIMEOUT" <<'EOF'
import sys, time, urllib.parse, requests
url, limit = sys.argv[1], float(sys.argv[2])
to = urllib.parse.quote("ais/@#/offline-md5/", safe="")
t0 = time.time()
r = requests.post(f"{url}/v1/buckets/bench?bck_to={to}", json={"action": "etl-bck",
                  "value": {"id": "etl-md5", "prefix": "small/", "prepend": "", "dry_run": False}})
r.raise_for_status()
while time.time() - t0 < limit:
    st = requests.get(f"{url}/v1/cluster", params={"what": "status"}, json={"ID": r.text}).json()
    if st["end_time"]:
        break
    time.sleep(0.02)
print(st["objects"], time.time() - t0)
EOF
)
JOB_N=${JOB_OUT% *}
JOB_RATE=$(awk -v n="$JOB_N" -v s="${JOB_OUT#* }" 'BEGIN { printf "%.0f", n / s }')
load cp
fi

STATS=$($PY -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.etlfs.stats').decode())" "$WORK/mnt")
kill -0 "$ETLFS_PID"
RSS_KB=$(cat "$RSS_FILE" 2>/dev/null || echo 0)
RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
load end

# ---------------------------------------------------------------- report
MBS() { awk -v r="$1" 'BEGIN { printf "%.0f", r * 16384 / 1048576 }'; }
echo
echo "etlfs mount benchmark: $SMALL_N x 16 KiB (small), $LARGE_N x 8 MiB (large), ETL=$ETL, opts='$ETLFS_OPTS'"
printf '%-12s %-25s %-25s %-11s %s\n' contender "small 1st" "small re-read" "large 1st" "large re-read"
for row in disk passthrough etlfs rclone; do
  printf '%-12s %7s files/s (%3s MB/s) %7s files/s (%3s MB/s) %6s MB/s %6s MB/s\n' "$row" \
    "${R[$row.small1]}" "$(MBS "${R[$row.small1]}")" "${R[$row.small2]}" "$(MBS "${R[$row.small2]}")" \
    "${R[$row.large1]}" "${R[$row.large2]}"
done
echo
echo "ratios etlfs/x:   small 1st  small re-read  large 1st  large re-read"
for row in passthrough disk rclone; do
  printf '  %-12s %9s %14s %10s %14s\n' "$row" "$(ratio "${R[etlfs.small1]}" "${R[$row.small1]}")" \
    "$(ratio "${R[etlfs.small2]}" "${R[$row.small2]}")" "$(ratio "${R[etlfs.large1]}" "${R[$row.large1]}")" \
    "$(ratio "${R[etlfs.large2]}" "${R[$row.large2]}")"
done
echo
echo "md5 small, median of $MD5_ROUNDS rounds ($MD5_CACHE): MNT/@etl-md5 $MD5_ETL files/s, md5sum over passthrough" \
     "$MD5_PT files/s (ratio $(ratio "$MD5_ETL" "$MD5_PT")), digests $MD5_OK"
echo "  rounds: etl$MD5_ALL_ETL; no read-ahead$MD5_ALL_NORA; passthrough$MD5_ALL_PT"
echo "md5 small without read-ahead (-o etl_readahead=0): $MD5_NORA files/s" \
     "(ratio $(ratio "$MD5_NORA" "$MD5_PT"); read-ahead gives $(ratio "$MD5_ETL" "$MD5_NORA")x)"
echo "cp -r @etl-md5 -> MNT/dst: $CP_RATE files/s ($CP_N files, digests $CP_OK)," \
     "etl-bck offline job: $JOB_RATE objects/s ($JOB_N), ratio $(ratio "$CP_RATE" "$JOB_RATE")"
echo "cp -r per file: $CP_OPS FUSE requests the daemon served (fuse_ops), $CP_HTTP HTTP requests"
echo "etlfs daemon peak RSS: $RSS_MB MiB"
echo "etlfs stats: $STATS"
echo
goal() { # goal TEXT VALUE MIN
  local ok=MISS
  awk -v v="$2" -v m="$3" 'BEGIN { exit !(v >= m) }' && ok=met
  printf '  %-44s %8s  %s\n' "$1" "$2" "$ok"
}
echo "goals:"
goal "small 1st >= 0.8x passthrough" "$(ratio "${R[etlfs.small1]}" "${R[passthrough.small1]}")" 0.8
goal "small 1st >= 3x rclone" "$(ratio "${R[etlfs.small1]}" "${R[rclone.small1]}")" 3
goal "large 1st >= 0.9x passthrough" "$(ratio "${R[etlfs.large1]}" "${R[passthrough.large1]}")" 0.9
goal "md5 through @etl-md5 >= 0.8x md5sum (median)" "$(ratio "$MD5_ETL" "$MD5_PT")" 0.8
goal "small re-read >= 0.8x passthrough re-read" "$(ratio "${R[etlfs.small2]}" "${R[passthrough.small2]}")" 0.8
goal "large re-read >= 0.8x passthrough re-read" "$(ratio "${R[etlfs.large2]}" "${R[passthrough.large2]}")" 0.8
ok=MISS; awk -v v="$RSS_MB" 'BEGIN { exit !(v < 100) }' && ok=met
printf '  %-44s %8s  %s\n' "daemon RSS < 100 MiB" "$RSS_MB" "$ok"
echo
echo "load average (1/5/15 min) after each phase:"
printf '  %s\n' "${LOADS[@]}"
