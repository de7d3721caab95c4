#!/usr/bin/env bash
# Regenerate SingularityCE's parse of every golden recipe (core/build/testdata/good):
# <case>.ce.json when SingularityCE accepts it, <case>.ce.err when it refuses it.
# Needs Go (/usr/local/go/bin) and the Go module proxy; not run by the test suite.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="/usr/local/go/bin:$PATH" GOFLAGS=-mod=mod
# sum.golang.org does not serve some of SingularityCE's dependencies; go.sum pins them.
export GOSUMDB=off
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && go build -o "$tmp/ce_deffile" .)
cd "$root/core/build/testdata/good"
for def in *.def; do
  name=${def%.def}
  rm -f "$name.ce.json" "$name.ce.err"
  if ! "$tmp/ce_deffile" "$def" >"$tmp/out" 2>"$tmp/err"; then
    cp "$tmp/err" "$name.ce.err"
  else
    cp "$tmp/out" "$name.ce.json"
  fi
done
