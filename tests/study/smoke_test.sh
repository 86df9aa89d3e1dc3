#!/usr/bin/env bash
# `growth study --scale smoke` into a fresh folder; it must publish RESULTS.md and at least one SVG figure,
# and RESULTS.md must hold every section and link only figures that exist.
set -euo pipefail
tool=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
"$tool" study --scale smoke --seeds 3 --out "$work/out" | tee "$work/first.log"
# The depth runs (and the FFN-split runs) of a seed share their low-cost stage, trained once.
grep -q 'depth-interp-seed0: .*(first stage shared)' "$work/first.log" || { echo "depth runs did not share their first stage"; exit 1; }
test -s "$work/out/RESULTS.md" || { echo "RESULTS.md missing"; exit 1; }
n=$(ls "$work/out/results/"*.svg 2>/dev/null | wc -l)
[ "$n" -ge 1 ] || { echo "no SVG figure"; exit 1; }
for s in "Operator comparisons" "Compound vs single dimension" "CompoundGrow vs baseline" "Git commit" "Machine"; do
  grep -q "$s" "$work/out/RESULTS.md" || { echo "RESULTS.md lacks '$s'"; exit 1; }
done
for f in $(grep -o 'results/[a-z0-9_-]*\.svg' "$work/out/RESULTS.md" | sort -u); do
  test -s "$work/out/$f" || { echo "RESULTS.md links $f, which is missing"; exit 1; }
done
# A second run reuses every finished run (nothing is trained again).
"$tool" study --scale smoke --seeds 3 --out "$work/out" > "$work/second.log"
trained=$(grep -c 'val_loss' "$work/second.log" || true)
[ "$trained" -eq 0 ] || { echo "second run trained $trained runs again"; exit 1; }
echo "study smoke: RESULTS.md and $n figures"
