#!/usr/bin/env bash
# run.sh — builds the libFuzzer harnesses with clang, seeds them and runs each for a set time.
#
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS=60] [HARNESS...]      (safetensors pth image)
#   NST_FUZZ_FLAGS=-runs=1000000 tests/fuzz/run.sh 7200 pth     (a million executions, at most 2 h)
#
# Environment: NST_FUZZ_BUILD_DIR (default build-fuzzers), NST_FUZZ_BUILD_JOBS (default 2),
# NST_FUZZ_FLAGS (more libFuzzer flags, e.g. "-jobs=4 -workers=4").
# The growing corpus stays in BUILD/fuzz/corpus/<harness>/ between runs; findings (crash-*,
# leak-*, timeout-*, oom-*) land in BUILD/fuzz/findings/<harness>/ and the log in
# BUILD/fuzz/<harness>.log. Prints executions and findings per harness; exits 1 if any harness
# found something. A finding belongs in tests/fixtures/fuzz/<harness>/ once fixed, where
# tests/fuzz/regressions.test.cpp checks it in the normal test suite.
set -euo pipefail
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(safetensors pth image)
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build=${NST_FUZZ_BUILD_DIR:-$root/build-fuzzers}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DNST_BUILD_FUZZERS=ON \
  -DNST_BUILD_EXAMPLES=OFF -DNST_BUILD_BENCH=OFF > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 2; }
targets=(nst_fuzz_seeds)
for h in "${harnesses[@]}"; do targets+=("nst_fuzz_$h"); done
cmake --build "$build" -j"${NST_FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}"

work="$build/fuzz"
rm -rf "$work/seeds"
"$here/make_corpus.sh" "$work" "$work/seeds"

export OMP_NUM_THREADS=1
found_any=0
printf '\n%-12s %12s %8s %8s %8s %8s  %s\n' harness executions seconds exec/s corpus findings log
for h in "${harnesses[@]}"; do
  mkdir -p "$work/corpus/$h" "$work/findings/$h"
  dict=()
  [ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict")
  # A .pth's storages follow its pickle; mutating kilobytes of tensor bytes finds nothing new.
  max_len=()
  [ "$h" = pth ] && max_len=(-max_len=8192)
  # shellcheck disable=SC2086
  "$work/nst_fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$work/findings/$h/" "${dict[@]}" "${max_len[@]}" ${NST_FUZZ_FLAGS:-} \
    "$work/corpus/$h" "$work/seeds/$h" > "$work/$h.log" 2>&1 || true
  executions=$(awk '/stat::number_of_executed_units:/ {s += $2} END {print s + 0}' "$work/$h.log")
  rate=$(awk '/stat::average_exec_per_sec:/ {s += $2} END {print s + 0}' "$work/$h.log")
  seconds=$(awk '/^Done [0-9]+ runs in/ {print $5} END {}' "$work/$h.log" | tail -n 1)
  corpus=$(find "$work/corpus/$h" -type f | wc -l)
  findings=$(find "$work/findings/$h" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  [ "$findings" -gt 0 ] && found_any=1
  printf '%-12s %12s %8s %8s %8s %8s  %s\n' "$h" "$executions" "${seconds:--}" "$rate" "$corpus" "$findings" "$work/$h.log"
done
if [ "$found_any" -ne 0 ]; then
  echo "findings (inputs that crashed, leaked, hung or ran out of memory):"
  find "$work/findings" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sed 's/^/  /'
  exit 1
fi
