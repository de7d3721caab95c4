#!/usr/bin/env bash
# Build the single-file binary dist/singlet with `deno compile`, using exactly the permission
# set in cli/permissions.args (the one bin/singlet and the tests run with).
# `deno compile` needs the `denort` runtime matching the pinned Deno: it downloads it, or
# takes the file named by DENORT_BIN (for air-gapped build hosts).
# Usage: scripts/compile.sh [OUTPUT]   (default dist/singlet)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deno="$root/.tools/bin/deno"
out="${1:-$root/dist/singlet}"
die() { echo "FATAL:   $1" >&2; echo "hint:    $2" >&2; exit 255; }

[[ -x "$deno" ]] || die "Deno is not installed under .tools" "run scripts/bootstrap.sh"
version=$("$deno" --version | head -n1 | cut -d' ' -f2)
target="denort-$(uname -m)-unknown-linux-gnu"
if [[ -n "${DENORT_BIN:-}" && ! -x "$DENORT_BIN" ]]; then
  die "Cannot compile: DENORT_BIN=$DENORT_BIN is not an executable file" \
    "unzip $target.zip of Deno $version and point DENORT_BIN at the denort inside"
fi
mapfile -t permissions < <(grep -v -e '^#' -e '^[[:space:]]*$' "$root/cli/permissions.args")
include=()
[[ -d "$root/wasm/gen" ]] && include=(--include "$root/wasm/gen")
mkdir -p "$(dirname "$out")"
export DENO_DIR="${DENO_DIR:-$root/.tools/deno-dir}"
if ! log=$("$deno" compile --quiet --no-prompt --config "$root/deno.json" "${permissions[@]}" \
  "${include[@]}" --output "$out" "$root/cli/main.ts" 2>&1); then
  rm -f "$out"
  if grep -q -e denort -e dl.deno.land <<<"$log"; then
    die "Cannot compile: the denort runtime for Deno $version could not be obtained" \
      "download $target.zip for v$version on a connected machine, unzip it, and run again with DENORT_BIN=/path/to/denort"
  fi
  printf '%s\n' "$log" >&2
  die "Cannot compile: deno compile failed (output above)" "fix the error above, then run deno task compile again"
fi
echo "built $out"
