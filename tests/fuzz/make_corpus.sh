#!/usr/bin/env bash
# make_corpus.sh — the fuzzers' seed corpora, from the project's own files:
#   safetensors  the small tests/fixtures/weights/*.safetensors (dtypes, tubingen stats) and a
#                two-channel VGG19 written by nst's save_safetensors (nst_fuzz_seeds); the larger
#                fixtures only slow every execution down and reach no other code
#   pth          tests/fixtures/{weights,nn}/*.pth (torch.save: zip, legacy, PyTorch 0.x legacy)
#   image        PNG/JPEG/BMP/TGA written by nst's save_image (nst_fuzz_seeds), the formats
#                load_image reads
# and every earlier finding kept in tests/fixtures/fuzz/<harness>/.
#
#   tests/fuzz/make_corpus.sh FUZZ_BIN_DIR OUT_DIR     (OUT_DIR/<harness>/ is filled)
set -euo pipefail
bin=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
fixtures="$root/tests/fixtures"
mkdir -p "$out/safetensors" "$out/pth" "$out/image"

cp "$fixtures"/weights/dtypes.safetensors "$fixtures"/nn/tubingen_vgg19_stats.safetensors "$out/safetensors/"
cp "$fixtures"/weights/*.pth "$fixtures"/nn/*.pth "$out/pth/"
"$bin/nst_fuzz_seeds" "$out"

for harness in safetensors pth image; do
  if [ -d "$fixtures/fuzz/$harness" ]; then
    find "$fixtures/fuzz/$harness" -type f -exec cp {} "$out/$harness/" \;
  fi
done
