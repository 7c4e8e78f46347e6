// 04 — what VGG19 sees: feature maps of an image, saved as a mosaic.
//
// Style transfer reads its losses from the activations of a pretrained VGG19. This loads the
// (partial) VGG19 weights, runs a photo through the network up to relu3_1, prints what each
// layer holds, and saves 64 channels of one layer as grey tiles of a mosaic PNG: early
// layers respond to edges and colours, deeper ones to textures and parts of objects.
//
//   04_vgg19_features WEIGHTS IMAGE OUT.png [LAYER]
//   e.g. 04_vgg19_features ../shared/weights/vgg19-conv1_1-conv3_4.safetensors
//                          ../shared/images/tubingen.jpg relu2_1.png relu2_1
//
// Exits with 77 (skipped) when the weights or the image are absent.
#include <nst/io/image.hpp>
#include <nst/nn.hpp>
#include <nst/ops/resize.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

// The first `count` channels of one [1,C,H,W] activation laid out in a grid `columns` wide, one
// dark pixel between tiles. Each tile is scaled by its channel's maximum and square-rooted, so
// that weak responses stay visible. Returns an RGB image (three equal channels) for save_image.
nst::tensor<float> mosaic(const nst::tensor<float>& features, nst::index_t count, nst::index_t columns) {
  const nst::index_t h = features.dim(2), w = features.dim(3), rows = (count + columns - 1) / columns;
  nst::tensor<float> sheet({1, 3, rows * (h + 1) - 1, columns * (w + 1) - 1});
  for (nst::index_t c = 0; c < count; ++c) {
    const float top = std::max(features.matrix(features.dim(1), h * w).row(c).maxCoeff(), 1e-6f);
    const nst::index_t y0 = (c / columns) * (h + 1), x0 = (c % columns) * (w + 1);
    for (nst::index_t y = 0; y < h; ++y)
      for (nst::index_t x = 0; x < w; ++x)
        for (nst::index_t rgb = 0; rgb < 3; ++rgb)
          sheet.at(0, rgb, y0 + y, x0 + x) = std::sqrt(features.at(0, c, y, x) / top);
  }
  return sheet;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS IMAGE OUT.png [LAYER]\n", argv[0]);
    return 2;
  }
  const std::string weights = argv[1], image_path = argv[2], out = argv[3];
  const std::string shown = argc > 4 ? argv[4] : "relu2_1";
  if (!std::ifstream(weights) || !std::ifstream(image_path)) {
    std::printf("skipped: %s or %s is absent\n", weights.c_str(), image_path.c_str());
    return 77;
  }

  // The network reads only the feature tensors; the weights say how inputs must be prepared.
  const auto net = nst::vgg19<float>::from_file(weights);
  std::printf("VGG19 layers available: %s .. %s, input preprocessing: %s\n", net.available_layers().front().c_str(),
              net.available_layers().back().c_str(), nst::to_string(net.input_preprocessing()));

  // An RGB image [1,3,H,W] in [0,1], made smaller, then mapped to what the network expects.
  const auto image = nst::resize_to_longer_side(nst::load_image<float>(image_path), 224);
  const auto x = nst::to_network(image, net.input_preprocessing());
  std::printf("image %s\n", image.shape().str().c_str());

  const std::vector<std::string> layers = {"relu1_1", "relu2_1", "relu3_1", shown};
  const auto features = net.features(x, layers);  // std::map: layer name -> [1,C,H,W]
  for (const auto& [name, f] : features) {
    const auto values = f.vector();
    const auto zeros = (values.array() == 0.0f).count();
    std::printf("%-8s %-16s mean %7.3f  max %8.2f  zeros %4.1f%%\n", name.c_str(), f.shape().str().c_str(),
                values.mean(), values.maxCoeff(), 100.0 * zeros / f.size());
  }

  const auto& f = features.at(shown);
  const nst::index_t shown_channels = std::min<nst::index_t>(f.dim(1), 64);
  const auto sheet = mosaic(f, shown_channels, 8);
  nst::save_image(out, sheet);
  std::printf("saved channels 0..%td of %s as %s (%td x %td)\n", shown_channels - 1, shown.c_str(), out.c_str(),
              sheet.dim(3), sheet.dim(2));
  return 0;
}
