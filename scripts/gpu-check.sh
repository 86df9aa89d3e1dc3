#!/usr/bin/env bash
# GPU check of the CUDA adapter: builds ONLY the CUDA test and benchmark, runs the test (device vs host,
# bit-identical) and the benchmark, and prints a short table LAST.
#   scripts/gpu-check.sh [--quick] [--nvcc]
#     --quick  smaller benchmark tensors, fewer repetitions
#     --nvcc   skip CMake and compile the two .cu files with nvcc directly
# CMake path: configures build-gpu-check with -DGROWTH_ENABLE_CUDA=ON; if CMake, Ninja or a configure
# dependency (doctest, Google Benchmark) is missing, it falls back to nvcc directly (needs only nvcc).
# Logs go to $OUT (if set, e.g. by the device runner) or build-gpu-check/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=""
force_nvcc=0
for a in "$@"; do
  case "$a" in
    --quick) quick="--quick" ;;
    --nvcc) force_nvcc=1 ;;
    *) echo "gpu-check: unknown argument $a" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
stamp() { echo "=== [gpu-check $(( $(date +%s) - start ))s] $*"; }

build="$root/build-gpu-check"
mkdir -p "$build"
logs="${OUT:-$build}"
mkdir -p "$logs"

nvcc=""
for c in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null)" "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
  if [ -n "$c" ] && [ -x "$c" ]; then nvcc="$c"; break; fi
done
if [ -z "$nvcc" ]; then echo "gpu-check: no nvcc found (set CUDACXX or CUDA_HOME)"; exit 1; fi

arch=90
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L || true
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  if [[ "$cc" =~ ^[0-9]+$ ]]; then arch=$cc; fi
fi
jobs=$(nproc 2>/dev/null || echo 4)
[ "$jobs" -gt 16 ] && jobs=16
stamp "nvcc: $nvcc ($("$nvcc" --version | tail -1)); arch sm_$arch; jobs $jobs"

tests_bin=""
bench_bin=""
if [ "$force_nvcc" = 0 ] && command -v cmake >/dev/null 2>&1; then
  gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  stamp "configure (CMake)"
  if cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGROWTH_ENABLE_CUDA=ON \
       -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGROWTH_BUILD_EXAMPLES=OFF \
       -DGROWTH_WITH_TORCH=OFF >"$logs/configure.log" 2>&1; then
    stamp "build cuda_tests bench_cuda"
    if cmake --build "$build" --target cuda_tests bench_cuda -j "$jobs" >"$logs/build.log" 2>&1; then
      tests_bin="$build/tests/cuda/cuda_tests"
      bench_bin="$build/benchmarks/bench_cuda"
    else
      tail -40 "$logs/build.log"
      echo "gpu-check: CMake build failed (log: $logs/build.log)"
      exit 1
    fi
  else
    tail -15 "$logs/configure.log"
    stamp "CMake configure failed; falling back to nvcc directly"
  fi
fi
if [ -z "$tests_bin" ]; then
  stamp "build with nvcc directly"
  flags=(-std=c++20 -O3 -DNDEBUG "-arch=sm_$arch" -I"$root/include" -Xcompiler=-Wall,-Wextra --diag-suppress=186)
  "$nvcc" "${flags[@]}" -DGROWTH_TEST_OPS=1 "$root/tests/cuda/test_cuda.cu" -o "$build/cuda_tests" >"$logs/build-tests.log" 2>&1 &
  p1=$!
  "$nvcc" "${flags[@]}" "$root/benchmarks/bench_cuda.cu" -o "$build/bench_cuda" >"$logs/build-bench.log" 2>&1 &
  p2=$!
  ok=1
  wait $p1 || { tail -40 "$logs/build-tests.log"; ok=0; }
  wait $p2 || { tail -40 "$logs/build-bench.log"; ok=0; }
  [ "$ok" = 1 ] || { echo "gpu-check: nvcc build failed"; exit 1; }
  tests_bin="$build/cuda_tests"
  bench_bin="$build/bench_cuda"
fi

stamp "run cuda_tests"
"$tests_bin" 2>&1 | tee "$logs/cuda_tests.log" | grep -v '^cuda_tests:' | head -40
test_rc=${PIPESTATUS[0]}
stamp "run bench_cuda $quick"
"$bench_bin" $quick >"$logs/bench_cuda.log" 2>&1
bench_rc=$?

echo
stamp "summary"
grep '^cuda_tests:' "$logs/cuda_tests.log"
echo "cuda_tests exit code: $test_rc ; bench_cuda exit code: $bench_rc"
# The benchmark's table is the last thing printed.
cat "$logs/bench_cuda.log"
[ "$test_rc" = 0 ] && [ "$bench_rc" = 0 ]
