#!/bin/bash
# cp-cost.sh - what one file of `cp -r MNT/@etl-md5/src/. MNT/dst/` + `sync`
# costs the mount daemon, in counts: its system calls by name (strace -c -f,
# a run of its own: strace slows everything), its context switches and its
# CPU (all its threads, /proc), and cp's own context switches. Counts, not
# speeds: stable enough on a busy machine to compare two builds or options.
# The target's CPU (with the ETL's processes, its children) per file too: the
# copies run there as one job while cp goes on.
# Also per file: the daemon's minor page faults, the mount's HTTP requests and
# copy-job requests (user.etlfs.stats), and the seconds cp -r + sync took.
# usage: bench/cp-cost.sh   env: BUILD=build N=500 ETLFS_OPTS="-o opt,..." STRACE=1 COMM=hpush://
#   CP_STRACE=1: cp itself under strace -c -f (a run of its own: slower), its system calls per file
#   PERF=FILE: perf record of the target, its ETL and the daemon around the copy
#   JOB=1: then the same work as one etl-bck job over REST, its CPU per object;
#   JOB=first: the job before the copy (ext4 without a journal makes the first
#   to create files after a deletion pay for it, bench/RESULTS.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
N=${N:-500}
ETLFS_OPTS=${ETLFS_OPTS:-}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_build cp-cost.sh
need_tools cp-cost.sh curl fusermount3 timeout
[ -z "${STRACE:-}${CP_STRACE:-}" ] || need_tools cp-cost.sh strace
bench_workdir cpcost
mnt=$work/mnt
mnts+=("$mnt")
time_limit cp-cost.sh 900

start_target "$BUILD"
curl -sf -X POST "$turl/v1/buckets/src" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
head -c 16384 /dev/urandom >"$work/blob"
for i in $(seq -f '%05g' 1 "$N"); do
  curl -sf -X PUT "$turl/v1/objects/src/f$i" --data-binary "@$work/blob" >/dev/null
done
init_md5_etl "${COMM:-hpush://}"

# the sums over a process's threads: voluntary, involuntary switches, CPU ns
# (schedstat); then the process's minor page faults
proc_counts() { # PID
  local v=0 i=0 t=0 f
  for f in /proc/"$1"/task/*; do
    v=$((v + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$f/status")))
    i=$((i + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$f/status")))
    t=$((t + $(cut -d' ' -f1 "$f/schedstat")))
  done
  echo "$v $i $t $(cut -d' ' -f10 /proc/"$1"/stat)"
}

stat_field() { # MNT FIELD: one counter of user.etlfs.stats
  $PY -c "import json,os,sys; print(json.loads(os.getxattr(sys.argv[1],'user.etlfs.stats'))[sys.argv[2]])" "$1" "$2"
}

# CPU ns of a process and its children's threads (the target and its ETL)
tree_cpu() { # PID
  local t=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    for f in /proc/"$p"/task/*; do t=$((t + $(cut -d' ' -f1 "$f/schedstat" 2>/dev/null || echo 0))); done
  done
  echo "$t"
}

run() { # DST
  mkdir -p "$mnt"
  # shellcheck disable=SC2086
  "$BUILD/bin/etlfs" --endpoint "$turl" "$mnt" -f $ETLFS_OPTS >"$work/mnt.log" 2>&1 &
  local mpid=$!
  pids+=($mpid)
  for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && break; sleep 0.05; done
  mkdir "$mnt/$1"
  ls "$mnt/@etl-md5/src" >/dev/null
  local spid=
  if [ -n "${STRACE:-}" ]; then
    strace -c -f -p "$mpid" -o "$work/strace" &
    spid=$!
    sleep 1
  fi
  local a b ta tb h0 h1 j0 j1
  h0=$(stat_field "$mnt" http_requests)
  j0=$(stat_field "$mnt" copy_job_requests)
  a=$(proc_counts "$mpid")
  ta=$(tree_cpu "$tpid")
  local ppid=
  if [ -n "${PERF:-}" ]; then
    perf record -q -g -F 2999 -o "$PERF" -p "$(echo "$tpid" $(pgrep -P "$tpid") "$mpid" | tr ' ' ,)" &
    ppid=$!
    sleep 1
  fi
  # cp's own switches: from its rusage, through python
  $PY - "$mnt/@etl-md5/src/." "$mnt/$1/" "${CP_STRACE:+$work/cpstrace}" <<'PY' >"$work/cp"
import resource, subprocess, sys, time
t0 = time.monotonic()
tr = ["strace", "-c", "-f", "-o", sys.argv[3]] if sys.argv[3] else []
subprocess.run(["timeout", "300"] + tr + ["cp", "-r", sys.argv[1], sys.argv[2]], check=True)
subprocess.run(["timeout", "120", "sync", sys.argv[2]], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_nvcsw, r.ru_nivcsw, r.ru_utime + r.ru_stime, time.monotonic() - t0)
PY
  b=$(proc_counts "$mpid")
  tb=$(tree_cpu "$tpid")
  h1=$(stat_field "$mnt" http_requests)
  j1=$(stat_field "$mnt" copy_job_requests)
  if [ -n "$ppid" ]; then kill -INT "$ppid"; wait "$ppid" 2>/dev/null || true; fi
  [ "$(ls "$mnt/$1" | wc -l)" = "$N" ] || { echo "cp-cost.sh: $1 lacks files" >&2; exit 1; }
  if [ -n "$spid" ]; then
    kill -INT "$spid"
    wait "$spid" 2>/dev/null || true
  fi
  read -r cv ci cs secs <"$work/cp"
  echo "$a $b" | awk -v n="$N" -v cv="$cv" -v ci="$ci" -v cs="$cs" '{
    printf "daemon per file: %.2f voluntary + %.2f involuntary switches, %.0f us CPU, %.2f minor faults; cp+sync per file: %.2f + %.2f switches, %.0f us CPU\n",
      ($5 - $1) / n, ($6 - $2) / n, ($7 - $3) / 1e3 / n, ($8 - $4) / n, cv / n, ci / n, cs * 1e6 / n }'
  awk -v n="$N" -v a="$ta" -v b="$tb" 'BEGIN { printf "target and its ETL per file: %.0f us CPU\n", (b - a) / 1e3 / n }'
  awk -v n="$N" -v s="$secs" -v h="$((h1 - h0))" -v j="$((j1 - j0))" \
    'BEGIN { printf "cp -r + sync: %.2f s; per file: %.3f HTTP requests, %.4f copy-job requests\n", s, h / n, j / n }'
  if [ -n "${CP_STRACE:-}" ]; then
    printf 'cp system calls per file:'
    awk -v n="$N" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ { printf "    %s %.2f", $NF, $4 / n } END { printf "\n" }' "$work/cpstrace"
  fi
  if [ -n "$spid" ]; then
    awk -v n="$N" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ { printf "    %s %.2f", $NF, $4 / n } END { printf "\n" }' "$work/strace"
  fi
  fusermount3 -u "$mnt"
  wait "$mpid" 2>/dev/null || true
}

run_job() { # the same work as one etl-bck job, into bucket jobdst
  ta=$(tree_cpu "$tpid")
  $PY - "$turl" <<'PY'
import json, sys, time, urllib.parse, urllib.request
url = sys.argv[1]
to = urllib.parse.quote("ais/@#/jobdst/", safe="")
body = json.dumps({"action": "etl-bck", "value": {"id": "etl-md5", "prefix": "", "prepend": "", "dry_run": False}}).encode()
req = urllib.request.Request(f"{url}/v1/buckets/src?bck_to={to}", data=body, method="POST", headers={"Content-Type": "application/json"})
job = urllib.request.urlopen(req).read().decode()
t0 = time.time()
while time.time() - t0 < 120:
    r = urllib.request.Request(f"{url}/v1/cluster?what=status", data=json.dumps({"ID": job}).encode(), method="GET", headers={"Content-Type": "application/json"})
    st = json.loads(urllib.request.urlopen(r).read())
    if st["end_time"]:
        break
    time.sleep(0.05)
PY
  tb=$(tree_cpu "$tpid")
  awk -v n="$N" -v a="$ta" -v b="$tb" 'BEGIN { printf "etl-bck job, target and its ETL per object: %.0f us CPU\n", (b - a) / 1e3 / n }'
}
[ "${JOB:-}" != first ] || run_job
echo "cp -r of $N files of 16 KiB through @etl-md5, $(cut -d' ' -f1-3 /proc/loadavg) load, build $BUILD ${ETLFS_OPTS}"
run dst

[ "${JOB:-}" != 1 ] || run_job
