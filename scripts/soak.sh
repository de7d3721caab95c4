#!/usr/bin/env bash
# Long soaks, kept out of the default test run: the seeded SIF mutation test at 200,000
# mutations, and 1,000 random three-layer OCI stacks compared with umoci. Minutes, not
# seconds. Usage: scripts/soak.sh   (or: deno task test:soak)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SIF_MUTATION_ITERATIONS="${SIF_MUTATION_ITERATIONS:-200000}"
export SINGLET_RANDOM_STACKS="${SINGLET_RANDOM_STACKS:-1000}"
exec bash "$root/scripts/test.sh" "$root/core/sif/mutation_test.ts" "$root/tests/e2e/oci_layers_test.ts"
