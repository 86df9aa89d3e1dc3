#!/usr/bin/env bash
# ThreadSanitizer tree for the multithreaded paths (the reference BERT's OpenMP loops and Eigen's parallel
# GEMM, used by the reference, ops and train tests).
#
# Why clang + libomp + Archer: TSan does not understand GCC's libgomp (its barriers and task queues are not
# instrumented, so every parallel region reports false races). LLVM's libomp together with the Archer OMPT
# tool (libarcher.so, shipped with Debian's libomp-14-dev) tells TSan about OpenMP's synchronisation, so
# no suppression is needed at all -- none is used, for our code or anyone's.
# GROWTH_SANITIZE=thread makes cmake/GrowthTargets.cmake drop OpenMP::OpenMP_CXX (right for GCC); here
# -fopenmp is passed through CMAKE_CXX_FLAGS instead so clang links libomp and the OpenMP paths are tested.
#
# usage: scripts/sanitizers.sh [ctest -R regex (default: reference|train|ops|reliability)]
# env:   GROWTH_TSAN_BUILD (default <repo>/build-tsan), JOBS (default nproc)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${GROWTH_TSAN_BUILD:-$repo/build-tsan}"
regex="${1:-^(reference|train|ops|reliability_tests)}"
archer=/usr/lib/llvm-14/lib/libarcher.so
command -v clang++-14 >/dev/null || { echo "sanitizers.sh: clang++-14 missing (apt-get install clang-14 libomp-14-dev)" >&2; exit 2; }
[[ -f "$archer" ]] || { echo "sanitizers.sh: $archer missing (apt-get install libomp-14-dev)" >&2; exit 2; }

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DGROWTH_SANITIZE=thread -DCMAKE_CXX_FLAGS="-fopenmp" -DCMAKE_EXE_LINKER_FLAGS="-fopenmp" \
  -DGROWTH_BUILD_BENCHMARKS=OFF -DGROWTH_WITH_TORCH=OFF -DGROWTH_BUILD_EXAMPLES=OFF
# Build only the test binaries that match (each area's doctest binary is named <area>_tests).
targets=$(cmake --build "$build" --target help | sed -n 's/^\([a-z_]*_tests\):.*/\1/p' | grep -E "${regex#^}" || true)
[[ -n "$targets" ]] || { echo "sanitizers.sh: no test targets match $regex" >&2; exit 2; }
nice cmake --build "$build" -j"${JOBS:-$(nproc)}" --target $targets

export OMP_TOOL_LIBRARIES="$archer"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"   # more threads than cores: more interleavings
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1}"
ctest --test-dir "$build" -R "$regex" --output-on-failure -j1
