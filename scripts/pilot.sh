#!/usr/bin/env bash
# The regime pilot behind the demo's defaults (docs/pilot.md): which settings make a small BERT leave the MLM
# plateau soonest on the committed KJV corpus. Each row is `growth init` + `growth train` on one thread; two rows
# train side by side. Prints the validation loss at steps 1000, 2000 and the last, and the unigram entropy.
#   bash scripts/pilot.sh [out dir (default runs/pilot)] [steps (default 2500)] [regex of row names (default all)]
# Assumes the Release tree is built (bash scripts/test.sh, or cmake --build build --target growth_tool).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/pilot}
steps=${2:-2500}
only=${3:-.}
tool=${GROWTH_TOOL:-build/tools/growth}
[[ -x "$tool" ]] || { echo "pilot.sh: $tool not built (bash scripts/test.sh)" >&2; exit 2; }
mkdir -p "$out"

# name layers hidden ffn seq batch pre_ln(0/1) vocab optimizer flags...
wsd="--lr-schedule wsd --min-lr-ratio 0"
rows=(
  "L4H64-s64b32-post-b999-linear 4 64 256 64 32 0 2000 --beta2 0.999 --lr 2e-3 --lr-schedule linear --min-lr-ratio 0.1"
  "L4H64-s64b32-post-b98         4 64 256 64 32 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s64b32-post-b98-lr4e-3  4 64 256 64 32 0 2000 --beta2 0.98 --lr 4e-3 $wsd"
  "L4H64-s64b32-pre-b98          4 64 256 64 32 1 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L2H128-s64b32-pre-b98         2 128 512 64 32 1 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L2H128-s32b64-post-b98        2 128 512 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b32-post-b98         4 64 256 32 32 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b64-post-b98         4 64 256 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b64-pre-b98          4 64 256 32 64 1 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L1H64-s32b64-post-b98         1 64 256 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L2H64-s32b64-post-b98         2 64 256 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b64-post-b98-V1000   4 64 256 32 64 0 1000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b64-post-b98-V4000   4 64 256 32 64 0 4000 --beta2 0.98 --lr 2e-3 $wsd"
  "L4H64-s32b64-post-b98-warm500 4 64 256 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd --warmup 500"
  "L4H64-s32b64-post-b98-warm25  4 64 256 32 64 0 2000 --beta2 0.98 --lr 2e-3 $wsd --warmup 25"
)

one() {
  read -r name L H I S B pre V extra <<<"$1"
  local d="$out/$name"
  rm -rf "$d" && mkdir -p "$d"
  local growth_block=""
  [[ "$pre" == 1 ]] && growth_block=', "growth": {"pre_layer_norm": true}'
  cat >"$d/config.json" <<EOF
{"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": $V, "hidden_size": $H,
 "num_hidden_layers": $L, "num_attention_heads": 2, "intermediate_size": $I, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": $S,
 "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0$growth_block}
EOF
  "$tool" init --config "$d/config.json" --out "$d/init" --seed 0 >/dev/null
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 "$tool" train --model "$d/init" --steps "$steps" --batch "$B" --seq-len "$S" \
    --eval-every 250 --threads 1 --seed 0 --out "$d/train" $extra >"$d/train.log" 2>&1
  local h1
  h1=$(sed -n 's/.*vs unigram entropy \([0-9.]*\) nats.*/\1/p' "$d/train.log")
  awk -F, -v n="$name" -v h="$h1" 'NR>1 { if ($1 == 1000) a = $8; if ($1 == 2000) b = $8; l = $8; s = $1; w = $6 }
    END { printf "%-32s loss@1000 %.3f  loss@2000 %.3f  loss@%d %.3f  (%.0f s)  unigram entropy %s\n", n, a, b, s, l, w, h }' \
    "$d/train/log.csv"
}

i=0
for r in "${rows[@]}"; do
  [[ "${r%% *}" =~ $only ]] || continue
  one "$r" &
  i=$((i + 1))
  if (( i % 2 == 0 )); then wait; fi
done
wait
