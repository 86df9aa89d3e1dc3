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
out="${2:-$repo/docs/RELIABILITY.md}"
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
  "$tool" "$@" > "$snap/out" 2>&1
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
  "$tool" "$@" > "$snap/out" 2>&1
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

{
  echo "# Reliability: bad inputs"
  echo
  echo "Generated by \`scripts/reliability_table.sh\` (do not edit by hand): each row runs the real \`growth\` tool"
  echo "on a crafted bad file in a fresh temp folder. *Exit* is the exit code (2 = refused with a \`growth::error\`);"
  echo "*Wrote* compares a listing of the whole temp folder (paths, sizes, modification times) before and after."
  echo "Folder names such as \`hdrlen\` are copies of a valid tiny checkpoint with one thing broken."
  echo
  echo "| Bad input | Command | Exit | Message | Wrote | |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Also covered by tests (not the CLI): \`tests/reliability/test_hostile_files.cpp\` (every case above and more, with"
  echo "the message fragments checked), the fuzz targets in \`fuzz/\` (\`scripts/fuzz.sh\`), and"
  echo "\`tests/reliability/test_interrupt.cpp\` (SIGKILL / SIGINT during \`growth train\`, resume bit for bit)."
  echo "NaN/Inf: refused by default with the tensor name; the tool reads them with the global flag"
  echo "\`--allow-nonfinite\`, the library with \`io::reader_options::allow_nonfinite\` / \`io::load_options::allow_nonfinite\`."
} > "$out.tmp" && mv "$out.tmp" "$out"
echo "reliability_table.sh: wrote $out ($(( ${#rows[@]} )) rows)"
[[ $fail -eq 0 ]] || echo "reliability_table.sh: some rows FAILED (see $out)" >&2
exit $fail
