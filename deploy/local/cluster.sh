#!/usr/bin/env bash
# A local etlfs cluster on loopback: one etcd and N targets on ports 8080..,
# each with its own data folder, all under one folder that it prints.
#
#   deploy/local/cluster.sh N [DIR]       start (default N=3, DIR=${TMPDIR:-/tmp}/etlfs-cluster)
#   deploy/local/cluster.sh stop [DIR]    stop them (also --stop)
#
# Environment: ETLFS_BUILD (build folder with bin/, default ./build, built
# when missing), ETLFS_PORT (first target port, 8080), ETCD_PORT (2379),
# ETCD_PEER_PORT (ETCD_PORT + 1), ETLFS_CLUSTER (the cluster's name, etlfs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cmd=${1:-3}
dir=${2:-${TMPDIR:-/tmp}/etlfs-cluster}

stop() {
  [[ -f $dir/pids ]] || { echo "cluster.sh: nothing runs from $dir"; return 0; }
  # targets first (each leaves the cluster), etcd last
  tac "$dir/pids" | while read -r pid; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -f "$dir/pids"
  echo "cluster.sh: stopped (data kept in $dir)"
}

case $cmd in
  stop | --stop) stop; exit 0 ;;
  '' | *[!0-9]*) sed -n '2,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
n=$cmd
((n >= 1 && n <= 64)) || { echo "cluster.sh: N is 1..64" >&2; exit 2; }
[[ -f $dir/pids ]] && { echo "cluster.sh: already running from $dir (cluster.sh stop $dir)" >&2; exit 1; }
build=${ETLFS_BUILD:-$root/build}
if [[ ! -x $build/bin/etlfs-target ]]; then
  "$root/deploy/dev/deps.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)"
fi
command -v etcd >/dev/null || "$root/deploy/dev/deps.sh" --test # etcd-server
port=${ETLFS_PORT:-8080} etcd_port=${ETCD_PORT:-2379} name=${ETLFS_CLUSTER:-etlfs}
etcd_url=http://127.0.0.1:$etcd_port peer_url=http://127.0.0.1:${ETCD_PEER_PORT:-$((etcd_port + 1))}
mkdir -p "$dir"
: >"$dir/pids"

wait_up() { # URL what log
  for _ in $(seq 300); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "cluster.sh: $2 did not start; see $3" >&2
  tail -n 5 "$3" >&2 || true
  stop
  exit 1
}

# etcd reads ETCD_* variables as its own flags: ours are not for it
env -u ETCD_PORT -u ETCD_PEER_PORT etcd --name "$name" --data-dir "$dir/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" --initial-cluster "$name=$peer_url" \
  >"$dir/etcd.log" 2>&1 &
echo $! >>"$dir/pids"
wait_up "$etcd_url/health" etcd "$dir/etcd.log"

for i in $(seq "$n"); do
  p=$((port + i - 1))
  mkdir -p "$dir/t$i"
  "$build/bin/etlfs-target" --listen "127.0.0.1:$p" --data "$dir/t$i/data" --etcd "$etcd_url" --cluster "$name" \
    --id "t$i" >"$dir/t$i/target.log" 2>&1 &
  echo $! >>"$dir/pids"
  wait_up "http://127.0.0.1:$p/v1/health" "target t$i" "$dir/t$i/target.log"
done

cat <<MSG
etlfs cluster "$name": $n target(s), etcd $etcd_url, data and logs under $dir
MSG
for i in $(seq "$n"); do echo "  t$i  http://127.0.0.1:$((port + i - 1))"; done
cat <<MSG
Any target is an endpoint:
  export AIS_ENDPOINT=http://127.0.0.1:$port
  $build/bin/ais show cluster
Stop: $0 stop $dir
MSG
