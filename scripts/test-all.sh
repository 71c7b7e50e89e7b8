#!/usr/bin/env bash
# The test trees of `make test` after deps, format and analysis: the ASan tree, the fuzzers and
# the Valgrind tree, then the Windows build and its tests under wine, then the portable agent's
# packages and their tests on Debian 11/13 roots, with rpm and under qemu. What those last two
# need the first time (Windows packages, libraries and wine prefix; the portable agent's
# sysroots, static libraries and the debootstrap roots: several minutes each on a new machine)
# is prepared meanwhile in the background at the lowest CPU and I/O priority, so it mostly uses
# the time the native tests spend waiting; later runs find it cached (~/.cache/lanmon-win,
# ~/.cache/lanmon-agent).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_BUILD=${TEST_BUILD:-build/asan}
mkdir -p build
wlog=build/windows-prepare.log
plog=build/portable-prepare.log
# Lowest CPU and idle I/O priority: the timing-sensitive native suites (Valgrind) come first.
setsid nice -n 19 ionice -c 3 env PREPARE_ONLY=1 scripts/windows-build > "$wlog" 2>&1 &
wprep=$!
setsid nice -n 19 ionice -c 3 sh -c 'PREPARE_ONLY=1 scripts/portable-build && scripts/distro-roots' \
  > "$plog" 2>&1 &
pprep=$!
# Their own process groups: a failing native step stops the whole preparation.
trap 'kill -- -"$wprep" -"$pprep" 2> /dev/null || true' EXIT
T0=$(date +%s)
# Runs one make target and prints how long it took (CI's log then shows where the time goes).
stage() {
  local t
  t=$(date +%s)
  make --no-print-directory "$1" TEST_BUILD="$TEST_BUILD"
  echo "test: $1 took $(($(date +%s) - t)) s ($(($(date +%s) - T0)) s since the native tests began)"
}
stage test-only
stage fuzz-test
stage test-valgrind
for job in "windows:$wprep:$wlog" "portable:$pprep:$plog"; do
  IFS=: read -r name pid log <<< "$job"
  if ! wait "$pid"; then
    cat "$log" >&2
    echo "test: preparing the $name build failed (log above, $log)" >&2
    exit 1
  fi
  echo "test: $(grep -v '^distro-roots' "$log" | tail -n 1)"
done
trap - EXIT
echo "test: waited for the background preparation until $(($(date +%s) - T0)) s"
stage test-windows
stage test-portable
