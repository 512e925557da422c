#!/bin/bash
# dataloader.sh - the training job this project exists for: a PyTorch
# DataLoader (2 workers, batch 32) over the 500 benchmark JPEGs
#   etl    reading MNT/@etl-torchvision/bench/images/ (the torchvision_preprocess
#          transformer: Resize 256, CenterCrop 224, JPEG out), decoding each
#          224x224 output to a tensor; with read-ahead (default) and without
#          (-o etl_readahead=0)
#   local  the same DataLoader doing the same transform itself (PIL decode,
#          torchvision Resize 256 + CenterCrop 224, to a tensor) over the plain files
# prints images/s per row and the ratios etl/local, and the CPU seconds each
# of the ETL's processes (its parent and its NUM_WORKERS workers) used in the
# row. Each row reads every image once after one warm-up pass (the
# transformer's first requests, the page cache).
# usage: bench/dataloader.sh   env: BUILD=build DATA=/tmp/etlfs-bench-data
#        EPOCHS=1 (timed passes) ROW_TIMEOUT=300 (seconds per row)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
BUILD=$(cd "${BUILD:-$root/build}" && pwd)
DATA=${DATA:-/tmp/etlfs-bench-data}
EPOCHS=${EPOCHS:-1}
ROW_TIMEOUT=${ROW_TIMEOUT:-300}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
need_tools dataloader.sh curl fusermount3 timeout
$PY -c 'import torch, torchvision, PIL' 2>/dev/null ||
  { echo "dataloader.sh: needs python3-torch, python3-torchvision, python3-pil (deploy/dev/deps.sh --test)" >&2; exit 2; }
[ -x "$BUILD/bin/etlfs" ] || { echo "dataloader.sh: no $BUILD/bin/etlfs; build it or set BUILD" >&2; exit 1; }
find_shared dataloader.sh
bench_workdir dataloader
mnts=()
cleanup_all() { for m in "${mnts[@]}"; do fusermount3 -u "$m" 2>/dev/null || true; done; bench_cleanup; }
trap cleanup_all EXIT
load0=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== dataset" >&2
"$shared/bench/dataset.sh" "$DATA" >&2
N=$(find "$DATA/images" -name '*.jpg' | wc -l)

echo "== target, images into bucket bench, ETL etl-torchvision" >&2
start_target "$BUILD"
curl -sf -X POST "$turl/v1/buckets/bench" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' >/dev/null
$PY - "$turl" "$DATA/images" <<'EOF'
import os, sys, requests
url, d = sys.argv[1], sys.argv[2]
with requests.Session() as s:
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            s.put(f"{url}/v1/objects/bench/images/{n}", data=f.read(), timeout=60).raise_for_status()
EOF
SPEC=$(base64 -w0 "$root/etl/transformers/torchvision_preprocess/pod.yaml")
curl -sf -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' --max-time 300 \
  -d "{\"id\":\"etl-torchvision\",\"communication\":\"hpush://\",\"argument\":\"\",\"timeout\":\"5m\",\"spec\":\"$SPEC\"}" >/dev/null ||
  { echo "ETL init failed: $(tail -5 "$work/target.log")" >&2; exit 1; }

cat >"$work/loader.py" <<'EOF'
"""DIR MODE EPOCHS: images/s of a DataLoader (2 workers, batch 32) over DIR's
*.jpg; MODE etl: the files are the transformed 224x224 images, decoded;
MODE local: decoded, then Resize(256) + CenterCrop(224) here."""
import io
import os
import sys
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

d, mode, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(n for n in os.listdir(d) if n.endswith(".jpg"))
to_tensor = transforms.ToTensor()
resize = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])


class Images(Dataset):
    def __len__(self):
        return len(names)

    def __getitem__(self, i):
        with open(os.path.join(d, names[i]), "rb") as f:
            data = f.read()
        img = Image.open(io.BytesIO(data)).convert("RGB")
        if mode == "local":
            img = resize(img)
        t = to_tensor(img)
        if t.shape[1:] != (224, 224):
            raise ValueError(f"{names[i]}: {tuple(t.shape)}")
        return t


def one_pass():
    n = 0
    for batch in DataLoader(Images(), batch_size=32, num_workers=2, shuffle=False):
        n += batch.shape[0]
    return n


torch.set_num_threads(1)
one_pass()  # warm-up
t0 = time.monotonic()
n = sum(one_pass() for _ in range(epochs))
print(f"{n / (time.monotonic() - t0):.1f}")
EOF

mount_etlfs() { # DIR OPTS...
  local mnt=$1
  shift
  mkdir -p "$mnt"
  "$BUILD/bin/etlfs" --endpoint "$turl" "$mnt" -f "$@" >"$mnt.log" 2>&1 &
  pids+=($!) mnts+=("$mnt")
  for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && return; sleep 0.05; done
  echo "etlfs did not mount: $(cat "$mnt.log")" >&2
  exit 1
}

# "pid:cpu_seconds ..." of the target's child processes (the ETL) and theirs
etl_cpu() {
  $PY - "$tpid" <<'EOF'
import os, sys
kids = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    kids.setdefault(int(f[1]), []).append((int(p), (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")))
out, todo = [], [int(sys.argv[1])]
while todo:
    for pid, cpu in kids.get(todo.pop(), []):
        out.append(f"{pid}:{cpu:.2f}")
        todo.append(pid)
print(" ".join(out))
EOF
}

# CPU seconds per ETL process between two etl_cpu snapshots
cpu_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], y, ":"); c[y[1]] = y[2] }
    n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], y, ":"); printf "%s%s:%.1fs", (i > 1 ? " " : ""), y[1], y[2] - c[y[1]] } }'
}

run() { # NAME DIR MODE
  local r
  r=$(timeout "$ROW_TIMEOUT" $PY "$work/loader.py" "$2" "$3" "$EPOCHS") || { echo "$1: failed or over ${ROW_TIMEOUT}s" >&2; r=0; }
  echo "$r"
}

echo "== local: the DataLoader transforms the plain files" >&2
LOCAL=$(run local "$DATA/images" local)
echo "== etl: MNT/@etl-torchvision/, read-ahead on" >&2
mount_etlfs "$work/mnt"
cpu0=$(etl_cpu)
ETL=$(run etl "$work/mnt/@etl-torchvision/bench/images" etl)
CPU=$(cpu_delta "$cpu0" "$(etl_cpu)")
STATS=$($PY -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.etlfs.stats').decode())" "$work/mnt")
fusermount3 -u "$work/mnt"
echo "== etl: read-ahead off" >&2
mount_etlfs "$work/mnt0" -o etl_readahead=0
cpu0=$(etl_cpu)
ETL0=$(run etl-noahead "$work/mnt0/@etl-torchvision/bench/images" etl)
CPU0=$(cpu_delta "$cpu0" "$(etl_cpu)")
fusermount3 -u "$work/mnt0"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "DataLoader (2 workers, batch 32), $N JPEGs, $EPOCHS timed pass(es); load $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %10s %8s\n' row images/s ratio
printf '%-40s %10s %8s\n' "local: transform in the DataLoader" "$LOCAL" 1.00
printf '%-40s %10s %8s\n' "etl: MNT/@etl-torchvision/, read-ahead" "$ETL" "$(ratio "$ETL" "$LOCAL")"
printf '%-40s %10s %8s\n' "etl: read-ahead off" "$ETL0" "$(ratio "$ETL0" "$LOCAL")"
echo "daemon counters (read-ahead run): $STATS"
echo "ETL CPU by process over warm-up + timed pass (pid:seconds; the first is the parent), read-ahead: $CPU; off: $CPU0"
