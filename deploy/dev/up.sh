#!/usr/bin/env bash
# Builds etlfs and runs the main job: a target on localhost:8080 with local
# ETL runtimes and data under ./data, and (when built) the filesystem mounted
# at ./mnt. Ctrl-C (or SIGTERM) stops everything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
./deploy/dev/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

DATA=${ETLFS_DATA:-$root/data}
MNT=${ETLFS_MNT:-$root/mnt}
LISTEN=${ETLFS_LISTEN:-127.0.0.1:8080}
mkdir -p "$DATA"
build/bin/etlfs-target --listen "$LISTEN" --data "$DATA" &
target_pid=$!
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  kill "$target_pid" 2>/dev/null || true
  wait "$target_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 100); do
  curl -sf "http://$LISTEN/v1/health" >/dev/null && break
  sleep 0.1
done
if [[ -x build/bin/etlfs ]]; then
  mkdir -p "$MNT"
  mountpoint -q "$MNT" && fusermount3 -u "$MNT"
  build/bin/etlfs --endpoint "http://$LISTEN" "$MNT"
  echo "mounted: $MNT (buckets as folders, $MNT/@ETL/... read through an ETL)"
fi
cat <<MSG

etlfs is running: target http://$LISTEN, data in $DATA
Try:
  export AIS_ENDPOINT=http://$LISTEN
  build/bin/ais bucket create ais://demo
  build/bin/ais put README.md ais://demo/readme.md
  curl -s http://$LISTEN/v1/objects/demo/readme.md | head -3
  build/bin/ais etl init spec --from-file etl/transformers/md5/pod.yaml --name etl-md5
  curl -s "http://$LISTEN/v1/objects/demo/readme.md?etl_name=etl-md5"
  ls $MNT/demo; cat $MNT/@etl-md5/demo/readme.md
Ctrl-C stops it.
MSG
wait "$target_pid"
