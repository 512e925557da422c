#!/usr/bin/env bash
# get.sh - GET throughput of etlfs-target next to nginx serving the same files
# from the same disk: a 16 KiB object at 1, 4 and 32 connections and an 8 MiB
# object at 1 and 4 (wrk, keep-alive, 10 s each). Prints req/s, MB/s and the
# ratio etlfs/nginx per row, and the target's resident memory (VmRSS sampled
# every 0.5 s, the maximum while each row ran and over the whole run), and each
# server's CPU time per request (user + system over the run / requests).
# Compare ratios measured in one run, not absolute figures (noisy machines).
#
# Usage: bench/get.sh            (about 2 minutes; the dataset is cached)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo)
#        ETLFS_BENCH_DATA   dataset folder (default /tmp/etlfs-bench-data)
#        ETLFS_SHARED       folder holding bench/dataset.sh (default ../shared, then /work/shared)
#        DURATION           seconds per wrk run (default 10)
#        ROUNDS             alternate etlfs/nginx runs this many times and keep each
#                           one's best (default 1; more helps on a busy machine)
# Goals: 16 KiB at c=32 >= 0.8x nginx req/s; 8 MiB >= 0.9x nginx MB/s; RSS < 100 MiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
data=${ETLFS_BENCH_DATA:-/tmp/etlfs-bench-data}
dur=${DURATION:-10}
rounds=${ROUNDS:-1}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
find_shared get.sh
need_tools get.sh wrk nginx curl
bench_workdir get
trap 'exit 130' INT TERM

echo "== dataset ($data)"
bash "$shared/bench/dataset.sh" "$data"
small=$data/small/d00/f00000.bin
large=$data/large/b00.bin

echo "== build etlfs-target (RelWithDebInfo, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target -j"$(nproc)" >/dev/null

echo "== start etlfs-target and nginx"
start_target "$build"
curl -sf -X POST "$turl/v1/buckets/bench" -H 'Content-Type: application/json' \
  -d '{"action":"create-bck","name":"","value":null}' >/dev/null
curl -sf -X PUT --data-binary "@$small" "$turl/v1/objects/bench/small/f00000.bin" >/dev/null
curl -sf -X PUT --data-binary "@$large" "$turl/v1/objects/bench/large/b00.bin" >/dev/null

nport=$(free_port)
start_nginx "$data" "$nport"
for _ in $(seq 100); do curl -sf -o /dev/null "$nurl/small/d00/f00000.bin" && break; sleep 0.1; done

# the two servers must serve the same bytes
cmp <(curl -sf "$turl/v1/objects/bench/small/f00000.bin") "$small"
cmp <(curl -sf "$nurl/small/d00/f00000.bin") "$small"
cmp <(curl -sf "$turl/v1/objects/bench/large/b00.bin") "$large"
cmp <(curl -sf "$nurl/large/b00.bin") "$large"
echo "== target RSS after start-up: $(rss_max_since 0) MiB"

# wrk URL CONNS PID... -> "req/s cpu-µs-per-request" (errors abort the run); one wrk thread
# per connection up to 2. The CPU is the server's (utime + stime of PIDs over the run): unlike
# req/s it hardly moves with what else the machine runs.
hz=$(getconf CLK_TCK)
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
run_wrk() {
  local out threads=$(($2 < 2 ? $2 : 2)) url=$1 c0 c1
  shift 2
  c0=$(cpu_ticks "$@")
  out=$(timeout $((dur + 15)) wrk -t"$threads" -c"$conns" -d"${dur}s" "$url")
  c1=$(cpu_ticks "$@")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "get.sh: wrk saw errors against $url:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk -v c=$((c1 - c0)) -v hz="$hz" '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2}
    END {printf "%s %.1f\n", r, (n > 0 ? c * 1e6 / hz / n : 0)}' <<<"$out"
}

results=()
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
bench() { # label size conns etlfs-url nginx-url
  local e=0 n=0 ecpu=1e9 ncpu=1e9 i mark rss=0 r cpu
  for ((i = 1; i <= rounds; i++)); do
    echo "== $1 c=$3: wrk -c$3 -d${dur}s (round $i/$rounds)" >&2
    mark=$(rss_mark)
    conns=$3
    read -r r cpu < <(run_wrk "$4" "$3" "$tpid")
    e=$(max "$e" "$r") ecpu=$(min "$ecpu" "$cpu")
    rss=$(max "$rss" "$(rss_max_since "$mark")")
    # shellcheck disable=SC2046
    read -r r cpu < <(run_wrk "$5" "$3" "$npid" $(pgrep -P "$npid"))
    n=$(max "$n" "$r") ncpu=$(min "$ncpu" "$cpu")
  done
  results+=("$1|$2|$3|$e|$n|$rss|$ecpu|$ncpu")
}
ssize=$(stat -c %s "$small")
lsize=$(stat -c %s "$large")
for c in 1 4 32; do
  bench "16 KiB" "$ssize" "$c" "$turl/v1/objects/bench/small/f00000.bin" "$nurl/small/d00/f00000.bin"
done
for c in 1 4; do
  bench "8 MiB" "$lsize" "$c" "$turl/v1/objects/bench/large/b00.bin" "$nurl/large/b00.bin"
done

echo
printf '%-7s %5s %12s %9s %12s %9s %7s %9s %10s %10s\n' size conns etlfs-req/s MB/s nginx-req/s MB/s ratio RSS-MiB \
  etlfs-us nginx-us
for r in "${results[@]}"; do
  IFS='|' read -r what size c e n rss ecpu ncpu <<<"$r"
  awk -v w="$what" -v s="$size" -v c="$c" -v e="$e" -v n="$n" -v rss="$rss" -v ec="$ecpu" -v nc="$ncpu" \
    'BEGIN { printf "%-7s %5d %12.0f %9.0f %12.0f %9.0f %7.2f %9.1f %10.1f %10.1f\n", w, c, e, e*s/1e6, n, n*s/1e6, (n > 0 ? e/n : 0), rss, ec, nc }'
done
echo "(etlfs-us, nginx-us: the server's CPU time per request, user + system, the least of the rounds)"
echo "(ratio: etlfs/nginx, the same for req/s and MB/s; RSS-MiB: the target's largest VmRSS while its"
echo " row ran; goals: 16 KiB c=32 ratio >= 0.8, 8 MiB ratio >= 0.9, RSS < 100 MiB)"
echo "target VmRSS max over the whole run: $(rss_max_since 0) MiB"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores: other work on the machine skews both columns)"
