// make_seeds.cpp — writes fuzzer seeds with nst's own writers:
//   OUT/image/        small images in every format nst writes (PNG, JPEG, BMP, TGA), in a few
//                     sizes, smooth and noisy, so the decoders' different paths are seeded;
//   OUT/safetensors/  a VGG19 of two channels per layer (all 16 convolutions, ~3 KB), as
//                     vgg19::save_safetensors writes it (canonical names and metadata) and as
//                     save_safetensors writes torchvision's names, in float and double.
//
//   nst_fuzz_seeds OUT_DIR          (OUT_DIR/image and OUT_DIR/safetensors must exist)
#include <nst/io/image.hpp>
#include <nst/io/safetensors.hpp>
#include <nst/nn/vgg19.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>

namespace {

void write_images(const std::string& dir, std::mt19937& rng) {
  const struct { nst::index_t height, width; } sizes[] = {{1, 1}, {6, 8}, {17, 33}};
  for (const auto& size : sizes)
    for (const bool noisy : {false, true}) {
      nst::tensor<float> image({1, 3, size.height, size.width});
      for (nst::index_t c = 0; c < 3; ++c)
        for (nst::index_t y = 0; y < size.height; ++y)
          for (nst::index_t x = 0; x < size.width; ++x)
            image.at(0, c, y, x) = noisy ? static_cast<float>(rng() % 256) / 255.0f
                                         : 0.5f + 0.4f * std::sin(0.3f * static_cast<float>(x + 2 * y + 5 * c));
      const std::string stem = dir + "/seed_" + std::to_string(size.width) + "x" + std::to_string(size.height) +
                               (noisy ? "_noise" : "_smooth");
      for (const char* ext : {".png", ".jpg", ".bmp", ".tga"}) nst::save_image(stem + ext, image);
    }
}

// torchvision's features.N index of each of VGG19's 16 convolutions.
constexpr int feature_index[16] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};

template <class T>
void write_weights(const std::string& dir, std::mt19937& rng) {
  nst::weight_file<T> w;
  std::uniform_real_distribution<double> uniform(-0.5, 0.5);
  for (int conv = 0; conv < 16; ++conv) {
    const std::string name = "features." + std::to_string(feature_index[conv]);
    nst::tensor<T> weight({2, conv == 0 ? 3 : 2, 3, 3}), bias({2});
    for (T& v : weight) v = static_cast<T>(uniform(rng));
    for (T& v : bias) v = static_cast<T>(uniform(rng));
    w.tensors[name + ".weight"] = weight;
    w.tensors[name + ".bias"] = bias;
    w.names.push_back(name + ".weight");
    w.names.push_back(name + ".bias");
  }
  const std::string suffix = sizeof(T) == 4 ? "_f32.safetensors" : "_f64.safetensors";
  nst::save_safetensors(dir + "/torchvision_names" + suffix, w.tensors, w.names, {{"source", "nst_fuzz_seeds"}});
  nst::vgg19<T>(std::move(w)).save_safetensors(dir + "/vgg19_converted" + suffix);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  std::mt19937 rng(12345);
  try {
    write_images(out + "/image", rng);
    write_weights<float>(out + "/safetensors", rng);
    write_weights<double>(out + "/safetensors", rng);
  } catch (const nst::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
