#!/usr/bin/env bash
# cluster.sh - what being a cluster costs, on this one machine, in one run:
# today's single node (no --etcd: the anchor), then clusters of 1, 2 and 3
# targets (etcd and targets started by deploy/local/cluster.sh), each loaded
# with the same objects of the "small" dataset (16 KiB each), and measured:
#   GET 16 KiB through the owner (loadgen, keep-alive, CONNS connections);
#   GET 16 KiB through a non-owner, following the 307 (the redirect's cost);
#   etl-bck md5 (the native etlfs-md5 transformer) over the objects.
# The 1-target cluster is compared with the single node in alternating
# rounds (single, cluster, single, cluster, ...: ROUNDS of each, the same
# loadgen settings, both loaded and running throughout), and the median of
# the rounds' ratios is printed, so that one round starved by the rest of
# the machine does not decide it.
# Prints each figure and the ratios that matter, against the anchor measured
# in the same run:  1-target cluster / single node (goal >= 0.95x) and
# non-owner / owner GET. On 2 cores more targets cannot scale: what this
# shows is the overhead. Compare ratios of one run, not figures (noisy machines).
#
# Usage: bench/cluster.sh            (about 5 minutes; the dataset is cached)
# Env:   ETLFS_BENCH_BUILD  build folder (default ./build-bench, RelWithDebInfo)
#        ETLFS_BENCH_DATA   dataset folder (default /tmp/etlfs-bench-data)
#        ETLFS_SHARED       folder holding bench/dataset.sh (default ../shared, then /work/shared)
#        TARGETS            cluster sizes (default "1 2 3")
#        OBJECTS            objects of "small" loaded (default 20000: all of it)
#        DURATION           seconds per GET run (default 10)
#        CONNS              loadgen connections (default 8)
#        ROUNDS             single / 1-target rounds of GET, alternating (default 3)
#        PHASE_TIMEOUT      seconds one load or job may take (default 300)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ETLFS_BENCH_BUILD:-$root/build-bench}
data=${ETLFS_BENCH_DATA:-/tmp/etlfs-bench-data}
sizes=${TARGETS:-1 2 3}
nobj=${OBJECTS:-20000}
dur=${DURATION:-10}
conns=${CONNS:-8}
rounds=${ROUNDS:-3}
phase=${PHASE_TIMEOUT:-300}
PY=/usr/bin/python3

source "$root/bench/lib.sh"
find_shared cluster.sh
need_tools cluster.sh curl etcd cc
bench_workdir cluster
clusters=()
cleanup() {
  for d in "${clusters[@]}"; do "$root/deploy/local/cluster.sh" stop "$d" >/dev/null 2>&1 || true; done
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "== $*" >&2; }

say "dataset ($data)"
bash "$shared/bench/dataset.sh" "$data"

say "build etlfs-target and etlfs-md5 (RelWithDebInfo, $build); loadgen"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETLFS_SANITIZE=OFF >/dev/null
cmake --build "$build" --target etlfs-target etlfs-md5 loadgen -j"$(nproc)" >/dev/null
cp "$build/bin/loadgen" "$work/loadgen"

# what needs HTTP bodies and JSON: loading, who owns what, the ETL job
cat >"$work/helper.py" <<'EOF'
import base64, concurrent.futures as cf, os, sys, time
import requests

def check(r):
    if r.status_code != 200:
        sys.exit(f"{r.request.method} {r.url}: {r.status_code} {r.text[:300]}")
    return r

def load(url, data, n, work, phase):
    """PUTs n objects of small/ through url (following 307s), then lists
    which url owns (own.list) and which another target (other.list)."""
    check(requests.post(url + "/v1/buckets/bench", json={"action": "create-bck"}, timeout=30))
    names = sorted(os.path.relpath(os.path.join(p, f), data)
                   for p, _, fs in os.walk(os.path.join(data, "small")) for f in fs)[:n]
    deadline = time.time() + phase
    s = requests.Session()

    def put(name):
        if time.time() > deadline:
            sys.exit(f"loading took more than {phase}s")
        with open(os.path.join(data, name), "rb") as f:
            body = f.read()
        check(requests.put(f"{url}/v1/objects/bench/{name}", data=body, timeout=60))
        r = requests.head(f"{url}/v1/objects/bench/{name}", allow_redirects=False, timeout=30)
        return name, r.status_code

    t0 = time.time()
    with cf.ThreadPoolExecutor(8) as ex:
        owned = list(ex.map(put, names))
    own = [f"/v1/objects/bench/{nm}" for nm, st in owned if st == 200]
    other = [f"/v1/objects/bench/{nm}" for nm, st in owned if st == 307]
    assert len(own) + len(other) == len(names), "a HEAD answered neither 200 nor 307"
    for fname, rows in (("own.list", own), ("other.list", other)):
        with open(os.path.join(work, fname), "w") as f:
            f.write("".join(r + "\n" for r in rows[:2000]))
    print(f"{len(names)} objects loaded in {time.time() - t0:.1f}s; {len(own)} owned by the node asked", file=sys.stderr)

def etl(urls, n, root, phase):
    """etl-bck md5 of bench into bench-md5 as one cluster job through the
    first node: the seconds it took. The ETL is initialised once: every
    target runs it."""
    pod = open(os.path.join(root, "etl/transformers/md5_native/pod.yaml")).read()
    msg = {"id": "md5-bench", "communication": "hpush://", "argument": "", "timeout": "5m",
           "spec": base64.b64encode(pod.encode()).decode()}
    check(requests.put(urls[0] + "/v1/etl", json=msg, timeout=phase))
    deadline = time.time() + phase
    while not all(any(e.get("stage") == "Running" for e in requests.get(u + "/v1/etl", timeout=30).json()
                      if e.get("id") == "md5-bench") for u in urls):
        if time.time() > deadline:
            sys.exit("md5-bench did not run on every target")
        time.sleep(0.2)

    def run(nodes, dst):
        value = {"prefix": "", "prepend": "", "dry_run": False, "id": "md5-bench"}
        to = requests.utils.quote(f"ais/@#/{dst}/", safe="")
        t0 = time.time()
        jobs = [(u, check(requests.post(f"{u}/v1/buckets/bench?bck_to={to}",
                                        json={"action": "etl-bck", "value": value}, timeout=60)).text) for u in nodes]
        done = 0
        for u, job in jobs:
            while True:
                st = check(requests.get(u + "/v1/cluster", params={"what": "status"}, json={"ID": job},
                                        timeout=30)).json()
                if st["end_time"]:
                    break
                if time.time() - t0 > phase:
                    for v, j in jobs:
                        requests.put(v + "/v1/cluster", json={"action": "stop", "value": {"ID": j}}, timeout=30)
                    sys.exit(f"etl-bck took more than {phase}s: aborted")
                time.sleep(0.05)
            if st.get("errors"):
                sys.exit(f"etl-bck on {u}: {st['errors']} errors: {st.get('err', '')[:200]}")
            done += st["objects"]
        return time.time() - t0, done

    dt, done = run(urls[:1], "bench-md5")
    how = "one job"
    if done != n:
        sys.exit(f"etl-bck transformed {done} objects of {n}")
    print(f"{dt:.3f} {how.replace(' ', '_')}")

cmd = sys.argv[1]
if cmd == "load":
    load(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
else:
    etl(sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
EOF

# gen LIST URL [-L] -> req/s (loadgen fails on any error)
gen() {
  local out
  out=$(timeout $((dur + 60)) "$work/loadgen" -c "$conns" -d "$dur" ${3:-} "$2" "$1" 2>"$work/loadgen.err") || {
    echo "cluster.sh: loadgen against $2 failed:" >&2
    head -5 "$work/loadgen.err" >&2
    exit 1
  }
  awk '{for (i = 1; i < NF; i++) if ($i == "req/s") print $(i + 1)}' <<<"$out"
}

# N consecutive free loopback ports -> the first
free_ports() {
  $PY - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 40000)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
else:
    sys.exit("no free ports")
EOF
}

# start_cluster N -> $curls (comma-separated) and $cdir; the cluster of N
# targets is up and stopped at exit (or by stop_cluster)
start_cluster() {
  local n=$1 base
  cdir=$work/c$n
  clusters+=("$cdir")
  base=$(free_ports $((n + 2)))
  say "cluster of $n (etcd on $base, targets from $((base + 2)))"
  ETLFS_BUILD=$build ETCD_PORT=$base ETLFS_PORT=$((base + 2)) ETLFS_CLUSTER=bench$n \
    "$root/deploy/local/cluster.sh" "$n" "$cdir" >/dev/null
  curls=$(for i in $(seq "$n"); do printf 'http://127.0.0.1:%d,' $((base + 1 + i)); done)
  curls=${curls%,}
}
stop_cluster() { "$root/deploy/local/cluster.sh" stop "$1" >/dev/null; }

load() {
  mkdir -p "$work/$1"
  say "$1: load $nobj objects"
  timeout $((phase + 30)) $PY "$work/helper.py" load "$2" "$data" "$nobj" "$work/$1" "$phase"
}

# the GETs through the node that owns the objects
get_own() {
  say "$1: GET 16 KiB through the owner (c=$conns, ${dur}s)"
  gen "$work/$1/own.list" "$2"
}

# the non-owner's GETs and the ETL job -> "label|own|other|etl_s|how" into rows
rest() {
  local label=$1 urls=$2 own=$3 url=${2%%,*} other=- etl
  if [[ -s $work/$label/other.list ]]; then
    say "$label: GET 16 KiB through a non-owner, following the 307"
    other=$(gen "$work/$label/other.list" "$url" -L)
  fi
  say "$label: etl-bck md5"
  etl=$(timeout $((phase * 2 + 60)) $PY "$work/helper.py" etl "$urls" "$nobj" "$root" "$phase")
  rows+=("$label|$own|$other|${etl% *}|${etl#* }")
}

median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

rows=()
ab=() # "single cluster-1" req/s of each round
say "single node, no --etcd (the anchor)"
start_target "$build"
load single "$turl"
one=
if [[ " $sizes " == *" 1 "* ]]; then
  one=1
  start_cluster 1
  c1dir=$cdir c1urls=$curls
  load cluster-1 "$c1urls"
  for r in $(seq "$rounds"); do
    say "round $r of $rounds: single node, then the 1-target cluster"
    a=$(get_own single "$turl")
    b=$(get_own cluster-1 "$c1urls")
    ab+=("$a $b")
    echo "round $r: single $a req/s, 1-target cluster $b req/s: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')x" >&2
  done
  own_single=$(for x in "${ab[@]}"; do echo "${x% *}"; done | median)
  own_c1=$(for x in "${ab[@]}"; do echo "${x#* }"; done | median)
else
  own_single=$(get_own single "$turl")
fi
rest single "$turl" "$own_single"
kill "$tpid"
wait "$tpid" 2>/dev/null || true
if [[ -n $one ]]; then
  rest cluster-1 "$c1urls" "$own_c1"
  stop_cluster "$c1dir"
fi

for n in $sizes; do
  [[ $n == 1 ]] && continue
  start_cluster "$n"
  load "cluster-$n" "${curls%%,*}"
  own=$(get_own "cluster-$n" "${curls%%,*}")
  rest "cluster-$n" "$curls" "$own"
  stop_cluster "$cdir"
done

echo
printf '%-10s %12s %16s %10s %12s  %s\n' setup GET-owner GET-non-owner ratio etl-bck-s obj/s
anchor_get= anchor_etl=
for r in "${rows[@]}"; do
  IFS='|' read -r label own other etl how <<<"$r"
  [[ $label == single ]] && { anchor_get=$own; anchor_etl=$etl; }
  awk -v l="$label" -v o="$own" -v x="$other" -v e="$etl" -v n="$nobj" -v h="$how" 'BEGIN {
    gsub(/_/, " ", h); printf "%-10s %12.0f %16s %10s %12.2f  %.0f (%s)\n", l, o, (x == "-" ? "-" : sprintf("%.0f", x)),
      (x == "-" ? "-" : sprintf("%.2f", x / o)), e, n / e, h }'
done
for r in "${rows[@]}"; do
  IFS='|' read -r label own other etl how <<<"$r"
  [[ $label == cluster-1 ]] || continue
  ratios=$(for x in "${ab[@]}"; do awk -v a="${x% *}" -v b="${x#* }" 'BEGIN {printf "%.2f\n", b / a}'; done)
  awk -v m="$(median <<<"$ratios")" -v all="$(tr '\n' ' ' <<<"$ratios")" -v e="$etl" -v ae="$anchor_etl" -v k="$rounds" 'BEGIN {
    printf "1-target cluster / single node: GET %.2fx (median of %d alternating rounds: %s), etl-bck %.2fx (goal >= 0.95x)\n",
      m, k, all, ae / e }'
done
echo "(GET: req/s of loadgen, $conns connections, ${dur}s; single and cluster-1: the median of $rounds rounds;"
echo " ratio: non-owner / owner, each non-owner GET"
echo " is a 307 and a second request; etl-bck: seconds for $nobj objects of 16 KiB, native md5)"
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores: other work on the machine skews every figure)"
