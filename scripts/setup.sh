#!/usr/bin/env bash
# Installs what building and testing Chromatica needs, once; fast when everything is present.
# Debian/Ubuntu: rustup's wasm32 target, the wasm-bindgen CLI pinned to Cargo.lock, Chromium,
# and the npm packages of tests/ (playwright-core, binaryen's wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
command -v npm >/dev/null || { say "installing Node.js"; as_root apt-get update -qq; as_root apt-get install -y -qq nodejs npm; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version (a few minutes, once)"
  # Not --locked: one of its locked dependencies is no longer on the registry.
  cargo install wasm-bindgen-cli --version "=$wbg_version"
fi

if [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium
fi

if [ ! -d tests/node_modules ] || [ tests/package.json -nt tests/node_modules ] || { [ -f tests/package-lock.json ] && [ tests/package-lock.json -nt tests/node_modules ]; }; then
  say "installing npm packages of tests/"
  if [ -f tests/package-lock.json ]; then (cd tests && npm ci --no-audit --no-fund); else (cd tests && npm install --no-audit --no-fund); fi
  touch tests/node_modules
fi
