#!/usr/bin/env bash
# Installs what growth needs on Debian 12 (run as root). Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(cmake ninja-build g++ libeigen3-dev libxtensor-dev xtl-dev libxsimd-dev doctest-dev libbenchmark-dev
      nlohmann-json3-dev libcli11-dev libfmt-dev pkgconf)
pkgs+=(libopenmpi-dev openmpi-bin)  # the MPI adapter's tests (GROWTH_WITH_MPI, ctest label mpi)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
