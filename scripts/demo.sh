#!/usr/bin/env bash
# The README's first command: install what nst needs, build it, fetch VGG19 weights and two
# sample images, and stylize the photo with the painting.
#
#   bash scripts/demo.sh                 # full demo: torchvision VGG19, 512 px, 200 iterations
#   NST_DEMO_ITERATIONS=100 bash scripts/demo.sh
#
# Without network (as in CI) nothing can be fetched: the script says so, and if ../shared (the
# partial real weights conv1_1..conv3_4 and the sample images) is beside the repository it runs
# the demo with those instead; otherwise it stops after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
iterations=${NST_DEMO_ITERATIONS:-200}
size=${NST_DEMO_SIZE:-512}

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
nst=build/bin/nst

mkdir -p demo
weights=weights/vgg19.safetensors
layers=()
if [ ! -f "$weights" ]; then
  if bash weights/download.sh && "$nst" weights convert weights/vgg19-dcbb9e9d.pth "$weights"; then
    echo "demo: converted the torchvision VGG19 weights to $weights"
  elif [ -f ../shared/weights/vgg19-conv1_1-conv3_4.safetensors ]; then
    echo "demo: NO NETWORK — could not download the full VGG19 weights."
    echo "demo: using the partial real weights in ../shared (conv1_1..conv3_4) with shallower layers."
    weights=../shared/weights/vgg19-conv1_1-conv3_4.safetensors
    layers=(--content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1)
  else
    echo "demo: NO NETWORK and no ../shared — cannot get VGG19 weights; the build is done, the demo stops here."
    exit 0
  fi
fi

for image in tubingen.jpg starry_night.jpg; do
  [ -f "demo/$image" ] && continue
  if [ -f "../shared/images/$image" ]; then
    cp "../shared/images/$image" "demo/$image"
  elif ! curl -fsSL --retry 2 -o "demo/$image" "https://raw.githubusercontent.com/jcjohnson/neural-style/master/examples/inputs/$image"; then
    rm -f "demo/$image"
    echo "demo: NO NETWORK — could not download the sample image $image; the build is done, the demo stops here."
    exit 0
  fi
done

echo "demo: stylizing demo/tubingen.jpg with demo/starry_night.jpg ($size px, $iterations iterations)"
time "$nst" stylize --content demo/tubingen.jpg --style demo/starry_night.jpg --output demo/result.png \
  --weights "$weights" --image-size "$size" --iterations "$iterations" "${layers[@]}" \
  --print-every 50
echo "demo: the result is $root/demo/result.png"
