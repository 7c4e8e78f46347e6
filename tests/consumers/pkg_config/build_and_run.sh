#!/bin/sh
# Consumer of an installed nst through pkg-config, as a Makefile or a shell script uses it:
#   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs nst)
# Arguments: the installed pkgconfig directory, the C++ compiler, the program's source, a work
# directory, and the version the nst build under test has. Exit 77 (skipped) without pkg-config.
set -eu
pc_dir=$1 cxx=$2 source=$3 work=$4 expected=$5

command -v pkg-config >/dev/null 2>&1 || { echo "skipped: pkg-config is not installed"; exit 77; }
PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH

version=$(pkg-config --modversion nst)
[ "$version" = "$expected" ] || { echo "pkg-config says nst $version, expected $expected"; exit 1; }
cflags=$(pkg-config --cflags nst)
libs=$(pkg-config --libs nst)
echo "pkg-config --cflags nst: $cflags"
echo "pkg-config --libs nst:   $libs"

mkdir -p "$work"
# shellcheck disable=SC2086  # the flags are meant to split into words
"$cxx" -std=c++17 -O1 "$source" $cflags -DNST_EXPECTED_VERSION="\"$expected\"" -o "$work/consumer" $libs
"$work/consumer"
