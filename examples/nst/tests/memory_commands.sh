#!/usr/bin/env bash
# ctest script: `nst stylize --max-memory SIZE` on small inputs made here (TGA images, the 48 KB
# narrow VGG19 fixture). At two sizes the printed estimate must lie within 20% of the run's
# measured peak resident set size (getrusage in the run itself, --measure-peak-memory, and
# /usr/bin/time's when present); a budget below the estimate is refused before the run with one
# error line naming an --image-size that fits, and that size then runs under the same budget. In
# a batch (--output-dir) every image is checked, not only the first: one whose pixel count at
# --image-size is over budget is reported by name and skipped, the others are stylized.
#
#   examples/nst/tests/memory_commands.sh NST_BINARY FIXTURES_DIR WORK_DIR
set -euo pipefail
# shellcheck source=command_test.sh
source "$(dirname "$0")/command_test.sh"
start_command_test memory_commands "$@"

make_tga content.tga 40 30
make_tga style.tga 20 20
run=("$nst" stylize --content content.tga --style style.tga --weights "$narrow" --iterations 2 --print-every 0)

# "nst: estimated peak memory 132.44 MiB at 768 px ..." -> bytes
estimate_bytes() {
  sed -n 's/^nst: estimated peak memory \([0-9.]*\) \([KMGT]*i*B\) at.*/\1 \2/p' "$1" |
    awk '{ s = 1; if ($2 == "KiB") s = 1024; if ($2 == "MiB") s = 1048576; if ($2 == "GiB") s = 1073741824;
           printf "%.0f\n", $1 * s }'
}

within_20_percent() {  # estimate measured
  awk -v e="$1" -v m="$2" 'BEGIN { d = (e - m) / m; if (d < 0) d = -d; exit !(d <= 0.2) }'
}

for size in 512 768; do
  timing=()
  [ -x /usr/bin/time ] && timing=(/usr/bin/time -f 'time_maxrss_kb %M' -o "time_$size.txt")
  "${timing[@]}" "${run[@]}" --image-size "$size" --output "result_$size.png" --max-memory 64G --measure-peak-memory \
    > "peak_$size.txt" 2> "log_$size.txt" || fail "run at $size px failed: $(cat "log_$size.txt")"
  estimate=$(estimate_bytes "log_$size.txt")
  [ -n "$estimate" ] || fail "no estimate printed at $size px: $(cat "log_$size.txt")"
  measured=$(sed -n 's/^peak_rss_bytes //p' "peak_$size.txt")
  [ -n "$measured" ] || fail "no peak reported at $size px"
  echo "memory_commands: $size px: estimate $estimate bytes, measured peak RSS $measured bytes"
  within_20_percent "$estimate" "$measured" || fail "$size px: estimate $estimate is not within 20% of the peak $measured"
  if [ -s "time_$size.txt" ]; then
    from_time=$(($(sed -n 's/^time_maxrss_kb //p' "time_$size.txt") * 1024))
    within_20_percent "$estimate" "$from_time" ||
      fail "$size px: estimate $estimate is not within 20% of /usr/bin/time's peak $from_time"
  fi
done

# A budget of 80% of the 768 px estimate, the run in one piece (--tile-size 0; without it the
# command would choose tiles, tiling_commands.sh): refused before the run, naming a size that fits.
budget=$((estimate * 8 / 10))
status=0
"${run[@]}" --image-size 768 --tile-size 0 --output refused.png --max-memory "$budget" 2> log.txt || status=$?
[ "$status" -eq 1 ] || fail "a run over budget: exit status $status, expected 1: $(cat log.txt)"
[ "$(grep -c '^nst: error: ' log.txt)" -eq 1 ] || fail "expected one error line: $(cat log.txt)"
grep -q '^nst: error: the run needs about .* at 768 px, more than --max-memory .*; --image-size [0-9]* would fit' log.txt ||
  fail "the refusal does not name a size that fits: $(cat log.txt)"
[ ! -e refused.png ] || fail "a refused run wrote its output"
fits=$(sed -n 's/.*--image-size \([0-9]*\) would fit.*/\1/p' log.txt)
[ "$fits" -lt 768 ] && [ "$fits" -gt 400 ] || fail "the size that fits, $fits, should lie between 400 and 768"
"${run[@]}" --image-size "$fits" --output fits.png --max-memory "$budget" 2> log.txt || fail "--image-size $fits: $(cat log.txt)"

# A batch under the budget of the 40x30 image at 768 px: its first image, 8:1, needs far less
# (768x96 px), the square one more (768x768 px). The square one is refused by name and skipped;
# the estimate printed is the largest image's.
mkdir -p photos
make_tga photos/a_wide.tga 64 8
make_tga photos/b_square.tga 24 24 7
status=0
"${run[@]}" --image-size 768 --tile-size 0 --content photos --output-dir results --max-memory "$estimate" 2> log.txt ||
  status=$?
[ "$status" -eq 1 ] || fail "a batch with an image over budget: exit status $status, expected 1: $(cat log.txt)"
grep -q '^nst: estimated peak memory .* at 768 px .*for photos/b_square\.tga, the batch.s largest image' log.txt ||
  fail "the batch's estimate is not the largest image's: $(cat log.txt)"
grep -q '^nst: error: photos/b_square\.tga needs about .* at 768 px, more than --max-memory .*; --image-size [0-9]* would fit (skipped)' log.txt ||
  fail "the image over budget is not reported by name: $(cat log.txt)"
[ "$(grep -c '^nst: error: ' log.txt)" -eq 2 ] || fail "expected the skipped image and the summary as errors: $(cat log.txt)"
[ -s results/a_wide.png ] || fail "the image within budget was not stylized: $(cat log.txt)"
[ ! -e results/b_square.png ] || fail "the image over budget was stylized"

# A budget nothing fits in, and a malformed one.
status=0
"${run[@]}" --image-size 64 --output refused.png --max-memory 1M 2> log.txt || status=$?
[ "$status" -eq 1 ] && grep -q 'no image size fits' log.txt || fail "--max-memory 1M: $(cat log.txt)"
status=0
"${run[@]}" --image-size 64 --output refused.png --max-memory 4Q 2> log.txt || status=$?
[ "$status" -eq 2 ] && grep -q "option --max-memory: '4Q' is not a size" log.txt || fail "--max-memory 4Q: $(cat log.txt)"
echo "memory_commands: ok"
