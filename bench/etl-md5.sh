#!/bin/sh
# etl-md5.sh - requests per second of the md5 transformers as the target sees
# them (hpush PUTs on keep-alive connections): the C etlfs-md5, the Python
# md5 transformer and the init-code runner with an md5 function.
# Usage: bench/etl-md5.sh [requests per client] [object size] [clients]
# Bounded: every run stops after its request count or 60 s.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ETLFS_BUILD:-$ROOT/build}/bin
N=${1:-2000}
SIZE=${2:-4096}
CLIENTS=${3:-2}
PY=/usr/bin/python3
TMP=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # name url
    $PY - "$1" "$2" "$N" "$SIZE" "$CLIENTS" <<'PYEOF'
import hashlib, http.client, os, sys, threading, time
name, url, n, size, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
host, port = url.split("//")[1].split(":")
for _ in range(200):  # wait for /health, at most 10 s
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=1); c.request("GET", "/health")
        if c.getresponse().status == 200: break
    except OSError: time.sleep(0.05)
body = os.urandom(size); want = hashlib.md5(body).hexdigest().encode()
done = [0]; lock = threading.Lock(); deadline = time.time() + 60
def client():
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    for _ in range(n):
        if time.time() > deadline: break
        c.request("PUT", "/bck/obj", body=body); r = c.getresponse()
        assert r.status == 200 and r.read() == want
        with lock: done[0] += 1
t0 = time.time()
ts = [threading.Thread(target=client) for _ in range(clients)]
[t.start() for t in ts]; [t.join() for t in ts]
dt = time.time() - t0
print(f"{name:16s} {done[0]:7d} req  {done[0]/dt:9.0f} req/s  {done[0]*size/dt/1e6:8.1f} MB/s")
PYEOF
}

P=$(port); "$BIN/etlfs-md5" -l 127.0.0.1 -p "$P" 2>"$TMP/native.log" & PIDS="$PIDS $!"
run etlfs-md5 "http://127.0.0.1:$P"

P=$(port); $PY "$ROOT/etl/transformers/md5/server.py" -l 127.0.0.1 -p "$P" 2>"$TMP/py.log" & PIDS="$PIDS $!"
run md5/server.py "http://127.0.0.1:$P"

printf 'import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n' > "$TMP/code.py"
P=$(port)
MOD_NAME=code ETLFS_CODE_DIR=$TMP FUNC_TRANSFORM=transform COMM_TYPE=hpush:// CHUNK_SIZE= ARG_TYPE= \
ETLFS_PORT=$P AIS_TARGET_URL=http://127.0.0.1:1 $PY "$ROOT/etl/runtimes/python/runner.py" 2>"$TMP/runner.log" & PIDS="$PIDS $!"
run runner "http://127.0.0.1:$P"
