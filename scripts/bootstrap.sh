#!/usr/bin/env bash
# Set up everything singlet's development, tests and README commands need:
#   1. a pinned Deno from npm, installed under .tools/ (project-local, git-ignored);
#   2. the Debian packages the product and its tests drive (runc, squashfuse, siftool, ...).
# Idempotent: when everything is present it only checks, in well under 5 seconds.
# Usage: scripts/bootstrap.sh [--quiet]
set -euo pipefail

DENO_VERSION=2.9.6
# Debian packages: runtime components, test oracles, and the Rust toolchain for wasm:build.
DEBIAN_PACKAGES=(
  runc crun uidmap squashfuse fuse-overlayfs squashfs-tools squashfs-tools-ng siftool
  docker-registry skopeo umoci busybox-static debootstrap openssl apache2-utils shellcheck
  rustc cargo libstd-rust-dev-wasm32
  attr procps zstd
)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
quiet=false
[[ "${1:-}" == "--quiet" ]] && quiet=true

say() { $quiet || echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------------------
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "missing Debian packages (${missing[*]}) and no apt-get here: install them by hand"
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}): run as root, or: sudo apt-get install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  apt-get update -qq >"$apt_log" 2>&1 \
    || { cat "$apt_log" >&2; die "apt-get update failed: check the Debian mirror in /etc/apt/sources.list"; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1 \
    || { cat "$apt_log" >&2; die "apt-get install ${missing[*]} failed (output above)"; }
  rm -f "$apt_log"
fi

# --- Deno ------------------------------------------------------------------------------
deno="$tools/bin/deno"
if [[ ! -x "$deno" ]] || [[ "$("$deno" --version 2>/dev/null | head -n1)" != "deno $DENO_VERSION "* ]]; then
  command -v npm >/dev/null || die "npm is needed to install Deno $DENO_VERSION: apt-get install npm"
  case "$(uname -m)" in
    x86_64) platform=linux-x64-glibc ;;
    aarch64) platform=linux-arm64-glibc ;;
    *) die "no Deno build on npm for $(uname -m)" ;;
  esac
  say "installing Deno $DENO_VERSION from npm into .tools/"
  rm -rf "$tools/npm"
  mkdir -p "$tools/npm" "$tools/bin"
  # The platform package carries the binary; installing it directly skips deno's postinstall.
  npm install --prefix "$tools/npm" --no-save --no-package-lock --no-audit --no-fund --silent \
    "@deno/$platform@$DENO_VERSION" >/dev/null || die "npm install @deno/$platform@$DENO_VERSION failed: check npm's registry access"
  ln -sf "$tools/npm/node_modules/@deno/$platform/deno" "$deno"
  "$deno" --version >/dev/null || die "the installed Deno does not run: $deno"
fi
# Shared module cache: readable by the unprivileged test user too.
mkdir -p "$tools/deno-dir"
[[ -O "$tools" ]] && chmod 755 "$tools" "$tools/bin" "$tools/deno-dir"
say "ready: $("$deno" --version | head -n1)"
