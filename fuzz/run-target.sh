#!/usr/bin/env bash
# Runs one libFuzzer harness for ctest and scripts/fuzz.sh.
#   run-target.sh replay TARGET BINARY BUILD_DIR           every committed corpus file once
#   run-target.sh run    TARGET BINARY BUILD_DIR SECONDS   fuzz for SECONDS (corpus as seeds)
# The committed corpus (fuzz/corpus/TARGET) is never written: new inputs go to
# BUILD_DIR/corpus/TARGET. A crashing input is saved in BUILD_DIR/crashes/TARGET/ and its path
# printed; the exit status is then non-zero. The last line, also written to
# BUILD_DIR/summary/TARGET.MODE for scripts/fuzz.sh, is
#   fuzz-summary TARGET MODE execs=N execs_per_s=N corpus=N crashes=N seconds=N
set -uo pipefail
mode=$1 target=$2 bin=$3 build=$4 seconds=${5:-30}
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/corpus/$target
dict=$here/dict/$target.dict
work=$build/corpus/$target
crashes=$build/crashes/$target
log=$build/logs/$target.$mode.log
summary=$build/summary/$target.$mode
mkdir -p "$work" "$crashes" "$(dirname "$log")" "$(dirname "$summary")"

if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
  echo "fuzz: no committed corpus in $seeds" >&2
  exit 1
fi
args=(-artifact_prefix="$crashes/$mode-" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10)
[ -f "$dict" ] && args+=(-dict="$dict")
# Sanitizer findings must abort (libFuzzer saves the input); leaks count as crashes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

saved() { find "$crashes" -name "$mode-*" -type f | wc -l; }
before=$(saved)
start=$(date +%s)
if [ "$mode" = replay ]; then
  mapfile -t files < <(find "$seeds" -type f | sort)
  "$bin" "${args[@]}" "${files[@]}" </dev/null >"$log" 2>&1
  rc=$?
  execs=${#files[@]}
  # Running files one by one, libFuzzer writes no artifact: keep a copy of the one that failed.
  failed=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
  if [ $rc -ne 0 ] && [ -f "$failed" ]; then
    cp "$failed" "$crashes/replay-$(basename "$failed")"
  fi
elif [ "$mode" = run ]; then
  "$bin" "${args[@]}" -max_total_time="$seconds" "$work" "$seeds" </dev/null >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
else
  echo "usage: $0 replay|run TARGET BINARY BUILD_DIR [SECONDS]" >&2
  exit 2
fi
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -gt 0 ] || elapsed=1
execs=${execs:-0}
found=$(( $(saved) - before ))
if [ "$mode" = run ]; then
  corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | tr -dc 0-9)
else
  corpus=$execs
fi

if [ $rc -ne 0 ] || [ $found -gt 0 ]; then
  tail -n 60 "$log"
  echo "fuzz: $target ($mode) FAILED with status $rc; full log: $log"
  for f in $(ls -t "$crashes" | grep "^$mode-" | head -n 5); do
    echo "fuzz: crashing input saved: $crashes/$f (reproduce: $bin $crashes/$f)"
  done
  [ $found -gt 0 ] || found=1
  rc=1
fi
echo "fuzz-summary $target $mode execs=$execs execs_per_s=$(( execs / elapsed ))" \
  "corpus=${corpus:-0} crashes=$found seconds=$elapsed" | tee "$summary"
exit $rc
