#!/usr/bin/env bash
# get.sh - GET throughput of etlfs-target next to nginx serving the same files
# from the same disk: a 16 KiB object at 1, 4 and 32 connections and an 8 MiB
# object at 1 and 4 (wrk, keep-alive, DURATION s each). One run of each side
# swings by ±10% on a shared machine, so every row runs both sides ROUNDS
# times, alternated (etlfs first in odd rounds, nginx first in even ones, as
# bench/etl-offline.sh), and prints the median req/s of each side, the ratio
# of the medians, each server's CPU time per request (user + system over a
# run / its requests; median of the rounds), the target's resident memory
# (VmRSS sampled every 0.5 s, the maximum while the row ran and over the
# whole run), and then every round's figures.
# Compare ratios measured in one run, not absolute figures (noisy machines).
#
# Usage: bench/get.sh            (about 5 minutes at the defaults; the dataset is cached)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo)
#        ETLFS_BENCH_DATA   dataset folder (default /tmp/etlfs-bench-data)
#        ETLFS_SHARED       folder holding bench/dataset.sh (default ../shared, then /work/shared)
#        DURATION           seconds per wrk run (default 10)
#        ROUNDS             alternated rounds per row (default 3, 1 to 15)
#        ROWS               which rows: all (default) or small (the 16 KiB rows only)
#        LIMIT              the script is stopped after this many seconds (default: twice
#                           the runs' own time, plus 5 minutes for the build and dataset)
# Goals: 16 KiB at c=32 >= 0.9x nginx req/s; 8 MiB >= 0.9x nginx MB/s; RSS < 100 MiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
data=${ETLFS_BENCH_DATA:-/tmp/etlfs-bench-data}
dur=${DURATION:-10}
rounds=${ROUNDS:-3}
rows=${ROWS:-all}
PY=/usr/bin/python3
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1 && rounds <= 15)) || { echo "get.sh: ROUNDS must be 1 to 15" >&2; exit 2; }
[[ $dur =~ ^[0-9]+$ ]] && ((dur >= 1 && dur <= 120)) || { echo "get.sh: DURATION must be 1 to 120" >&2; exit 2; }
case $rows in all) nrows=5 ;; small) nrows=3 ;; *) echo "get.sh: ROWS is all or small" >&2; exit 2 ;; esac

source "$root/bench/lib.sh"
find_shared get.sh
need_tools get.sh wrk nginx curl
bench_workdir get
time_limit get.sh "${LIMIT:-$((2 * nrows * rounds * 2 * (dur + 2) + 300))}"

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
rounds_out=()
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
bench() { # label size conns etlfs-url nginx-url
  local i mark rss=0 er=() ec=() nr=() nc=() side out r cpu
  conns=$3
  for ((i = 1; i <= rounds; i++)); do
    mark=$(rss_mark)
    # odd rounds: etlfs first; even rounds: nginx first (neither side always runs on a warmer machine)
    for side in $( ((i % 2)) && echo "t n" || echo "n t"); do
      echo "== $1 c=$3: wrk -c$3 -d${dur}s, round $i/$rounds, $([[ $side == t ]] && echo etlfs || echo nginx)" >&2
      # an assignment, so that run_wrk's exit on errors stops the script
      if [[ $side == t ]]; then
        out=$(run_wrk "$4" "$3" "$tpid")
        read -r r cpu <<<"$out"
        er+=("$r") ec+=("$cpu")
      else
        # shellcheck disable=SC2046
        out=$(run_wrk "$5" "$3" "$npid" $(pgrep -P "$npid"))
        read -r r cpu <<<"$out"
        nr+=("$r") nc+=("$cpu")
      fi
    done
    rss=$(max "$rss" "$(rss_max_since "$mark")")
    rounds_out+=("$(awk -v w="$1" -v c="$3" -v i="$i" -v e="${er[-1]}" -v n="${nr[-1]}" -v ec="${ec[-1]}" -v nc="${nc[-1]}" \
      -v f="$( ((i % 2)) && echo etlfs || echo nginx)" \
      'BEGIN { printf "%-7s %5d %5d %-6s %12.0f %12.0f %7.2f %10.1f %10.1f", w, c, i, f, e, n, (n > 0 ? e/n : 0), ec, nc }')")
  done
  results+=("$1|$2|$3|$(median <<<"${er[*]}")|$(median <<<"${nr[*]}")|$rss|$(median <<<"${ec[*]}")|$(median <<<"${nc[*]}")")
}
ssize=$(stat -c %s "$small")
lsize=$(stat -c %s "$large")
for c in 1 4 32; do
  bench "16 KiB" "$ssize" "$c" "$turl/v1/objects/bench/small/f00000.bin" "$nurl/small/d00/f00000.bin"
done
if [[ $rows == all ]]; then
  for c in 1 4; do
    bench "8 MiB" "$lsize" "$c" "$turl/v1/objects/bench/large/b00.bin" "$nurl/large/b00.bin"
  done
fi

echo
echo "medians of $rounds alternated round(s), ${dur} s per run:"
printf '%-7s %5s %12s %9s %12s %9s %7s %9s %10s %10s\n' size conns etlfs-req/s MB/s nginx-req/s MB/s ratio RSS-MiB \
  etlfs-us nginx-us
for r in "${results[@]}"; do
  IFS='|' read -r what size c e n rss ecpu ncpu <<<"$r"
  awk -v w="$what" -v s="$size" -v c="$c" -v e="$e" -v n="$n" -v rss="$rss" -v ec="$ecpu" -v nc="$ncpu" \
    'BEGIN { printf "%-7s %5d %12.0f %9.0f %12.0f %9.0f %7.2f %9.1f %10.1f %10.1f\n", w, c, e, e*s/1e6, n, n*s/1e6, (n > 0 ? e/n : 0), rss, ec, nc }'
done
echo "(req/s and etlfs-us, nginx-us: the median of each side's rounds; etlfs-us, nginx-us: the server's"
echo " CPU time per request, user + system; ratio: the medians' etlfs/nginx, the same for req/s and MB/s;"
echo " RSS-MiB: the target's largest VmRSS while its row ran; goals: 16 KiB c=32 ratio >= 0.9,"
echo " 8 MiB ratio >= 0.9, RSS < 100 MiB)"
echo
echo "every round:"
printf '%-7s %5s %5s %-6s %12s %12s %7s %10s %10s\n' size conns round first etlfs-req/s nginx-req/s ratio etlfs-us nginx-us
printf '%s\n' "${rounds_out[@]}"
echo "target VmRSS max over the whole run: $(rss_max_since 0) MiB"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores: other work on the machine skews both columns)"
