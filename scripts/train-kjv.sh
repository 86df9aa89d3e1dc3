#!/usr/bin/env bash
# Trains the small BERT of configs/bert-l2-h128-kjv.json (L2 H128 A2 I512, 2,000 WordPiece pieces trained on
# the corpus, no dropout) on the committed King James Bible with plain MLM, and prints its validation loss
# against the unigram entropy of the text: the evidence that the reference BERT learns from context.
#   bash scripts/train-kjv.sh [steps (default 8000)] [out dir (default runs/kjv)]
# Assumes the Release tree is built (bash scripts/test.sh, or cmake --build build --target growth_tool).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8000}
out=${2:-runs/kjv}
tool=${GROWTH_TOOL:-build/tools/growth}
[[ -x "$tool" ]] || { echo "train-kjv.sh: $tool not built (bash scripts/test.sh)" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"
"$tool" init --config configs/bert-l2-h128-kjv.json --out "$out/init" --seed 0
"$tool" train --model "$out/init" --steps "$steps" --batch 32 --seq-len 64 --lr 2e-3 --eval-every 500 --seed 0 \
  --out "$out/train"
