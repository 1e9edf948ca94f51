#!/usr/bin/env bash
# p50/p95 of the search time (`metadata.total_time_ms`, one `chromatica search` per query, so the
# bundle load is not counted) over 30 color queries each: plain, with a wildcard share (`--any
# 0.5`), and with a color to avoid (`--exclude 2E8B57`). Usage: bash tests/bench/refine-p95.sh SITE
set -euo pipefail
site=$1
bin=$(dirname "$0")/../../target/release/chromatica
colors=(E4572E,F3A712 2E86AB,F3A712 101010,E0E0E0 44AF69 D4AF37 8E44AD,F1C40F 1ABC9C 34495E,ECF0F1 C0392B 7F8C8D)
for kind in plain any exclude; do
  times=()
  for rep in 1 2 3; do
    for c in "${colors[@]}"; do
      case $kind in
        plain) extra=() ;;
        any) extra=(--any 0.5) ;;
        exclude) extra=(--exclude 2E8B57) ;;
      esac
      t=$($bin search "$site" --colors "$c" -k 20 --json "${extra[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["total_time_ms"])')
      times+=("$t")
    done
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v k=$kind '{a[NR]=$1} END {printf "%s: n=%d p50=%.2f ms p95=%.2f ms\n", k, NR, a[int(NR*0.5)+1], a[int(NR*0.95)]}'
done
