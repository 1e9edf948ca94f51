#!/usr/bin/env bash
# Builds the browser app into target/web-dist/ (embedded into the chromatica CLI at compile time):
# wasm32 release build -> wasm-bindgen (classic script, works from file://) -> wasm-opt -> + public/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/web-dist
cargo build -p chromatica-web --lib --target wasm32-unknown-unknown --profile wasm-release
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
wasm-bindgen --target no-modules --no-typescript --out-dir "$out.tmp" --out-name chromatica \
  target/wasm32-unknown-unknown/wasm-release/chromatica_web.wasm
# npm's binaryen (Debian's v108 silently breaks this wasm).
tests/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out.tmp/chromatica_bg.wasm" -o "$out.tmp/chromatica_bg.opt.wasm"
mv "$out.tmp/chromatica_bg.opt.wasm" "$out.tmp/chromatica_bg.wasm"
cp -r public/. "$out.tmp/"
rm -rf "$out" && mv "$out.tmp" "$out"
raw=$(stat -c %s "$out/chromatica_bg.wasm")
gz=$(gzip -9 -c "$out/chromatica_bg.wasm" | wc -c)
echo "web app: $out (wasm $((raw / 1024)) KB, gzip $((gz / 1024)) KB)"
