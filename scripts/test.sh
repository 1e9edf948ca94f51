#!/usr/bin/env bash
# Quick start 2: every test. Formatting and lints, Rust unit/property/fixture/integration tests,
# the install packages (static binary, npm, pip, crate) tried out, a short fuzz run of the
# parsers, then the browser end-to-end tests in headless Chromium against a freshly built demo site.
# Installs what it needs first (scripts/setup.sh). The last lines are node's test summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # say, die, PATH, wbg_lock_version

start=$SECONDS stage_start=$SECONDS stage_name=""
stage() {
  [ -n "$stage_name" ] && printf '   (%s: %ss)\n' "$stage_name" "$((SECONDS - stage_start))"
  stage_name=$1 stage_start=$SECONDS
  printf '\n\033[1m== [%ss] %s\033[0m\n' "$((SECONDS - start))" "$1"
}
trap 'rc=$?; [ $rc = 0 ] || printf "\n\033[1;31m== FAILED in stage \"%s\" (exit %s) after %ss\033[0m\n" "$stage_name" "$rc" "$((SECONDS - start))" >&2' EXIT

stage "setup"
bash scripts/setup.sh

stage "lint: rustfmt, clippy (warnings are errors)"
cargo fmt --all -- --check
rustfmt --edition 2021 --check fuzz/fuzz_targets/*.rs
cargo clippy --workspace --exclude chromatica-web --exclude chromatica-worker --all-targets --all-features -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p chromatica-web -p chromatica-worker -- -D warnings

stage "build the web app (target/web-dist)"
bash scripts/build-web.sh

stage "Rust tests (core + CLI)"
# The two wasm-only crates are exercised by the browser tests.
cargo test --release --workspace --exclude chromatica-web --exclude chromatica-worker --all-features

stage "packages: build the four artifacts, install each in a fresh prefix, build and search with it"
bash scripts/package.sh
bash scripts/test-packages.sh

stage "fuzz the bundle decoder and the query parser (10 s per target)"
bash scripts/fuzz.sh 10

stage "build the e2e site (target/e2e-site)"
# target/release/chromatica was built by `cargo test` above (the CLI tests run it); a separate
# `cargo build` would recompile dependencies with another feature set (about 3 minutes).
[ -x target/release/chromatica ] || die "target/release/chromatica was not built by cargo test"
target/release/chromatica build demo-images --out target/e2e-site --metadata demo-images/metadata.csv

stage "browser tests (headless Chromium)"
# Chromium's throwaway profiles and the tests' scratch files go here, not to a shared /tmp.
export TMPDIR="$PWD/target/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
cd tests
node --test --test-concurrency=1 e2e/
