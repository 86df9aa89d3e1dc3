#!/usr/bin/env bash
# Cross-checks growth against Hugging Face transformers on a machine that has it installed (Debian has no
# transformers package; the lead runs this on the GPU machine's image). Needs a built growth binary.
#   scripts/hf-check.sh [path/to/growth]
# 1. growth init writes a Hugging Face BERT folder; transformers.BertForMaskedLM.from_pretrained loads it.
# 2. growth eval --dump writes a masked batch and our logits; transformers recomputes them (max |diff|).
# 3. transformers.BertTokenizer on our vocab.txt tokenises the corpus exactly as we did.
# 4. pre-LN: the roberta-prelayernorm conversion (scripts/export_roberta_prelayernorm.py), see the end.
set -uo pipefail
cd "$(dirname "$0")/.."
g=${1:-build/tools/growth}
export GROWTH_DATA_DIR=$PWD/data
tmp=$(mktemp -d)
for ir in 0.02 0.5; do
  cat > "$tmp/config.json" <<JSON
{"vocab_size": 3000, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
 "intermediate_size": 256, "max_position_embeddings": 128, "initializer_range": $ir}
JSON
  rm -rf "$tmp/ck"
  "$g" init --config "$tmp/config.json" --out "$tmp/ck" --seed 7
  "$g" eval --model "$tmp/ck" --text data/kjv.txt --batches 1 --batch-size 32 --seq-len 128 --dump "$tmp/dump.safetensors"
  echo "--- initializer_range=$ir"
  python3 scripts/hf_eval_dump.py "$tmp/ck" "$tmp/dump.safetensors"
done
python3 scripts/hf_tokenizer_check.py "$tmp/ck/vocab.txt" "$tmp/dump.safetensors" data/kjv.txt
# 4. Pre-LN: growth init (growth.pre_layer_norm, shared + factorised layers), growth eval --dump, then the
#    conversion to a roberta-prelayernorm folder, recomputed by transformers.RobertaPreLayerNormForMaskedLM
#    (and a pure-torch transcription) on the golden file's padded batch and on the dump (docs/prelayernorm.md).
cat > "$tmp/pre.json" <<JSON
{"vocab_size": 3000, "hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
 "intermediate_size": 256, "max_position_embeddings": 128, "initializer_range": 0.5,
 "growth": {"pre_layer_norm": true, "ffn_shared_layers": [0], "ffn_share_factor": 4,
            "ffn_factorized_layers": [2], "ffn_rank": 16}}
JSON
rm -rf "$tmp/pre" "$tmp/pre-hf"
"$g" init --config "$tmp/pre.json" --out "$tmp/pre" --seed 7
"$g" eval --model "$tmp/pre" --text data/kjv.txt --batches 1 --batch-size 32 --seq-len 128 --dump "$tmp/pre-dump.safetensors"
echo "--- pre-LN -> roberta-prelayernorm"
python3 scripts/export_roberta_prelayernorm.py --check-golden tests/reference/golden/tiny_preln.safetensors
python3 scripts/export_roberta_prelayernorm.py "$tmp/pre" "$tmp/pre-hf" --check "$tmp/pre-dump.safetensors"
