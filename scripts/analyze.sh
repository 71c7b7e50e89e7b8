#!/usr/bin/env bash
# Static analysis of our sources (src/ only, not tests or third-party code): cppcheck with
# scripts/analyze/cppcheck-suppressions.txt and clang-tidy with .clang-tidy, both on the
# compile_commands.json of a native build (configured here in build/analyze, nothing is
# compiled). src/common/os/*_win.c only build with mingw: clang-tidy cannot parse them with
# the native headers, so they get cppcheck only, with _WIN32 defined. One clang-tidy process
# per file: clang-tidy 14 reports false va_list errors when one process analyses several.
# scripts/analyze/banned.py fails on calls to C functions we never use there (sprintf, strcpy,
# strerror...), naming the replacement. Exit status 1 on any finding. `make analyze` runs this; `make test` depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${ANALYZE_BUILD:-build/analyze}
JOBS=${ANALYZE_JOBS:-2}
conf=scripts/analyze

# Configured every time (a second or two): the sources are globbed, so a compile database
# from an older checkout would silently leave new files out.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=OFF >/dev/null
mapfile -t files < <(python3 -c '
import json, os, sys
root = os.getcwd() + "/src/"
for e in json.load(open(sys.argv[1])):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(root):
        print(f)' "$BUILD/compile_commands.json" | sort -u)
[ ${#files[@]} -gt 0 ] || { echo "analyze: no sources in $BUILD/compile_commands.json" >&2; exit 1; }

status=0
# Functions we never want in the threaded daemons (shared buffers, unbounded copies).
echo "analyze: banned functions (${#files[@]} files)"
python3 "$conf/banned.py" "${files[@]}" src/common/os/*_win.c $(git ls-files 'src/*.h') || status=1

common=(--enable=warning,style,performance,portability --std=c11 --inline-suppr -q
        --error-exitcode=1 --library=posix --library="$conf/cjson.cfg"
        --suppressions-list="$conf/cppcheck-suppressions.txt"
        --template='{file}:{line}: {severity}: {message} [{id}]')
win_files=(src/common/os/*_win.c)
echo "analyze: cppcheck (${#files[@]} files + ${win_files[*]})"
cppcheck "${common[@]}" -j "$JOBS" --project="$BUILD/compile_commands.json" || status=1
cppcheck "${common[@]}" --library=windows -D_WIN32 -DMON_VERSION='"0"' -I src \
  "${win_files[@]}" || status=1

echo "analyze: clang-tidy (${#files[@]} files, -j$JOBS)"
if ! printf '%s\n' "${files[@]}" |
    xargs -P "$JOBS" -n 1 clang-tidy -p "$BUILD" --quiet --use-color=false 2>/dev/null; then
  status=1
fi
if [ $status -ne 0 ]; then
  echo "analyze: findings above (cppcheck: $conf/cppcheck-suppressions.txt, clang-tidy: .clang-tidy)" >&2
  exit 1
fi
echo "analyze: clean"
