#!/usr/bin/env bash
# Per-image build time for 12 MP HEIC and AVIF photos, beside libheif's heif-convert (HEIC -> JPEG)
# and libvips' vipsthumbnail (-> 256 px thumbnail) on the same files, each pinned to one core (taskset).
# Usage: bash tests/bench/heif-bench.sh [work-dir]   (needs heif-enc, avifenc, vips: apt install
# libheif-examples libavif-bin libvips-tools; the chromatica binary from `bash scripts/test.sh`)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/heif-bench}
cli=$repo/target/release/chromatica
mkdir -p "$work/heic" "$work/avif"
n=0
for f in $(ls "$repo/demo-images" | grep '\.jpg$' | head -4); do
  n=$((n + 1))
  # 4004 x 2995 (12 MP) from a demo photo.
  [ -f "$work/s$n.png" ] || vips resize "$repo/demo-images/$f" "$work/s$n.png" 7.82 --vscale 10.4
  [ -f "$work/heic/s$n.heic" ] || heif-enc -q 80 "$work/s$n.png" -o "$work/heic/s$n.heic" >/dev/null
  [ -f "$work/avif/s$n.avif" ] || avifenc -s 8 --min 20 --max 30 "$work/s$n.png" "$work/avif/s$n.avif" >/dev/null
done
per_image() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.0f} ms')" "$1" "$2"; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
for kind in heic avif; do
  files=("$work/$kind"/*)
  for originals in "" "--no-originals"; do
    rm -rf "$work/site-$kind" "${CHROMATICA_CACHE_DIR:-$HOME/.cache/chromatica}"/*"site-$kind"* 2>/dev/null || true
    decode=$(taskset -c 0 "$cli" build "$work/$kind" --out "$work/site-$kind" --jobs 1 --json $originals | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings_ms"]["decode"])')
    what="decode, histogram, thumbnail"
    [ -z "$originals" ] && [ "$kind" = heic ] && what="$what, full-size JPEG rendition"
    echo "chromatica build, $kind, ${originals:-with originals}: $(per_image "$decode" ${#files[@]}) per image ($what)"
  done
  total=0
  for f in "${files[@]}"; do total=$((total + $(ms taskset -c 0 heif-convert "$f" "$work/out.jpg"))); done
  echo "heif-convert $kind -> JPEG: $(per_image $total ${#files[@]}) per image"
  total=0
  for f in "${files[@]}"; do total=$((total + $(ms taskset -c 0 vipsthumbnail "$f" -s 256 -o "$work/thumb.jpg"))); done
  echo "vipsthumbnail $kind -> 256 px: $(per_image $total ${#files[@]}) per image"
done
