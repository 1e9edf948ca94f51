#!/usr/bin/env bash
# Quick start 1: build the app and the demo site from demo-images/, then serve it on 127.0.0.1
# (port $PORT, default 8000; the server prints its URL). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # say, die, PATH, wbg_lock_version
bash scripts/setup.sh --demo
bash scripts/build-web.sh
say "building the chromatica CLI (release)"
cargo build --release -p index-builder
say "building the demo site target/demo-site from demo-images/"
target/release/chromatica build demo-images --out target/demo-site --metadata demo-images/metadata.csv
say "serving target/demo-site (Ctrl-C to stop)"
exec target/release/chromatica serve target/demo-site --port "${PORT:-8000}"
