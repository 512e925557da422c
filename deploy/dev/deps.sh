#!/usr/bin/env bash
# Installs the Debian packages etlfs builds, runs and tests with (idempotent).
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config git
  libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libfuse3-dev fuse3
  libmsgpack-dev libxxhash-dev libssl-dev libarchive-dev libpcre2-dev zlib1g-dev libwslay-dev
  python3 python3-venv python3-requests python3-cloudpickle python3-pil python3-xxhash
)
TEST_PACKAGES=(python3-pytest python3-pytest-timeout python3-hypothesis fio python3-msgpack python3-torch python3-torchvision python3-numpy xxhash curl nginx-light wrk psmisc
  openssl lz4 clang-14 libfuzzer-14-dev libclang-rt-14-dev etcd-server etcd-client python3-yaml python3-kubernetes strace)
want=("${PACKAGES[@]}")
[[ ${1:-} == --test ]] && want+=("${TEST_PACKAGES[@]}")
missing=()
for p in "${want[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" ||
  { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
