#!/usr/bin/env bash
# Runs clang-tidy-14 (config: .clang-tidy) on one translation unit that includes every standard-library-
# only header of growth, with -std=c++20, and exits non-zero on any finding or compile error.
#   scripts/clang-tidy.sh                  # all std-only headers under include/growth
#   scripts/clang-tidy.sh core model       # only these folders (or single .hpp files, relative to include/growth)
# Headers that include anything other than the standard library and growth itself (Eigen, xtensor,
# nlohmann, torch, CUDA: adapters/, reference/, ...) are skipped and listed, because the lint TU is
# compiled with the standard library only. CLANG_TIDY=... picks another binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inc="$root/include"
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
    while IFS= read -r h; do headers+=("$h"); done < <(find "$p" -name '*.hpp' | sort)
  elif [ -f "$p" ]; then
    headers+=("$p")
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
for h in "${headers[@]}"; do
  rel=${h#"$inc/"}
  # A standard header has neither a '/' nor a '.' in its name; growth's own are quoted or <growth/...>.
  if grep -E '^\s*#\s*include\s*<[^>]*[./][^>]*>' "$h" | grep -vq '<growth/'; then
    echo "clang-tidy.sh: skipping $rel (includes non-standard headers)"
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
"$tidy" --quiet --config-file="$root/.clang-tidy" "$tu" -- -x c++ -std=c++20 -I"$inc" >"$tmp/log" 2>&1
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
