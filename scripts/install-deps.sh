#!/usr/bin/env bash
# Installs the Debian packages Switchyard needs, if any is missing:
#   libgsl-dev            GNU Scientific Library (statistics)
#   libopenblas-dev       OpenBLAS (GEMM)
#   zlib1g-dev            zlib (gzip data sets and traces)
#   pkg-config            how SwiftPM finds OpenBLAS and zlib
#   librsvg2-bin          rsvg-convert, renders SVG charts in the tests
#   dataset-fashion-mnist Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist
# Open MPI, which only expert-parallel runs need, is scripts/install-mpi.sh's (`make mpi`).
set -euo pipefail
packages=(libgsl-dev libopenblas-dev zlib1g-dev pkg-config librsvg2-bin dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present (${packages[*]})"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
