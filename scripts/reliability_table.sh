#!/usr/bin/env bash
# Generates docs/RELIABILITY.md: runs the real `growth` tool on crafted bad inputs in a temp folder and
# records, for each, the command, the exit code, the error message and whether anything was written
# (a listing of the temp folder -- paths, sizes, modification times -- before and after the command).
# A row FAILS (and the script exits 1) when the command exits 0, crashes (exit >= 128), prints no
# "growth: error:" line, or writes anything.
#
# usage: scripts/reliability_table.sh [GROWTH_BINARY (default build-rel/tools/growth)] [OUTPUT (default docs/RELIABILITY.md)]
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$(realpath -m "${1:-$repo/build-rel/tools/growth}")"
out="$(realpath -m "${2:-$repo/docs/RELIABILITY.md}")"  # absolute: the script works in a temp folder
[[ -x "$tool" ]] || { echo "reliability_table.sh: no growth binary at $tool (build the growth_tool target)" >&2; exit 2; }
py=/usr/bin/python3
work="$(mktemp -d /tmp/growth-reliability-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- a valid tiny checkpoint to corrupt ---------------------------------------------------------------------
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for c in {a..z}; do printf '%s\n##%s\n' "$c" "$c"; done; printf '.\n,\n:\n;\n'; } > vocab.txt
V=$(wc -l < vocab.txt)
cat > config.json <<JSON
{"vocab_size": $V, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
 "max_position_embeddings": 16, "type_vocab_size": 2}
JSON
head -c 20000 "$repo/data/kjv.txt" > text.txt
"$tool" init --config config.json --vocab vocab.txt --out good --seed 1 > /dev/null || { echo "growth init failed" >&2; exit 2; }
"$tool" train --model good --text text.txt --steps 2 --batch 2 --seq-len 16 --out run --threads 1 --max-validation 4 > /dev/null \
  || { echo "growth train failed" >&2; exit 2; }

# Crafts a copy of the good checkpoint in $1 whose model.safetensors (or $3) is rewritten by python code $2.
# The python code gets: h (the header dict), data (bytearray), and may set raw_header (bytes) or length (int).
craft() {
  local dir="$1" code="$2" file="${3:-model.safetensors}" src="${4:-good}"
  rm -rf "$dir"; cp -r "$src" "$dir"
  "$py" - "$dir/$file" "$code" <<'PY'
import json, struct, sys
path, code = sys.argv[1], sys.argv[2]
b = open(path, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
data = bytearray(b[8 + n:])
raw_header = None
length = None
exec(code)
hb = raw_header if raw_header is not None else json.dumps(h).encode()
open(path, 'wb').write(struct.pack('<Q', length if length is not None else len(hb)) + hb + bytes(data))
PY
}
first_tensor='t = [k for k in h if k != "__metadata__"]; t.sort(key=lambda k: h[k]["data_offsets"][0])'

# --- the bad inputs -----------------------------------------------------------------------------------------
craft hdrlen   'length = len(json.dumps(h)) + 10**6'
craft hdrhuge  'length = 2**63'
craft overlap  "$first_tensor"'; o = h[t[1]]["data_offsets"]; o[0] -= 4; o[1] -= 4'
craft pastend  "$first_tensor"'; e = h[t[-1]]["data_offsets"]; e[1] += 4; h[t[-1]]["shape"] = [ (e[1]-e[0])//4 ]'
craft overflow "$first_tensor"'; h[t[0]]["shape"] = [2**32, 2**32, 4]'
craft bytes    "$first_tensor"'; h[t[0]]["dtype"] = "F16"'
craft dup      "$first_tensor"'; s = json.dumps(h); k = t[0]; raw_header = (s[:-1] + ", " + json.dumps(k) + ": " + json.dumps(h[k]) + "}").encode()'
craft utf8     "$first_tensor"'; raw_header = json.dumps(h).encode().replace(json.dumps(t[0]).encode(), b"\"bad\xff\"")'
craft nan      "$first_tensor"'; o = h["bert.encoder.layer.0.output.dense.weight"]["data_offsets"][0]; data[o+8:o+12] = struct.pack("<f", float("nan"))'
craft inf      "$first_tensor"'; o = h["cls.predictions.bias"]["data_offsets"][0]; data[o:o+4] = struct.pack("<f", float("-inf"))'
craft truncated 'data = data[:len(data)//2]'
rm -rf emptyfile; cp -r good emptyfile; : > emptyfile/model.safetensors
craft optbad   "$first_tensor"'; h.pop(t[0]); raw_header = None' optimizer.safetensors run/final
craft optstep  'h["__metadata__"]["step"] = "-3"' optimizer.safetensors run/final
"$py" - <<'PY'
import json
c = json.load(open("config.json"))
json.dump(dict(c, vocab_size=10**11, hidden_size=4096, num_attention_heads=32), open("huge.json", "w"))
json.dump(dict(c, hidden_size="8"), open("badtype.json", "w"))
json.dump(dict(c, num_attention_heads=3), open("heads.json", "w"))
open("trailing.json", "w").write(json.dumps(c)[:-1] + ",}")
json.dump({"hiden_size": 16}, open("typo.json", "w"))
s = {"vocab_size": 100, "batch_size": 2, "stages": [{"steps": 1, "shape": {"layers": 1, "hidden": 8, "heads": 2, "ffn": 16, "seq_len": 16}, "entr": {}}]}
json.dump(s, open("sched_key.json", "w"))
s["stages"][0].pop("entr"); s["stages"][0]["shape"]["hidden"] = 7
json.dump(s, open("sched_heads.json", "w"))
PY
rm -rf tsseed; cp -r run/final tsseed
"$py" - <<'PY'
import json
p = "tsseed/trainer_state.json"; t = json.load(open(p)); t["options"]["seed"] = "abc"; json.dump(t, open(p, "w"))
PY
rm -rf tsbroken; cp -r run/final tsbroken; printf '{"step": 1,' > tsbroken/trainer_state.json
{ cat vocab.txt; echo a; } > vocab_dup.txt
printf '[PAD]\n[UNK]\n\xff\xfe\n' > vocab_utf8.txt
printf 'a\nb\n' > vocab_nospecial.txt
rm -rf vocabdup_ckpt; cp -r good vocabdup_ckpt; cp vocab_dup.txt vocabdup_ckpt/vocab.txt

# --- run them -------------------------------------------------------------------------------------------------
rows=()
fail=0
snap="$(mktemp -d /tmp/growth-reliability-snap-XXXXXX)"
trap 'rm -rf "$work" "$snap"' EXIT
# Everything below the work folder (the folder itself excluded: only its entries matter).
snapshot() { find "$work" -mindepth 1 -printf '%P %s %T@\n' | sort; }
accept() {  # accept "<input>" args...: a run that must succeed (exit 0) and write nothing
  local what="$1"; shift
  snapshot > "$snap/before"
  timeout 60 "$tool" "$@" > "$snap/out" 2>&1
  local rc=$?
  snapshot > "$snap/after"
  local wrote="no" ok="ok"
  if ! diff -q "$snap/before" "$snap/after" > /dev/null; then wrote="**YES**"; fi
  if [[ $rc -ne 0 || "$wrote" != "no" ]]; then ok="**FAIL**"; fail=1; fi
  rows+=("| $what | \`growth $*\` | $rc | accepted (exit 0) | $wrote | $ok |")
}
try() {  # try "<bad input>" args...
  local what="$1"; shift
  snapshot > "$snap/before"
  timeout 60 "$tool" "$@" > "$snap/out" 2>&1
  local rc=$?
  snapshot > "$snap/after"
  local msg; msg="$(grep -m1 'growth: error' "$snap/out" || head -c 300 "$snap/out")"
  local wrote="no"
  if ! diff -q "$snap/before" "$snap/after" > /dev/null; then wrote="**YES**: $(diff "$snap/before" "$snap/after" | grep '^>' | head -3 | tr '\n' ' ')"; fi
  local ok="ok"
  if [[ $rc -eq 0 || $rc -ge 128 || "$msg" != *"growth: error"* || "$wrote" != "no" ]]; then ok="**FAIL**"; fail=1; fi
  msg="${msg//$work\//}"; msg="${msg//|/\\|}"
  rows+=("| $what | \`growth $*\` | $rc | ${msg} | $wrote | $ok |")
}
try "header length larger than the file"             inspect --model hdrlen
try "header length 2^63"                              inspect --model hdrhuge
try "two tensors with the same offsets (overlap)"     inspect --model overlap
try "last tensor runs past the end of the file"       inspect --model pastend
try "shape product overflows 64 bits"                 inspect --model overflow
try "dtype F16 but F32-sized byte range"              inspect --model bytes
try "duplicate tensor name"                           inspect --model dup
try "non-UTF-8 tensor name"                           inspect --model utf8
try "NaN in a weight"                                 eval --model nan --text text.txt --batches 1
accept "NaN in a weight, with --allow-nonfinite"        inspect --model nan --allow-nonfinite
try "-Inf in a bias"                                  inspect --model inf
try "model.safetensors cut in half"                   inspect --model truncated
try "empty model.safetensors"                         inspect --model emptyfile
try "missing checkpoint folder"                       inspect --model does-not-exist
try "config asking for 4e14 parameters (terabytes)"   init --config huge.json --vocab vocab.txt --out new_huge
try "config field with the wrong type"                init --config badtype.json --vocab vocab.txt --out new_badtype
try "heads do not divide hidden"                      init --config heads.json --vocab vocab.txt --out new_heads
try "config.json with a trailing comma"               init --config trailing.json --vocab vocab.txt --out new_trailing
try "duplicate token in vocab.txt"                    init --config config.json --vocab vocab_dup.txt --out new_vdup
try "invalid UTF-8 in vocab.txt"                      init --config config.json --vocab vocab_utf8.txt --out new_vutf8
try "vocab.txt without the special tokens"            init --config config.json --vocab vocab_nospecial.txt --out new_vspec
try "checkpoint whose vocab.txt has a duplicate"      eval --model vocabdup_ckpt --text text.txt --batches 1
try "grow --to with a misspelt field"                 grow --model good --out new_grow --to typo.json
try "schedule with an unknown key"                    train --model good --schedule sched_key.json --out new_sched1 --text text.txt
try "schedule stage with heads not dividing hidden"   train --model good --schedule sched_heads.json --out new_sched2 --text text.txt
try "optimizer.safetensors missing a moment"          train --resume optbad --out new_resume1 --text text.txt
try "optimizer step metadata \"-3\""                  train --resume optstep --out new_resume2 --text text.txt
try "trainer_state.json with seed \"abc\""             train --resume tsseed --out new_resume3 --text text.txt
try "trainer_state.json cut short"                    train --resume tsbroken --out new_resume4 --text text.txt

# --- faults (issue #14): nothing overwritten, nothing lost, no hang ------------------------------------------
mkfifo fifo
mkdir -p dumps && ln -sfn ../good/model.safetensors dumps/into_model && ln -sfn nowhere dumps/dangling
for f in config.json model.safetensors vocab.txt; do
  d="fifo_${f%%.*}"; rm -rf "$d"; cp -r good "$d"; rm "$d/$f"; mkfifo "$d/$f"
done
rm -rf dir_config; cp -r good dir_config; rm dir_config/config.json; mkdir dir_config/config.json
craft huge "$first_tensor"'; o = h["bert.embeddings.word_embeddings.weight"]["data_offsets"]; data[o[0]:o[1]] = struct.pack("<f", 3e38) * ((o[1] - o[0]) // 4)'
ev=(eval --model good --text text.txt --batches 1)
tr=(train --model good --text text.txt --batch 2 --seq-len 16 --threads 1 --max-validation 4)
try "--dump onto a device (/dev/null)"                 "${ev[@]}" --dump /dev/null
try "--dump onto a FIFO"                               "${ev[@]}" --dump fifo
try "--dump onto the input's model.safetensors"        "${ev[@]}" --dump good/model.safetensors
try "--dump through a symlink into the input"          "${ev[@]}" --dump dumps/into_model
try "--dump onto a dangling symlink"                   "${ev[@]}" --dump dumps/dangling
try "--log onto a FIFO"                                "${tr[@]}" --steps 1 --out new_log1 --log fifo
try "--log inside the --model folder"                  "${tr[@]}" --steps 1 --out new_log2 --log good/log.csv
try "--text is a FIFO (no hang)"                       eval --model good --text fifo
try "config.json is a FIFO (no hang)"                  eval --model fifo_config --text text.txt
try "model.safetensors is a FIFO (no hang)"            inspect --model fifo_model
try "vocab.txt is a FIFO (no hang)"                    eval --model fifo_vocab --text text.txt
try "--text is a folder"                               eval --model good --text good
try "config.json is a folder"                          eval --model dir_config --text text.txt
try "--steps -1 (would wrap to 2^64-1)"                "${tr[@]}" --steps -1 --out new_n1
try "--seed -5"                                        "${tr[@]}" --steps 1 --seed -5 --out new_n2
try "--seq-len -1"                                     eval --model good --text text.txt --seq-len -1
try "--threads 100000 (crashed)"                       "${tr[@]}" --steps 1 --threads 100000 --out new_n3
try "--threads 5000 (aborted in libgomp)"              "${tr[@]}" --steps 1 --threads 5000 --out new_n4
try "--threads 2^32 (wrapped)"                         "${tr[@]}" --steps 1 --threads 4294967296 --out new_n5
try "--batch 100000"                                   "${tr[@]}" --steps 1 --batch 100000 --out new_n6
try "--seq-len 100000"                                 "${tr[@]}" --steps 1 --seq-len 100000 --out new_n7
try "--lr inf"                                         "${tr[@]}" --steps 1 --lr inf --out new_lr1
try "--lr nan"                                         "${tr[@]}" --steps 1 --lr nan --out new_lr2
try "--lr 0"                                           "${tr[@]}" --steps 1 --lr 0 --out new_lr3
try "--lr 1e30 (trained to NaN)"                       "${tr[@]}" --steps 1 --lr 1e30 --out new_lr4
try "weights of 3e38: the loss is NaN"                 eval --model huge --text text.txt --batches 1
try "--resume with --steps (was ignored)"              train --resume run/final --out new_r1 --text text.txt --steps 5
try "--resume with --model (was ignored)"              train --resume run/final --out new_r2 --text text.txt --model good
try "--resume with --schedule (was ignored)"           train --resume run/final --out new_r3 --text text.txt --schedule sched_key.json
try "--resume with another --text"                     train --resume run/final --out new_r4 --text vocab.txt
try "init --out ''"                                    init --config config.json --vocab vocab.txt --out ''

# stdout that cannot be written (try() redirects stdout itself, so this row is built by hand).
snapshot > "$snap/before"
timeout 60 "$tool" "${ev[@]}" > /dev/full 2> "$snap/out"; rc=$?
snapshot > "$snap/after"
msg="$(grep -m1 'growth: error' "$snap/out")"; ok="ok"; wrote="no"
diff -q "$snap/before" "$snap/after" > /dev/null || wrote="**YES**"
if [[ $rc -eq 0 || $rc -ge 128 || -z "$msg" || "$wrote" != "no" ]]; then ok="**FAIL**"; fail=1; fi
rows+=("| stdout is full (\`> /dev/full\`) | \`growth ${ev[*]} > /dev/full\` | $rc | ${msg} | $wrote | $ok |")

# Starts a long training run into $1 in the background (nothing is written while it trains: no rows, no
# checkpoints before its end; extra flags after $1) and waits until it holds the --out lock; sets bg_pid.
start_long() {
  local out="$1"; shift
  rm -rf "$out"
  "$tool" "${tr[@]}" --steps 100000000 --eval-every 0 --out "$out" "$@" > "$out.log" 2>&1 &
  bg_pid=$!
  for _ in $(seq 3000); do grep -qs "pid $bg_pid" "$out/.growth.lock" && break; sleep 0.01; done
  sleep 0.2  # into the training loop
}
start_long held
try "a second growth train into a --out in use"        "${tr[@]}" --steps 2 --out held
kill -TERM "$bg_pid"; wait "$bg_pid"

# Signals: the run finishes its step, writes final, exits 128 + signal and says where it saved.
for sig in INT TERM HUP; do
  start_long "sig_$sig"
  kill -"$sig" "$bg_pid"; wait "$bg_pid"; rc=$?
  want=$((128 + $(kill -l "$sig")))
  msg="$(grep -m1 'interrupted by' "sig_$sig.log")"; msg="${msg//$work\//}"
  ok="ok"
  if [[ $rc -ne $want || ! -f "sig_$sig/final/trainer_state.json" ]] || ! "$tool" inspect --model "sig_$sig/final" > /dev/null 2>&1; then
    ok="**FAIL**"; fail=1
  fi
  rows+=("| SIG$sig during \`growth train\` | \`kill -$sig\` | $rc | $msg | final (loads; --resume continues bit for bit) | $ok |")
done
start_long sig_KILL --save-every 50
for _ in $(seq 3000); do [[ -f sig_KILL/last/trainer_state.json ]] && break; sleep 0.01; done
kill -KILL "$bg_pid"; wait "$bg_pid" 2> /dev/null; rc=$?
ok="ok"
step=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' sig_KILL/last/trainer_state.json 2>/dev/null)
if [[ $rc -ne 137 ]] || ! "$tool" inspect --model sig_KILL/last > /dev/null 2>&1 || (( step % 50 != 0 )); then ok="**FAIL**"; fail=1; fi
rows+=("| SIGKILL during \`growth train --save-every 50\` | \`kill -KILL\` | $rc | killed: no final; last holds step $step | last (loads; --resume continues bit for bit) | $ok |")

# Divergence: training from the 3e38 checkpoint stops at step 1 and writes no checkpoint (the token cache
# and the lock file are written before training starts).
trh=(train --model huge --text text.txt --batch 2 --seq-len 16 --threads 1 --max-validation 4 --steps 3 --out diverged)
"$tool" "${trh[@]}" > "$snap/out" 2>&1; rc=$?
msg="$(grep -m1 'growth: error' "$snap/out")"; ok="ok"
if [[ $rc -eq 0 || $rc -ge 128 || "$msg" != *"step 1"* ]] || compgen -G "diverged/final" > /dev/null || compgen -G "diverged/stage-*" > /dev/null; then
  ok="**FAIL**"; fail=1
fi
rows+=("| training diverges (NaN loss at step 1) | \`growth ${trh[*]}\` | $rc | ${msg//|/\\|} | no checkpoint (only the token cache) | $ok |")

{
  echo "# Reliability: bad inputs and faults"
  echo
  echo "Generated by \`scripts/reliability_table.sh\` (do not edit by hand): each row runs the real \`growth\` tool"
  echo "on a crafted bad file, a bad option or a fault (a FIFO, a device, a full stdout, a signal, a second run) in a"
  echo "fresh temp folder. *Exit* is the exit code (2 = refused with a \`growth::error\`; 128 + the signal = an"
  echo "interrupted run, its state saved); *Wrote* compares a listing of the whole temp folder (paths, sizes,"
  echo "modification times) before and after, or for the signal rows names the checkpoint left behind."
  echo "Folder names such as \`hdrlen\` are copies of a valid tiny checkpoint with one thing broken; \`fifo\` is a"
  echo "named pipe, \`huge\` a checkpoint whose word embeddings are 3e38 (finite, but the forward pass overflows)."
  echo
  echo "| Bad input | Command | Exit | Message | Wrote | |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Also covered by tests (not the CLI): \`tests/reliability/test_hostile_files.cpp\` (every case above and more, with"
  echo "the message fragments checked), the fuzz targets in \`fuzz/\` (\`scripts/fuzz.sh\`), and"
  echo "\`tests/reliability/test_interrupt.cpp\` (SIGKILL / SIGINT / SIGTERM / SIGHUP during \`growth train\`, \`--save-every\`,"
  echo "resume bit for bit; two runs into one \`--out\`) and \`tests/tools/cli_test.sh faults\`."
  echo "Output files (\`--dump\`, \`--log\`, every atomic write) must be new or regular files; a symbolic link is"
  echo "written through (the link is kept, the file it names replaced). Input files must be regular files."
  echo "NaN/Inf: refused by default with the tensor name; the tool reads them with the global flag"
  echo "\`--allow-nonfinite\`, the library with \`io::reader_options::allow_nonfinite\` / \`io::load_options::allow_nonfinite\`."
} > "$out.tmp" && mv "$out.tmp" "$out" || { echo "reliability_table.sh: cannot write $out" >&2; exit 2; }
echo "reliability_table.sh: wrote $out ($(( ${#rows[@]} )) rows)"
[[ $fail -eq 0 ]] || echo "reliability_table.sh: some rows FAILED (see $out)" >&2
exit $fail
