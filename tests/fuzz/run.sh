#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build-fuzz, clang-14, ASan+UBSan) and runs
# each for SECS seconds, one at a time, starting from the seeds in
# tests/fuzz/corpus/<harness>/ (read-only) and what earlier runs found
# (build-fuzz/corpus/<harness>/). Fails on any crash, leak, timeout or
# out-of-memory; the input that did it is left in build-fuzz/artifacts/.
# Usage: tests/fuzz/run.sh [SECS] [HARNESS...]   (default 30 s, all harnesses)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
secs=${1:-30}
shift || true
build=${ETLFS_FUZZ_BUILD:-$root/build-fuzz}
cd "$root"
CC=clang-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DETLFS_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz >/dev/null
harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c | sed 's/^fuzz_//')"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for h in "${harnesses[@]}"; do
  work=$build/corpus/$h art=$build/artifacts/$h log=$build/logs/$h.log
  mkdir -p "$work" "$art/" "$(dirname "$log")"
  dict=(); [[ -f tests/fuzz/$h.dict ]] && dict=(-dict="tests/fuzz/$h.dict")
  # archives need room for a few members; text inputs stay short
  maxlen=4096; [[ $h == archive ]] && maxlen=65536
  rc=0
  "$build/fuzz/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
    -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "$work" "tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  printf '%-10s %s  execs=%s  cov=%s ft=%s corp=%s\n' "$h" "$([ $rc = 0 ] && echo ok || echo FAILED)" "${execs:-?}" \
    "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")" "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")" \
    "$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")"
  if [ $rc != 0 ]; then
    failed+=("$h")
    grep -E 'ERROR|SUMMARY|property broken|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (logs in $build/logs, inputs in $build/artifacts)"
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, ${secs}s each, no crash, leak or timeout"
