// make_image_seeds.cpp — writes the image fuzzer's seeds with nst's own save_image: small
// images in every format nst writes (PNG, JPEG, BMP, TGA), in a few sizes, with smooth and
// noisy content so that the decoders' different paths (filters, Huffman tables, RLE) are seeded.
//
//   nst_fuzz_image_seeds OUT_DIR
#include <nst/io/image.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::mt19937 rng(12345);
  const struct { nst::index_t height, width; } sizes[] = {{1, 1}, {6, 8}, {17, 33}};
  try {
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
  } catch (const nst::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
