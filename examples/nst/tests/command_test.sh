# shellcheck shell=bash
# command_test.sh — sourced by the nst command's test scripts (NAME.sh NST_BINARY FIXTURES_DIR
# WORK_DIR): their common start, and small input images made in bash alone.
#
#   source "$(dirname "$0")/command_test.sh"
#   start_command_test memory_commands "$@"   # $nst, $narrow, an empty WORK_DIR as the current
#                                             # directory, fail MESSAGE (exit 1 naming the test)
#   make_tga content.tga 40 30        # an uncompressed 24-bit TGA, a fixed colour pattern
#   make_tga style.tga 24 24 9        # another pattern for another seed
#
# Pixel (x, y) is B = (x + y) * 5 + seed * x, G = y * 11 + seed, R = x * 7 + seed * x * y
# (mod 256), so seed 0 and any other seed give clearly different images.

# byte[i]: the printf escape of the byte i, made once (no subshell per pixel).
byte=()
for ((i = 0; i < 256; i++)); do printf -v 'byte[i]' '\\%03o' "$i"; done

# make_tga FILE WIDTH HEIGHT [SEED]
make_tga() {
  local out=$1 width=$2 height=$3 seed=${4:-0} x y pixels=""
  for ((y = 0; y < height; y++)); do
    for ((x = 0; x < width; x++)); do  # BGR
      pixels+=${byte[((x + y) * 5 + seed * x) % 256]}${byte[(y * 11 + seed) % 256]}${byte[(x * 7 + seed * x * y) % 256]}
    done
  done
  # no id, no colour map, type 2 (true colour), origin 0,0, width, height, 24 bits, top-left first
  # shellcheck disable=SC2059  # the format is the escapes themselves
  printf "\\0\\0\\2\\0\\0\\0\\0\\0\\0\\0\\0\\0${byte[width & 255]}${byte[width >> 8]}${byte[height & 255]}${byte[height >> 8]}\\030\\040$pixels" > "$out"
}

# start_command_test NAME NST_BINARY FIXTURES_DIR WORK_DIR
start_command_test() {
  test_name=$1
  nst=$(realpath "$2")
  narrow=$(realpath "$3")/nn/narrow_vgg19.safetensors  # the 48 KB narrow VGG19 fixture
  [ -n "$4" ] || { echo "$test_name: no work directory given" >&2; exit 1; }
  rm -rf "$4"
  mkdir -p "$4"
  cd "$4"
}

fail() {
  echo "$test_name: $*" >&2
  exit 1
}
