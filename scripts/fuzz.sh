#!/usr/bin/env bash
# The libFuzzer harnesses of fuzz/, built with clang into build/fuzz (ASan + UBSan).
#   scripts/fuzz.sh run    (make fuzz) fuzz every target for FUZZ_SECONDS (default 60),
#                          FUZZ_JOBS (default 2) at a time; FUZZ_TARGETS="a b" picks some
#   scripts/fuzz.sh test   (make test) ctest -L fuzz: replay every committed corpus file once,
#                          then fuzz each target for FUZZ_TEST_SECONDS (default 15)
#   scripts/fuzz.sh seed   regenerate seeds from real sources (fuzz/seeds.py, needs build/asan)
#                          and merge them into fuzz/corpus/ (-merge=1 keeps what adds coverage)
# Each prints a table: target, mode, execs, execs/s, corpus size, crashes. A crash or a broken
# invariant fails the command; the input is saved under build/fuzz/crashes/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
build=build/fuzz
root=$(pwd)

clang=""
for c in clang-14 clang; do
  if command -v "$c" >/dev/null 2>&1; then clang=$c; break; fi
done
if [ -z "$clang" ]; then
  echo "fuzz: clang not found (scripts/deps.sh installs clang-14, libfuzzer-14-dev, libclang-rt-14-dev)" >&2
  exit 1
fi

configure() {
  local seconds=$1
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMON_FUZZ=ON \
    -DCMAKE_C_COMPILER="$clang" -DMON_FUZZ_SECONDS="$seconds" >/dev/null
  cmake --build "$build" -j2
}

# One target per fuzz/fuzz_<target>.c (fuzz_util.c is shared code).
targets() {
  if [ -n "${FUZZ_TARGETS:-}" ]; then
    echo "$FUZZ_TARGETS"
  else
    ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_\(.*\)\.c|\1|' | grep -vx util
  fi
}

table() {
  local modes=$1 failed=0
  printf '%-14s %-7s %12s %10s %8s %8s\n' target mode execs execs/s corpus crashes
  for t in $(targets); do
    for m in $modes; do
      local f=$build/summary/$t.$m
      if [ ! -f "$f" ]; then
        printf '%-14s %-7s %12s\n' "$t" "$m" "(did not run)"
        failed=1
        continue
      fi
      # fuzz-summary TARGET MODE execs=N execs_per_s=N corpus=N crashes=N seconds=N
      read -r _ _ _ e r c x _ <"$f"
      printf '%-14s %-7s %12s %10s %8s %8s\n' "$t" "$m" "${e#execs=}" "${r#execs_per_s=}" \
        "${c#corpus=}" "${x#crashes=}"
      [ "${x#crashes=}" = 0 ] || failed=1
    done
  done
  if [ -n "$(find "$build/crashes" -type f -newer "$build/summary/.start" 2>/dev/null)" ]; then
    echo "fuzz: failing inputs saved by this run:"
    find "$build/crashes" -type f -newer "$build/summary/.start" | head -n 20
  fi
  return $failed
}

case "$mode" in
run)
  seconds=${FUZZ_SECONDS:-60}
  configure "$seconds"
  rm -rf "$build/summary" && mkdir -p "$build/summary" && touch "$build/summary/.start"
  echo "fuzz: $(targets | wc -w) targets, ${seconds}s each, ${FUZZ_JOBS:-2} at a time"
  rc=0
  printf '%s\n' $(targets) | xargs -P "${FUZZ_JOBS:-2}" -I{} \
    fuzz/run-target.sh run {} "$root/$build/bin/fuzz_{}" "$root/$build" "$seconds" \
    >/dev/null || rc=1
  table run || rc=1
  exit $rc
  ;;
test)
  configure "${FUZZ_TEST_SECONDS:-15}"
  rm -rf "$build/summary" && mkdir -p "$build/summary" && touch "$build/summary/.start"
  rc=0
  (cd "$build" && ctest -L fuzz -j2 --output-on-failure) || rc=1
  table "replay run" || rc=1
  exit $rc
  ;;
seed)
  configure 30
  asan=${LANMON_BUILD:-build/asan}
  if [ ! -x "$asan/bin/monitor-agent" ]; then
    echo "fuzz: seed needs a built $asan (make test-only)" >&2
    exit 1
  fi
  rm -rf "$build/seeds"
  LANMON_BIN_DIR=$root/$asan/bin LANMON_FAKES_DIR=$root/$asan/lib fuzz/seeds.py "$build/seeds"
  for t in $(targets); do
    mkdir -p "fuzz/corpus/$t"
    [ -d "$build/seeds/$t" ] || continue
    "$build/bin/fuzz_$t" -merge=1 -artifact_prefix="$build/seeds/$t-" "fuzz/corpus/$t" \
      "$build/seeds/$t" </dev/null \
      >"$build/seeds/$t.merge.log" 2>&1 || { tail -n 20 "$build/seeds/$t.merge.log"; exit 1; }
    # -merge=1 steps over inputs that crash: those are findings, not seeds.
    if grep "caused a failure" "$build/seeds/$t.merge.log"; then
      echo "fuzz: a seed of $t crashes the harness (log: $build/seeds/$t.merge.log)" >&2
      exit 1
    fi
    echo "fuzz: fuzz/corpus/$t: $(ls "fuzz/corpus/$t" | wc -l) files"
  done
  ;;
*)
  echo "usage: $0 run|test|seed" >&2
  exit 2
  ;;
esac
