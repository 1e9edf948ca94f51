#!/usr/bin/env bash
# Quick start 2: every test. Rust unit/property/fixture/integration tests, a short fuzz run of the
# parsers, then the browser end-to-end tests in headless Chromium against a freshly built demo site.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { printf '\n\033[1m== %s (%ss)\033[0m\n' "$*" "$((SECONDS - start))"; }

stage "setup"
bash scripts/setup.sh
stage "build the web app"
bash scripts/build-web.sh
stage "Rust tests (core + CLI)"
cargo test --release --workspace --exclude chromatica-web
stage "fuzz the bundle decoder and the query parser (10 s per target)"
bash scripts/fuzz.sh 10
stage "build the e2e site"
cargo build --release -p index-builder
target/release/chromatica build demo-images --out target/e2e-site
stage "browser tests (headless Chromium)"
export TMPDIR="$PWD/target/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
(cd tests && node --test --test-concurrency=1 e2e/)
stage "all tests passed"
