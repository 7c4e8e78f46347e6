#include <nst/style/targets.hpp>

#include "../support/narrow_vgg.hpp"
#include "../support/support.hpp"

namespace {
// Every layer up to relu5_1, 4 to 8 channels.
nst::vgg19<double> narrow_full_vgg() {
  std::vector<nst_test::narrow_conv> convs;
  int channels = 3;
  for (const std::string& name : nst::vgg19_conv_names()) {
    const int out = name < "conv3" ? 4 : 8;
    convs.push_back({name, {channels, out}});
    channels = out;
    if (name == "conv5_1") break;
  }
  return nst_test::narrow_vgg(convs, 40);
}

// The largest difference between two sets of statistics at `layer`, relative to the largest
// entry of each statistic.
double statistics_error(const nst::layer_statistics<double>& a, const nst::layer_statistics<double>& b,
                        const std::string& layer) {
  double error = 0;
  for (std::size_t i = 0; i < a.at(layer).size(); ++i)
    error = std::max(error, nst_test::error_of_largest(a.at(layer)[i], b.at(layer)[i]));
  return error;
}
}  // namespace

TEMPLATE_TEST_CASE("measure_style: in tiles it gives the whole image's statistics", "[style][targets]",
                   nst::style_loss<double>, nst::mean_covariance_loss<double>) {
  const auto net = narrow_full_vgg();
  const TestType style(1.0, {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"});
  // Odd sizes: the last tiles are partial and the deep layers floor their sizes.
  const auto image = nst_test::random_tensor<double>({1, 3, 301, 250}, 9, -60.0, 60.0);
  const nst::layer_statistics<double> whole = nst::measure_style(net, style, image);
  const nst::layer_statistics<double> tiled = nst::measure_style(net, style, image, 128);  // cores of 96 px
  // The margin (16 px) holds the receptive field of the first layers: exact up to rounding.
  CHECK(statistics_error(tiled, whole, "relu1_1") < 1e-12);
  CHECK(statistics_error(tiled, whole, "relu2_1") < 1e-12);
  CHECK(statistics_error(tiled, whole, "relu3_1") < 1e-12);
  // Deeper, the crop's zero padding reaches the core's features.
  CHECK(statistics_error(tiled, whole, "relu4_1") > 1e-3);
  CHECK(statistics_error(tiled, whole, "relu4_1") < 0.1);
  // A larger tile (cores of 192 px, margin 32 px) makes relu4_1 exact too, and relu5_1 close.
  const nst::layer_statistics<double> larger = nst::measure_style(net, style, image, 256);
  CHECK(statistics_error(larger, whole, "relu4_1") < 1e-12);
  CHECK(statistics_error(larger, whole, "relu5_1") < 0.1);
  // An image that fits in one tile is measured in one piece.
  CHECK(statistics_error(nst::measure_style(net, style, image, 512), whole, "relu5_1") == 0);
  CHECK_THROWS_WITH(nst::measure_style(net, style, image, 32), Catch::Contains("tile_size must be 0 or >= 64, got 32"));
}

TEST_CASE("style_target_cache: measures each set of style images once", "[style][targets]") {
  const auto net = narrow_full_vgg();
  const nst::style_loss<double> style(1.0, {"relu1_1", "relu2_1"});
  const auto a = nst_test::random_tensor<double>({1, 3, 40, 30}, 1, -60.0, 60.0);
  const auto b = nst_test::random_tensor<double>({1, 3, 40, 30}, 2, -60.0, 60.0);
  nst::style_target_cache<double> cache;
  const auto& first = cache.measure(net, style, {a, b}, 0);
  REQUIRE(first.size() == 2);
  CHECK(statistics_error(first[1], nst::measure_style(net, style, b), "relu2_1") == 0);
  CHECK(&cache.measure(net, style, {a, b}, 0) == &first);  // the same images again: remembered
  CHECK(cache.size() == 1);
  nst::tensor<double> changed = b;
  changed[17] += 1e-9;
  cache.measure(net, style, {a, changed}, 0);  // one value differs: measured anew
  cache.measure(net, nst::style_loss<double>(1.0, {"relu1_1"}), {a, b}, 0);  // other layers
  cache.measure(net, nst::mean_covariance_loss<double>(1.0, {"relu1_1", "relu2_1"}), {a, b}, 0);  // other statistic
  CHECK(cache.size() == 4);
}
