#!/usr/bin/env bash
# walk.sh - which source files two data paths cross: an inline read through
# the mount (`cat MNT/@etl-md5/B/O` on a fresh mount, lookups included) and a
# directory copy through a view (`cp -r MNT/@etl-md5/src/. MNT/dst/; sync`).
# Builds a copy of the programs with -finstrument-functions (bench/walk/trace.c
# records every call while SIGUSR2 has tracing on), runs each path once with
# tracing on in the target and the mount daemon, and prints the files each
# process entered, in order, with any file-to-file call cycle
# (bench/walk/walk.py). docs/architecture.md quotes its output.
# usage: bench/walk.sh     env: BUILD=build-walk, WALK_FUNCS=1 (each file's functions entered, and by whom)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
. "$root/bench/lib.sh"
need_tools walk.sh addr2line curl fusermount3 cmake
BUILD=${BUILD:-$root/build-walk}

mkdir -p "$BUILD"
cc -O2 -fno-pie -c "$root/bench/walk/trace.c" -o "$BUILD/walk-trace.o"
cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-finstrument-functions -fno-pie" \
  -DCMAKE_EXE_LINKER_FLAGS="-no-pie $BUILD/walk-trace.o" >/dev/null
rm -f "$BUILD/bin/etlfs-target" "$BUILD/bin/etlfs" "$BUILD/bin/etlfs-md5" # relinked: walk-trace.o is no dependency cmake knows
cmake --build "$BUILD" -j"$(nproc)" --target etlfs-target etlfs etlfs-md5 >/dev/null

bench_workdir walk
mnt=$work/mnt
trap 'fusermount3 -u "$mnt" 2>/dev/null || true; bench_cleanup' EXIT
mkdir -p "$work/trace" "$mnt"
export ETLFS_WALK_DIR=$work/trace
start_target "$BUILD"
echo etlfs-target >"$work/trace/$tpid.exe"
curl -sf -X POST "$turl/v1/buckets/src" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
head -c 16384 /dev/urandom >"$work/obj"
for i in $(seq 0 7); do curl -sf -X PUT "$turl/v1/objects/src/obj-$i" -T "$work/obj" >/dev/null; done
spec=$(base64 -w0 "$root/etl/transformers/md5_native/pod.yaml")
curl -sf -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' \
  -d "{\"id\":\"etl-md5\",\"communication\":\"hpush://\",\"argument\":\"\",\"timeout\":\"5m\",\"spec\":\"$spec\"}" >/dev/null
"$BUILD/bin/etlfs" --endpoint "$turl" "$mnt" -f >"$work/mount.log" 2>&1 &
fpid=$!
pids+=($fpid)
echo etlfs >"$work/trace/$fpid.exe"
for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && break; sleep 0.05; done
mkdir "$mnt/dst"

# traced NAME CMD...: runs CMD with tracing on and keeps its records in trace/NAME/
traced() {
  local name=$1
  shift
  kill -USR2 "$tpid" "$fpid"; sleep 0.3
  "$@"
  kill -USR2 "$tpid" "$fpid"; sleep 0.3
  mkdir "$work/trace/$name"
  for p in "$tpid" "$fpid"; do
    cp "$work/trace/$p.walk" "$work/trace/$p.exe" "$work/trace/$name/"
    : >"$work/trace/$p.walk"
  done
  echo "== $name: $*"
  $PY "$root/bench/walk/walk.py" "$BUILD/bin" "$root" "$work/trace/$name/"*.walk
}
traced read sh -c "cat '$mnt/@etl-md5/src/obj-0' >/dev/null"
traced cp sh -c "cp -r '$mnt/@etl-md5/src/.' '$mnt/dst/' && sync '$mnt/dst'"
