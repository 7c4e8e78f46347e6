#!/usr/bin/env bash
# ThreadSanitizer on nst's parallel loops (issue 8): the tests of core/parallel, ops, autodiff and
# nn, whose kernels split work with nst::parallel_for, built with clang, -fsanitize=thread and
# LLVM's OpenMP runtime (libomp) and run with 4 threads. Fails on the first data race reported.
#
#   .ci/tsan.sh            (NST_TSAN_BUILD_DIR=build-tsan, NST_JOBS=$(nproc))
#
# Why clang and libomp: TSan must see OpenMP's synchronisation (fork, barriers, join). LLVM's
# libomp tells it through Archer (libarcher.so, in Debian's libomp-dev), which libomp loads by
# itself in a TSan program; GCC's libgomp is not instrumented, so with g++ TSan reports the
# serial code after every parallel loop as racing with the loop (false positives, see
# docs/GUARANTEES.md). ignore_noninstrumented_modules=1 keeps TSan out of libomp's own internals.
# Not run by .ci/run: docs/GUARANTEES.md gives its cost and its last result.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NST_TSAN_BUILD_DIR:-build-tsan}
command -v clang++ > /dev/null || { echo "tsan.sh: needs clang++ (apt-get install clang libomp-dev)"; exit 2; }

start=$(date +%s)
.ci/build-test-subset.sh clang++ "$build/nst_parallel_tests" "-O1 -g -fsanitize=thread -fopenmp" \
  tests/core/parallel.test.cpp tests/ops tests/autodiff tests/nn
built=$(date +%s)

export OMP_NUM_THREADS=4 ARCHER_OPTIONS=verbose=1
export TSAN_OPTIONS=ignore_noninstrumented_modules=1:halt_on_error=1:second_deadlock_stack=1
status=0
"$build/nst_parallel_tests" > "$build/tsan.log" 2>&1 || status=$?
finished=$(date +%s)
if ! grep -q '^Archer detected OpenMP application with TSan' "$build/tsan.log"; then
  echo "tsan.sh: libomp did not load Archer (libarcher.so), so TSan cannot see OpenMP's synchronisation"
  status=1
fi
grep -E 'WARNING: ThreadSanitizer|SUMMARY: ThreadSanitizer|test cases|All tests passed' "$build/tsan.log" || true
echo "tsan: build $((built - start)) s, tests $((finished - built)) s (log: $build/tsan.log)"
exit $status
