#!/bin/bash
# install.sh - installs the etlfs mount pieces on a node:
#   BUILD/bin/etlfs -> PREFIX/bin/etlfs, mount.etlfs -> SBIN/mount.etlfs (so
#   `mount -t etlfs` and /etc/fstab work), etlfs.service -> SYSTEMD_DIR.
# usage: install.sh [--build DIR] [--prefix /usr/local] [--sbin /sbin] [--no-systemd] [--link]
#   --link  symlink instead of copying (a development checkout stays live)
# fstab:  ais://BUCKET[@ETL]  /data/x  etlfs  endpoint=http://127.0.0.1:8080,_netdev,nofail  0 0
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build PREFIX=/usr/local SBIN=/sbin SYSTEMD_DIR=/etc/systemd/system SYSTEMD=1 LINK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift ;;
    --prefix) PREFIX=$2; shift ;;
    --sbin) SBIN=$2; shift ;;
    --no-systemd) SYSTEMD=0 ;;
    --link) LINK=1 ;;
    *) echo "usage: $0 [--build DIR] [--prefix DIR] [--sbin DIR] [--no-systemd] [--link]" >&2; exit 2 ;;
  esac
  shift
done
put() { # put SRC DST MODE
  mkdir -p "$(dirname "$2")"
  if [ "$LINK" = 1 ]; then ln -sfn "$(readlink -f "$1")" "$2"; else install -m "$3" "$1" "$2"; fi
  echo "installed $2"
}
[ -x "$BUILD/bin/etlfs" ] || { echo "install.sh: $BUILD/bin/etlfs not built" >&2; exit 1; }
command -v fusermount3 >/dev/null || echo "install.sh: warning: fusermount3 missing (apt-get install fuse3)" >&2
put "$BUILD/bin/etlfs" "$PREFIX/bin/etlfs" 0755
put "$HERE/mount.etlfs" "$SBIN/mount.etlfs" 0755
if [ "$SYSTEMD" = 1 ] && [ -d "$(dirname "$SYSTEMD_DIR")" ]; then
  sed "s|/usr/local/bin/etlfs|$PREFIX/bin/etlfs|; s|/sbin/mount.etlfs|$SBIN/mount.etlfs|" \
    "$HERE/etlfs.service" >"$SYSTEMD_DIR/etlfs.service"
  echo "installed $SYSTEMD_DIR/etlfs.service"
  command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true
fi
