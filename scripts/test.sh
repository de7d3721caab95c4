#!/usr/bin/env bash
# Run the test suite (unit tests beside the code, end-to-end suites in tests/).
# Tests themselves may start any host tool (registries, siftool, runc) and run singlet only
# through bin/singlet, which carries the product's exact permission set.
# Usage: scripts/test.sh [deno test args...]   e.g. scripts/test.sh core/sif
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
exec "$root/.tools/bin/deno" test --quiet --no-prompt \
  --allow-read --allow-write --allow-run --allow-env --allow-net --allow-sys \
  "$@"
