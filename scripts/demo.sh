#!/usr/bin/env bash
# Quick start 1: build the app and the demo site from demo-images/, then serve it on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-web.sh
cargo build --release -p index-builder
target/release/chromatica build demo-images --out target/demo-site
exec target/release/chromatica serve target/demo-site --port "${PORT:-8000}"
