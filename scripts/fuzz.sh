#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang++-14 (-fsanitize=fuzzer,address,undefined) and runs each
# for a bounded time. Fails (exit 1) on any finding: a crash, a sanitizer report, an uncaught exception other
# than growth::error, a failed round-trip invariant (FUZZ_CHECK), a leak, an allocation over
# -malloc_limit_mb or an input slower than -timeout. The crashing input is left in
# build-fuzz/artifacts/<target>/; turn it into a regression by copying it to fuzz/regressions/<target>/
# (tests/reliability replays every file there, and scripts/fuzz.sh --replay does too).
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#        scripts/fuzz.sh --replay [TARGET...]     # only run the committed corpora + regressions, no fuzzing
# env:   GROWTH_FUZZ_BUILD (default <repo>/build-fuzz), CXX_FUZZ (default clang++-14),
#        FUZZ_JOBS (libFuzzer workers per target, default 1),
#        FUZZ_PARALLEL (targets built and fuzzed at a time, default nproc)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${GROWTH_FUZZ_BUILD:-$repo/build-fuzz}"
cxx="${CXX_FUZZ:-clang++-14}"
all_targets=(json config schedule vocab safetensors optimizer shard_index)

replay=0
secs=60
if [[ "${1:-}" == "--replay" ]]; then replay=1; shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then secs="$1"; shift; fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")

command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$build"

# --- build (only what changed: each target depends on its source and every header) ---
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -I"$repo/include")
newest_header=$(find "$repo/include" "$repo/fuzz" "$repo/tests/support" -name '*.hpp' -newer "$build" -print -quit 2>/dev/null || true)
# Targets build and fuzz $FUZZ_PARALLEL at a time (default: one per core): each is one process.
parallel="${FUZZ_PARALLEL:-$(nproc)}"
throttle() { while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done; }
for t in "${targets[@]}"; do
  src="$repo/fuzz/fuzz_$t.cpp"
  [[ -f "$src" ]] || { echo "fuzz.sh: no target $t ($src)" >&2; exit 2; }
done
build_failed=0
for t in "${targets[@]}"; do
  src="$repo/fuzz/fuzz_$t.cpp"
  bin="$build/fuzz_$t"
  if [[ ! -x "$bin" || "$src" -nt "$bin" || -n "$newest_header" ]]; then
    echo "== building fuzz_$t"
    throttle
    rm -f "$bin"
    nice "$cxx" "${flags[@]}" "$src" -o "$bin" &
  fi
done
wait
for t in "${targets[@]}"; do [[ -x "$build/fuzz_$t" ]] || { echo "fuzz.sh: fuzz_$t failed to build" >&2; build_failed=1; }; done
[[ $build_failed -eq 0 ]] || exit 2
touch "$build"

# --- seeds (committed; regenerated only when missing) ---
if [[ ! -d "$repo/fuzz/corpus/json" ]]; then
  g++ -std=c++20 -O1 -I"$repo/include" "$repo/fuzz/make_seeds.cpp" -o "$build/make_seeds"
  "$build/make_seeds" "$repo/fuzz/corpus"
fi

# --- run ---
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
common=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1)
# One target: fuzz (or replay) it, write what it found to $build/$t.result, exit 1 on a finding.
fuzz_one() {
  local t="$1" seeds="$repo/fuzz/corpus/$1" regress="$repo/fuzz/regressions/$1" art="$build/artifacts/$1/"
  local dirs=("$seeds")
  [[ -d "$regress" ]] && dirs+=("$regress")
  mkdir -p "$art"
  if [[ $replay -eq 1 ]]; then
    local files=() d f
    for d in "${dirs[@]}"; do while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$d" -type f -print0); done
    if ! "$build/fuzz_$t" "${common[@]}" -artifact_prefix="$art" "${files[@]}" >"$build/$t.log" 2>&1; then
      { echo "FINDING in $t (log: $build/$t.log)"; tail -30 "$build/$t.log"; } >"$build/$t.result"; return 1
    fi
    echo "   $t: replayed ${#files[@]} inputs" >"$build/$t.result"
    return 0
  fi
  # Fuzz into a scratch corpus (the committed one stays small); read the seeds and regressions as extra dirs.
  local work="$build/corpus/$t" par=()
  mkdir -p "$work"
  # -jobs runs children that log to fuzz-<n>.log in the current folder: run them inside the build folder.
  [[ "${FUZZ_JOBS:-1}" -gt 1 ]] && par=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  if ! (cd "$build" && "$build/fuzz_$t" "${common[@]}" -max_total_time="$secs" -artifact_prefix="$art" "${par[@]}" \
       "$work" "${dirs[@]}") >"$build/$t.log" 2>&1; then
    { echo "FINDING in $t (log: $build/$t.log; input in $art)"; tail -40 "$build/$t.log"; } >"$build/$t.result"; return 1
  fi
  { grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$t.log" | tr '\n' ' ' | sed "s/^/   $t: /"; echo; } \
    >"$build/$t.result"
}
# Exit statuses go through files: a job reaped by throttle's `wait -n` can no longer be waited for.
status=0
for t in "${targets[@]}"; do
  if [[ $replay -eq 1 ]]; then echo "== replay $t"; else echo "== fuzzing $t for ${secs}s"; fi
  rm -f "$build/$t.result" "$build/$t.ok"
  throttle
  (fuzz_one "$t" && touch "$build/$t.ok") &
done
wait
for t in "${targets[@]}"; do
  cat "$build/$t.result" 2>/dev/null || echo "FINDING in $t: no result (the fuzzer died)"
  [[ -f "$build/$t.ok" ]] || status=1
done
[[ $status -eq 0 ]] && echo "fuzz.sh: no findings (${targets[*]})"
exit $status
