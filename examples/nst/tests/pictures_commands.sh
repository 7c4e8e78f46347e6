#!/usr/bin/env bash
# ctest script: `nst stylize --sheet FILE --loss-curve FILE` on small inputs made here (two TGA
# images, the 48 KB narrow VGG19 fixture), a second or so in all. Checks that the sheet is
# content | style | result at the result's height with 8-pixel gaps (sizes read from the PNG
# header), that the SVG curve has one polyline per loss with a point per iteration, that a .png
# curve is a 640x400 image, and that a bad curve or sheet path fails before the run.
#
#   examples/nst/tests/pictures_commands.sh NST_BINARY FIXTURES_DIR WORK_DIR
set -euo pipefail
# shellcheck source=command_test.sh
source "$(dirname "$0")/command_test.sh"
start_command_test pictures_commands "$@"

# "WIDTHxHEIGHT" of a PNG, from its IHDR chunk (big-endian 32-bit width and height at byte 16).
png_size() {
  local hex
  hex=$(od -An -tx1 -j16 -N8 "$1" | tr -d ' \n')
  echo "$((16#${hex:0:8}))x$((16#${hex:8:8}))"
}

make_tga content.tga 40 30
make_tga style.tga 20 20
run=("$nst" stylize --content content.tga --style style.tga --weights "$narrow" --image-size 32 --iterations 5
  --print-every 0)

"${run[@]}" --output result.png --sheet sheet.png --loss-curve curve.svg 2> log.txt || fail "run failed: $(cat log.txt)"
# content 40x30 -> 32x24, style 20x20 -> 24x24, result 32x24; gaps of 8.
[ "$(png_size result.png)" = 32x24 ] || fail "result is $(png_size result.png), expected 32x24"
[ "$(png_size sheet.png)" = 104x24 ] || fail "sheet is $(png_size sheet.png), expected 104x24 (32 + 8 + 24 + 8 + 32)"
grep -q '^<svg ' curve.svg || fail "curve.svg has no <svg> element"
for name in total content style tv; do
  line=$(grep "<polyline class=\"series\" data-name=\"$name\"" curve.svg) || fail "curve.svg has no '$name' line"
  points=$(sed 's/.*points="\([^"]*\)".*/\1/' <<<"$line" | wc -w)
  [ "$points" -eq 5 ] || fail "the '$name' line has $points points for 5 iterations"
done

"${run[@]}" --output result.png --loss-curve curve.png 2> log.txt || fail "run failed: $(cat log.txt)"
[ "$(png_size curve.png)" = 640x400 ] || fail "curve.png is $(png_size curve.png), expected 640x400"

# Bad paths fail at once (status 1, one error line), before any output is written.
rm -f result.png
for bad in "--loss-curve curve.txt:value_error.275" "--sheet missing/sheet.png:io_error.421" \
  "--sheet sheet.svg:value_error.232" "--loss-curve missing/curve.svg:io_error.421"; do
  read -r -a option <<<"${bad%%:*}"
  status=0
  "${run[@]}" --output result.png "${option[@]}" 2> log.txt || status=$?
  [ "$status" -eq 1 ] || fail "${option[*]}: exit status $status, expected 1"
  grep -q "^nst: error: .*${bad##*:}" log.txt || fail "${option[*]}: expected ${bad##*:} in: $(cat log.txt)"
  [ ! -e result.png ] || fail "${option[*]}: the run went ahead and wrote result.png"
done
echo "pictures_commands: ok"
