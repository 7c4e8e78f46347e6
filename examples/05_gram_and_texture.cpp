// 05 — Gram matrices: texture without layout.
//
// The Gram matrix of a layer, G = F Fᵀ / (C*H*W) with F the C x (H*W) matrix of its feature
// maps, records which channels fire together, but not where. So it describes texture, and
// "style": cut a painting into tiles and shuffle them, and its features change completely while
// its Gram matrices barely move; another painting has Gram matrices far away.
//
// Part two makes a texture from noise by matching only Gram matrices (Gatys et al.'s texture
// synthesis): nst::style_loss on the tape, minimised with L-BFGS through nst::minimize.
//
//   05_gram_and_texture WEIGHTS STYLE OTHER_STYLE OUT.png [ITERATIONS [SIZE]]
//   e.g. 05_gram_and_texture ../shared/weights/vgg19-conv1_1-conv3_4.safetensors
//          ../shared/images/starry_night.jpg ../shared/images/the_scream.jpg texture.png 30 96
//
// Exits with 77 (skipped) when the weights or the images are absent.
#include <nst/io/image.hpp>
#include <nst/loss.hpp>
#include <nst/nn.hpp>
#include <nst/ops.hpp>
#include <nst/optim.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

// |a - b| / |b| over all elements.
double relative_distance(const nst::tensor<float>& a, const nst::tensor<float>& b) {
  return (a.vector() - b.vector()).norm() / b.vector().norm();
}

// The image cut into a 4x4 grid of tiles, the tiles put back in a shuffled order.
nst::tensor<float> shuffle_tiles(const nst::tensor<float>& image) {
  const nst::index_t tile_h = image.dim(2) / 4, tile_w = image.dim(3) / 4;
  const int order[16] = {5, 12, 3, 14, 9, 0, 7, 10, 15, 2, 13, 4, 1, 8, 11, 6};
  nst::tensor<float> out = image;
  for (int to = 0; to < 16; ++to) {
    const int from = order[to];
    for (nst::index_t c = 0; c < 3; ++c)
      for (nst::index_t y = 0; y < tile_h; ++y)
        for (nst::index_t x = 0; x < tile_w; ++x)
          out.at(0, c, (to / 4) * tile_h + y, (to % 4) * tile_w + x) =
              image.at(0, c, (from / 4) * tile_h + y, (from % 4) * tile_w + x);
  }
  return out;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s WEIGHTS STYLE OTHER_STYLE OUT.png [ITERATIONS [SIZE]]\n", argv[0]);
    return 2;
  }
  for (int i = 1; i <= 3; ++i) {
    if (!std::ifstream(argv[i])) {
      std::printf("skipped: %s is absent\n", argv[i]);
      return 77;
    }
  }
  const int iterations = argc > 5 ? std::atoi(argv[5]) : 30;
  const nst::index_t size = argc > 6 ? std::atoi(argv[6]) : 96;  // of the texture, in pixels
  const auto net = nst::vgg19<float>::from_file(argv[1]);
  const auto prep = net.input_preprocessing();
  const std::vector<std::string> layers = {"relu1_1", "relu2_1", "relu3_1"};

  // Part one: features and Gram matrices of a painting, the same painting shuffled, another one.
  const auto style = nst::resize(nst::load_image<float>(argv[2]), 128, 128);
  const auto other = nst::resize(nst::load_image<float>(argv[3]), 128, 128);
  const auto f_style = net.features(nst::to_network(style, prep), layers);
  const auto f_shuffled = net.features(nst::to_network(shuffle_tiles(style), prep), layers);
  const auto f_other = net.features(nst::to_network(other, prep), layers);
  std::printf("relative distances to the painting     features    Gram      Gram of\n");
  std::printf("layer    Gram shape                    (shuffled)  (shuffled) another painting\n");
  for (const std::string& layer : layers) {
    const auto g = nst::gram(f_style.at(layer));
    std::printf("%-8s %-28s  %8.3f  %9.3f  %9.3f\n", layer.c_str(), g.shape().str().c_str(),
                relative_distance(f_shuffled.at(layer), f_style.at(layer)),
                relative_distance(nst::gram(f_shuffled.at(layer)), g),
                relative_distance(nst::gram(f_other.at(layer)), g));
  }

  // Part two: texture synthesis. The objective is the style loss alone, from grey noise.
  nst::style_loss<float> texture(1.0f, layers);
  texture.set_targets({f_style});
  nst::tensor<float> noise({1, 3, size, size});
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(0.4f, 0.6f);
  for (float& v : noise) v = uniform(rng);
  nst::tensor<float> x = nst::to_network(noise, prep);

  nst::tape<float> tp;
  auto objective = [&](const nst::tensor<float>& at, nst::tensor<float>& gradient) {
    tp.clear();
    const auto image = tp.variable(at);
    const auto features = net.features(tp, image, layers);
    const auto loss = texture(nst::loss_inputs<float>{image, features});
    tp.backward(loss);
    gradient = image.grad();
    return loss.value()[0];
  };
  nst::stop_criteria stop;
  stop.max_iterations = iterations;
  double first = 0;
  const auto result = nst::minimize(objective, x, nst::lbfgs{}, stop, [&](const nst::iteration_report& r) {
    if (r.iteration == 1) first = r.loss;
    if (r.iteration % 10 == 0) std::printf("iteration %3d  style loss %.4g\n", r.iteration, r.loss);
  });
  std::printf("style loss %.4g after iteration 1, %.4g after %d (%s)\n", first, result.loss, result.iterations,
              result.stop_reason.c_str());
  nst::save_image(argv[4], nst::from_network(x, prep));  // save_image clamps to [0,1]
  std::printf("saved %s\n", argv[4]);
  return result.loss < first ? 0 : 1;
}
