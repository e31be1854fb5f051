#!/usr/bin/env bash
# Runs every built fuzz target for a few seconds each, starting from its seed corpus
# (tests/fuzz/corpus/<name>/ when present). A crash or sanitizer report fails the run.
set -euo pipefail
build=$1
seconds=${2:-20}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shopt -s nullglob
for bin in "$build"/tests/fuzz/fuzz_*; do
  [[ -x "$bin" ]] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  seeds=()
  [[ -d "$here/corpus/$name" ]] && seeds+=("$here/corpus/$name")
  echo "fuzz: $name for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 \
    -print_final_stats=0 "$work" "${seeds[@]+"${seeds[@]}"}" >"$work.log" 2>&1 ||
    { tail -50 "$work.log"; echo "fuzz: $name FAILED"; exit 1; }
  rm -rf "$work" "$work.log"
done
