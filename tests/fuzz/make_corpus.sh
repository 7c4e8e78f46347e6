#!/usr/bin/env bash
# make_corpus.sh — the fuzzers' seed corpora, from the project's own files:
#   safetensors  tests/fixtures/{weights,nn}/*.safetensors (written by the fixture generators)
#   pth          tests/fixtures/{weights,nn}/*.pth (torch.save: zip, legacy, PyTorch 0.x legacy)
#   image        PNG/JPEG/BMP/TGA written by nst's save_image (nst_fuzz_image_seeds), plus tiny
#                hand-written PNM, HDR and GIF files for the other decoders load_image reaches
# and every earlier finding kept in tests/fixtures/fuzz/<harness>/.
#
#   tests/fuzz/make_corpus.sh FUZZ_BIN_DIR OUT_DIR     (OUT_DIR/<harness>/ is filled)
set -euo pipefail
bin=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
fixtures="$root/tests/fixtures"
mkdir -p "$out/safetensors" "$out/pth" "$out/image"

cp "$fixtures"/weights/*.safetensors "$fixtures"/nn/*.safetensors "$out/safetensors/"
cp "$fixtures"/weights/*.pth "$fixtures"/nn/*.pth "$out/pth/"

"$bin/nst_fuzz_image_seeds" "$out/image"
printf 'P6\n2 2\n255\n\377\000\000\000\377\000\000\000\377\200\200\200' > "$out/image/seed_2x2.ppm"
printf 'P5\n3 1\n255\n\000\177\377' > "$out/image/seed_3x1.pgm"
printf '#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 2\n\200\200\200\201\100\100\100\202' > "$out/image/seed_2x1.hdr"
printf 'GIF89a\001\000\001\000\200\000\000\377\377\377\000\000\000!\371\004\001\000\000\000\000,\000\000\000\000\001\000\001\000\000\002\002D\001\000;' \
  > "$out/image/seed_1x1.gif"

for harness in safetensors pth image; do
  if [ -d "$fixtures/fuzz/$harness" ]; then
    find "$fixtures/fuzz/$harness" -type f -exec cp {} "$out/$harness/" \;
  fi
done
