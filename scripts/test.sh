#!/usr/bin/env bash
# Runs every test: the Release build's full ctest suite, then the unit and golden suites again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then each fuzz target briefly.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

echo "== release build + tests"
"$root/scripts/build.sh" "$root/build"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== ASan/UBSan build + tests"
"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_SANITIZE=ON \
  -DR1_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure -L 'unit|golden' -LE slow

if [[ -d "$root/tests/fuzz" && -f "$root/tests/fuzz/CMakeLists.txt" ]]; then
  echo "== fuzz targets (libFuzzer, ASan/UBSan)"
  CXX=clang++-14 "$root/scripts/build.sh" "$root/build-fuzz" -DR1_BUILD_FUZZ=ON -DR1_BUILD_TESTS=OFF \
    -DR1_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
  "$root/tests/fuzz/run.sh" "$root/build-fuzz" "${R1_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"
