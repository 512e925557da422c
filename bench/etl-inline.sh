#!/usr/bin/env bash
# etl-inline.sh - inline ETL throughput: GET /v1/objects/B/O?etl_name=N over the
# "small" dataset (20,000 x 16 KiB objects, PUT into a fresh target first) with
# an md5 transform, at 2, 8 and 32 connections, for
#   - the Python init-code runner with each communicator: hpush, ws (the ETL
#     reads the file: fqn by default), ws with ETL_DIRECT_FQN=false (the bytes
#     go down the WebSocket), hrev, io (the runner's warm process pool)
#     (wrk cycling through every object name) and hpull (the target answers 307
#     to the ETL; wrk does not follow redirects, so bench/loadgen.c does);
#   - the C transformer etlfs-md5 (init spec etl/transformers/md5_native/pod.yaml)
#     over hpush, ws (AIStore 5.0's WebSocket stream, several objects in flight
#     per connection; fqn by default: no object bytes cross to the ETL) and ws
#     with ETL_DIRECT_FQN=false.
# Anchors measured in the same run:
#   (a) the same md5 function in a Python ThreadingHTTPServer with TCP_NODELAY
#       (bench/anchors/md5_http_server.py) hit directly with 16 KiB PUT bodies;
#   (b) md5sum over the same files, 1 process and xargs -P2 (files/s);
#   and, to tell the target's share from the transformer's, each transformer
#   hit directly with 16 KiB PUTs (no target) at 8 connections.
# Prints req/s per row and the ratios best Python communicator / anchor (a)
# (goal >= 0.7) and C transformer / md5sum -P2 (goal >= 0.5), the target's VmRSS
# (sampled every 0.5 s) and the ETL process's resident memory.
#
# Usage: bench/etl-inline.sh     (about 5 minutes; at most LIMIT seconds)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo)
#        ETLFS_BENCH_DATA   dataset folder (default /tmp/etlfs-bench-data)
#        ETLFS_SHARED       folder holding bench/dataset.sh (default ../shared, then /work/shared)
#        DURATION           seconds per measured run (default 8; 5 when ROUNDS > 1)
#        ROUNDS             repeat each run and keep the best (default 1)
#        CONNS              connection counts (default "2 8 32")
#        PY_COMMS           the Python runner's rows (default "hpush ws ws-bytes hrev io hpull")
#        C_COMMS            the C transformer's rows (default "hpush ws ws-bytes"; "" for none)
#        LIMIT              the whole script is stopped after this many seconds (default 480)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
data=${ETLFS_BENCH_DATA:-/tmp/etlfs-bench-data}
rounds=${ROUNDS:-1}
if ((rounds > 1)); then dur=${DURATION:-5}; else dur=${DURATION:-8}; fi
conns=${CONNS:-2 8 32}
py_comms=${PY_COMMS-hpush ws ws-bytes hrev io hpull}
c_comms=${C_COMMS-hpush ws ws-bytes}
limit=${LIMIT:-480}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
find_shared etl-inline.sh
need_tools etl-inline.sh wrk curl cc md5sum
bench_workdir inline
trap 'echo "etl-inline.sh: stopped (time limit ${limit}s or a signal)" >&2; exit 124' TERM INT
( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$limit" & sp=$!; wait $sp; kill -TERM $$ ) 2>/dev/null &
pids+=($!)
t_start=$(date +%s)

say() { echo "== $*" >&2; }

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

say "dataset ($data)"
bash "$shared/bench/dataset.sh" "$data"
small=$data/small

say "build etlfs-target and etlfs-md5 (RelWithDebInfo, $build); loadgen"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target etlfs-md5 loadgen -j"$(nproc)" >/dev/null
cp "$build/bin/loadgen" "$work/loadgen"

# object names are the dataset's relative paths: small/dNN/fNNNNN.bin
grep ' small/' "$data/MANIFEST.md5" | awk '{print $2, $1}' >"$work/objects" # NAME MD5
nobj=$(wc -l <"$work/objects")
body=$small/d00/f00000.bin
body_md5=$(md5sum <"$body" | cut -c1-32)

say "start etlfs-target"
start_target "$build"
curl -sf -X POST "$turl/v1/buckets/bench" -H 'Content-Type: application/json' \
  -d '{"action":"create-bck","name":"","value":null}' >/dev/null

say "PUT $nobj objects of 16 KiB (8 clients; every PUT is fsynced)"
awk -v d="$data" '{print "/v1/objects/bench/" $1, d "/" $1}' "$work/objects" >"$work/put.list"
put_line=$("$work/loadgen" -1 -c 8 -m PUT "$turl" "$work/put.list")
echo "   $put_line" >&2
put_rate=$(awk '{print $8}' <<<"$put_line")
# warm the page cache for the md5sum anchor and check that the target holds the right bytes
cat "$small"/*/* >/dev/null

# ---------------------------------------------------------------- anchor (b)
say "anchor (b): md5sum over $nobj files, 1 process and xargs -P2"
(cd "$data" && awk '{print $1}' "$work/objects") >"$work/files"
md5sum_rate() { # PARALLEL -> files/s (best of 2)
  local best=0 i t0 t1
  for i in 1 2; do
    t0=$(date +%s.%N)
    (cd "$data" && xargs -d '\n' -n 1000 -P"$1" md5sum <"$work/files" >/dev/null)
    t1=$(date +%s.%N)
    best=$(max "$best" "$(awk -v n="$nobj" -v a="$t0" -v b="$t1" 'BEGIN {print n / (b - a)}')")
  done
  echo "$best"
}
md5_p1=$(md5sum_rate 1)
md5_p2=$(md5sum_rate 2)

# ---------------------------------------------------------------- measuring
# wrk_run CONNS METHOD PATHS BODY URL -> "req/s errors"
wrk_run() {
  local out threads=$(($1 < 2 ? $1 : 2)) rps errs
  out=$(WRK_METHOD=$2 WRK_PATHS=$3 WRK_BODY=$4 timeout $((dur + 20)) \
        wrk -t"$threads" -c"$1" -d"${dur}s" --timeout 10s -s "$root/bench/wrk-paths.lua" "$5") || true
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  [[ -n $rps ]] || { echo "$out" >&2; rps=0; }
  echo "$rps $errs"
}
# gen_run CONNS LIST URL [-L] -> "req/s errors" (loadgen checks every digest)
gen_run() {
  local out
  out=$(timeout $((dur + 40)) "$work/loadgen" -c "$1" -d "$dur" $4 "$3" "$2" 2>"$work/loadgen.err") || true
  if [[ -s $work/loadgen.err ]]; then head -3 "$work/loadgen.err" | sed 's/^/   /' >&2; fi
  awk '{print ($6 == "" ? 0 : $8), ($4 == "" ? 0 : $4)}' <<<"${out:-x}"
}

rows=()   # "label|conns|req/s|errors|rss|etl-mem"
# measure LABEL CONNS KIND ARGS... ; KIND wrk: METHOD PATHS BODY URL, gen: LIST URL FLAGS
measure() {
  local label=$1 c=$2 kind=$3 best=0 errs=0 i mark r rss=0
  shift 3
  for ((i = 1; i <= rounds; i++)); do
    say "$label c=$c (${dur}s, round $i/$rounds)"
    mark=$(rss_mark)
    if [[ $kind == wrk ]]; then r=$(wrk_run "$c" "$@"); else r=$(gen_run "$c" "$@"); fi
    best=$(max "$best" "${r% *}")
    errs=$((errs + ${r#* }))
    rss=$(max "$rss" "$(rss_max_since "$mark")")
  done
  rows+=("$label|$c|$best|$errs|$rss|${etl_mem:--}")
  echo "   $label c=$c: $best req/s, $errs errors, target RSS $rss MiB" >&2 # kept if the run is cut short
}

notes=()
# etl_init NAME JSON: init, then check a few digests through the target (10 s
# each at most); a wrong or missing digest becomes a note, the run goes on
etl_init() {
  local name=$1 out
  out=$(curl -s -m 60 -w ' %{http_code}' -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' -d "$2") || true
  [[ $out == *" 200" ]] || { notes+=("init $name failed: $out"); echo "etl-inline.sh: init $name failed: $out" >&2; return 1; }
  local obj want got code
  while read -r obj want; do
    got=$(curl -s -m 10 -L -w ' %{http_code}' "$turl/v1/objects/bench/$obj?etl_name=$name") || true
    code=${got##* }
    got=${got% *}
    if [[ $got != "$want" ]]; then
      notes+=("$name: check of $obj failed: status ${code:-none}, body '${got:0:120}' (want $want)")
      echo "etl-inline.sh: ${notes[-1]}" >&2
    fi
  done < <(awk 'NR % 4999 == 1' "$work/objects")
  return 0
}
etl_done() { # NAME: record the ETL process's memory, then delete it
  etl_mem=$(curl -sf -m 10 "$turl/v1/etl/$1/metrics" | $PY -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)[0]["mem"] / 1048576))' 2>/dev/null || echo "?")
  local i
  for ((i = ${#rows[@]} - 1; i >= 0; i--)); do # the rows of this ETL get its memory
    [[ ${rows[i]} == "$2"* ]] || break
    rows[i]="${rows[i]%|*}|$etl_mem"
  done
  etl_mem=
  curl -sf -m 30 -X DELETE "$turl/v1/etl/$1" >/dev/null || true
}

b64() { base64 -w0; }
bytes_env='[{"name":"ETL_DIRECT_FQN","value":"false"}]'
code_msg() { # NAME COMM CODE [ENV]
  printf '{"id":"%s","runtime":"python3.11v2","communication":"%s","code":"%s","funcs":{"transform":"transform"},"timeout":"45s","env":%s}' \
    "$1" "$2" "$(printf '%s' "$3" | b64)" "${4:-[]}"
}
md5_fn=$'import hashlib\n\ndef transform(data):\n    return hashlib.md5(data).hexdigest().encode()\n'
md5_io=$'import hashlib, sys\n\ndef transform():\n    sys.stdout.buffer.write(hashlib.md5(sys.stdin.buffer.read()).hexdigest().encode())\n\ntransform()\n'

# ---------------------------------------------------------------- anchor (a)
aport=$(free_port)
$PY "$root/bench/anchors/md5_http_server.py" "$aport" 2>"$work/anchor.log" &
apid=$!
pids+=($apid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$aport/health" >/dev/null && break; sleep 0.1; done
[[ $(curl -sf -X PUT --data-binary "@$body" "http://127.0.0.1:$aport/bck/obj") == "$body_md5" ]] ||
  { echo "etl-inline.sh: the anchor server gives a wrong digest" >&2; exit 1; }
for c in $conns; do
  measure "anchor (a) py md5 PUT" "$c" wrk PUT "" "$body" "http://127.0.0.1:$aport/bck/obj"
done
kill "$apid" 2>/dev/null || true

# ---------------------------------------------------------------- Python runner
for variant in $py_comms; do
  comm=${variant%-bytes}
  name=md5-$variant
  env=$([[ $variant == *-bytes ]] && echo "$bytes_env" || true)
  if [[ $comm == io ]]; then code=$md5_io; else code=$md5_fn; fi
  say "init $name (init code, python3.11v2, $comm://${env:+, ETL_DIRECT_FQN=false})"
  etl_init "$name" "$(code_msg "$name" "$comm://" "$code" "$env")" || continue
  comm=${env:+bytes+}$comm # the row's label: "py bytes+ws" for the bytes variant
  awk -v n="$name" '{print "/v1/objects/bench/" $1 "?etl_name=" n}' "$work/objects" >"$work/paths.$variant"
  awk -v n="$name" '{print "/v1/objects/bench/" $1 "?etl_name=" n, $2}' "$work/objects" >"$work/gen.$variant"
  for c in $conns; do
    if [[ $comm == hpull ]]; then
      measure "py $comm (loadgen, 307)" "$c" gen "$work/gen.$variant" "$turl" -L
    else
      measure "py $comm" "$c" wrk GET "$work/paths.$variant" "" "$turl"
    fi
  done
  if [[ $comm == hpush ]]; then # the two load generators side by side, same ETL
    measure "py hpush (loadgen)" 8 gen "$work/gen.$variant" "$turl" ""
  fi
  etl_done "$name" "py $comm"
done

# ---------------------------------------------------------------- C transformer
for variant in $c_comms; do
  name=md5-native-${variant}
  comm=${variant%-bytes}
  env=$([[ $variant == *-bytes ]] && echo "$bytes_env" || true)
  say "init $name (5.0 runtime etlfs/transformer_md5_native, $comm://${env:+, ETL_DIRECT_FQN=false})"
  if etl_init "$name" "$(printf '{"name":"%s","communication":"%s://","init_timeout":"45s","runtime":{"image":"etlfs/transformer_md5_native"},"env":%s}' \
    "$name" "$comm" "${env:-[]}")"; then
    awk -v n="$name" '{print "/v1/objects/bench/" $1 "?etl_name=" n}' "$work/objects" >"$work/paths.native"
    label="C etlfs-md5 ${env:+bytes+}$comm"
    for c in $conns; do
      measure "$label" "$c" wrk GET "$work/paths.native" "" "$turl"
    done
    etl_done "$name" "$label"
  fi
done

# ---------------------------------------------------------------- transformers alone
say "transformers hit directly (no target), c=8"
direct() { # LABEL CMD...: start on a free port (env ETLFS_PORT/PORT and -p), measure, stop
  local label=$1 port pid
  shift
  port=$(free_port)
  env ETLFS_PORT="$port" PORT="$port" "$@" -p "$port" >"$work/direct.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  if [[ $(curl -sf -X PUT --data-binary "@$body" "http://127.0.0.1:$port/bench/obj") == "$body_md5" ]]; then
    measure "$label" 8 wrk PUT "" "$body" "http://127.0.0.1:$port/bench/obj"
  else
    echo "etl-inline.sh: $label gives a wrong digest; skipped" >&2
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
mkdir -p "$work/code"
printf '%s' "$md5_fn" >"$work/code/code.py"
# the runner takes its port from the environment; "-p PORT" lands in sys.argv, unused
direct "direct: py runner PUT" env MOD_NAME=code ETLFS_CODE_DIR="$work/code" FUNC_TRANSFORM=transform \
  COMM_TYPE=hpush:// $PY "$root/etl/runtimes/python/runner.py"
direct "direct: md5/server.py PUT" $PY "$root/etl/transformers/md5/server.py" -l 127.0.0.1
direct "direct: etlfs-md5 PUT" "$build/bin/etlfs-md5" -l 127.0.0.1

# ---------------------------------------------------------------- report
echo
echo "inline md5 over $nobj x 16 KiB objects (wrk -t2 with paths cycling through every object unless noted;"
echo "${dur}s per run, best of $rounds round(s)); PUT of the objects: $(printf '%.0f' "$put_rate") objects/s with 8 clients"
echo
printf '%-28s %5s %10s %8s %10s %12s\n' what conns req/s errors tgt-RSS etl-mem-MiB
for r in "${rows[@]}"; do
  IFS='|' read -r what c rps errs rss mem <<<"$r"
  printf '%-28s %5d %10.0f %8d %10s %12s\n' "$what" "$c" "$rps" "$errs" "$rss" "$mem"
done
printf '%-28s %5s %10.0f\n' "anchor (b) md5sum, 1 proc" - "$md5_p1"
printf '%-28s %5s %10.0f\n' "anchor (b) md5sum, xargs -P2" - "$md5_p2"
echo "(tgt-RSS: the target's largest VmRSS in MiB while the row ran; etl-mem: the ETL process after its runs)"
echo

best_of() { # PREFIX [CONNS] -> best req/s among rows whose label starts with PREFIX
  local r best=0 what c rps rest
  for r in "${rows[@]}"; do
    IFS='|' read -r what c rps rest <<<"$r"
    [[ $what == "$1"* ]] || continue
    [[ -z ${2:-} || $c == "$2" ]] || continue
    best=$(max "$best" "$rps")
  done
  echo "$best"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "ratios:"
for c in $conns; do
  py=$(best_of "py " "$c")
  an=$(best_of "anchor (a)" "$c")
  printf '  c=%-3s best Python communicator %6.0f req/s / anchor (a) %6.0f = %s\n' "$c" "$py" "$an" "$(ratio "$py" "$an")"
done
py=$(best_of "py ")
an=$(best_of "anchor (a)")
cc_best=$(best_of "C etlfs-md5")
printf '  best Python communicator %.0f req/s / best anchor (a) %.0f = %s   (goal >= 0.7)\n' "$py" "$an" "$(ratio "$py" "$an")"
printf '  C transformer %.0f req/s / md5sum -P2 %.0f files/s = %s   (goal >= 0.5)\n' "$cc_best" "$md5_p2" "$(ratio "$cc_best" "$md5_p2")"
for c in $conns; do # the streaming communicator against one request per object, same run
  printf '  c=%-3s ws / hpush: Python %s (bytes %s), C %s (bytes %s)\n' "$c" \
    "$(ratio "$(best_of "py ws" "$c")" "$(best_of "py hpush" "$c")")" \
    "$(ratio "$(best_of "py bytes+ws" "$c")" "$(best_of "py hpush" "$c")")" \
    "$(ratio "$(best_of "C etlfs-md5 ws" "$c")" "$(best_of "C etlfs-md5 hpush" "$c")")" \
    "$(ratio "$(best_of "C etlfs-md5 bytes+ws" "$c")" "$(best_of "C etlfs-md5 hpush" "$c")")"
done
# ws:// and io:// against their anchors
printf '  py ws %.0f req/s / best anchor (a) %.0f = %s   (goal >= 1.0)\n' "$(best_of "py ws")" "$an" \
  "$(ratio "$(best_of "py ws")" "$an")"
printf '  C ws %.0f req/s / md5sum -P2 %.0f files/s = %s   (goal >= 0.55)\n' "$(best_of "C etlfs-md5 ws")" "$md5_p2" \
  "$(ratio "$(best_of "C etlfs-md5 ws")" "$md5_p2")"
io_before=170 # req/s with a process per object (issue #15's figure, before the warm pool)
printf '  py io %.0f req/s / %d req/s (a process per object) = %s   (goal >= 20); / anchor (a) = %s\n' \
  "$(best_of "py io")" "$io_before" "$(ratio "$(best_of "py io")" "$io_before")" "$(ratio "$(best_of "py io")" "$an")"
echo "target VmRSS max over the whole run: $(rss_max_since 0) MiB (goal < 100 MiB)"
if ((${#notes[@]})); then
  echo "notes (digest checks before each ETL's runs; wrk itself does not check bodies):"
  for n in "${notes[@]}"; do echo "  $n"; done
fi
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $(($(date +%s) - t_start)) s in all)"
