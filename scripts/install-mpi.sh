#!/usr/bin/env bash
# Installs Open MPI for switchyard-mpi (`make mpi`, docs/expert-parallel.md), if missing:
#   openmpi-bin       mpirun and Open MPI's runtime
#   libopenmpi-dev    the C headers and ompi-c.pc, through which SwiftPM finds them
# Only expert-parallel runs need it: the plain `switchyard` build never does, so
# scripts/install-deps.sh leaves it out.
set -euo pipefail
packages=(openmpi-bin libopenmpi-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-mpi: all packages present (${packages[*]})"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-mpi: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
