#!/usr/bin/env bash
# Runs clang-tidy-14 (config: .clang-tidy) on one translation unit that includes every header of growth
# that compiles without libtorch or CUDA, with -std=c++20, and exits non-zero on any finding or compile error.
#   scripts/clang-tidy.sh                  # every such header under include/growth
#   scripts/clang-tidy.sh core model       # only these folders (or single .hpp files, relative to include/growth)
# Headers may also include Eigen, xtensor (xtl, xsimd), nlohmann-json and MPI: those are system headers
# (-isystem), so findings inside them are not ours and are not reported. Headers that need anything else
# (libtorch: adapters/torch*.hpp; CUDA: adapters/cuda.cuh) are skipped and listed. CLANG_TIDY=... picks
# another binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inc="$(realpath "$root/include")"
tidy=${CLANG_TIDY:-clang-tidy-14}
if ! command -v "$tidy" >/dev/null 2>&1; then
  echo "clang-tidy.sh: $tidy not found (Debian: apt-get install clang-tidy-14)" >&2
  exit 2
fi

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(.)
headers=()
for t in "${targets[@]}"; do
  p="$inc/growth/$t"
  if [ -d "$p" ]; then
    while IFS= read -r h; do headers+=("$(realpath "$h")"); done < <(find "$p" -name '*.hpp' | sort)
  elif [ -f "$p" ]; then
    headers+=("$(realpath "$p")")
  else
    echo "clang-tidy.sh: no such header or folder: include/growth/$t" >&2
    exit 2
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tu="$tmp/lint_tu.cpp"
: >"$tu"
n=0
cxx=${CXX:-c++}
# A header qualifies when everything it includes, transitively, is growth itself or the C/C++ standard
# library: list its dependencies with the compiler (-M) and reject any other path, or a missing one.
std_re='^(/usr/include/c\+\+/|/usr/lib/gcc/|/usr/include/x86_64-linux-gnu/|/usr/include/(sys|bits|asm|asm-generic|linux|gnu)/|/usr/include/[^/]+\.h$|/usr/include/(eigen3|xtensor|xtl|xsimd|nlohmann)/|/usr/lib/x86_64-linux-gnu/openmpi/include/)'
third_party=(-isystem /usr/include/eigen3)
# MPI's C API (adapters/mpi.hpp), where Debian's Open MPI puts mpi.h, when it is installed.
mpi_inc=/usr/include/x86_64-linux-gnu/mpi
if [ -f "$mpi_inc/mpi.h" ]; then third_party+=(-isystem "$mpi_inc"); fi
for h in "${headers[@]}"; do
  rel=${h#"$inc/"}
  if ! deps=$("$cxx" -std=c++20 -I"$inc" "${third_party[@]}" -x c++ -M "$h" 2>/dev/null); then
    echo "clang-tidy.sh: skipping $rel (does not preprocess with the standard library, Eigen, xtensor and nlohmann-json)"
    continue
  fi
  other=$(echo "$deps" | tr ' \\' '\n\n' | grep -v -e '^$' -e ':$' | xargs -r realpath -m | grep -v "^$inc/" | grep -Ev "$std_re" | head -1 || true)
  if [ -n "$other" ]; then
    echo "clang-tidy.sh: skipping $rel (includes $other)"
    continue
  fi
  echo "#include <$rel>" >>"$tu"
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "clang-tidy.sh: no headers to check" >&2
  exit 2
fi
echo "clang-tidy.sh: checking $n headers with $("$tidy" --version | grep -o 'version [0-9.]*')"

set +e
"$tidy" --quiet --config-file="$root/.clang-tidy" "$tu" -- -x c++ -std=c++20 -I"$inc" "${third_party[@]}" >"$tmp/log" 2>&1
rc=$?
set -e
# clang-tidy prints "N warnings generated" even for suppressed system-header warnings; show the findings.
grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' "$tmp/log" || true
findings=$(grep -cE '(warning|error): ' "$tmp/log" || true)
if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
  echo "clang-tidy.sh: FAILED ($findings findings, clang-tidy exit $rc)"
  exit 1
fi
echo "clang-tidy.sh: clean"
