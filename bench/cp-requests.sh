#!/bin/bash
# cp-requests.sh - FUSE requests (and HTTP requests) per copied file, the cost
# `cp -r` pays in round trips to the mount daemon, for:
#   view  cp -r MNT/@etl-md5/src/. MNT/dst1/   (server-side transform)
#   plain cp -r MNT/src/. MNT/dst2/            (server-side copy)
#   local cp -r LOCAL/. MNT/dst3/              (bytes through FUSE)
#   rest  cp -r MNT/@etl-md5/src/. MNT/dst4/   (dst4 made over REST, not by mkdir:
#                                                the mount does not know it empty)
# The daemon runs with libfuse's -d, whose log names every request the kernel
# sent (counted here by opcode); a count, not a speed, so it is stable on a
# busy machine. A mount is fresh for each row (no kernel cache from earlier).
# usage: bench/cp-requests.sh   env: BUILD=build N=200 ETLFS_OPTS="-o opt,..."
#        BUILD may be an older build: the counts then say "before".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
N=${N:-200}
ETLFS_OPTS=${ETLFS_OPTS:-}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_build cp-requests.sh
need_tools cp-requests.sh curl fusermount3 timeout
bench_workdir cpreq

start_target "$BUILD"
curl -sf -X POST "$turl/v1/buckets/src" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
mkdir -p "$work/local"
head -c 16384 /dev/urandom >"$work/blob"
for i in $(seq -f '%04g' 1 "$N"); do
  cp "$work/blob" "$work/local/f$i"
  curl -sf -X PUT "$turl/v1/objects/src/f$i" --data-binary "@$work/blob" >/dev/null
done
init_md5_etl hpush://

row() { # NAME SRC DSTBUCKET [rest]
  local mnt=$work/mnt-$1 log=$work/mnt-$1.log
  mkdir -p "$mnt"
  # shellcheck disable=SC2086
  "$BUILD/bin/etlfs" --endpoint "$turl" "$mnt" -d $ETLFS_OPTS >"$log" 2>&1 &
  pids+=($!) mnts+=("$mnt")
  for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && break; sleep 0.05; done
  if [ "${4:-}" = rest ]; then
    curl -sf -X POST "$turl/v1/buckets/$3" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
  else
    mkdir "$mnt/$3"
  fi
  ls "$mnt" >/dev/null
  local src=${2//MNT/$mnt}
  local before http0
  before=$(grep -c 'opcode:' "$log" || true)
  http0=$($PY -c "import json,os,sys; print(json.loads(os.getxattr(sys.argv[1],'user.etlfs.stats'))['http_requests'])" "$mnt")
  timeout 300 cp -r "$src/." "$mnt/$3/"
  timeout 120 sync "$mnt/$3"
  local http1
  http1=$($PY -c "import json,os,sys; print(json.loads(os.getxattr(sys.argv[1],'user.etlfs.stats'))['http_requests'])" "$mnt")
  local after
  after=$(grep -c 'opcode:' "$log" || true)
  # the two getxattrs around cp are requests of their own
  awk -v n="$N" -v a="$before" -v b="$after" -v h0="$http0" -v h1="$http1" -v name="$1" \
    'BEGIN { printf "%-6s FUSE requests per file %5.2f   HTTP requests per file %5.2f\n", name, (b - a - 2) / n, (h1 - h0) / n }'
  awk -v a="$before" 'NR > 0 && /opcode:/ { c++; if (c > a) { sub(/.*opcode: /, ""); sub(/ .*/, ""); k[$0]++ } }
    END { for (o in k) printf "    %s %d", o, k[o]; printf "\n" }' "$log"
  [ -z "${SHOWLOG:-}" ] || grep -E "opcode:|^   unique" "$log" | tail -n "$SHOWLOG" >&2
  fusermount3 -u "$mnt"
}

echo "cp -r of $N files of 16 KiB, $(cut -d' ' -f1-3 /proc/loadavg) load, build $BUILD"
row view "MNT/@etl-md5/src" dst1
row plain "MNT/src" dst2
row local "$work/local" dst3
row rest "MNT/@etl-md5/src" dst4 rest
