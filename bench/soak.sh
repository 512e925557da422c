#!/usr/bin/env bash
# soak.sh - a bounded soak on loopback: a fresh etlfs-target, CLIENTS threads of
# mixed PUT/GET/HEAD/DELETE/list (each object checked against a local model),
# inline ETL through hpush and hpull, etl-bck jobs started and some stopped, and
# an etlfs mount read by 4 processes at once, for SECONDS. Then: zero unexpected
# errors, every object's bytes verified, target and mount RSS / open fds
# (sampled every 5 s, printed as a table) flat after warm-up, no process left.
#
# Usage: bench/soak.sh [SECONDS] [CLIENTS]     (default 600 s, 32 clients)
# Env:   ETLFS_BUILD  build folder (default ./build)
#        SOAK_KEEP=1  keep the work folder (its logs) even when the soak passes
# Exit code: 0 when every check held. The driver: bench/soak/soak.py.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ETLFS_BUILD=${ETLFS_BUILD:-$root/build}
for b in etlfs-target etlfs; do
  [[ -x $ETLFS_BUILD/bin/$b ]] || { echo "soak.sh: $ETLFS_BUILD/bin/$b is not built" >&2; exit 2; }
done
command -v fusermount3 >/dev/null || { echo "soak.sh: needs fusermount3 (fuse3)" >&2; exit 2; }
echo "soak.sh: $(uptime)"
# the driver bounds itself; this is the backstop: SECONDS + 15 minutes
timeout --kill-after=30 "$(( ${1:-600} + 900 ))" /usr/bin/python3 "$root/bench/soak/soak.py" "${1:-600}" "${2:-32}"
