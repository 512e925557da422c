#!/usr/bin/env bash
# list.sh - what listing costs per object as a bucket grows: one directory of
# N objects of 100 bytes, for N in 10k, 100k and 1M, listed whole through
# REST (`ais ls`, pages of 10,000; and curl pages of 1,000, the mount's size)
# and through the mount (`ls -f MNT/B`, a fresh mount each time). Prints
# microseconds per object per row and the ratio of each size to the first.
# The objects are written straight into the target's on-disk layout
# (docs/target.md: a file in MP/@ais/B/ is an object), since 1M PUTs would
# take longer than the listing they are here to time.
#
# Usage: bench/list.sh               (about 5 minutes with 1M; the files stay)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo)
#        SIZES              object counts (default "10000 100000 1000000")
#        LIST_DATA          where the objects are kept between runs
#                           (default /tmp/etlfs-bench-list; 1M takes ~4.5 GiB)
# Goal:  µs per object at 1M within 1.5x of 10k, through REST and the mount.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
sizes=${SIZES:-10000 100000 1000000}
data=${LIST_DATA:-/tmp/etlfs-bench-list}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
need_tools list.sh curl fusermount3
bench_workdir list
mnt=$work/mnt
trap 'fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true; bench_cleanup' EXIT

echo "== build (RelWithDebInfo, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target etlfs ais -j"$(nproc)" >/dev/null

# make N: $data/mp0/@ais/lN holds N files "obj-0000000" of 100 bytes (kept between runs)
make_bucket() {
  local n=$1 dir=$data/mp0/@ais/l$1
  [[ -f $dir.done ]] && return
  local need=$((n * 4 / 1024 + 64)) avail
  avail=$(df -Pm "$(dirname "$data")" | awk 'NR == 2 {print $4}')
  ((avail > need)) || { echo "list.sh: $n objects need ~${need} MiB free, $avail here" >&2; exit 2; }
  echo "== writing $n objects of 100 bytes into $dir"
  mkdir -p "$dir"
  timeout 1800 $PY - "$dir" "$n" <<'PYEOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
body = b"x" * 100
for i in range(n):
    fd = os.open(f"{d}/obj-{i:07d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, body)
    os.close(fd)
PYEOF
  touch "$dir.done"
}
for n in $sizes; do make_bucket "$n"; done
sync

# the target over the kept data (one mountpath: its buckets are the lN folders)
tport=$(free_port)
turl=http://127.0.0.1:$tport
"$build/bin/etlfs-target" --listen "127.0.0.1:$tport" --data "$data/mp0" >"$work/target.log" 2>&1 &
tpid=$!
pids+=($tpid)
: >"$work/rss"
rss_sampler "$tpid" "$work/rss" &
pids+=($!)
for _ in $(seq 100); do curl -sf "$turl/v1/health" >/dev/null && break; sleep 0.1; done

now() { date +%s%N; }
# curl_pages B PAGESIZE -> objects listed (pages of PAGESIZE, JSON, as the mount asks)
curl_pages() {
  $PY - "$turl" "$1" "$2" <<'PYEOF'
import json, sys, urllib.request
url, bck, ps = sys.argv[1], sys.argv[2], int(sys.argv[3])
token, n = "", 0
for _ in range(100000):
    body = json.dumps({"action": "list", "name": "", "value": {"pagesize": ps, "continuation_token": token,
                                                                "props": "name,size"}}).encode()
    req = urllib.request.Request(f"{url}/v1/buckets/{bck}", data=body, method="GET",
                                 headers={"Content-Type": "application/json"})
    page = json.load(urllib.request.urlopen(req, timeout=600))
    n += len(page["entries"])
    token = page["continuation_token"]
    if not token:
        break
print(n)
PYEOF
}

rows=()
for n in $sizes; do
  b=l$n
  echo "== $n objects" >&2
  # warm the page cache and the target's kept directory alike for every row
  curl_pages "$b" 10000 >/dev/null
  t0=$(now)
  got=$(AIS_ENDPOINT=$turl timeout 1800 "$build/bin/ais" ls "ais://$b" | grep -c '^obj-' || true)
  t1=$(now)
  [[ $got == "$n" ]] || { echo "list.sh: ais ls listed $got of $n" >&2; exit 1; }
  rows+=("ais ls (pages of 10k)|$n|$(((t1 - t0) / 1000))")
  t0=$(now)
  got=$(timeout 1800 bash -c "$(declare -f curl_pages); PY=$PY turl=$turl curl_pages $b 1000")
  t1=$(now)
  [[ $got == "$n" ]] || { echo "list.sh: REST pages listed $got of $n" >&2; exit 1; }
  rows+=("REST pages of 1,000|$n|$(((t1 - t0) / 1000))")
  mkdir -p "$mnt"
  "$build/bin/etlfs" --endpoint "$turl" "$mnt" -f >"$work/mount.log" 2>&1 &
  mpid=$!
  for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && break; sleep 0.05; done
  t0=$(now)
  got=$(timeout 1800 ls -f "$mnt/$b" | grep -c '^obj-' || true)
  t1=$(now)
  fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
  wait "$mpid" 2>/dev/null || true
  [[ $got == "$n" ]] || { echo "list.sh: ls -f listed $got of $n" >&2; exit 1; }
  rows+=("ls -f MNT/B (fresh mount)|$n|$(((t1 - t0) / 1000))")
done

echo
printf '%-28s %9s %12s %10s %9s\n' path objects total-ms us/object vs-first
declare -A first
for r in "${rows[@]}"; do
  IFS='|' read -r what n us <<<"$r"
  per=$(awk -v us="$us" -v n="$n" 'BEGIN { printf "%.2f", us / n }')
  [[ -n ${first[$what]:-} ]] || first[$what]=$per
  awk -v w="$what" -v n="$n" -v us="$us" -v p="$per" -v f="${first[$what]}" \
    'BEGIN { printf "%-28s %9d %12.0f %10.2f %9.2f\n", w, n, us / 1000, p, p / f }'
done
echo "(vs-first: µs per object against the smallest size's; goal at 1M: <= 1.5)"
echo "target VmRSS max over the whole run: $(rss_max_since 0) MiB"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
