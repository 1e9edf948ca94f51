#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10; a long run: `bash scripts/fuzz.sh 3600`).
# Needs the pinned nightly (scripts/setup.sh) and cargo-fuzz, which this installs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # NIGHTLY
seconds=${1:-10}
nightly=$NIGHTLY
rustup toolchain list | grep -q "^$nightly" || rustup toolchain install "$nightly" --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in $(cargo +"$nightly" fuzz list); do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzzing $target for ${seconds}s"
  log=$(mktemp)
  if ! cargo +"$nightly" fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 >"$log" 2>&1; then
    # A build error or a crash: show enough to act on it (a crash's input is in fuzz/artifacts/).
    grep -v '^ *Compiling ' "$log" | tail -n 40
    rm -f "$log"
    exit 1
  fi
  tail -n 3 "$log"
  rm -f "$log"
done
