#!/usr/bin/env bash
# CI: the test suite under AddressSanitizer + UndefinedBehaviorSanitizer (issue 8), in its own
# build directory: every memory error, leak or undefined behaviour stops the run with a report
# and fails it. Runs all of nst_tests, then the command-line tests (tests/cli) against an
# instrumented nst command. Prints the time the build and the runs took.
#
#   .ci/sanitizers.sh            (NST_ASAN_BUILD_DIR=build-asan, NST_JOBS=$(nproc))
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
cmake --build "$build" -j"$jobs" --target nst_tests nst_command
built=$(date +%s)

# Fail hard: the first report ends the process with a non-zero status.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$build/tests/nst_tests"
tested=$(date +%s)
ctest --test-dir "$build" -L cli -j"$jobs" --output-on-failure
finished=$(date +%s)

echo "sanitizers: build $((built - start)) s, nst_tests $((tested - built)) s, command-line tests $((finished - tested)) s"
