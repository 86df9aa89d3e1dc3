#!/usr/bin/env bash
# `growth study --scale smoke` into a fresh folder; it must publish RESULTS.md and at least one SVG figure,
# RESULTS.md must hold every section and link only figures that exist, the baseline's budgets must be forks of
# one stable run, and every grown run must have a speedup with its kind.
set -euo pipefail
tool=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
"$tool" study --scale smoke --seeds 3 --out "$work/out" | tee "$work/first.log"
# The depth runs (and the FFN-split runs) of a seed share their low-cost stage, trained once.
grep -q 'depth-interp-seed0: .*(forked from depth-stack at step' "$work/first.log" || { echo "depth runs did not share their first stage"; exit 1; }
grep -q 'split-asym-seed0: .*(forked from split-sym at step' "$work/first.log" || { echo "split runs did not share their first stage"; exit 1; }
# The baseline budgets 1/2 and 3/4 of every seed fork from the full budget's stable run, and their logs equal
# its log up to the fork (wall-clock aside).
runs=$work/out/runs
for s in 0 1 2; do
  for b in 50 75; do
    line=$(grep "baseline-$b-seed$s: " "$work/first.log") || { echo "baseline-$b-seed$s missing"; exit 1; }
    fork=$(sed -n 's/.*(forked from baseline at step \([0-9]*\)).*/\1/p' <<<"$line")
    [ -n "$fork" ] || { echo "baseline-$b-seed$s did not fork from the stable run: $line"; exit 1; }
    a=$(awk -F, -v f="$fork" 'NR > 1 && $1 <= f { print $1, $2, $3, $4, $5, $7, $8 }' "$runs/baseline-$b-seed$s.csv")
    z=$(awk -F, -v f="$fork" 'NR > 1 && $1 <= f { print $1, $2, $3, $4, $5, $7, $8 }' "$runs/baseline-seed$s.csv")
    [ -n "$a" ] && [ "$a" = "$z" ] || { echo "baseline-$b-seed$s differs from the stable run before step $fork"; exit 1; }
  done
done
test -s "$work/out/RESULTS.md" || { echo "RESULTS.md missing"; exit 1; }
n=$(ls "$work/out/results/"*.svg 2>/dev/null | wc -l)
[ "$n" -ge 1 ] || { echo "no SVG figure"; exit 1; }
for s in "The baseline: a budget curve" "Operator comparisons" "Compound vs single dimension" "CompoundGrow vs baseline" \
         "Speedups of every grown run" "Regime" "Git commit" "Machine"; do
  grep -q "$s" "$work/out/RESULTS.md" || { echo "RESULTS.md lacks '$s'"; exit 1; }
done
# Section 5: one row per grown run (15), each with the kind of its FLOPs and wall-clock speedups.
rows=$(sed -n '/^## 5\. Speedups/,/^## 6\./p' "$work/out/RESULTS.md" | grep '^| ' | tail -n +2 || true)
nrows=$(grep -c . <<<"$rows" || true)
[ "$nrows" -eq 15 ] || { echo "speedup table has $nrows rows, expected 15"; exit 1; }
bad=$(grep -Evc '\| (interpolated|upper bound|lower bound) \|.*\| (interpolated|upper bound|lower bound) \|' <<<"$rows" || true)
[ "$bad" -eq 0 ] || { echo "$bad grown runs lack a speedup kind"; exit 1; }
# Section 6: every configuration's final model fine-tuned on the three downstream tasks (18 rows), then the
# majority and bag-of-words rows; each run's fine-tuning is cached beside its log.
ft=$(sed -n '/^## 6\. Downstream fine-tuning/,$p' "$work/out/RESULTS.md" | grep '^| ' | tail -n +2 || true)
nft=$(grep -c . <<<"$ft" || true)
[ "$nft" -eq 20 ] || { echo "fine-tuning table has $nft rows, expected 20"; exit 1; }
bad=$(grep -Evc '^\| .* \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \|$' <<<"$(head -18 <<<"$ft")" || true)
[ "$bad" -eq 0 ] || { echo "$bad fine-tuning rows lack an accuracy per task"; exit 1; }
nfj=$(ls "$runs/"*.finetune.json | wc -l)
[ "$nfj" -eq 54 ] || { echo "$nfj fine-tuning result files, expected 54"; exit 1; }
for f in $(grep -o 'results/[a-z0-9_-]*\.svg' "$work/out/RESULTS.md" | sort -u); do
  test -s "$work/out/$f" || { echo "RESULTS.md links $f, which is missing"; exit 1; }
done
# A second run reuses every finished run (nothing is trained again).
"$tool" study --scale smoke --seeds 3 --out "$work/out" > "$work/second.log"
trained=$(grep -c 'val_loss' "$work/second.log" || true)
[ "$trained" -eq 0 ] || { echo "second run trained $trained runs again"; exit 1; }
echo "study smoke: RESULTS.md and $n figures"
