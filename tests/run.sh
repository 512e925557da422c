#!/usr/bin/env bash
# Builds everything under AddressSanitizer + UndefinedBehaviorSanitizer (and
# the optimised build of `make run`, for its warnings) and runs every test: the C unit tests (ctest), the end-to-end pytest suite
# against the real binaries, then each fuzzer of tests/fuzz for
# ETLFS_FUZZ_SECS seconds (default 30; 0 skips them). Installs what it
# needs. Exit code: non-zero if anything failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./deploy/dev/deps.sh --test
build=${ETLFS_TEST_BUILD:-$root/build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DETLFS_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# the optimised build of `make run` too: -O2 finds warnings (-Werror) that -O0 does not
cmake -S . -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# both suites run even if the first fails; the exit code says if either did
unit=0
(cd "$build" && ctest --output-on-failure) || unit=$?
export ETLFS_BUILD="$build"
e2e=0
/usr/bin/python3 -m pytest -p no:cacheprovider -v -ra --timeout 900 tests/e2e "$@" || e2e=$?
# fuzzing: each libFuzzer harness for ETLFS_FUZZ_SECS seconds (0 skips it)
fuzz_secs=${ETLFS_FUZZ_SECS:-30}
fuzz=skipped
if [ "$fuzz_secs" != 0 ]; then
  fuzz=passed
  ./tests/fuzz/run.sh "$fuzz_secs" || fuzz=FAILED
fi
echo "unit tests: $([ $unit = 0 ] && echo passed || echo FAILED), end-to-end: $([ $e2e = 0 ] && echo passed || echo FAILED), fuzzing: $fuzz"
[ $unit = 0 ] && [ $e2e = 0 ] && [ $fuzz != FAILED ]
