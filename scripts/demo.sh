#!/usr/bin/env bash
# The README's first command: installs what is missing (scripts/setup.sh, needs root for apt), builds only
# the growth tool in build/ (Release), then runs `growth demo`: the budget-fair speedup of progressive
# training on the KJV corpus (baseline budget curve, the small model alone, four growth policies, 2 seeds),
# about 7 minutes on 2 cores. Arguments are passed to `growth demo` (e.g. --steps 8000 --out DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "$(id -u)" = "0" ]; then
  scripts/setup.sh
else
  echo "demo.sh: not root, skipping scripts/setup.sh (run it as root if the build fails for missing packages)"
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target growth_tool -j"$(nproc)"
exec build/tools/growth demo "$@"
