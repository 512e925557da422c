#!/bin/bash
# dataloader.sh - the training job this project exists for: a PyTorch
# DataLoader (2 workers, batch 32) over the 500 benchmark JPEGs; rows:
#   local      the DataLoader doing the transform itself over the plain files
#              (PIL decode, torchvision Resize 256 + CenterCrop 224, to a tensor),
#              run first and again last; the ratios are against the mean of the
#              two, so that a machine whose load moves shows it
#   etl npy    reading MNT/@etl-torchvision-npy/bench/images/: the
#              torchvision_preprocess transformer (Resize 256, CenterCrop 224)
#              with FORMAT=npy, the 224x224x3 pixels as a .npy that the loader
#              turns into the same tensor without decoding (np.load,
#              torch.from_numpy); with read-ahead (default) and without
#              (-o etl_readahead=0). The goal's row.
#   etl jpeg   reading MNT/@etl-torchvision/bench/images/: the same transformer
#              as shipped (JPEG out, as upstream's), the loader decoding each
#              224x224 JPEG to a tensor; read-ahead on
# prints images/s per row and the ratios etl/local, and the CPU seconds each
# of the row's ETL processes (its parent and its NUM_WORKERS workers) used.
# Each row reads every image once after one warm-up pass (the transformer's
# first requests, the page cache).
# Fairness: every row runs the same loader script, which yields the same
# tensor ToTensor() makes of the 224x224 image (decode, Resize, CenterCrop,
# to float happen once per image in every row: in the loader's workers for
# local, in the ETL and the workers for the views); every row runs on the
# same cores with the same scheduling (one session, nice 0, no CPU limit on
# the ETL's cgroup) and one intra-op thread wherever torch runs (the loader's
# main process and its DataLoader workers, and the ETL, which sets it
# itself); the target runs in every row, the mount in the view rows.
# Counts over each timed pass (file counts.ROW, printed at the end; they,
# not the speeds, are what a shared machine can compare): ms of CPU per
# image of the loader's main process, its two workers, the target, the
# mount daemon and the ETL's processes (/proc/PID/stat), the cores' idle
# share (/proc/stat: other users' work fills it on a shared machine), and
# the threads each process runs; with ETL_STATES=1 also how often each ETL
# worker had no thread running or runnable (no object to transform; sampled
# every 5 ms by the loader's main process, which costs it some CPU).
# usage: bench/dataloader.sh   env: BUILD=build DATA=/tmp/etlfs-bench-data
#        EPOCHS=1 (timed passes) ROW_TIMEOUT=300 (seconds per row) ETL_STATES=0
#        COMM=ws:// ARG=fqn (the ETLs' communicator and argument: AIStore 5.0's
#        streaming communicator, the ETL reading the file; hpush:// "" for v3.22's)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
BUILD=$(cd "${BUILD:-$root/build}" && pwd)
DATA=${DATA:-/tmp/etlfs-bench-data}
EPOCHS=${EPOCHS:-1}
ROW_TIMEOUT=${ROW_TIMEOUT:-300}
COMM=${COMM:-ws://}
ARG=${ARG-fqn}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
need_tools dataloader.sh curl fusermount3 timeout
$PY -c 'import torch, torchvision, PIL' 2>/dev/null ||
  { echo "dataloader.sh: needs python3-torch, python3-torchvision, python3-pil (deploy/dev/deps.sh --test)" >&2; exit 2; }
[ -x "$BUILD/bin/etlfs" ] || { echo "dataloader.sh: no $BUILD/bin/etlfs; build it or set BUILD" >&2; exit 1; }
find_shared dataloader.sh
bench_workdir dataloader
load0=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== dataset" >&2
"$shared/bench/dataset.sh" "$DATA" >&2
N=$(find "$DATA/images" -name '*.jpg' | wc -l)

echo "== target, images into bucket bench, ETLs etl-torchvision and etl-torchvision-npy" >&2
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
init_etl() { # ID FORMAT: the shipped pod.yaml with env FORMAT set
  local spec
  spec=$(sed "s/value: \${FORMAT}/value: $2/" "$root/etl/transformers/torchvision_preprocess/pod.yaml" | base64 -w0)
  curl -sf -X PUT "$turl/v1/etl" -H 'Content-Type: application/json' --max-time 300 \
    -d "{\"id\":\"$1\",\"communication\":\"$COMM\",\"argument\":\"$ARG\",\"timeout\":\"5m\",\"spec\":\"$spec\"}" >/dev/null ||
    { echo "ETL $1 init failed: $(tail -5 "$work/target.log")" >&2; exit 1; }
}
init_etl etl-torchvision JPEG
init_etl etl-torchvision-npy npy

cat >"$work/loader.py" <<'EOF'
"""DIR MODE EPOCHS: images/s of a DataLoader (2 workers, batch 32) over DIR's
*.jpg; MODE local: decoded, then Resize(256) + CenterCrop(224) here;
MODE jpeg: the files are the transformed 224x224 images, decoded;
MODE npy: the files are the transformed 224x224x3 pixels as .npy.
Every mode yields the tensor ToTensor() makes of the 224x224 image."""
import io
import os
import sys
import time

import numpy as np
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
        if mode == "npy":  # what ToTensor does with the PIL image's pixels
            t = torch.from_numpy(np.load(io.BytesIO(data))).permute(2, 0, 1).float().div(255)
        else:
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


# Counts over the timed pass (env COUNTS names the file): ms of CPU per image
# of this process, of its DataLoader workers (reaped after each pass) and of
# each group of WATCH ("name=pid,pid name=pid"), the cores' idle share
# (/proc/stat), and the threads each process runs halfway through the pass.
def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            x = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    except (OSError, StopIteration):
        return 0


def cores():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v[:8])  # idle + iowait, all


watch = [(g.split("=")[0], [int(p) for p in g.split("=")[1].split(",") if p])
         for g in os.environ.get("WATCH", "").split() if "=" in g]


def snapshot():
    r = __import__("resource")
    me, kids = r.getrusage(r.RUSAGE_SELF), r.getrusage(r.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime,
            {name: sum(proc_cpu(p) for p in ps) for name, ps in watch}, cores())


seen = {}


def sample_threads(delay):
    time.sleep(delay)
    me = os.getpid()
    kids = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == str(me):
                    kids.append(int(p))
        except OSError:  # gone meanwhile
            pass
    seen["loader"] = [threads(me)] + [threads(k) for k in kids]
    for name, ps in watch:
        seen[name] = [threads(p) for p in ps]


def runnable(pid):
    """How many of pid's threads are running or waiting for a core."""
    r = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                r += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:
            pass
    return r


states = {"n": 0, "none": 0, "all": 0, "misplaced": 0}
sampling = __import__("threading").Event()


def sample_states(pids):
    """With ETL_STATES=1: every 5 ms, whether each ETL process has a thread
    that runs or could (none: it has no object to transform), whether no
    process has one, and whether one has none while another has two."""
    while not sampling.wait(0.005):
        rs = [runnable(p) for p in pids]
        states["n"] += 1
        states["none"] += sum(r == 0 for r in rs)
        states["all"] += max(rs) == 0
        states["misplaced"] += min(rs) == 0 and max(rs) >= 2


torch.set_num_threads(1)
one_pass()  # warm-up
__import__("threading").Thread(target=sample_threads, args=(1.0,), daemon=True).start()
etl_pids = dict(watch).get("etl", [])
etl_pids = etl_pids[1:] or etl_pids  # the parent (first) only waits on its workers
if os.environ.get("ETL_STATES") == "1" and etl_pids:
    __import__("threading").Thread(target=sample_states, args=(etl_pids,), daemon=True).start()
s0 = snapshot()
t0 = time.monotonic()
n = sum(one_pass() for _ in range(epochs))
print(f"{n / (time.monotonic() - t0):.1f}")
s1 = snapshot()
sampling.set()
if os.environ.get("COUNTS"):
    ms = lambda a, b: f"{1000 * (b - a) / n:.2f}"
    groups = " ".join(f"{name} {ms(s0[2][name], s1[2][name])}" for name, _ in watch)
    idle = (s1[3][0] - s0[3][0]) / max(1, s1[3][1] - s0[3][1])
    total = (s1[0] - s0[0]) + (s1[1] - s0[1]) + sum(s1[2][k] - s0[2][k] for k, _ in watch)
    with open(os.environ["COUNTS"], "w") as f:
        f.write(f"ms CPU/image: loader {ms(s0[0], s1[0])} workers {ms(s0[1], s1[1])} {groups} "
                f"all {1000 * total / n:.2f}; idle {100 * idle:.0f}%; threads {seen}")
        if states["n"]:
            k = states["n"]
            f.write(f"; ETL processes without work {100 * states['none'] / k / len(etl_pids):.0f}% of "
                    f"{k} samples, all at once {100 * states['all'] / k:.0f}%, one idle while another has "
                    f"two {100 * states['misplaced'] / k:.0f}%")
        f.write("\n")
EOF

mount_etlfs() { # DIR OPTS...
  local mnt=$1
  shift
  mkdir -p "$mnt"
  "$BUILD/bin/etlfs" --endpoint "$turl" "$mnt" -f "$@" >"$mnt.log" 2>&1 &
  mpid=$!
  pids+=($!) mnts+=("$mnt")
  for _ in $(seq 200); do grep -q " $mnt fuse" /proc/mounts && return; sleep 0.05; done
  echo "etlfs did not mount: $(cat "$mnt.log")" >&2
  exit 1
}

# "pid:cpu_seconds ..." of the target's child processes whose env has
# FORMAT=$1 (one ETL) and theirs
etl_cpu() {
  $PY - "$tpid" "$1" <<'EOF'
import os, sys
def env_has(pid, var):
    try:
        return var in open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return False
kids = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    kids.setdefault(int(f[1]), []).append((int(p), (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")))
out = []
todo = [pid for pid, _ in kids.get(int(sys.argv[1]), []) if env_has(pid, b"FORMAT=" + sys.argv[2].encode())]
cpus = dict(c for k in kids.values() for c in k)
while todo:
    pid = todo.pop()
    out.append(f"{pid}:{cpus[pid]:.2f}")
    todo.extend(p for p, _ in kids.get(pid, []))
print(" ".join(out))
EOF
}

# CPU seconds per ETL process between two etl_cpu snapshots
cpu_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], y, ":"); c[y[1]] = y[2] }
    n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], y, ":"); printf "%s%s:%.1fs", (i > 1 ? " " : ""), y[1], y[2] - c[y[1]] } }'
}

# the processes a row's counts follow: the target, the mount daemon (when
# mounted) and the ETL of FORMAT $1 (when given)
watch() { # [FORMAT]
  local w="target=$tpid"
  [ -n "${mpid:-}" ] && w+=" daemon=$mpid"
  [ -n "${1:-}" ] && w+=" etl=$(etl_cpu "$1" | sed 's/:[0-9.]*//g; s/ /,/g')"
  echo "$w"
}

run() { # NAME DIR MODE [FORMAT]
  local r
  r=$(WATCH=$(watch "${4:-}") COUNTS="$work/counts.$1" timeout "$ROW_TIMEOUT" $PY "$work/loader.py" "$2" "$3" "$EPOCHS") ||
    { echo "$1: failed or over ${ROW_TIMEOUT}s" >&2; r=0; }
  echo "$r"
}

echo "== local: the DataLoader transforms the plain files" >&2
LOCAL=$(run local "$DATA/images" local)
mount_etlfs "$work/mnt"
echo "== etl npy: MNT/@etl-torchvision-npy/, read-ahead on" >&2
cpu0=$(etl_cpu npy)
NPY=$(run etl-npy "$work/mnt/@etl-torchvision-npy/bench/images" npy npy)
CPU=$(cpu_delta "$cpu0" "$(etl_cpu npy)")
STATS=$($PY -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.etlfs.stats').decode())" "$work/mnt")
echo "== etl jpeg: MNT/@etl-torchvision/, read-ahead on" >&2
cpu0=$(etl_cpu JPEG)
JPG=$(run etl-jpeg "$work/mnt/@etl-torchvision/bench/images" jpeg JPEG)
CPUJ=$(cpu_delta "$cpu0" "$(etl_cpu JPEG)")
fusermount3 -u "$work/mnt"
echo "== etl npy: read-ahead off" >&2
mount_etlfs "$work/mnt0" -o etl_readahead=0
cpu0=$(etl_cpu npy)
NPY0=$(run etl-npy-noahead "$work/mnt0/@etl-torchvision-npy/bench/images" npy npy)
CPU0=$(cpu_delta "$cpu0" "$(etl_cpu npy)")
fusermount3 -u "$work/mnt0"
mpid=
echo "== local again" >&2
LOCAL2=$(run local2 "$DATA/images" local)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "DataLoader (2 workers, batch 32), $N JPEGs, $EPOCHS timed pass(es), ETLs $COMM ${ARG:-(no argument)}; load $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-50s %15s %11s\n' row images/s ratio
LOCALM=$(awk -v a="$LOCAL" -v b="$LOCAL2" 'BEGIN { printf "%.1f", (a + b) / 2 }')
printf '%-50s %15s %11s\n' "local: transform in the DataLoader, first / last" "$LOCAL / $LOCAL2" "$(ratio "$LOCAL" "$LOCALM") / $(ratio "$LOCAL2" "$LOCALM")"
printf '%-50s %15s %11s\n' "etl npy: MNT/@etl-torchvision-npy/, read-ahead" "$NPY" "$(ratio "$NPY" "$LOCALM")"
printf '%-50s %15s %11s\n' "etl npy: read-ahead off" "$NPY0" "$(ratio "$NPY0" "$LOCALM")"
printf '%-50s %15s %11s\n' "etl jpeg: MNT/@etl-torchvision/, read-ahead" "$JPG" "$(ratio "$JPG" "$LOCALM")"
echo "daemon counters (npy, read-ahead run): $STATS"
echo "ETL CPU by process over warm-up + timed pass (pid:seconds; the first is the parent):"
echo "  npy, read-ahead: $CPU; npy, off: $CPU0; jpeg, read-ahead: $CPUJ"
echo "counts over each timed pass (ms of CPU per image by process; the cores' idle share; threads per process):"
for c in local etl-npy etl-npy-noahead etl-jpeg local2; do
  [ -f "$work/counts.$c" ] && echo "  $c: $(cat "$work/counts.$c")"
done
