#!/usr/bin/env bash
# get-cost.sh - what one 16 KiB GET costs the target next to nginx, in counts
# that a busy machine moves little or not at all: system calls per request
# (strace -c -f), CPU time per request (user and system apart), context
# switches per request, TCP segments per request (the machine's OutSegs in
# /proc/net/snmp: both directions, ACKs included, and any other loopback
# traffic of the moment, so read it as "about"), and the target's instructions per request under
# valgrind --tool=callgrind (the part spent in memset apart: callgrind counts
# each byte of a `rep stos` as an instruction). N GETs of one object over
# CONNS keep-alive connections (loadgen -1), after a warm-up pass.
# Req/s is left to bench/get.sh on a quiet machine.
#
# Usage: bench/get-cost.sh           (about a minute; at most LIMIT seconds)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo, no sanitizers)
#        N                  requests per measurement (default 50000; 2000 under callgrind)
#        CONNS              loadgen connections (default 32)
#        LIMIT              the script is stopped after this many seconds (default 600)
#        CALLGRIND          0: leave out the instruction count (default 1)
#        BEFORE             another etlfs-target binary (e.g. main's): its CPU per GET and this
#                           build's, each on a fresh target, alternated ROUNDS times (default 5),
#                           medians printed; the CPU, unlike the counts, moves with the machine
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
n=${N:-50000}
ncg=$((n < 2000 ? n : 2000))
conns=${CONNS:-32}
limit=${LIMIT:-600}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
need_tools get-cost.sh valgrind callgrind_control callgrind_annotate strace curl nginx
bench_workdir getcost
time_limit get-cost.sh "$limit"
say() { echo "== $*" >&2; }

say "build etlfs-target, loadgen (RelWithDebInfo, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target loadgen -j"$(nproc)" >/dev/null

mkdir -p "$work/www/b"
chmod 755 "$work" # nginx's workers may run as another user
head -c 16384 /dev/urandom >"$work/www/b/o"
list() { for _ in $(seq "$1"); do echo "$2"; done; } # COUNT PATH
list "$n" /v1/objects/b/o >"$work/t.list"
list "$ncg" /v1/objects/b/o >"$work/t.cg.list"
list "$n" /b/o >"$work/n.list"
gen() { "$build/bin/loadgen" -1 -c "$conns" "$1" "$2" >/dev/null; } # URL LIST

nport=$(free_port)
start_nginx "$work/www" "$nport"

start_target "$build"
curl -sf -X POST "$turl/v1/buckets/b" -H 'Content-Type: application/json' \
  -d '{"action":"create-bck","name":"","value":null}' >/dev/null
curl -sf -X PUT --data-binary "@$work/www/b/o" "$turl/v1/objects/b/o" >/dev/null
for _ in $(seq 100); do curl -sf -o /dev/null "$nurl/b/o" && break; sleep 0.1; done
cmp <(curl -sf "$turl/v1/objects/b/o") "$work/www/b/o"
cmp <(curl -sf "$nurl/b/o") "$work/www/b/o"

hz=$(getconf CLK_TCK)
procs() { [[ $1 == t ]] && echo "$tpid" || echo "$npid $(pgrep -P "$npid" | tr '\n' ' ')"; }
ticks() { # utime stime of the PIDs
  local p u=0 s=0 a b
  for p in "$@"; do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}
switches() { # voluntary + involuntary switches of every thread of the PIDs
  local p
  for p in "$@"; do cat /proc/"$p"/task/*/status 2>/dev/null; done | awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}

outsegs() { awk '/^Tcp:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "OutSegs") c = i; h = 1} else print $c}' /proc/net/snmp; }
declare -A cpu cs sc calls segs
for who in t n; do
  url=$turl lst=$work/t.list
  [[ $who == n ]] && url=$nurl lst=$work/n.list
  # shellcheck disable=SC2046
  set -- $(procs "$who")
  say "$who: $n GETs at c=$conns, CPU and context switches"
  gen "$url" "$lst" # connections and caches warm
  read -r u0 s0 < <(ticks "$@")
  c0=$(switches "$@")
  g0=$(outsegs)
  gen "$url" "$lst"
  g1=$(outsegs)
  read -r u1 s1 < <(ticks "$@")
  c1=$(switches "$@")
  segs[$who]=$(awk -v a="$g0" -v b="$g1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')
  cpu[$who]=$(awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" -v n="$n" \
    'BEGIN {printf "%.1f (user %.1f, system %.1f)", (u + s) * 1e6 / hz / n, u * 1e6 / hz / n, s * 1e6 / hz / n}')
  cs[$who]=$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')
  say "$who: system calls (strace -c -f)"
  sargs=()
  for p in "$@"; do sargs+=(-p "$p"); done
  strace -c -f "${sargs[@]}" -o "$work/strace.$who" 2>/dev/null &
  sp=$!
  sleep 1
  gen "$url" "$lst"
  sleep 0.5
  kill -INT "$sp" 2>/dev/null || true
  wait "$sp" 2>/dev/null || true
  sc[$who]=$(awk -v n="$n" '$NF == "total" {printf "%.2f", $4 / n}' "$work/strace.$who")
  calls[$who]=$(awk -v n="$n" 'NR > 2 && $1 !~ /^-/ && $NF != "total" && NF >= 5 && $4 / n >= 0.01 {printf "%s %.2f, ", $NF, $4 / n}' \
    "$work/strace.$who")
done
kill "$tpid" 2>/dev/null || true
wait "$tpid" 2>/dev/null || true

# BIN -> "user system" µs per GET of a fresh target on its own data folder
cpu_of() {
  local port dir p u0 s0 u1 s1
  port=$(free_port)
  dir=$(mktemp -d "$work/alt.XXXXXX")
  "$1" --listen "127.0.0.1:$port" --data "$dir" >"$dir.log" 2>&1 &
  p=$!
  pids+=($p)
  wait_health "http://127.0.0.1:$port" 20 || { echo "get-cost.sh: $1 did not start" >&2; exit 1; }
  curl -sf -X POST "http://127.0.0.1:$port/v1/buckets/b" -H 'Content-Type: application/json' \
    -d '{"action":"create-bck","name":"","value":null}' >/dev/null
  curl -sf -X PUT --data-binary "@$work/www/b/o" "http://127.0.0.1:$port/v1/objects/b/o" >/dev/null
  gen "http://127.0.0.1:$port" "$work/t.list"
  read -r u0 s0 < <(ticks "$p")
  gen "http://127.0.0.1:$port" "$work/t.list"
  read -r u1 s1 < <(ticks "$p")
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.2f %.2f\n", u * 1e6 / hz / n, s * 1e6 / hz / n}'
}
median() { sort -n | awk '{v[NR] = $1} END {printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
alt=""
if [[ -n ${BEFORE:-} ]]; then
  : >"$work/alt.before"
  : >"$work/alt.after"
  for ((i = 1; i <= ${ROUNDS:-5}; i++)); do
    say "CPU per GET, round $i: $BEFORE, then this build"
    cpu_of "$BEFORE" >>"$work/alt.before"
    cpu_of "$build/bin/etlfs-target" >>"$work/alt.after"
  done
  for k in before after; do
    alt+="  $k: user $(cut -d' ' -f1 "$work/alt.$k" | median), system $(cut -d' ' -f2 "$work/alt.$k" | median)"
    alt+=" (runs: $(awk '{printf "%s/%s ", $1, $2}' "$work/alt.$k"))"$'\n'
  done
fi

ir=- ms=-
if [[ ${CALLGRIND:-1} != 0 ]]; then
say "the target's instructions per GET under callgrind ($ncg GETs)"
start_target_callgrind "$build"
gen "$turl" "$work/t.cg.list"
callgrind_control -z "$tpid" >/dev/null
callgrind_control -i on "$tpid" >/dev/null
gen "$turl" "$work/t.cg.list"
callgrind_control -i off "$tpid" >/dev/null
callgrind_control -d get "$tpid" >/dev/null
f=$(grep -l "^desc: Trigger: .*get" "$work"/cg.* | head -1)
callgrind_annotate --inclusive=no "$f" >"$work/cg.txt" 2>/dev/null
ir=$(awk -v n="$ncg" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f", $1 / n}' "$work/cg.txt")
ms=$(awk -v n="$ncg" '/memset/ {gsub(",", "", $1); s += $1} END {printf "%.0f", s / n}' "$work/cg.txt")
cp "$f" /tmp/get-cost.callgrind 2>/dev/null || true
fi

echo
echo "one 16 KiB GET, $n requests over $conns keep-alive connections (loadgen)"
printf '%-13s %s\n' "" "etlfs-target | nginx (2 workers, sendfile)"
printf '%-13s %s | %s\n' "system calls" "${sc[t]}" "${sc[n]}"
printf '%-13s %s | %s\n' "CPU µs" "${cpu[t]}" "${cpu[n]}"
printf '%-13s %s | %s\n' "switches" "${cs[t]}" "${cs[n]}"
printf '%-13s %s | %s\n' "TCP segments" "${segs[t]}" "${segs[n]}"
echo "instructions (target, callgrind, $ncg GETs): $ir, of which memset $ms"
echo "  target system calls: ${calls[t]}"
echo "  nginx system calls: ${calls[n]}"
[[ -n $alt ]] && printf 'CPU µs per GET, medians of %s alternated rounds (user/system each run):\n%s' "${ROUNDS:-5}" "$alt"
echo "(callgrind file: /tmp/get-cost.callgrind; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
