#!/usr/bin/env bash
# ctest script: the artistic-control options of `nst stylize` (style-loss kinds, layer weights,
# masks, colour control, coarse to fine, Adam's iterate average) end to end at a tiny size, and
# their usage errors. Needs ../shared for the runs (exit 77 = skipped when it is absent).
# Run as: control_commands.sh NST SHARED_DIR WORK_DIR
set -u
nst=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Usage errors come before any file is read: exit 2 and one 'nst: error:' line naming the option.
expect_usage_error() {
  local pattern=$1; shift
  "$nst" stylize --content c.png --style s.png --output "$work/x.png" "$@" 2>"$work/err.txt" && fail "accepted: $*"
  [ $? -eq 2 ] || fail "exit status for $*: $(cat "$work/err.txt")"
  grep -q -- "$pattern" "$work/err.txt" || fail "expected '$pattern' for $*, got: $(cat "$work/err.txt")"
}
expect_usage_error "is not one of gram|moments|wasserstein" --style-loss fancy
expect_usage_error "is not one of none|cholesky|pca" --match-colors lab
expect_usage_error "is not one of none|luminance" --color-control hue
expect_usage_error "is not one of zeros|reflect|replicate" --padding wrap
expect_usage_error "--style-layer-weights has 1 values for 2 style layers" --style-layers relu1_1,relu2_1 --style-layer-weights 1
expect_usage_error "--style-masks has 2 files for 1 style images" --style-masks a.png,b.png
expect_usage_error "--scale-iterations has 3 values for 2 scales" --scales 2 --scale-iterations 1,2,3
expect_usage_error "--adam-ema: 1 is outside" --adam-ema 1

weights=$shared/weights/vgg19-conv1_1-conv3_4.safetensors
images=$shared/images
[ -f "$weights" ] && [ -f "$images/tubingen.jpg" ] || { echo "skipped: $shared is absent"; exit 77; }

run() {  # run NAME [options...]: a 3-iteration run at 48 px, must succeed and write NAME.png
  local name=$1; shift
  rm -f "$work/$name.png"
  "$nst" stylize --weights "$weights" --content "$images/tubingen.jpg" --output "$work/$name.png" \
    --image-size 48 --iterations 3 --content-layers relu2_2 --style-layers relu1_1,relu2_1,relu3_1 \
    --print-every 0 "$@" 2>"$work/$name.err" || fail "$name: $(cat "$work/$name.err")"
  [ -s "$work/$name.png" ] || fail "$name: no output"
}
run wasserstein --style "$images/starry_night.jpg" --style-loss wasserstein --style-layer-weights 1,0.5,0.25
run moments_colors --style "$images/starry_night.jpg" --style-loss moments --match-colors pca --color-control luminance
run cholesky --style "$images/the_scream.jpg" --match-colors cholesky --padding reflect
# The content photo's own luminance as a soft mask: starry night where it is bright, the scream elsewhere.
run content_mask --style "$images/starry_night.jpg,$images/the_scream.jpg" --content-mask "$images/tubingen.jpg"
run style_masks --style "$images/starry_night.jpg,$images/the_scream.jpg" \
  --style-masks "$images/tubingen.jpg,$images/golden_gate.jpg"
run coarse_to_fine --style "$images/starry_night.jpg" --scales 2 --min-size 32 --scale-iterations 2,3 \
  --optimizer adam --adam-ema 0.9 --log-json "$work/coarse_to_fine.jsonl"
lines=$(wc -l < "$work/coarse_to_fine.jsonl")
[ "$lines" -eq 5 ] || fail "coarse_to_fine: $lines log lines, expected 5 (2 + 3 iterations)"
# "elapsed" (since the command started) grows and covers every iteration's "seconds".
awk -F'"elapsed": ' '{ split($2, e, "}"); split($0, s, "\"seconds\": "); split(s[2], t, ",");
  sum += t[1]; if (NF != 2 || e[1] + 0 < last || e[1] + 0 < sum) bad = 1; last = e[1] + 0 }
  END { exit bad }' "$work/coarse_to_fine.jsonl" || fail "coarse_to_fine: elapsed missing, decreasing or below the iterations' sum"
echo "ok"
