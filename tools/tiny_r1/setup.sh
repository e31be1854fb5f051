#!/usr/bin/env bash
# Installs what retraining the bundled tiny-r1 model needs (not needed to build or test r1):
# PyTorch and NumPy from Debian, and OpenBLAS for fast float32 products.
set -euo pipefail
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  python3 python3-numpy python3-torch libopenblas0-openmp
