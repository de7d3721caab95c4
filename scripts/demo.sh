#!/usr/bin/env bash
# Build a SIF from the busybox fixture and run a command in it unprivileged (README command 1).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
exec "$root/.tools/bin/deno" run --quiet --no-prompt \
  --allow-read --allow-write --allow-run --allow-env --allow-sys "$root/scripts/demo.ts"
