#!/usr/bin/env bash
# Data-parallel `growth train` under mpirun (README "Tensor-parallel shard-local growth and MPI", docs/cli.md):
#   mpi_train_test.sh <step> <growth> <work> <mpiexec> [mpirun flags...]
# Steps (ctest tools.mpi_train.<step>, label mpi; "setup" is the fixture of the others):
#   setup   a tiny 1-layer checkpoint, a text and a 2-stage schedule (pooled stage 0, then depth growth), batch 7
#   curve   the single-process run; mpirun -np 1 gives bit-identical weights; -np 2 and 3 (uneven shares of
#           7 rows) print ranks=P, record it in trainer_state.json and give validation losses within 1e-3
#           relative of the single process at every row
#   resume  a stage-0 checkpoint written at P=2 resumes at P=1 and P=3 to the same validation losses
#   fault   rank 1 of 2 dies after step 14 (GROWTH_TEST_EXIT_*): mpirun exits non-zero, and the last periodic
#           checkpoint (step 12) loads and resumes at P=2 to the end of the schedule
set -uo pipefail
step=$1 tool=$2 work=$3 mpiexec=$4
shift 4
mpirun=("$mpiexec" "$@" --oversubscribe)
[[ $(id -u) == 0 ]] && mpirun+=(--allow-run-as-root)
mkdir -p "$work" && cd "$work" || exit 1
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
run_args=(--text text.txt --schedule sched.json --eval-every 4 --threads 1 --max-validation 16 --lr 5e-3)
# Column 8 of log.csv: val_loss. Every row of $2 within 1e-3 relative of $1's (same steps).
same_curve() {
  awk -F, -v tol="$3" 'NR == FNR { if (FNR > 1) v[$1] = $8; next }
    FNR > 1 { n++; if (!($1 in v)) { print "step " $1 " missing"; bad = 1; next }
              d = ($8 - v[$1]) / v[$1]; if (d < 0) d = -d; if (d > m) m = d; if (d > tol) bad = 1 }
    END { printf "max relative validation difference %.3g over %d rows\n", m, n; exit bad || n == 0 }' "$1" "$2"
}

case "$step" in
  setup)
    rm -rf ./*
    cat >config.json <<'JSON'
{"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 120, "hidden_size": 16, "num_hidden_layers": 1,
 "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
 "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
 "layer_norm_eps": 1e-12, "pad_token_id": 0}
JSON
    cat >sched.json <<'JSON'
{"vocab_size": 120, "batch_size": 7, "masked_per_mille": 150,
 "stages": [
  {"steps": 12, "shape": {"layers": 1, "hidden": 16, "heads": 2, "ffn": 32, "seq_len": 32, "max_positions": 64, "pool_size": 2}},
  {"steps": 12, "shape": {"layers": 2, "hidden": 16, "heads": 2, "ffn": 32, "seq_len": 32, "max_positions": 64},
   "enter": {"depth": "stack", "optimizer": "map", "lr": "continue_schedule"}}]}
JSON
    head -c 200000 "$(dirname "$0")/../../data/kjv.txt" >text.txt
    "$tool" init --config config.json --text text.txt --seed 1 --out ckpt >init.out 2>&1 || { cat init.out; fail "init"; }
    "$tool" train --model ckpt "${run_args[@]}" --out p0 >p0.out 2>&1 || { cat p0.out; fail "single-process train"; }
    grep -q 'ranks=' p0.out && fail "a run without mpirun printed ranks="
    echo "setup ok"
    ;;
  curve)
    for p in 1 2 3; do
      rm -rf "p$p"
      "${mpirun[@]}" -np "$p" "$tool" train --model ckpt "${run_args[@]}" --out "p$p" >"p$p.out" 2>&1 || { cat "p$p.out"; fail "train at P=$p"; }
      grep -q "ranks=$p" "p$p.out" || fail "P=$p: no line ranks=$p"
      [[ $(grep -c 'train: done' "p$p.out") == 1 ]] || fail "P=$p: console output from more than rank 0"
      grep -Eq '"ranks": ?'"$p"'[,}]' "p$p/final/trainer_state.json" || fail "P=$p: trainer_state.json does not record ranks $p"
      same_curve p0/log.csv "p$p/log.csv" 1e-3 || fail "P=$p: validation curve differs from the single process"
    done
    # One rank trains the whole batch through the same hooks: exactly the single-process run.
    cmp -s p0/final/model.safetensors p1/final/model.safetensors || fail "mpirun -np 1 is not bit-identical to the single process"
    cmp -s p0/final/optimizer.safetensors p1/final/optimizer.safetensors || fail "mpirun -np 1 optimizer state differs"
    echo "curve ok"
    ;;
  resume)
    rm -rf p2s r1 r3
    "${mpirun[@]}" -np 2 "$tool" train --model ckpt "${run_args[@]}" --out p2s >p2s.out 2>&1 || { cat p2s.out; fail "train at P=2"; }
    [[ -d p2s/stage-0 ]] || fail "no stage-0 checkpoint"
    "$tool" train --resume p2s/stage-0 --text text.txt --threads 1 --max-validation 16 --out r1 >r1.out 2>&1 ||
      { cat r1.out; fail "resume at P=1"; }
    "${mpirun[@]}" -np 3 "$tool" train --resume p2s/stage-0 --text text.txt --threads 1 --max-validation 16 --out r3 >r3.out 2>&1 ||
      { cat r3.out; fail "resume at P=3"; }
    same_curve p2s/log.csv r1/log.csv 1e-3 || fail "P=2 -> P=1 resume differs"
    same_curve p2s/log.csv r3/log.csv 1e-3 || fail "P=2 -> P=3 resume differs"
    echo "resume ok"
    ;;
  fault)
    rm -rf f2 f2r
    GROWTH_TEST_EXIT_RANK=1 GROWTH_TEST_EXIT_STEP=14 "${mpirun[@]}" -np 2 "$tool" train --model ckpt "${run_args[@]}" \
      --out f2 --save-every 4 >f2.out 2>&1
    rc=$?
    [[ $rc != 0 ]] || { cat f2.out; fail "mpirun exited 0 although rank 1 died"; }
    grep -q 'exits after step 14' f2.out || fail "the dying rank said nothing"
    [[ ! -d f2/final ]] || fail "a final checkpoint was written after a rank died"
    grep -Eq '"step": ?12[,}]' f2/last/trainer_state.json || fail "the last checkpoint is not step 12"
    "$tool" eval --model f2/last --text text.txt --batches 2 >f2e.out 2>&1 || { cat f2e.out; fail "the last checkpoint does not load"; }
    "${mpirun[@]}" -np 2 "$tool" train --resume f2/last --text text.txt --threads 1 --max-validation 16 --out f2r >f2r.out 2>&1 ||
      { cat f2r.out; fail "resume of the last checkpoint"; }
    same_curve p0/log.csv f2r/log.csv 1e-3 || fail "the resumed run differs from the single process"
    echo "fault ok (mpirun exit status $rc)"
    ;;
  *) fail "unknown step $step" ;;
esac
