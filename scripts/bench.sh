#!/usr/bin/env bash
# Run every benchmark (bench/*_bench.ts), or the ones named: scripts/bench.sh pack sif
# Each prints median/min/max for singlet and its peer and the ratio; JSON goes to bench/results/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
benches=()
if (($#)); then for name in "$@"; do benches+=("bench/${name}_bench.ts"); done
else mapfile -t benches < <(ls bench/*_bench.ts 2>/dev/null); fi
((${#benches[@]})) || { echo "no benchmarks found in bench/" >&2; exit 1; }
for bench in "${benches[@]}"; do
  echo "# $bench"
  "$root/.tools/bin/deno" run --no-prompt --allow-read --allow-write --allow-run --allow-env \
    --allow-sys --allow-net "$bench"
done
