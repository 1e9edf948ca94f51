#!/usr/bin/env bash
# Installs what building and testing Chromatica needs, once; fast (about a second) when everything
# is present. Debian/Ubuntu, as root or with sudo: rustup's wasm32 target, a pinned nightly (for
# the threaded worker and fuzzing), the wasm-bindgen CLI at the version Cargo.lock pins, the npm
# packages of tests/ (binaryen for wasm-opt, playwright-core), and for the tests only (not with
# `--demo`): Debian's Chromium, and libheif/libavif (HEIC and AVIF inputs, and the tools that make
# them in the tests). Debian packages come without their "recommends" (no daemons).
#
# Usage: bash scripts/setup.sh [--demo]   (--demo: only what building the demo site needs)
set -euo pipefail
demo=false
[ "${1:-}" = "--demo" ] && demo=true
cd "$(dirname "$0")/.."

. scripts/common.sh  # say, die, PATH, wbg_lock_version
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root for '$*' (run as root, or install sudo)"; fi
}
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your system's package manager"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- Rust and the wasm32 target -------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then re-run"
command -v rustup >/dev/null || die "rustup not found: the wasm32 target is added with rustup; install Rust with rustup (https://rustup.rs)"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown || die "'rustup target add wasm32-unknown-unknown' failed"
fi

# --- the pinned nightly, with the std sources and wasm32 std (the threaded worker rebuilds std) --
if ! rustup component list --toolchain "$NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
  say "installing Rust $NIGHTLY (rust-src, wasm32): for the threaded search worker and the fuzzer"
  rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src --target wasm32-unknown-unknown ||
    die "'rustup toolchain install $NIGHTLY' failed"
fi

# --- wasm-bindgen CLI, exactly the version of the wasm-bindgen crate in Cargo.lock --------------
[ -f Cargo.lock ] || die "Cargo.lock is missing (it pins the wasm-bindgen version)"
wbg_version=$(wbg_lock_version)
[ -n "$wbg_version" ] || die "no wasm-bindgen package in Cargo.lock (run 'cargo generate-lockfile' or build the web crate once)"
have_wbg=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_wbg" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version${have_wbg:+ (found $have_wbg)}: a few minutes, once"
  # Not --locked: one of the CLI's locked dependencies has been yanked from crates.io.
  cargo install wasm-bindgen-cli --version "=$wbg_version" || die "cargo install wasm-bindgen-cli --version =$wbg_version failed"
  [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wbg_version" ] ||
    die "wasm-bindgen $wbg_version was installed but another one comes first on PATH: $(command -v wasm-bindgen)"
fi

# --- libheif for HEIC/AVIF inputs (the CLI links it when pkg-config finds it), and the encoders
# the tests make such files with ---------------------------------------------------------------
if ! $demo && ! { pkg-config --exists libheif 2>/dev/null && command -v heif-enc >/dev/null && command -v avifenc >/dev/null; }; then
  say "installing libheif and libavif (HEIC/AVIF inputs and the tests' encoders)"
  # libheif 1.16+ ships its codecs as plugins (Debian 13, Ubuntu 24.04): take them where they exist.
  plugins=$( { apt-cache show libheif-plugin-libde265 libheif-plugin-dav1d libheif-plugin-x265 libheif-plugin-aomenc 2>/dev/null || true; } | awk '/^Package:/ {print $2}' | sort -u | tr '\n' ' ')
  apt_install pkg-config libheif-dev libheif-examples libavif-bin $plugins
fi

# --- Chromium for the browser tests (Debian's package; Playwright's own download is not used) ---
if ! $demo && [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian package)"
  apt_install chromium
  [ -x /usr/bin/chromium ] || die "the chromium package did not provide /usr/bin/chromium"
fi

# --- Node.js >= 20.10 (playwright-core needs 20; node --test --test-concurrency needs 20.10) -----
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing Node.js and npm (Debian packages)"
  apt_install nodejs npm
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' ||
  die "Node.js >= 20.10 is needed, found $(node --version) at $(command -v node) (Debian 12's package is 18: install Node 20 or newer)"

# --- npm packages of tests/: playwright-core (drives Chromium) and binaryen (wasm-opt) ----------
npm_ok() {
  [ -d tests/node_modules ] && [ -x tests/node_modules/.bin/wasm-opt ] &&
    [ -f tests/node_modules/playwright-core/package.json ] &&
    { [ ! -f tests/package-lock.json ] || [ ! tests/package-lock.json -nt tests/node_modules ]; } &&
    [ ! tests/package.json -nt tests/node_modules ]
}
if ! npm_ok; then
  say "installing the npm packages of tests/"
  if [ -f tests/package-lock.json ]; then
    (cd tests && npm ci --no-audit --no-fund --loglevel=error) || die "'npm ci' in tests/ failed"
  else
    (cd tests && npm install --no-audit --no-fund --loglevel=error) || die "'npm install' in tests/ failed"
  fi
  touch tests/node_modules
  npm_ok || die "npm finished but tests/node_modules lacks wasm-opt or playwright-core"
fi
tests/node_modules/.bin/wasm-opt --version >/dev/null 2>&1 || die "tests/node_modules/.bin/wasm-opt does not run"
