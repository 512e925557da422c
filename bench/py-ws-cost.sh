#!/usr/bin/env bash
# py-ws-cost.sh - what an inline GET through the Python init-code runner over
# ws:// (fqn; the md5 code of bench/etl-inline.sh) costs per object, in counts
# that a busy machine moves less than a rate: CPU (from /proc/PID/task/*/schedstat,
# ns on the CPU) and context switches of the target, of each of the ETL's
# processes and of the load generator; the ETL processes' system calls
# (strace -c) and how the objects spread over them. N GETs of 16 KiB objects,
# CONNS connections (default 2: bench/etl-inline.sh's row that misses its goal),
# one pass of loadgen over the list (each object's digest checked).
# Wall time is left to bench/etl-inline.sh on a quiet machine; the rate printed
# here is for orientation only.
#
# Usage: bench/py-ws-cost.sh           (about a minute; at most LIMIT seconds)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo, no sanitizers)
#        N                  requests per pass (default 6000)
#        CONNS              loadgen connections (default 2)
#        WORKERS            NUM_WORKERS for the ETL (default: unset, the runner's own default)
#        STRACE             0 to skip the pass under strace (default 1)
#        PERF               1 for a pass under perf record (cpu-clock) of the ETL's processes and the
#                           target: the top symbols of each (default 0)
#        LIMIT              the script is stopped after this many seconds (default 300)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
n=${N:-6000}
conns=${CONNS:-2}
limit=${LIMIT:-300}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
need_tools py-ws-cost.sh strace curl md5sum
bench_workdir pycost
time_limit py-ws-cost.sh "$limit"
say() { echo "== $*" >&2; }

say "build etlfs-target, loadgen (RelWithDebInfo, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target loadgen -j"$(nproc)" >/dev/null

for i in $(seq 0 99); do head -c 16384 /dev/urandom >"$work/o$i"; done
for i in $(seq 0 99); do echo "/v1/objects/b/o$i $work/o$i"; done >"$work/put.list"
for i in $(seq 0 $((n - 1))); do
  echo "/v1/objects/b/o$((i % 100))?etl_name=md5-pycost $work/o$((i % 100))"
done | while read -r path file; do echo "$path - $(md5sum <"$file" | cut -c1-32)"; done >"$work/inline.list"

md5_fn=$'import hashlib\n\ndef transform(data):\n    return hashlib.md5(data).hexdigest().encode()\n'
env_json='[]'
[[ -n ${WORKERS:-} ]] && env_json="[{\"name\":\"NUM_WORKERS\",\"value\":\"$WORKERS\"}]"
init_msg=$(printf '{"id":"md5-pycost","runtime":"python3.11v2","communication":"ws://","code":"%s","funcs":{"transform":"transform"},"timeout":"45s","env":%s}' \
  "$(printf '%s' "$md5_fn" | base64 -w0)" "$env_json")

say "start etlfs-target, PUT 100 objects, init the ETL"
start_target "$build"
curl -sf -X POST "$turl/v1/buckets/b" -H 'Content-Type: application/json' \
  -d '{"action":"create-bck","name":"","value":null}' >/dev/null
"$build/bin/loadgen" -1 -c 4 -m PUT "$turl" "$work/put.list" >/dev/null
out=$(curl -s -m 120 -w ' %{http_code}' -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' -d "$init_msg")
[[ $out == *" 200" ]] || { echo "py-ws-cost.sh: init failed: $out" >&2; exit 1; }

descendants() { # PID: every process below PID
  local kids k
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for k in $kids; do echo "$k"; descendants "$k"; done
}
# the ETL's processes: the runner's children when it forked workers, else the runner
etl_procs() {
  local p kids
  for p in $(descendants "$tpid"); do
    grep -q runner.py "/proc/$p/cmdline" 2>/dev/null || continue
    kids=$(ps -o pid= --ppid "$p" 2>/dev/null | tr -d ' ' || true)
    if [[ -z $kids ]] && ! grep -q runner.py "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" 2>/dev/null; then
      echo "$p" # a single runner process
    fi
    grep -q runner.py "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" 2>/dev/null && echo "$p"
  done | sort -u
}
# the ETL's streams: accepted on its Unix socket (ETLFS_SOCKET) or on its port
transport() {
  local u
  u=$(awk -v s="/md5-pycost/work/etlfs.sock" '$6 == "03" && index($8, s) {n++} END {print n + 0}' /proc/net/unix)
  echo "streams over the ETL's Unix socket: $u"
}
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
vswitches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
gen() { "$build/bin/loadgen" -1 -c "$conns" "$turl" "$work/inline.list"; }

gen >/dev/null # streams dialled, caches warm
procs=$(etl_procs)
[[ -n $procs ]] || { echo "py-ws-cost.sh: no ETL process found under the target" >&2; exit 1; }
say "ETL processes: $(echo $procs)"

say "counting pass: $n GETs, $conns connections"
# each stream the ETL's processes hold: "pid peer-address bytes_received" (control messages in)
streams() {
  ss -tnpi state established 2>/dev/null | awk '
    /users:/ { pid = ""; if (match($0, /pid=[0-9]+/)) pid = substr($0, RSTART + 4, RLENGTH - 4); port = $4; next }
    pid != "" { b = 0; if (match($0, /bytes_received:[0-9]+/)) b = substr($0, RSTART + 15, RLENGTH - 15); print pid, port, b; pid = "" }'
}
streams >"$work/streams.0"
declare -A c0 s0
for p in $tpid $procs; do c0[$p]=$(cpu_ns "$p"); s0[$p]=$(switches "$p"); done
v0=$(vswitches "$tpid")
/usr/bin/time -f '%e %U %S %w %c' -o "$work/gen.time" "$build/bin/loadgen" -1 -c "$conns" "$turl" "$work/inline.list" >"$work/gen.out"
read -r g_wall g_user g_sys g_vol g_inv <"$work/gen.time"
per() { awk -v a="$1" -v b="$2" -v n="$n" -v d="${3:-1}" 'BEGIN {printf "%.1f", (b - a) / n / d}'; }
echo
echo "per object ($n GETs, $conns connections, Python md5 over ws:// with fqn):"
printf '%-22s %10s %10s\n' process CPU-us switches
printf '%-22s %10s %10s   (voluntary %s)\n' target "$(per "${c0[$tpid]}" "$(cpu_ns "$tpid")" 1000)" \
  "$(per "${s0[$tpid]}" "$(switches "$tpid")")" "$(per "$v0" "$(vswitches "$tpid")")"
etl_cpu=0
for p in $procs; do
  cpu=$(per "${c0[$p]}" "$(cpu_ns "$p")" 1000)
  etl_cpu=$(awk -v a="$etl_cpu" -v b="$cpu" 'BEGIN {print a + b}')
  printf '%-22s %10s %10s\n' "ETL process $p" "$cpu" "$(per "${s0[$p]}" "$(switches "$p")")"
done
printf '%-22s %10s\n' "ETL, all processes" "$etl_cpu"
printf '%-22s %10s %10s   (user+sys, 10 ms ticks)\n' loadgen \
  "$(awk -v u="$g_user" -v s="$g_sys" -v n="$n" 'BEGIN {printf "%.1f", (u + s) * 1e6 / n}')" \
  "$(awk -v a="$g_vol" -v b="$g_inv" -v n="$n" 'BEGIN {printf "%.1f", (a + b) / n}')"
echo "loadgen: $(cat "$work/gen.out") (a rate on a shared machine: orientation only)"
streams >"$work/streams.1"
echo "the ETL's TCP streams in this pass (bytes of control messages received: the objects' share of each;" \
  "none when they go through the ETL's Unix socket: then see the strace pass):"
for p in $procs; do
  awk -v p="$p" 'NR == FNR { if ($1 == p) b[$2] = $3; next } $1 == p { d = $3 - b[$2]; t += d; s = s sprintf(" %s", d) }
    END { printf "  process %s: streams%s (sum %d)\n", p, (s == "" ? " none" : s), t }' "$work/streams.0" "$work/streams.1"
done

if [[ ${STRACE:-1} != 0 ]]; then
  say "pass under strace -c of the ETL's processes"
  sps=()
  for p in $procs; do
    strace -c -f -p "$p" -o "$work/strace.$p" 2>/dev/null &
    sps+=($!)
  done
  strace -c -f -p "$tpid" -o "$work/strace.target" 2>/dev/null &
  sps+=($!)
  sleep 1
  gen >/dev/null
  sleep 0.5
  for s in "${sps[@]}"; do kill -INT "$s" 2>/dev/null || true; done
  for s in "${sps[@]}"; do wait "$s" 2>/dev/null || true; done
  echo
  echo "the target's system calls per object: $(awk -v n="$n" '$NF == "total" {printf "%.2f", $4 / n}' "$work/strace.target")" \
    "($(awk -v n="$n" 'NR > 2 && $1 !~ /^-/ && $NF != "total" && NF >= 5 && $4 / n >= 0.05 {printf "%s %.2f, ", $NF, $4 / n}' "$work/strace.target"))"
  echo "ETL system calls per object (strace -c; the objects each process answered: its sendto calls)"
  for p in $procs; do
    f=$work/strace.$p
    sends=$(awk '$NF == "sendto" {print $4}' "$f")
    echo "  process $p: $(awk -v n="$n" '$NF == "total" {printf "%.2f", $4 / n}' "$f") per object of the pass," \
      "answered ${sends:-0} of $n objects"
    awk -v n="${sends:-1}" 'NR > 2 && $1 !~ /^-/ && $NF != "total" && NF >= 5 && $4 / n >= 0.02 {printf "%s %.2f, ", $NF, $4 / n}' "$f" |
      sed 's/^/    per object it answered: /; s/, $/\n/'
  done
fi
if [[ ${PERF:-0} != 0 ]]; then
  say "pass under perf record of the ETL's processes and the target"
  perf record -q -e cpu-clock -F 4999 -o "$work/perf.etl" -p "$(echo $procs | tr ' ' ,)" 2>/dev/null &
  pe=$!
  perf record -q -e cpu-clock -F 4999 -o "$work/perf.tgt" -p "$tpid" 2>/dev/null &
  pt=$!
  sleep 1
  gen >/dev/null
  kill -INT "$pe" "$pt" 2>/dev/null || true
  wait "$pe" "$pt" 2>/dev/null || true
  for w in etl tgt; do
    echo
    echo "perf: where the $w's samples fall (the top of them)"
    perf report -q -i "$work/perf.$w" --no-children --sort dso 2>/dev/null | grep -v "^$" | head -8
    perf report -q -i "$work/perf.$w" --no-children --sort dso,sym 2>/dev/null | grep -v "^$" | head -25
  done
fi
if [[ ${LATENCY:-0} != 0 ]]; then
  evs=syscalls:sys_enter_sendto,syscalls:sys_exit_recvfrom,syscalls:sys_enter_sendmsg
  for c in 1 "$conns"; do
    say "pass under perf record of system calls, $c connection(s)"
    head -n 2000 "$work/inline.list" >"$work/lat.list"
    perf record -q -e "$evs" -o "$work/perf.lat" -p "$(echo $tpid $procs | tr ' ' ,)" 2>/dev/null &
    pl=$!
    perf record -q -e "$evs" -o "$work/perf.lg" -- "$build/bin/loadgen" -1 -c "$c" "$turl" "$work/lat.list" >/dev/null 2>&1 &
    pg=$!
    sleep 1
    wait "$pg" || true
    kill -INT "$pl" 2>/dev/null || true
    wait "$pl" 2>/dev/null || true
    { perf script -F tid,time,event,trace -i "$work/perf.lat" 2>/dev/null
      perf script -F tid,time,event,trace -i "$work/perf.lg" 2>/dev/null | sed 's/^ */L/'; } >"$work/lat.txt"
    echo
    echo "one object's path, $c connection(s) (perf record of system calls):"
    "$PY" "$root/bench/ws-latency.py" "$work/lat.txt" "$tpid" $procs
  done
fi
transport
curl -sf -m 30 -X DELETE "$turl/v1/etl/md5-pycost" >/dev/null || true
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
