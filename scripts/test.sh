#!/usr/bin/env bash
# Runs every test: the Release build's full ctest suite, then one clang build with
# AddressSanitizer + UndefinedBehaviorSanitizer (and libFuzzer coverage) that runs the unit and
# golden suites again and each fuzz target briefly.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

echo "== release build + tests"
"$root/scripts/build.sh" "$root/build"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== ASan/UBSan build (clang) + unit and golden tests"
CXX=clang++-14 "$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DR1_SANITIZE=ON -DR1_BUILD_FUZZ=ON -DR1_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure -L 'unit|golden' -LE slow

echo "== fuzz targets (libFuzzer, ASan/UBSan)"
"$root/tests/fuzz/run.sh" "$root/build-asan" "${R1_FUZZ_SECONDS:-20}"
echo "== all tests passed"
