#!/usr/bin/env bash
# inline-cost.sh - what the target spends per inline GET, in counts that a busy
# machine does not move: instructions (valgrind --tool=callgrind), context
# switches and system calls, for N GETs of 16 KiB objects through the native
# md5 transformer over ws:// (fqn), next to N plain GETs of the same objects;
# the ETL's context switches, system calls and CPU time per request beside.
# Wall time is left to bench/etl-inline.sh on a quiet machine.
#
# Usage: bench/inline-cost.sh          (about a minute; at most LIMIT seconds)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo, no sanitizers)
#        N                  requests per measurement (default 2000)
#        CONNS              loadgen connections (default 8)
#        COMM               communicator (default ws://)
#        LIMIT              the script is stopped after this many seconds (default 600)
#        CALLGRIND          0 to skip the pass under callgrind (instructions; default 1)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
n=${N:-2000}
conns=${CONNS:-8}
comm=${COMM:-ws://}
limit=${LIMIT:-600}
callgrind=${CALLGRIND:-1}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
need_tools inline-cost.sh valgrind callgrind_control callgrind_annotate strace curl
bench_workdir cost
time_limit inline-cost.sh "$limit"
say() { echo "== $*" >&2; }

say "build etlfs-target, etlfs-md5, loadgen (RelWithDebInfo, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target etlfs-md5 loadgen -j"$(nproc)" >/dev/null
gen() { "$build/bin/loadgen" -1 -c "$conns" "$turl" "$1" >/dev/null; } # one pass over a list

head -c 16384 /dev/urandom >"$work/obj"
for i in $(seq 0 99); do echo "/v1/objects/b/o$i $work/obj"; done >"$work/put.list"
for i in $(seq 0 $((n - 1))); do echo "/v1/objects/b/o$((i % 100))?etl_name=md5-cost"; done >"$work/inline.list"
for i in $(seq 0 $((n - 1))); do echo "/v1/objects/b/o$((i % 100))"; done >"$work/plain.list"
init_msg="{\"name\":\"md5-cost\",\"communication\":\"$comm\",\"init_timeout\":\"120s\",\"runtime\":{\"image\":\"etlfs/transformer_md5_native\"}}"

setup() { # the bucket, its 100 objects and the ETL on a running target
  curl -sf -X POST "$turl/v1/buckets/b" -H 'Content-Type: application/json' \
    -d '{"action":"create-bck","name":"","value":null}' >/dev/null || true
  "$build/bin/loadgen" -1 -c 4 -m PUT "$turl" "$work/put.list" >/dev/null
  curl -sf -m 180 -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' -d "$init_msg" >/dev/null
  gen "$work/inline.list" # connections dialled, caches warm
  gen "$work/plain.list"
}

# the ETL's streams: accepted on its Unix socket (ETLFS_SOCKET) or on its port
transport() {
  local u
  u=$(awk -v s="/md5-cost/work/etlfs.sock" '$6 == "03" && index($8, s) {n++} END {print n + 0}' /proc/net/unix)
  echo "streams over the ETL's Unix socket: $u"
}

# ---------------------------------------------------------------- context switches, system calls
say "context switches and system calls per request ($n requests, $conns connections, $comm)"
start_target "$build"
setup
etl_pid=$(pgrep -n -P "$tpid" -f "etlfs-md5 --listen" || true) # this target's: others may run one
switches() { # PID: voluntary + involuntary switches of all its threads
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}
vswitches() { # PID: voluntary switches only (it slept: waited for input, a lock, a wake-up)
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'
}
# ns on a CPU, all threads (schedstat: finer than stat's 10 ms ticks, which at N=6000 are 1.7 µs per request)
cpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
per_req_us() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / 1000 / n}'; }
declare -A cs_t cs_e sc cpu_t cpu_e sc_e vs_t
for kind in inline plain; do
  a=$(switches "$tpid"); ae=$(switches "${etl_pid:-$tpid}"); av=$(vswitches "$tpid")
  c0=$(cpu "$tpid"); ce0=$(cpu "${etl_pid:-$tpid}")
  gen "$work/$kind.list"
  cs_t[$kind]=$(awk -v a="$a" -v b="$(switches "$tpid")" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')
  vs_t[$kind]=$(awk -v a="$av" -v b="$(vswitches "$tpid")" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')
  cs_e[$kind]=$(awk -v a="$ae" -v b="$(switches "${etl_pid:-$tpid}")" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')
  cpu_t[$kind]=$(per_req_us "$c0" "$(cpu "$tpid")")
  cpu_e[$kind]=$(per_req_us "$ce0" "$(cpu "${etl_pid:-$tpid}")")
  strace -c -f -p "$tpid" -o "$work/strace.$kind" 2>/dev/null &
  sp=$!
  se=
  if [[ $kind == inline && -n $etl_pid ]]; then
    strace -c -f -p "$etl_pid" -o "$work/strace.etl" 2>/dev/null &
    se=$!
  fi
  sleep 1
  gen "$work/$kind.list"
  sleep 0.5
  kill -INT "$sp" $se 2>/dev/null || true
  wait "$sp" $se 2>/dev/null || true
  sc[$kind]=$(awk -v n="$n" '$NF == "total" {printf "%.1f", $4 / n}' "$work/strace.$kind")
  awk -v n="$n" 'NR > 2 && $1 !~ /^-/ && $NF != "total" && NF >= 5 && $4 / n >= 0.05 {printf "%s %.2f, ", $NF, $4 / n}' \
    "$work/strace.$kind" >"$work/calls.$kind"
done
transport >"$work/transport"
curl -sf -m 30 -X DELETE "$turl/v1/etl/md5-cost" >/dev/null || true
kill "$tpid" 2>/dev/null || true
wait "$tpid" 2>/dev/null || true

# ---------------------------------------------------------------- instructions
declare -A ir
[[ $callgrind == 1 ]] && say "instructions per request under callgrind ($n requests each)"
[[ $callgrind == 1 ]] && start_target_callgrind "$build" && setup
for kind in inline plain; do
  [[ $callgrind == 1 ]] || { ir[$kind]=-; continue; }
  callgrind_control -z "$tpid" >/dev/null
  callgrind_control -i on "$tpid" >/dev/null
  gen "$work/$kind.list"
  callgrind_control -i off "$tpid" >/dev/null
  callgrind_control -d "$kind" "$tpid" >/dev/null
  f=$(grep -l "^desc: Trigger: .*$kind" "$work"/cg.* | head -1)
  ir[$kind]=$(callgrind_annotate "$f" 2>/dev/null | awk -v n="$n" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f", $1 / n}')
  cp "$f" "/tmp/inline-cost.$kind.callgrind" 2>/dev/null || true
done
[[ $callgrind == 1 ]] && curl -sf -m 60 -X DELETE "$turl/v1/etl/md5-cost" >/dev/null || true

echo
echo "the target per request ($n requests, $conns connections; inline: md5 transformer over $comm)"
printf '%-8s %14s %18s %18s %14s %12s %12s\n' what instructions target-switches etl-switches syscalls target-us etl-us
for kind in inline plain; do
  printf '%-8s %14s %18s %18s %14s %12s %12s\n' "$kind" "${ir[$kind]}" "${cs_t[$kind]}" "${cs_e[$kind]}" "${sc[$kind]}" \
    "${cpu_t[$kind]}" "$([[ $kind == inline ]] && echo "${cpu_e[$kind]}" || echo -)"
done
for kind in inline plain; do echo "  $kind system calls: $(cat "$work/calls.$kind")"; done
echo "  the target's voluntary switches per request: inline ${vs_t[inline]}, plain ${vs_t[plain]}"
if [[ -s $work/strace.etl ]]; then
  echo "  the ETL's system calls per inline request: $(awk -v n="$n" '$NF == "total" {printf "%.2f", $4 / n}' "$work/strace.etl")" \
    "($(awk -v n="$n" 'NR > 2 && $1 !~ /^-/ && $NF != "total" && NF >= 5 && $4 / n >= 0.05 {printf "%s %.2f, ", $NF, $4 / n}' "$work/strace.etl"))"
fi
echo "  (target-us, etl-us: CPU time per request, all threads' /proc/PID/task/*/schedstat: a busy machine moves them)"
echo "  $(cat "$work/transport")"
echo "(callgrind files: /tmp/inline-cost.{inline,plain}.callgrind; load average $(cut -d' ' -f1-3 /proc/loadavg))"
