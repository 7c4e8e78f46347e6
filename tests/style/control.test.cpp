// Artistic control in stylize(): style-loss kinds, layer weights, masks, colour control,
// coarse to fine, Adam's iterate average (options documented in nst/style/stylize.hpp).
#include <nst/style/stylize.hpp>

#include <cmath>

#include "../support/narrow_vgg.hpp"
#include "../support/support.hpp"

namespace {
// Eight channels everywhere, conv1_1 .. conv3_4 only.
nst::vgg19<double> narrow_vgg() {
  return nst_test::narrow_vgg({{"conv1_1", {3, 8}}, {"conv1_2", {8, 8}}, {"conv2_1", {8, 8}}, {"conv2_2", {8, 8}},
                               {"conv3_1", {8, 8}}, {"conv3_2", {8, 8}}, {"conv3_3", {8, 8}}, {"conv3_4", {8, 8}}},
                              300);
}

nst::stylize_options small_options() {
  nst::stylize_options o;
  o.image_size = 0;
  o.content_layers = {"relu2_2"};
  o.style_layers = {"relu1_1", "relu2_1"};
  o.iterations = 10;
  o.init = nst::init_method::content;
  return o;
}

// Mean over the pixels of channel-mean brightness in columns [first, last).
double mean_brightness(const nst::tensor<double>& image, nst::index_t first, nst::index_t last) {
  double total = 0;
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t i = 0; i < image.dim(2); ++i)
      for (nst::index_t j = first; j < last; ++j) total += image.at(0, c, i, j);
  return total / static_cast<double>(3 * image.dim(2) * (last - first));
}

const nst::tensor<double> content = nst_test::random_tensor<double>({1, 3, 16, 24}, 11, 0.3, 0.7);
const nst::tensor<double> dark = nst_test::random_tensor<double>({1, 3, 16, 16}, 12, 0.0, 0.2);
const nst::tensor<double> bright = nst_test::random_tensor<double>({1, 3, 16, 16}, 13, 0.8, 1.0);
}  // namespace

TEST_CASE("stylize: masks confine each style to its region", "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.content_weight = 0;  // style alone decides
  o.iterations = 30;
  nst::tensor<float> left({1, 1, 16, 24}), right({1, 1, 16, 24});
  for (nst::index_t i = 0; i < 16; ++i)
    for (nst::index_t j = 0; j < 24; ++j) (j < 12 ? left : right).at(0, 0, i, j) = 1.0f;
  for (const auto kind : {nst::style_loss_kind::gram, nst::style_loss_kind::mean_covariance}) {
    o.style_statistic = kind;
    o.style_masks = {left, right};
    const auto guided = nst::stylize(net, content, {dark, bright}, o);
    o.style_masks.clear();
    const auto blended = nst::stylize(net, content, {dark, bright}, o);
    // Dark style on the left, bright on the right (away from the seam, which the filters blur);
    // without masks both halves get the same blend.
    const double guided_left = mean_brightness(guided, 0, 8), guided_right = mean_brightness(guided, 16, 24);
    const double blended_left = mean_brightness(blended, 0, 8), blended_right = mean_brightness(blended, 16, 24);
    INFO("kind " << static_cast<int>(kind) << ": guided " << guided_left << " | " << guided_right << ", blended "
                 << blended_left << " | " << blended_right);
    CHECK(guided_right - guided_left > 0.1);
    CHECK(guided_right - guided_left > 5 * std::abs(blended_right - blended_left));
  }
}

TEST_CASE("stylize: each style statistic and layer weights lower their loss", "[style][control]") {
  const auto net = narrow_vgg();
  for (const auto kind : {nst::style_loss_kind::gram, nst::style_loss_kind::mean_covariance,
                          nst::style_loss_kind::wasserstein}) {
    auto o = small_options();
    o.style_statistic = kind;
    o.content_weight = 0.01;
    o.iterations = 30;
    o.style_layer_weights = {1.0, 0.5};
    std::vector<double> style_losses;
    nst::stylize(net, content, {dark}, o, [&](const nst::stylize_progress<double>& p) {
      style_losses.push_back(p.parts.at("style"));
    });
    INFO("kind " << static_cast<int>(kind));
    INFO("style loss " << style_losses.front() << " -> " << style_losses.back());
    REQUIRE(style_losses.size() == 30);
    CHECK(style_losses.back() < 0.5 * style_losses.front());
  }
  // A zero weight on every layer leaves no style loss at all.
  auto o = small_options();
  o.style_layer_weights = {0.0, 0.0};
  o.iterations = 1;
  double style = -1;
  nst::stylize(net, content, {dark}, o, [&](const nst::stylize_progress<double>& p) { style = p.parts.at("style"); });
  CHECK(style == 0.0);
}

TEST_CASE("stylize: luminance-only transfer keeps the content's colours", "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.luminance_only = true;
  const auto colourful = nst_test::random_tensor<double>({1, 3, 16, 16}, 14, 0.0, 1.0);
  const auto result = nst::stylize(net, content, {colourful}, o);
  const auto yuv = nst::rgb_to_yuv(result), content_yuv = nst::rgb_to_yuv(content);
  const nst::index_t plane = 16 * 24;
  int compared = 0;
  double luminance_change = 0;
  for (nst::index_t i = 0; i < plane; ++i) {
    luminance_change += std::abs(yuv[i] - content_yuv[i]) / plane;
    bool clamped = false;
    for (int c = 0; c < 3; ++c) clamped = clamped || result[c * plane + i] <= 0.0 || result[c * plane + i] >= 1.0;
    if (clamped) continue;
    ++compared;
    CHECK(yuv[plane + i] == Approx(content_yuv[plane + i]).margin(1e-9));
    CHECK(yuv[2 * plane + i] == Approx(content_yuv[2 * plane + i]).margin(1e-9));
  }
  CHECK(compared > plane / 2);
  CHECK(luminance_change > 0.01);  // the style did change the luminance
}

TEST_CASE("stylize: matching the style's colours to the content's brings the result's colours closer",
          "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.iterations = 20;
  o.content_weight = 0.5;
  nst::tensor<double> red = bright;  // a reddish style: green and blue dimmed
  for (nst::index_t i = 0; i < 256; ++i) red[256 + i] *= 0.2, red[512 + i] *= 0.2;
  auto colour_distance = [&](const nst::tensor<double>& image) {
    const auto m = nst::detail::color_moments(image, "test"), c = nst::detail::color_moments(content, "test");
    return (m.mean.vector() - c.mean.vector()).norm();
  };
  const double plain = colour_distance(nst::stylize(net, content, {red}, o));
  for (const auto method : {nst::color_match::cholesky, nst::color_match::pca}) {
    o.match_style_colors = method;
    const double matched = colour_distance(nst::stylize(net, content, {red}, o));
    INFO("distance of the mean colour to the content's: plain " << plain << ", matched " << matched);
    CHECK(matched < 0.5 * plain);
  }
}

TEST_CASE("stylize: coarse to fine runs every scale, smallest first, and counts iterations across them",
          "[style][control]") {
  auto o = small_options();
  o.image_size = 64;
  o.scales = 3;
  CHECK(nst::detail::scale_sizes(o, 64) == std::vector<nst::index_t>{32, 45, 64});
  o.min_size = 20;
  CHECK(nst::detail::scale_sizes(o, 64) == std::vector<nst::index_t>{20, 36, 64});

  const auto net = narrow_vgg();
  o.image_size = 40;
  o.min_size = 0;
  o.scale_iterations = {3, 2, 4};
  std::vector<int> iterations;
  std::vector<nst::index_t> widths;
  const auto result = nst::stylize(net, content, {dark}, o, [&](const nst::stylize_progress<double>& p) {
    iterations.push_back(p.iteration);
    CHECK(p.iterations == 9);
    widths.push_back(p.image().dim(3));
  });
  CHECK(iterations == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(widths == std::vector<nst::index_t>{20, 20, 20, 28, 28, 40, 40, 40, 40});
  CHECK(result.shape() == nst::shape{1, 3, 27, 40});

  // Stopped by the observer in the first scale: the result still has the final size.
  const auto stopped = nst::stylize(net, content, {dark}, o, [](const nst::stylize_progress<double>& p) {
    return p.iteration < 2;
  });
  CHECK(stopped.shape() == nst::shape{1, 3, 27, 40});
}

TEST_CASE("stylize: coarse to fine from the content starts each scale at the content plus the upsampled change",
          "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.image_size = 24;
  o.scales = 2;
  o.min_size = 16;
  // The coarse scale changes nothing: the fine one starts at the content itself, with all its
  // detail (a start upsampled from 16 px would have lost it).
  o.scale_iterations = {0, 0};
  const auto unchanged = nst::stylize(net, content, {dark}, o);
  CHECK(nst_test::max_relative_error(unchanged, content, 1e-12) < 1e-9);

  // Ten iterations at 16 px: content + upsample(coarse result - content at 16 px), clamped to
  // [0, 1] as every result is.
  o.scale_iterations = {10, 0};
  const auto started = nst::stylize(net, content, {dark}, o);
  auto coarse_options = small_options();
  coarse_options.image_size = 16;
  coarse_options.iterations = 10;
  nst::tensor<double> change = nst::stylize(net, content, {dark}, coarse_options);
  const auto coarse_content = nst::resize_to_longer_side(content, 16);
  for (nst::index_t i = 0; i < change.size(); ++i) change[i] -= coarse_content[i];
  REQUIRE(change.shape() == nst::shape{1, 3, 11, 16});
  const auto upsampled = nst::resize(change, 16, 24);
  double largest_change = 0;
  nst::tensor<double> expected = content;
  for (nst::index_t i = 0; i < expected.size(); ++i) {
    expected[i] = std::min(1.0, std::max(0.0, content[i] + upsampled[i]));
    largest_change = std::max(largest_change, std::abs(upsampled[i]));
  }
  CHECK(largest_change > 1e-3);  // the coarse scale did change the image
  CHECK(nst_test::max_relative_error(started, expected, 1e-12) < 1e-9);
}

TEST_CASE("stylize: Adam's iterate average is the result when asked for", "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.optimizer = nst::optimizer_kind::adam;
  o.learning_rate = 5;
  const auto last = nst::stylize(net, content, {dark}, o);
  o.adam_average = 0.9;
  const auto averaged = nst::stylize(net, content, {dark}, o);
  CHECK(nst_test::max_relative_error(last, averaged) > 1e-3);
}

TEST_CASE("stylize: bad control options are refused with clear errors", "[style][control]") {
  const auto net = narrow_vgg();
  auto o = small_options();
  o.style_layer_weights = {1.0};
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark}, o), Catch::Contains("1 style layer weights for 2 style layers"));
  o = small_options();
  o.style_masks = {nst::tensor<float>({1, 1, 4, 4}, 1.0f)};
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark, bright}, o), Catch::Contains("1 style masks for 2 style images"));
  o.style_masks.push_back(nst::tensor<float>({1, 1, 4, 4}, 1.0f));
  o.style_blend_weights = {1, 2};
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark, bright}, o), Catch::Contains("exclude each other"));
  o = small_options();
  o.scales = 0;
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark}, o), Catch::Contains("scales must be 1..16, got 0"));
  o = small_options();
  o.scales = 2;
  o.scale_iterations = {1, 2, 3};
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark}, o), Catch::Contains("3 scale iterations for 2 scales"));
  o = small_options();
  o.image_size = 64;
  o.min_size = 100;
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark}, o), Catch::Contains("min_size must be 0 or 16..image_size"));
  o = small_options();
  o.adam_average = 1.5;
  CHECK_THROWS_WITH(nst::stylize(net, content, {dark}, o), Catch::Contains("adam_average must lie in [0, 1)"));
}
