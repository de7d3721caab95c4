#!/usr/bin/env bash
# Run the test suite (unit tests beside the code, end-to-end suites in tests/).
# Tests themselves may start any host tool (registries, siftool, runc) and run singlet only
# through bin/singlet, which carries the product's exact permission set.
# Ends with a plain "N passed, N failed, N skipped" line for CI.
# Usage: scripts/test.sh [deno test args...]   e.g. scripts/test.sh core/sif
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$root/.tools/bin/deno" test --no-prompt \
  --allow-read --allow-write --allow-run --allow-env --allow-net --allow-sys \
  "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Deno's summary: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (4s)"
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1)
if [[ -n "$summary" ]]; then
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | cut -d' ' -f1)
  failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | cut -d' ' -f1)
  ignored=$(grep -oE '[0-9]+ ignored' <<<"$summary" | cut -d' ' -f1)
  echo
  echo "${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
fi
exit "$status"
