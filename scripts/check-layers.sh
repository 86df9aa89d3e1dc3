#!/usr/bin/env bash
# Checks the layering of include/growth (README "Targets"; the CMake targets growth::core, growth::io,
# growth::reference, growth::train): no header includes a layer above its own, each layer includes only its
# own third-party dependency, and no library header prints (the application, tools/, does).
#   layer (target)        folders                          may include growth folders       third party
#   core (growth::core)   core ops model schedule, *.hpp   the core folders below it         none
#   io (growth::io)       io                               core, io                          nlohmann-json
#   reference             reference                        core, reference                   Eigen, OpenMP
#   train                 data                             core, io, data                    none
#                         train                            core, io, reference, data, train  Eigen, nlohmann-json
#   adapters              adapters                         core, adapters                    (their framework)
# Inside the core layer the folders are ordered too: core < ops < model < schedule (model grows with the ops;
# schedule names model shapes). Exits non-zero and lists every violation.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inc="$root/include"

allowed_growth() {  # folder -> the growth folders its headers may include
  case "$1" in
    core) echo "core" ;;
    ops) echo "core ops" ;;
    model) echo "core ops model" ;;
    schedule) echo "core ops model schedule" ;;
    .) echo "core ops model schedule ." ;;
    io) echo "core ops model schedule io" ;;
    reference) echo "core ops model schedule reference" ;;
    data) echo "core ops model schedule io data" ;;
    train) echo "core ops model schedule io reference data train" ;;
    adapters) echo "core ops model schedule adapters" ;;
    *) echo "" ;;
  esac
}
allowed_third_party() {  # folder -> extended regex of the non-standard headers it may include
  case "$1" in
    io) echo '^nlohmann/' ;;
    reference) echo '^(Eigen/|unsupported/Eigen/|omp\.h$)' ;;
    train) echo '^(Eigen/|unsupported/Eigen/|omp\.h$|nlohmann/)' ;;
    adapters) echo '.' ;;
    *) echo '^$' ;;
  esac
}
# No exceptions: every header includes only its own layer and those below it.
exception() { false; }
third_party_re='^(Eigen/|unsupported/|nlohmann/|omp\.h$|xtensor|xtl/|xsimd/|torch/|ATen/|c10/|cuda|cublas|thrust/|mpi\.h$)'

bad=0
while IFS= read -r h; do
  rel=${h#"$inc/growth/"}
  dir=$(dirname "$rel")
  ok=" $(allowed_growth "$dir") "
  tp=$(allowed_third_party "$dir")
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
      target=$(realpath -m "$(dirname "$h")/${BASH_REMATCH[1]}")
    elif [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<growth/([^\>]+)\> ]]; then
      target="$inc/growth/${BASH_REMATCH[1]}"
    elif [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
      name=${BASH_REMATCH[1]}
      if [[ $name =~ $third_party_re ]] && ! [[ $name =~ $tp ]]; then
        echo "check-layers.sh: include/growth/$rel includes <$name>, which the $dir layer may not use"
        bad=$((bad + 1))
      fi
      continue
    else
      continue
    fi
    trel=${target#"$inc/growth/"}
    if [ "$trel" = "$target" ]; then
      echo "check-layers.sh: include/growth/$rel includes $target, outside include/growth"
      bad=$((bad + 1))
      continue
    fi
    tdir=$(dirname "$trel")
    if [[ $ok != *" $tdir "* ]] && ! exception "$rel" "$tdir"; then
      echo "check-layers.sh: include/growth/$rel includes growth/$trel: $dir may include only {$(allowed_growth "$dir")}"
      bad=$((bad + 1))
    fi
  done <"$h"
  # The library prints nothing: progress, interruption and reports are the application's (tools/).
  if grep -nE '\b(printf|puts|fputs|isatty)\(|std::(cout|cerr|clog)\b|\b(stdout|stderr)\b' "$h" >"${TMPDIR:-/tmp}/check-layers.$$" 2>/dev/null; then
    sed "s|^|check-layers.sh: include/growth/$rel prints (the tool's job): |" "${TMPDIR:-/tmp}/check-layers.$$"
    bad=$((bad + 1))
  fi
  rm -f "${TMPDIR:-/tmp}/check-layers.$$"
done < <(find "$inc/growth" -type f \( -name '*.hpp' -o -name '*.cuh' \) | sort)
for d in "$inc"/growth/*/; do
  d=$(basename "$d")
  if [ -z "$(allowed_growth "$d")" ]; then
    echo "check-layers.sh: include/growth/$d/ belongs to no layer (add it to scripts/check-layers.sh and CMakeLists.txt)"
    bad=$((bad + 1))
  fi
done
if [ "$bad" -ne 0 ]; then
  echo "check-layers.sh: FAILED ($bad violations)"
  exit 1
fi
echo "check-layers.sh: clean"
