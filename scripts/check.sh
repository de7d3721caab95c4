#!/usr/bin/env bash
# The static gate: formatting, lint, JSDoc on every export of the library (mod.ts, core/,
# runtime/: deno doc --lint; cli/ re-exports commander types it cannot lint), and types of
# everything (product, tests, benchmarks).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
deno="$root/.tools/bin/deno"
"$deno" fmt --check
"$deno" lint
mapfile -t product < <(git ls-files --cached --others --exclude-standard 'mod.ts' 'core/*.ts' 'runtime/*.ts' \
  | grep -v -e '_test\.ts$' -e '/testdata/')
"$deno" doc --lint "${product[@]}"
mapfile -t everything < <(git ls-files --cached --others --exclude-standard '*.ts' | grep -v -e '/testdata/' -e '^wasm/gen/')
"$deno" check "${everything[@]}"
