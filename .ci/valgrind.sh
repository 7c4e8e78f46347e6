#!/usr/bin/env bash
# valgrind memcheck on the tests that read files (issue 8): tests/io/** (safetensors, .pth, zip,
# unpickler, JSON, images, atomic writes) and tests/fuzz/*.test.cpp (every fuzzer finding, the
# size limits, NaN weights), built without sanitizers and without -march=native (valgrind 3.19
# cannot run AVX-512). Fails on any invalid read or write, use of uninitialised memory, bad free
# or definite leak; prints valgrind's summary and the time taken.
#
#   .ci/valgrind.sh            (NST_VALGRIND_BUILD_DIR=build-valgrind, NST_JOBS=$(nproc))
#
# Not run by .ci/run: docs/GUARANTEES.md gives its cost and its last result.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NST_VALGRIND_BUILD_DIR:-build-valgrind}
command -v valgrind > /dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)"; exit 2; }

start=$(date +%s)
.ci/build-test-subset.sh g++ "$build/nst_file_tests" "-O1 -g -fopenmp" tests/io tests/fuzz
built=$(date +%s)

# Two OpenMP threads, so that the parallel loops run as threads under valgrind too.
status=0
OMP_NUM_THREADS=2 valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --track-origins=yes --log-file="$build/valgrind.log" \
  "$build/nst_file_tests" "[io],[fuzz]" || status=$?
finished=$(date +%s)
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks' "$build/valgrind.log" | sed 's/^==[0-9]*== //'
echo "valgrind: build $((built - start)) s, tests under memcheck $((finished - built)) s (log: $build/valgrind.log)"
exit $status
