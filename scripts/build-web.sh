#!/usr/bin/env bash
# Builds the browser app into target/web-dist/, which the chromatica CLI embeds at compile time:
# wasm32 release build -> wasm-bindgen (classic script, so it also works from file://) -> wasm-opt
# -> + the static shell from public/; and the threaded search worker into its threads/ folder
# (pinned nightly, wasm atomics, std rebuilt; an ES module). Needs what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # say, die, PATH, wbg_lock_version

out=target/web-dist
tmp=$out.tmp
wasm=target/wasm32-unknown-unknown/wasm-release/chromatica_web.wasm
threads_wasm=target/threads/wasm32-unknown-unknown/wasm-release/chromatica_worker.wasm
wasm_opt=tests/node_modules/.bin/wasm-opt  # npm's binaryen 132; Debian's v108 silently breaks this wasm

want=$(wbg_lock_version)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
[ -n "$have" ] || die "wasm-bindgen not found: run 'bash scripts/setup.sh'"
[ "$have" = "$want" ] || die "wasm-bindgen $have found but Cargo.lock pins $want: run 'bash scripts/setup.sh'"
[ -x "$wasm_opt" ] || die "$wasm_opt not found: run 'bash scripts/setup.sh'"
[ -d public ] || die "public/ (the static shell) is missing"
sizes() {
  local raw gz
  raw=$(stat -c %s "$out/chromatica_bg.wasm")
  gz=$(gzip -9 -c "$out/chromatica_bg.wasm" | wc -c)
  echo "web app: $out$1  wasm $((raw / 1024)) KiB ($raw bytes), gzip -9 $((gz / 1024)) KiB ($gz bytes)"
  raw=$(stat -c %s "$out/threads/chromatica_worker_bg.wasm")
  gz=$(gzip -9 -c "$out/threads/chromatica_worker_bg.wasm" | wc -c)
  echo "threaded worker: wasm $((raw / 1024)) KiB ($raw bytes), gzip -9 $((gz / 1024)) KiB ($gz bytes)"
}
wasm_features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

say "web: cargo build (wasm32, profile wasm-release)"
cargo build -p chromatica-web --lib --target wasm32-unknown-unknown --profile wasm-release

# Shared memory needs std rebuilt with atomics (nightly), and the linker told to import a shared
# memory and export the thread-local storage symbols wasm-bindgen's thread start-up uses. Its own
# target dir: other RUSTFLAGS would otherwise make the two builds rebuild each other.
say "threaded worker: cargo +$NIGHTLY build (wasm32, atomics, -Z build-std)"
rustup toolchain list | grep -q "^$NIGHTLY" || die "Rust $NIGHTLY not found: run 'bash scripts/setup.sh'"
link_args=(--shared-memory --import-memory --max-memory=1073741824
  --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base)
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory ${link_args[*]/#/-C link-arg=}" \
  cargo +"$NIGHTLY" build -p chromatica-worker --features threads --lib --target wasm32-unknown-unknown \
  --profile wasm-release --target-dir target/threads -Z build-std=panic_abort,std

# Up to date (same wasm, same wasm-bindgen, same public/ and same script)? Then keep the folder
# untouched: replacing it makes cargo rebuild the CLI that embeds it.
stamp=$out.stamp
# What the app is built from; index-builder/build.rs lists the same paths (APP_SOURCES).
APP_SOURCES="web crates/core/src crates/core/Cargo.toml crates/worker public Cargo.lock scripts/build-web.sh"
fingerprint=$( { echo "wasm-bindgen $have"; sha256sum "$wasm" "$threads_wasm" scripts/build-web.sh; find public -type f -print0 | sort -z | xargs -0 -r sha256sum; } )
if [ -f "$out/chromatica_bg.wasm" ] && [ -f "$out/threads/chromatica_worker_bg.wasm" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
  # The stamp's time says "built from the sources as of then": the CLI's build script compares it
  # with the web sources' times to catch a binary that would embed a stale app. Sources edited
  # without changing the app (comments) only need the stamp renewed.
  [ -z "$(find $APP_SOURCES -newer "$stamp" -type f -print -quit)" ] || touch "$stamp"
  sizes " (up to date)"
  exit 0
fi

# Assemble in a scratch folder and swap it in at the end, so a failed build leaves the old app.
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp" && mkdir -p "$tmp"
say "web: wasm-bindgen $have"
wasm-bindgen --target no-modules --no-typescript --out-dir "$tmp" --out-name chromatica "$wasm"

# rustc 1.95's wasm32 output uses bulk memory, non-trapping float-to-int, sign extension, mutable
# globals, reference types (wasm-bindgen's externref table) and multi-value blocks; binaryen fails
# validation without the last two.
say "web: wasm-opt -Oz --converge"
"$wasm_opt" -Oz --converge "${wasm_features[@]}" "$tmp/chromatica_bg.wasm" -o "$tmp/chromatica_bg.opt.wasm"
mv "$tmp/chromatica_bg.opt.wasm" "$tmp/chromatica_bg.wasm"

# An ES module: wasm-bindgen-rayon's helper starts each pool thread from it (import.meta.url).
say "threaded worker: wasm-bindgen --target web, wasm-opt -Oz"
wasm-bindgen --target web --no-typescript --out-dir "$tmp/threads" --out-name chromatica_worker "$threads_wasm"
# wasm-bindgen-rayon 1.3's helper starts each pool thread with init(module, memory), which this
# wasm-bindgen logs as deprecated on every page load: pass the object form it asks for instead.
helper=$(find "$tmp/threads/snippets" -name 'workerHelpers.no-bundler.js')
[ -n "$helper" ] || die "wasm-bindgen-rayon's workerHelpers.no-bundler.js is missing from the threaded build"
sed -i 's/pkg\.default(data\.module, data\.memory)/pkg.default({ module_or_path: data.module, memory: data.memory })/' "$helper"
"$wasm_opt" -Oz --converge --enable-threads "${wasm_features[@]}" "$tmp/threads/chromatica_worker_bg.wasm" -o "$tmp/threads/opt.wasm"
mv "$tmp/threads/opt.wasm" "$tmp/threads/chromatica_worker_bg.wasm"

cp -r public/. "$tmp/"
rm -rf "$out" "$stamp" && mv "$tmp" "$out"
printf '%s\n' "$fingerprint" > "$stamp"

sizes ""
