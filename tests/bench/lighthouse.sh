#!/usr/bin/env bash
# Lighthouse on built sites (see lighthouse.mjs for the arguments): installs the pinned Lighthouse
# into tests/bench/node_modules the first time (the tests never need it), then runs it.
#   bash tests/bench/lighthouse.sh [--runs N] LABEL=SITE_DIR[@CLI] ...
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/lighthouse ] || npm ci --no-audit --no-fund --loglevel=error
[ -d ../node_modules/playwright-core ] || (cd .. && npm ci --no-audit --no-fund --loglevel=error)
mkdir -p "${TMPDIR:-/tmp}"
exec node lighthouse.mjs "$@"
