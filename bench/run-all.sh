#!/usr/bin/env bash
# Runs every benchmark against the release build in build/ (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/agent bench/aggregator bench/dashboard bench/store bench/usage; do
  if [ -x "$b" ]; then
    echo "== $b"
    "$b" 2>/dev/null
  fi
done
