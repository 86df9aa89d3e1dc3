#!/usr/bin/env bash
# End-to-end tests of the growth tool's init / inspect / eval subcommands (registered by
# tests/tools/CMakeLists.txt). Usage: cli_test.sh <step> <growth executable> <work dir>
# Steps: init (creates <work>/ckpt, the fixture of the others), inspect, eval, dump, errors, faults, shards.
set -u
step=$1
tool=$2
work=$3
mkdir -p "$work"
cd "$work" || exit 1

fail() {
  echo "FAIL [$step]: $*" >&2
  exit 1
}

# Tiny model: H = 16, L = 2, A = 2, I = 32, V = 120, P = 64, T = 2.
write_config() {
  cat >"$1" <<'EOF'
{
  "architectures": ["BertForMaskedLM"],
  "model_type": "bert",
  "vocab_size": 120,
  "hidden_size": 16,
  "num_hidden_layers": 2,
  "num_attention_heads": 2,
  "intermediate_size": 32,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 64,
  "type_vocab_size": 2,
  "initializer_range": 0.02,
  "layer_norm_eps": 1e-12,
  "pad_token_id": 0
}
EOF
}

# A small deterministic text: 300 lines of sentences over a few dozen words.
write_text() {
  awk 'BEGIN {
    split("the lord said unto moses and aaron in the land of egypt saying this month shall be unto you the beginning of months it shall be the first month of the year to you speak ye unto all the congregation of israel", w, " ");
    n = length(w); s = 7;
    for (l = 0; l < 300; l++) {
      line = "";
      len = 6 + (l % 9);
      for (k = 0; k < len; k++) { s = (s * 1103515245 + 12345) % 2147483648; line = line (k ? " " : "") w[1 + int(s / 65536) % n]; }
      print line ".";
    }
  }' >"$1"
}

# Parameter count of the tiny config, by the BertForMaskedLM formula (decoder weight tied, not counted).
expected_params() {
  local H=16 L=2 I=32 V=120 P=64 T=2
  local emb=$(((V + P + T) * H + 2 * H))
  local layer=$((4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H))
  local head=$((H * H + H + 2 * H + V))
  echo $((emb + L * layer + head))
}

case "$step" in
  init)
    rm -rf ckpt ckpt2 config.json text.txt
    write_config config.json
    write_text text.txt
    "$tool" init --config config.json --text text.txt --seed 1 --out ckpt 2>init.err >init.out || { cat init.err; fail "init failed"; }
    for f in config.json model.safetensors vocab.txt; do [[ -s ckpt/$f ]] || fail "ckpt/$f missing"; done
    [[ $(wc -l <ckpt/vocab.txt) -eq 120 ]] || fail "vocab.txt has $(wc -l <ckpt/vocab.txt) lines, expected 120"
    head -5 ckpt/vocab.txt | tr '\n' ' ' | grep -q '^\[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\] $' || fail "special tokens not first"
    if grep -q '\[unused0\]' ckpt/vocab.txt; then
      grep -q 'padded' init.err || fail "vocab padded without a note on stderr"
    fi
    # Same seed -> the same bytes; another seed -> other weights.
    "$tool" init --config config.json --text text.txt --seed 1 --out ckpt2 >/dev/null 2>&1 || fail "second init failed"
    cmp -s ckpt/model.safetensors ckpt2/model.safetensors || fail "init is not deterministic"
    cmp -s ckpt/vocab.txt ckpt2/vocab.txt || fail "vocab training is not deterministic"
    "$tool" init --config config.json --text text.txt --seed 2 --out ckpt2 2>/dev/null && fail "init over an existing folder without --force succeeded"
    "$tool" init --config config.json --text text.txt --seed 2 --out ckpt2 --force >/dev/null 2>&1 || fail "init --force failed"
    cmp -s ckpt/model.safetensors ckpt2/model.safetensors && fail "seeds 1 and 2 gave the same weights"
    # --vocab copies the given vocabulary.
    rm -rf ckpt3
    "$tool" init --config config.json --vocab ckpt/vocab.txt --out ckpt3 >/dev/null 2>&1 || fail "init --vocab failed"
    cmp -s ckpt/vocab.txt ckpt3/vocab.txt || fail "init --vocab did not copy vocab.txt"
    rm -rf ckpt2 ckpt3
    echo "init ok"
    ;;
  inspect)
    out=$("$tool" inspect --model ckpt) || fail "inspect exited non-zero"
    want=$(expected_params)
    echo "$out" | grep -qx "total_parameters=$want" || { echo "$out"; fail "total_parameters != $want"; }
    echo "$out" | grep -q 'bert.encoder.layer.1.intermediate.dense.weight *\[32, 16\] *512' || fail "parameter line missing"
    echo "$out" | grep -q '^forward_flops_per_token(seq_len=64)=' || fail "flops at max_position_embeddings missing"
    echo "$out" | grep -q '^forward_flops_per_token(seq_len=128)=' || fail "flops at 128 missing"
    n=$(echo "$out" | grep -c '^  bert\.\|^  cls\.')
    [[ $n -eq $((5 + 2 * 16 + 5)) ]] || fail "expected 42 parameter lines, got $n"
    echo "inspect ok"
    ;;
  eval)
    a=$("$tool" eval --model ckpt --text text.txt --seq-len 32 --batch-size 4 --batches 3 --seed 5) || fail "eval failed"
    b=$("$tool" eval --model ckpt --text text.txt --seq-len 32 --batch-size 4 --batches 3 --seed 5) || fail "eval failed"
    [[ $(echo "$a" | wc -l) -eq 1 ]] || fail "eval printed more than one line: $a"
    [[ $a =~ ^mlm_loss=[0-9]+\.[0-9]+\ mlm_accuracy=[0-9]+\.[0-9]+\ tokens=[0-9]+$ ]] || fail "bad line format: $a"
    [[ "$a" == "$b" ]] || fail "eval not deterministic: '$a' vs '$b'"
    # A random model of vocab 120 has a loss near ln(120) = 4.79.
    loss=$(echo "$a" | sed 's/^mlm_loss=\([0-9.]*\).*/\1/')
    awk -v l="$loss" 'BEGIN { exit !(l > 4.0 && l < 5.6) }' || fail "loss $loss far from ln(120)"
    c=$("$tool" eval --model ckpt --text text.txt --seq-len 32 --batch-size 4 --batches 3 --seed 6) || fail "eval failed"
    [[ "$a" != "$c" ]] || fail "--seed does not change the masks"
    # Same masks whatever the batch size (masks depend on the sequence, not the batch): 12 sequences both ways.
    d=$("$tool" eval --model ckpt --text text.txt --seq-len 32 --batch-size 6 --batches 2 --seed 5) || fail "eval failed"
    [[ "${a##* }" == "${d##* }" ]] || fail "target count depends on the batch size: '$a' vs '$d'"
    echo "eval ok: $a"
    ;;
  dump)
    rm -f dump.safetensors
    "$tool" eval --model ckpt --text text.txt --seq-len 32 --batch-size 3 --batches 1 --seed 5 --dump dump.safetensors >dump.out ||
      fail "eval --dump failed"
    [[ -s dump.safetensors ]] || fail "dump.safetensors not written"
    echo "dump ok: $(cat dump.out)"
    ;;
  errors)
    # Each case: must exit non-zero, name the culprit on stderr, and leave nothing behind.
    expect_error() {  # expect_error <pattern> <args...>
      local pat=$1
      shift
      if "$tool" "$@" >err.out 2>err.txt; then fail "'$*' succeeded"; fi
      grep -q -- "$pat" err.txt || { cat err.txt; fail "'$*': message does not name '$pat'"; }
    }
    rm -rf bad out_bad
    write_config bad.json
    sed -i 's/"num_attention_heads": 2/"num_attention_heads": 3/' bad.json
    expect_error num_attention_heads init --config bad.json --text text.txt --out out_bad
    [[ ! -e out_bad ]] || fail "init wrote out_bad after a config error"
    ls -a | grep -q '^\.out_bad' && fail "init left a temp folder behind"
    echo '{"hidden_size": 16,' >bad.json
    expect_error bad.json init --config bad.json --text text.txt --out out_bad
    [[ ! -e out_bad ]] || fail "init wrote out_bad after a parse error"
    expect_error 'no-such.json' init --config no-such.json --text text.txt --out out_bad
    expect_error 'no-such.txt' init --config config.json --text no-such.txt --out out_bad
    write_config small.json
    sed -i 's/"vocab_size": 120/"vocab_size": 10/' small.json
    expect_error vocab_size init --config small.json --text text.txt --out out_bad
    [[ ! -e out_bad ]] || fail "init wrote out_bad after a vocab_size error"
    expect_error 'no-such-dir' eval --model no-such-dir --text text.txt
    expect_error 'no-such-dir' inspect --model no-such-dir
    # Wrong shapes: the config says intermediate_size 48, the tensors are 32 wide.
    cp -r ckpt bad
    sed -i 's/"intermediate_size": 32/"intermediate_size": 48/' bad/config.json
    expect_error 'intermediate.dense.weight' eval --model bad --text text.txt
    expect_error 'intermediate.dense.weight' inspect --model bad
    rm bad/vocab.txt
    expect_error 'vocab.txt' eval --model bad --text text.txt
    expect_error 'seq-len' eval --model ckpt --text text.txt --seq-len 65
    expect_error 'no-such.txt' eval --model ckpt --text no-such.txt
    rm -f d.safetensors
    expect_error 'dump' eval --model ckpt --text text.txt --batches 1 --dump no-such-dir/d.safetensors
    rm -rf bad
    # A NaN weight: refused naming the tensor; read with the global flag --allow-nonfinite (before or after
    # the subcommand). The first 4 data bytes (after the u64 header length and the header) become a NaN.
    rm -rf nanck
    cp -r ckpt nanck
    hlen=$(od -An -t u8 -N8 nanck/model.safetensors | tr -d ' ')
    printf '\x00\x00\xc0\x7f' | dd of=nanck/model.safetensors bs=1 seek=$((8 + hlen)) conv=notrunc status=none
    expect_error 'NaN at element 0' inspect --model nanck
    grep -q 'bert\.' err.txt || fail "the NaN refusal does not name the tensor: $(cat err.txt)"
    "$tool" inspect --model nanck --allow-nonfinite >/dev/null || fail "inspect --allow-nonfinite refused a NaN weight"
    "$tool" --allow-nonfinite inspect --model nanck >/dev/null || fail "--allow-nonfinite before the subcommand refused"
    rm -rf nanck
    echo "errors ok"
    ;;
  faults)
    # Issue #14's faults: nothing overwritten that was not named as output, no hang, no wrapped number, no
    # silent exit 0. Each case must exit non-zero with a "growth: error:" naming the culprit.
    expect_error() {  # expect_error <pattern> <args...>
      local pat=$1
      shift
      local rc=0
      timeout 60 "$tool" "$@" >err.out 2>err.txt || rc=$?
      [[ $rc -ne 0 ]] || fail "'$*' succeeded"
      [[ $rc -ne 124 ]] || fail "'$*' hung (killed by timeout)"
      [[ $rc -lt 128 ]] || fail "'$*' crashed (exit $rc)"
      grep -q 'growth: error' err.txt || { cat err.txt; fail "'$*': no growth: error line"; }
      grep -q -- "$pat" err.txt || { cat err.txt; fail "'$*': message does not name '$pat'"; }
    }
    rm -rf f && mkdir f
    ev=(eval --model ckpt --text text.txt --batches 1)
    # Output targets: a device, a FIFO, a folder are refused; a symlink is written through (kept, target
    # replaced); a path inside the --model folder (directly or through a link) is refused.
    mkfifo f/fifo
    expect_error 'character device' "${ev[@]}" --dump /dev/null
    [[ -c /dev/null ]] || fail "/dev/null is no longer a device"
    expect_error 'FIFO' "${ev[@]}" --dump f/fifo
    [[ -p f/fifo ]] || fail "the FIFO was replaced"
    sum=$(cksum <ckpt/model.safetensors)
    expect_error 'outside the --model folder' "${ev[@]}" --dump ckpt/model.safetensors
    ln -s ../ckpt/model.safetensors f/link
    expect_error 'outside the --model folder' "${ev[@]}" --dump f/link
    [[ $(cksum <ckpt/model.safetensors) == "$sum" ]] || fail "the input model.safetensors was overwritten"
    echo old >f/real && ln -s real f/dumplink
    "$tool" "${ev[@]}" --dump f/dumplink >/dev/null || fail "--dump through a symlink failed"
    [[ -L f/dumplink && -s f/real && $(head -c 3 f/real) != old ]] || fail "--dump did not write through the symlink"
    ln -s nowhere f/dangling
    expect_error 'dangling' "${ev[@]}" --dump f/dangling
    expect_error 'outside the --model folder' train --model ckpt --text text.txt --steps 1 --out f/t1 --log ckpt/log.csv
    expect_error 'FIFO' train --model ckpt --text text.txt --steps 1 --out f/t1 --log f/fifo
    [[ ! -e f/t1 ]] || fail "train wrote --out after refusing --log"
    # Inputs that are not regular files: refused at once, never a hang or a bad_alloc.
    expect_error 'FIFO' eval --model ckpt --text f/fifo
    expect_error 'folder' eval --model ckpt --text ckpt
    cp -r ckpt f/fifock && rm f/fifock/config.json && mkfifo f/fifock/config.json
    expect_error 'FIFO' eval --model f/fifock --text text.txt
    cp -r ckpt f/fifost && rm f/fifost/model.safetensors && mkfifo f/fifost/model.safetensors
    expect_error 'FIFO' inspect --model f/fifost
    cp -r ckpt f/fifovoc && rm f/fifovoc/vocab.txt && mkfifo f/fifovoc/vocab.txt
    expect_error 'FIFO' eval --model f/fifovoc --text text.txt
    cp -r ckpt f/dirck && rm f/dirck/config.json && mkdir f/dirck/config.json
    expect_error 'folder' eval --model f/dirck --text text.txt
    # Numbers: negatives refused (not wrapped), bounds on threads, batch and sequence length, --lr finite > 0.
    expect_error 'non-negative' train --model ckpt --text text.txt --steps -1 --out f/t2
    expect_error 'non-negative' train --model ckpt --text text.txt --steps 1 --seed -5 --out f/t2
    expect_error 'non-negative' eval --model ckpt --text text.txt --seq-len -1
    expect_error 'non-negative' init --config config.json --text text.txt --out f/t2 --seed -1
    expect_error 'at most 256' train --model ckpt --text text.txt --steps 1 --threads 100000 --out f/t2
    expect_error 'at most 256' train --model ckpt --text text.txt --steps 1 --threads 5000 --out f/t2
    expect_error 'at most 256' train --model ckpt --text text.txt --steps 1 --threads 4294967296 --out f/t2
    expect_error 'at most 4096' train --model ckpt --text text.txt --steps 1 --batch 100000 --out f/t2
    expect_error 'at most 4096' eval --model ckpt --text text.txt --batch-size 1000000
    expect_error 'at most 8192' train --model ckpt --text text.txt --steps 1 --seq-len 100000 --out f/t2
    for lr in inf nan 0 -1; do expect_error '--lr' train --model ckpt --text text.txt --steps 1 --lr "$lr" --out f/t2; done
    [[ ! -e f/t2 ]] || fail "a refused train wrote --out"
    # stdout that cannot be written is a failure.
    if [[ -e /dev/full ]]; then
      rc=0; "$tool" "${ev[@]}" >/dev/full 2>err.txt || rc=$?
      [[ $rc -ne 0 ]] || fail "eval > /dev/full exited 0"
      grep -q 'standard output' err.txt || fail "eval > /dev/full: no message: $(cat err.txt)"
    fi
    # Divergence: a checkpoint whose embeddings are 3e38 evaluates to NaN, and training from it stops at step
    # 1 without writing a checkpoint.
    cp -r ckpt f/huge
    hlen=$(od -An -t u8 -N8 f/huge/model.safetensors | tr -d ' ')
    /usr/bin/python3 - f/huge/model.safetensors <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
o = h["bert.embeddings.word_embeddings.weight"]["data_offsets"]
b[8 + n + o[0]:8 + n + o[1]] = struct.pack('<f', 3e38) * ((o[1] - o[0]) // 4)
open(p, 'wb').write(b)
PY
    expect_error 'mlm_loss' eval --model f/huge --text text.txt --batches 1
    expect_error 'step 1' train --model f/huge --text text.txt --steps 3 --batch 2 --seq-len 16 --out f/t3 --threads 1
    [[ ! -e f/t3/final && ! -e f/t3/stage-0 ]] || fail "a diverged run wrote a checkpoint"
    # --resume with options that define the run: refused, not silently ignored.
    "$tool" train --model ckpt --text text.txt --steps 2 --batch 2 --seq-len 16 --out f/run --threads 1 --max-validation 4 >/dev/null ||
      fail "train failed"
    expect_error '--steps' train --resume f/run/final --out f/run --text text.txt --steps 5
    expect_error '--model' train --resume f/run/final --out f/run --text text.txt --model ckpt
    expect_error '--lr' train --resume f/run/final --out f/run --text text.txt --lr 0.1
    expect_error 'the text the run was trained on' train --resume f/run/final --out f/run2 --text ckpt/vocab.txt
    # init --out '': a growth::error naming --out.
    expect_error '--out' init --config config.json --text text.txt --out ''
    rm -rf f
    echo "faults ok"
    ;;
  shards)
    # Sharded checkpoints (io/sharded.hpp): --max-shard-size on init, grow and train; every reader takes them.
    rm -rf sh
    mkdir sh
    "$tool" init --config config.json --vocab ckpt/vocab.txt --seed 1 --out sh/one >/dev/null || fail "init failed"
    cmp -s ckpt/model.safetensors sh/one/model.safetensors || fail "init --vocab of the same seed: other weights"
    "$tool" init --config config.json --vocab ckpt/vocab.txt --seed 1 --out sh/big --max-shard-size 1GB >/dev/null ||
      fail "init --max-shard-size 1GB failed"
    cmp -s ckpt/model.safetensors sh/big/model.safetensors || fail "a limit the model fits under changed model.safetensors"
    "$tool" init --config config.json --vocab ckpt/vocab.txt --seed 1 --out sh/m --max-shard-size 8KB >/dev/null ||
      fail "init --max-shard-size 8KB failed"
    [[ -s sh/m/model.safetensors.index.json && ! -e sh/m/model.safetensors ]] || fail "init did not shard"
    ls sh/m | grep -q '^model-00001-of-0000[2-9]\.safetensors$' || fail "no HF shard names: $(ls sh/m)"
    "$tool" inspect --model sh/m >sh/inspect.out || fail "inspect of a sharded checkpoint failed"
    grep -q '^model.safetensors.index.json: [0-9]* shards, 42 tensors' sh/inspect.out || fail "inspect does not list the shards"
    grep -qx "total_parameters=$(expected_params)" sh/inspect.out || fail "inspect: wrong parameter count"
    ev=(eval --text text.txt --seq-len 32 --batch-size 4 --batches 2 --seed 5)
    a=$("$tool" "${ev[@]}" --model sh/m) || fail "eval of a sharded checkpoint failed"
    b=$("$tool" "${ev[@]}" --model ckpt) || fail "eval failed"
    [[ -n $a && $a == "$b" ]] || fail "eval differs on the sharded copy: '$a' vs '$b'"
    echo '{"num_hidden_layers": 3, "hidden_size": 32, "num_attention_heads": 4}' >sh/to.json
    "$tool" grow --model ckpt --out sh/g1 --to sh/to.json --depth identity --check text.txt >/dev/null || fail "grow failed"
    "$tool" grow --model sh/m --out sh/g2 --to sh/to.json --depth identity --check text.txt --max-shard-size 20KB \
      >/dev/null || fail "sharded grow failed"
    [[ -s sh/g2/model.safetensors.index.json ]] || fail "grow --max-shard-size did not shard"
    a=$("$tool" "${ev[@]}" --model sh/g1) || fail "eval of the grown checkpoint failed"
    b=$("$tool" "${ev[@]}" --model sh/g2) || fail "eval of the sharded grown checkpoint failed"
    [[ -n $a && $a == "$b" ]] || fail "sharded grow != grow: '$a' vs '$b'"
    "$tool" train --model sh/m --text text.txt --steps 4 --batch 2 --seq-len 16 --save-every 2 --out sh/run \
      --max-shard-size 10KB >/dev/null || fail "train --max-shard-size failed"
    for d in stage-0 last final; do
      [[ -s sh/run/$d/model.safetensors.index.json && -s sh/run/$d/optimizer.safetensors.index.json ]] ||
        fail "train checkpoint $d not sharded: $(ls sh/run/$d)"
    done
    "$tool" train --resume sh/run/last --out sh/run2 --text text.txt --max-shard-size 1GB >/dev/null || fail "resume failed"
    [[ -s sh/run2/final/optimizer.safetensors ]] || fail "resume --max-shard-size 1GB: not one file"
    grep -q '"step": 4' sh/run2/final/trainer_state.json || fail "the resumed run did not reach step 4"
    # Bad sizes: an error naming the option, nothing written.
    for bad in 5XB 0MB 1.5GB -3MB; do
      if "$tool" init --config config.json --vocab ckpt/vocab.txt --out sh/bad --max-shard-size "$bad" 2>sh/err.txt; then
        fail "--max-shard-size $bad accepted"
      fi
      grep -q -- '--max-shard-size' sh/err.txt || fail "--max-shard-size $bad: $(cat sh/err.txt)"
      [[ ! -e sh/bad ]] || fail "--max-shard-size $bad: something was written"
    done
    "$tool" grow --model ckpt --out sh/bad --to sh/to.json --max-shard-size 5XB 2>/dev/null && fail "grow took 5XB"
    "$tool" train --model ckpt --text text.txt --steps 1 --out sh/bad --max-shard-size 5XB 2>/dev/null && fail "train took 5XB"
    [[ ! -e sh/bad ]] || fail "a bad --max-shard-size wrote something"
    # A shard missing: the error names it.
    shard=$(ls sh/m | grep '^model-00002-of-' | head -1)
    rm "sh/m/$shard"
    if "$tool" inspect --model sh/m 2>sh/err.txt >/dev/null; then fail "inspect without $shard succeeded"; fi
    grep -q -- "$shard" sh/err.txt || fail "the error does not name $shard: $(cat sh/err.txt)"
    rm -rf sh
    echo "shards ok"
    ;;
  *)
    fail "unknown step"
    ;;
esac
