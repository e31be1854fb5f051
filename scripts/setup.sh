#!/usr/bin/env bash
# Installs everything r1's build and tests need on Debian 12 (idempotent: installs only what is
# missing). Run as root or with sudo available.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git
  nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev libcli11-dev libfmt-dev
  libutf8proc-dev                      # tokenizer: Unicode normalization (NFC) and categories
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev          # libFuzzer targets
  nodejs npm                           # e2e tests drive the server with the OpenAI Node client
)
# Retraining the bundled model (tools/tiny_r1) also needs python3-torch: tools/tiny_r1/setup.sh.

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# A machine that already has node (e.g. from NodeSource) needs no Debian nodejs/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the tests (pinned by package-lock.json).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for dir in tests/e2e/server bench/tokenizer; do
  if [[ -f "$root/$dir/package.json" && ! -d "$root/$dir/node_modules" ]]; then
    (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
echo "setup: done"
