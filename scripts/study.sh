#!/usr/bin/env bash
# Runs `growth study` and publishes its outputs into docs/: docs/RESULTS.md and docs/results/*.svg.
# Usage: scripts/study.sh [--scale smoke|small|full] [--seeds N] [other growth study options]
# Environment: BUILD (build folder, default build), GROWTH (the growth tool, default $BUILD/tools/growth),
# OUT (study folder, default results/study).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
out=${OUT:-$root/results/study}
tool=${GROWTH:-$build/tools/growth}
if [ ! -x "$tool" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  nice cmake --build "$build" --target growth_tool -j2
fi
"$tool" study --out "$out" "$@"
mkdir -p "$root/docs/results"
cp "$out"/results/*.svg "$root/docs/results/"
cp "$out/RESULTS.md" "$root/docs/RESULTS.md"
echo "published: docs/RESULTS.md, docs/results/*.svg"
