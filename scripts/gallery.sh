#!/usr/bin/env bash
# The README's gallery: three style transfers with the real VGG19 weights in ../shared (conv1_1 ..
# conv3_4, Caffe preprocessing) and its sample images, each saved by the nst command as a sheet
# (content | style | result, docs/images/gallery_CONTENT_STYLE.jpg) and a loss curve
# (docs/images/gallery_CONTENT_STYLE_loss.svg).
#
#   cmake --build build --target nst_command && bash scripts/gallery.sh
#   NST=build-x/bin/nst NST_GALLERY_SIZE=384 NST_GALLERY_ITERATIONS=200 bash scripts/gallery.sh
#
# One run at a time under `nice -n 15`, 256 px, 100 L-BFGS iterations from a random start,
# relu1_1,relu2_1,relu3_1 for style and relu3_2 for content (the deepest layers these weights
# cover). save_image writes JPEG at quality 95; when Debian's python3 has Pillow the sheets are
# re-encoded at quality 80, which keeps each under 120 KB. Prints each command and its time.
set -euo pipefail
cd "$(dirname "$0")/.."
nst=${NST:-build/bin/nst}
shared=${NST_SHARED:-../shared}
size=${NST_GALLERY_SIZE:-256}
iterations=${NST_GALLERY_ITERATIONS:-100}
weights=$shared/weights/vgg19-conv1_1-conv3_4.safetensors
out=docs/images

[ -x "$nst" ] || { echo "gallery: no nst command at $nst (cmake --build build --target nst_command)" >&2; exit 1; }
[ -f "$weights" ] || { echo "gallery: $weights is missing (../shared beside the repository)" >&2; exit 1; }
mkdir -p "$out"

# content image, style image
pairs=("tubingen starry_night" "golden_gate the_scream" "tubingen shipwreck")
for pair in "${pairs[@]}"; do
  read -r content style <<<"$pair"
  name=gallery_${content}_${style}
  # shellcheck disable=SC2054  # the commas belong to the layer list
  command=("$nst" stylize --content "$shared/images/$content.jpg" --style "$shared/images/$style.jpg"
    --output "$out/$name.png" --weights "$weights" --content-layers relu3_2
    --style-layers relu1_1,relu2_1,relu3_1 --image-size "$size" --iterations "$iterations" --print-every 10
    --sheet "$out/$name.jpg" --loss-curve "$out/${name}_loss.svg")
  echo "gallery: ${command[*]}"
  start=$(date +%s)
  nice -n 15 "${command[@]}"
  echo "gallery: $name took $(($(date +%s) - start)) s"
  rm -f "$out/$name.png"  # the sheet shows the result; the full PNG is not kept
  if /usr/bin/python3 -c 'import PIL' 2>/dev/null; then
    /usr/bin/python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); im.save(sys.argv[1], "JPEG", quality=80, optimize=True)' "$out/$name.jpg"
  else
    echo "gallery: no Pillow in /usr/bin/python3: $out/$name.jpg stays at quality 95 (about twice the size)"
  fi
  echo "gallery: $out/$name.jpg $(($(stat -c %s "$out/$name.jpg") / 1024)) KB, $out/${name}_loss.svg $(($(stat -c %s "$out/${name}_loss.svg") / 1024)) KB"
done
