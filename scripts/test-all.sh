#!/usr/bin/env bash
# The test trees of `make test` after deps, format and analysis: the ASan tree, the fuzzers and
# the Valgrind tree, then the Windows build and its tests under wine. The Windows packages,
# libraries and wine prefix (several minutes on a new machine) are prepared meanwhile in the
# background at low CPU priority, so they mostly use the time the native tests spend waiting.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_BUILD=${TEST_BUILD:-build/asan}
mkdir -p build
log=build/windows-prepare.log
setsid nice -n 10 env PREPARE_ONLY=1 scripts/windows-build > "$log" 2>&1 &
prep=$!
# Its own process group: a failing native step stops the whole preparation.
trap 'kill -- -"$prep" 2> /dev/null || true' EXIT
make --no-print-directory test-only fuzz-test test-valgrind TEST_BUILD="$TEST_BUILD"
if ! wait "$prep"; then
  cat "$log" >&2
  echo "test: preparing the Windows build failed (log above, $log)" >&2
  exit 1
fi
trap - EXIT
echo "test: $(tail -n 1 "$log")"
make --no-print-directory test-windows TEST_BUILD="$TEST_BUILD"
