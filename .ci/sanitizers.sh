#!/usr/bin/env bash
# CI: the tests under AddressSanitizer + UndefinedBehaviorSanitizer (issue 8), in their own build
# directory: every memory error, leak or undefined behaviour stops the run with a report and
# fails it. CI runs the tests of the code that reads files and owns memory (tests/core, tests/io,
# tests/fuzz: the weight-file and image loaders, the fuzzers' regression inputs), then the
# command-line tests (tests/cli: every kind of bad input) against an instrumented nst command.
# NST_ASAN_ALL=1 builds and runs all of nst_tests instead (about 20 more minutes on 2 cores, too
# long for CI's 30; run it before a release — it passed on the whole suite at 90110dd).
# Prints the time the build and the runs took.
#
#   .ci/sanitizers.sh            (NST_ASAN_BUILD_DIR=build-asan, NST_JOBS=$(nproc), NST_ASAN_ALL=0)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NST_ASAN_BUILD_DIR:-build-asan}
jobs=${NST_JOBS:-$(nproc)}
sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

start=$(date +%s)
# -O1: several times faster to build than -O3 and still fast to run; -g1: line tables only, so the
# reports name file:line while the build stays far cheaper than with full debug information.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_EXE_LINKER_FLAGS="$sanitize" -DNST_BUILD_BENCH=OFF > /dev/null
if [ "${NST_ASAN_ALL:-0}" = 1 ]; then
  cmake --build "$build" -j"$jobs" --target nst_tests nst_command
  tests="$build/tests/nst_tests"
else
  cmake --build "$build" -j"$jobs" --target nst_command
  NST_JOBS=$jobs .ci/build-test-subset.sh g++ "$build/nst_file_tests" \
    "-O1 -g1 -march=native -Wno-maybe-uninitialized -Wno-uninitialized -fopenmp $sanitize" tests/core tests/io tests/fuzz
  tests="$build/nst_file_tests"
fi
built=$(date +%s)

# Fail hard: the first report ends the process with a non-zero status.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$tests"
tested=$(date +%s)
ctest --test-dir "$build" -L cli -j"$jobs" --output-on-failure
finished=$(date +%s)

echo "sanitizers: build $((built - start)) s, tests $((tested - built)) s, command-line tests $((finished - tested)) s"
