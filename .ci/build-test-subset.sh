#!/usr/bin/env bash
# Builds one test program from part of the test suite: tests/main.cpp plus the *.test.cpp files
# under the given paths, with the compile definitions of the nst::nst CMake target and of
# nst_tests (fixtures, ../shared) plus the caller's flags. For the tools that need only the
# tests touching one area (valgrind: the file loaders; ThreadSanitizer: the parallel loops),
# where building all of nst_tests a third time would cost CI minutes. Files compile in parallel.
#
#   .ci/build-test-subset.sh CXX OUTPUT "FLAGS" PATH...      (NST_JOBS=$(nproc))
#   .ci/build-test-subset.sh g++ build-valgrind/io_tests "-O1 -g -fopenmp" tests/io tests/fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cxx=$1 output=$2 extra=$3
shift 3
jobs=${NST_JOBS:-$(nproc)}
objects_dir="$output.objects"
mkdir -p "$objects_dir"

# shellcheck disable=SC2206
flags=(-std=c++17 -Wall -Wextra -Wpedantic $extra -DEIGEN_DONT_PARALLELIZE -DNST_HAVE_STB=1
  -DNST_TEST_FIXTURES="\"$root/tests/fixtures\"" -DNST_SHARED_DIR="\"$root/../shared\""
  -DNST_SOURCE_DIR="\"$root\"" -I"$root/include" -isystem /usr/include/eigen3 -isystem /usr/include/stb)
# The flags go through a response file so that xargs can hand each compiler the same ones.
printf "'%s'\n" "${flags[@]}" > "$objects_dir/flags.rsp"

sources=(tests/main.cpp $(find "$@" -name '*.test.cpp' | sort))
objects=()
for source in "${sources[@]}"; do objects+=("$objects_dir/$(echo "$source" | tr / _).o"); done
for i in "${!sources[@]}"; do printf '%s\0%s\0' "${sources[$i]}" "${objects[$i]}"; done |
  xargs -0 -n 2 -P "$jobs" sh -c '"$0" @"$1" -c "$2" -o "$3"' "$cxx" "$objects_dir/flags.rsp"
# shellcheck disable=SC2086
"$cxx" $extra "${objects[@]}" -o "$output" -lstb
echo "built $output from ${#sources[@]} files"
