#!/usr/bin/env bash
# ctest script: `nst stylize` in tiles, on small inputs made here (TGA images, the 48 KB narrow
# VGG19 fixture), about half a minute:
#   - --tile-size: an image larger than the tile is optimised tile by tile (the progress names
#     each tile) and comes out whole, at the size asked for, also when stopped by SIGTERM;
#   - --max-memory below what the run needs in one piece: the command picks tiles that fit,
#     says so with its estimate, and the run's measured peak resident set size stays under the
#     budget and within 20% of that estimate (a 1536x1152 result);
#   - what cannot be tiled is refused: --checkpoint / --resume, masks.
#
#   examples/nst/tests/tiling_commands.sh NST_BINARY FIXTURES_DIR WORK_DIR
set -euo pipefail
# shellcheck source=command_test.sh
source "$(dirname "$0")/command_test.sh"
start_command_test tiling_commands "$@"

make_tga content.tga 40 30
make_tga style.tga 20 20 3
run=("$nst" stylize --content content.tga --style style.tga --weights "$narrow" --init content)

# The width and height in a BMP's header (little-endian 32-bit at bytes 18 and 22).
bmp_size() { od -An -tu4 -j18 -N8 "$1" | awk '{ print $1 "x" $2 }'; }

# --tile-size: 320x240 in tiles of 128 sharing at least 16 pixels: 3 x 2 tiles, 2 iterations each.
"${run[@]}" --image-size 320 --tile-size 128 --tile-overlap 16 --iterations 2 --print-every 1 --output tiled.bmp \
  2> log.txt || fail "--tile-size: $(cat log.txt)"
grep -q "each tile of at most 128 px" log.txt || fail "the start line does not mention the tiles: $(cat log.txt)"
grep -q "^iteration 1/12 (tile 1/6) " log.txt || fail "no progress line for the first tile: $(cat log.txt)"
grep -q "^iteration 12/12 (tile 6/6) " log.txt || fail "no progress line for the last tile: $(cat log.txt)"
[ "$(bmp_size tiled.bmp)" = "320x240" ] || fail "the tiled result is $(bmp_size tiled.bmp), not 320x240"

# Ctrl-C (SIGTERM) in the second tile: the result so far is written whole, and the line that
# says so counts every tile's iterations (6 tiles of 100).
"${run[@]}" --image-size 320 --tile-size 128 --tile-overlap 16 --iterations 100 --print-every 1 --output stopped.bmp \
  2> log.txt &
pid=$!
for _ in $(seq 600); do grep -q "(tile 2/6)" log.txt && break; sleep 0.1; done
kill -TERM "$pid" 2> /dev/null || true
status=0
wait "$pid" || status=$?
[ "$status" -eq 143 ] || fail "SIGTERM in a run in tiles: exit status $status, expected 143: $(cat log.txt)"
grep -q "^nst: stopped by signal 15 after iteration [0-9]* of 600$" log.txt || fail "no stop line of 600: $(cat log.txt)"
[ "$(bmp_size stopped.bmp)" = "320x240" ] || fail "the stopped result is $(bmp_size stopped.bmp), not 320x240"

# --max-memory: the estimate in one piece first (a budget of 1 MiB refuses the run at once) ...
status=0
"${run[@]}" --image-size 1536 --iterations 2 --output refused.bmp --max-memory 1M 2> log.txt || status=$?
[ "$status" -eq 1 ] || fail "a run over budget: exit status $status: $(cat log.txt)"
whole=$(sed -n 's/^nst: estimated peak memory \([0-9.]*\) MiB at 1536 px.*/\1/p' log.txt)
[ -n "$whole" ] || fail "no estimate in MiB printed: $(cat log.txt)"
# ... then 60% of it: the run goes ahead in tiles and stays under the budget.
budget_mib=$(awk -v w="$whole" 'BEGIN { printf "%d", w * 0.6 }')
"${run[@]}" --image-size 1536 --iterations 2 --print-every 0 --output budget.bmp --max-memory "${budget_mib}M" \
  --measure-peak-memory > peak.txt 2> log.txt || fail "a run in tiles under ${budget_mib} MiB: $(cat log.txt)"
grep -q "^nst: too large for the budget in one piece: optimising in tiles of [0-9]* px" log.txt ||
  fail "the command did not say it tiles: $(cat log.txt)"
estimate=$(sed -n 's/.*optimising in tiles of [0-9]* px, estimated peak \([0-9.]*\) MiB/\1/p' log.txt)
measured=$(sed -n 's/^peak_rss_bytes //p' peak.txt)
[ -n "$estimate" ] && [ -n "$measured" ] || fail "no tiled estimate or peak: $(cat log.txt) $(cat peak.txt)"
echo "tiling_commands: 1536 px in one piece ~${whole} MiB; in tiles: estimate ${estimate} MiB, measured peak" \
  "$((measured / 1048576)) MiB, budget ${budget_mib} MiB"
awk -v m="$measured" -v b="$budget_mib" 'BEGIN { exit !(m <= b * 1048576) }' ||
  fail "the peak $measured bytes is over the budget of $budget_mib MiB"
awk -v e="$estimate" -v m="$measured" 'BEGIN { d = (e * 1048576 - m) / m; if (d < 0) d = -d; exit !(d <= 0.2) }' ||
  fail "the tiled estimate $estimate MiB is not within 20% of the peak $measured bytes"
[ "$(bmp_size budget.bmp)" = "1536x1152" ] || fail "the result is $(bmp_size budget.bmp), not 1536x1152"

# What cannot be tiled.
for refused in "--checkpoint run.ckpt" "--resume run.ckpt" "--content-mask content.tga"; do
  status=0
  # shellcheck disable=SC2086  # the option and its value
  "${run[@]}" --image-size 64 --tile-size 64 --iterations 1 --output no.bmp $refused 2> log.txt || status=$?
  [ "$status" -eq 2 ] || fail "--tile-size with $refused: exit status $status, expected 2: $(cat log.txt)"
  grep -q "^nst: error: --tile-size: " log.txt || fail "--tile-size with $refused: $(cat log.txt)"
done
echo "tiling_commands: all passed"
