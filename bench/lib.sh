# lib.sh - what the benchmark scripts share; sourced (needs $root and $PY).
#   find_shared NAME      sets $shared to the folder holding bench/dataset.sh
#   need_tools NAME T...  exits 2 naming the first missing tool
#   bench_workdir TAG     makes $work, $pids whose processes end with the script and
#                         $mnts, the FUSE mounts unmounted then
#   start_target BUILD [MP]  etlfs-target on a free port over MP ($work/mp0), its VmRSS
#                         sampled into $work/rss; sets $tport $turl $tpid
#   wait_health URL SECS  0 once URL/v1/health answers, 1 after SECS seconds
#   free_port, rss_sampler PID FILE, rss_mark, rss_max_since MARK
#   proc_ticks PID, proc_switches PID   CPU ticks, context switches of all threads
#   mount_stats MNT KEY...  the daemon's counters (user.etlfs.stats)
#   wait_mount MNT        0 once MNT is a FUSE mount, 1 after 10 s
#   start_mount BUILD URL MNT [OPT...]  the daemon of BUILD on MNT against URL, in the
#                         background, unmounted at exit; sets $fpid, waits for the mount
#   bench_build NAME      $BUILD (default $root/build) as an absolute path, or exit 1
#                         naming NAME when it holds no built programs
#   init_md5_etl COMM     the native md5 transformer as ETL etl-md5 on $turl, or exit 1
#   bench_rm DIR...       deletes DIRs, or with BENCH_TRASH=FOLDER (on the same file system)
#                         moves them there: ext4 without a journal makes every file created
#                         within minutes of a large deletion slower (bench/etl-offline.sh's
#                         header), so a batch of benchmarks defers its deletions to its end

find_shared() {
  shared=${ETLFS_SHARED:-}
  for d in "$shared" "$root/../shared" /work/shared; do
    if [[ -n $d && -f $d/bench/dataset.sh ]]; then shared=$d; break; fi
  done
  [[ -f $shared/bench/dataset.sh ]] || { echo "$1: cannot find shared/bench/dataset.sh (set ETLFS_SHARED)" >&2; exit 2; }
}

need_tools() {
  local me=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$me: needs $tool (deploy/dev/deps.sh --test)" >&2; exit 2; }
  done
}

bench_workdir() {
  work=$(mktemp -d "/tmp/etlfs-bench-$1.XXXXXX")
  pids=()
  mnts=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local m
  for m in "${mnts[@]}"; do fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_rm "$work"
}

bench_rm() {
  local d
  for d in "$@"; do
    [[ -e $d ]] || continue
    if [[ -n ${BENCH_TRASH:-} ]] && mkdir -p "$BENCH_TRASH" && mv "$d" "$(mktemp -d "$BENCH_TRASH/XXXXXX")/"; then
      continue
    fi
    rm -rf "$d"
  done
}

# Stops the script (exit 124, saying why) after LIMIT seconds: every run is bounded.
time_limit() { # NAME LIMIT
  trap "echo \"$1: stopped (time limit $2 s or a signal)\" >&2; exit 124" TERM INT
  ( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$2" & sp=$!; wait $sp; kill -TERM $$ ) 2>/dev/null &
  pids+=($!)
}

# The GET anchor: nginx serving ROOT on 127.0.0.1:PORT (sendfile, tcp_nopush, keep-alive), its
# files under work/nginx; sets npid and nurl.
start_nginx() { # ROOT PORT
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$2; root $1; }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  npid=$!
  pids+=($npid)
  nurl=http://127.0.0.1:$2
}

wait_health() {
  local end=$((SECONDS + $2))
  until curl -sf -m 2 "$1/v1/health" >/dev/null; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

# Counts of a process for figures per file: its CPU in clock ticks (utime +
# stime) and the context switches of all its threads.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
proc_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s }'; }

# The mount daemon's counters KEYS (user.etlfs.stats of MNT), on one line.
mount_stats() { # MNT KEYS...
  $PY -c "import json,os,sys; d=json.loads(os.getxattr(sys.argv[1],'user.etlfs.stats')); print(' '.join(str(d.get(k,0)) for k in sys.argv[2:]))" "$@"
}

# Waits up to 10 s for a FUSE mount on MNT.
wait_mount() { # MNT
  local _
  for _ in $(seq 200); do grep -q " $1 fuse" /proc/mounts && return 0; sleep 0.05; done
  return 1
}

start_mount() { # BUILD URL MNT [OPT...]
  local build=$1 url=$2 m=$3
  shift 3
  mkdir -p "$m"
  "$build/bin/etlfs" --endpoint "$url" "$m" -f "$@" >"$m.log" 2>&1 &
  fpid=$!
  pids+=($fpid)
  mnts+=("$m")
  wait_mount "$m" || true
}

bench_build() { # NAME
  BUILD=$(cd "${BUILD:-$root/build}" 2>/dev/null && pwd) && [ -x "$BUILD/bin/etlfs-target" ] && [ -x "$BUILD/bin/etlfs" ] ||
    { echo "$1: no built programs in ${BUILD:-$root/build}/bin: build them or set BUILD" >&2; exit 1; }
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# VmRSS (KiB) of PID appended to FILE every 0.5 s while PID lives; rows take
# the maximum over the lines written while they ran.
rss_sampler() {
  while kill -0 "$1" 2>/dev/null; do
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" >>"$2" 2>/dev/null || true
    sleep 0.5
  done
}
rss_mark() { wc -l <"$work/rss"; }
rss_max_since() { tail -n +"$(($1 + 1))" "$work/rss" | awk 'BEGIN {m = 0} $1 > m {m = $1} END {printf "%.1f", m / 1024}'; }

start_target() {
  tport=$(free_port)
  turl=http://127.0.0.1:$tport
  "$1/bin/etlfs-target" --listen "127.0.0.1:$tport" --data "${2:-$work/mp0}" >"$work/target.log" 2>&1 &
  tpid=$!
  pids+=($tpid)
  : >"$work/rss"
  rss_sampler "$tpid" "$work/rss" &
  pids+=($!)
  wait_health "$turl" 10 || true
}

# The target of BUILD under callgrind, counting nothing until callgrind_control -i on
# (files work/cg.PID); sets tport, turl, tpid.
start_target_callgrind() { # BUILD
  tport=$(free_port)
  turl=http://127.0.0.1:$tport
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" \
    "$1/bin/etlfs-target" --listen "127.0.0.1:$tport" --data "$work/mp0" >"$work/target-cg.log" 2>&1 &
  tpid=$!
  pids+=($tpid)
  wait_health "$turl" 120 || true
}

init_md5_etl() { # COMM
  local spec
  spec=$(base64 -w0 "$root/etl/transformers/md5_native/pod.yaml")
  curl -sf -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' --max-time 120 \
    -d "{\"id\":\"etl-md5\",\"communication\":\"$1\",\"argument\":\"\",\"timeout\":\"5m\",\"spec\":\"$spec\"}" >/dev/null ||
    { echo "ETL init failed: $(tail -5 "$work/target.log")" >&2; exit 1; }
}
