#include <nst/style/stylize.hpp>

#include <cmath>

#include "../support/narrow_vgg.hpp"
#include "../support/support.hpp"

namespace {
// conv1_1 .. conv3_4 only (like the shared partial weights), 4 to 8 channels.
nst::vgg19<double> tiny_vgg() {
  return nst_test::narrow_vgg({{"conv1_1", {3, 4}}, {"conv1_2", {4, 4}}, {"conv2_1", {4, 6}}, {"conv2_2", {6, 6}},
                               {"conv3_1", {6, 8}}, {"conv3_2", {8, 8}}, {"conv3_3", {8, 8}}, {"conv3_4", {8, 8}}},
                              100);
}

nst::stylize_options small_options() {
  nst::stylize_options o;
  o.image_size = 0;  // keep the content's size
  o.content_layers = {"relu2_2"};
  o.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  o.iterations = 8;
  return o;
}

const nst::tensor<double> content = nst_test::random_tensor<double>({1, 3, 14, 18}, 1, 0.0, 1.0);
const nst::tensor<double> style = nst_test::random_tensor<double>({1, 3, 16, 16}, 2, 0.0, 1.0);
}  // namespace

TEST_CASE("stylize: L-BFGS with line search lowers the loss at every iteration", "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.lbfgs_line_search = nst::line_search::strong_wolfe;
  o.init = nst::init_method::content;
  std::vector<double> losses;
  std::vector<nst::loss_breakdown> parts;
  auto result = nst::stylize(net, content, {style}, o, [&](const nst::stylize_progress<double>& p) {
    losses.push_back(p.loss);
    parts.push_back(p.parts);
    CHECK(p.iterations == 8);
    CHECK(p.seconds >= 0);
  });
  REQUIRE(losses.size() == 8);
  for (std::size_t i = 1; i < losses.size(); ++i) CHECK(losses[i] <= losses[i - 1]);
  CHECK(losses.back() < 0.5 * losses.front());
  for (const auto& p : parts) {
    CHECK(p.count("content") == 1);
    CHECK(p.count("style") == 1);
    CHECK(p.count("tv") == 1);
  }
  CHECK(result.shape() == content.shape());
  for (double v : result) CHECK((v >= 0.0 && v <= 1.0));
}

TEST_CASE("stylize: no iterations from the content gives the content back", "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.iterations = 0;
  o.init = nst::init_method::content;
  auto result = nst::stylize(net, content, {style}, o);
  CHECK(nst_test::max_relative_error(result, content) < 1e-12);
  o.image_size = 9;  // longer side 18 -> 9
  CHECK(nst::stylize(net, content, {style}, o).shape() == nst::shape({1, 3, 7, 9}));
}

TEST_CASE("stylize: the same seed gives the same image, another seed another", "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.optimizer = nst::optimizer_kind::adam;
  o.iterations = 3;
  auto a = nst::stylize(net, content, {style}, o);
  auto b = nst::stylize(net, content, {style}, o);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  o.seed = 1;
  auto c = nst::stylize(net, content, {style}, o);
  CHECK_FALSE(std::equal(a.begin(), a.end(), c.begin()));
}

TEST_CASE("stylize: original colors keep the content's chrominance", "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.iterations = 3;
  o.original_colors = true;
  auto result = nst::stylize(net, content, {style}, o);
  auto yuv = nst::rgb_to_yuv(result), content_yuv = nst::rgb_to_yuv(content);
  const nst::index_t plane = 14 * 18;
  int compared = 0;
  for (nst::index_t i = 0; i < plane; ++i) {
    bool clamped = false;
    for (int c = 0; c < 3; ++c) clamped = clamped || result[c * plane + i] <= 0.0 || result[c * plane + i] >= 1.0;
    if (clamped) continue;
    ++compared;
    CHECK(yuv[plane + i] == Approx(content_yuv[plane + i]).margin(1e-9));
    CHECK(yuv[2 * plane + i] == Approx(content_yuv[2 * plane + i]).margin(1e-9));
  }
  CHECK(compared > plane / 2);
}

TEST_CASE("stylize: several styles blend; bad options are refused with clear errors", "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.iterations = 2;
  o.style_blend_weights = {1, 2};
  auto blended = nst::stylize(net, content, {style, content}, o);
  CHECK(blended.shape() == content.shape());

  o.style_blend_weights = {1};
  CHECK_THROWS_WITH(nst::stylize(net, content, {style, content}, o), Catch::Contains("1 style blend weights for 2"));
  o = small_options();
  CHECK_THROWS_WITH(nst::stylize(net, content, {}, o), Catch::Contains("no style image"));
  o.style_layers = {"relu4_1"};
  CHECK_THROWS_WITH(nst::stylize(net, content, {style}, o), Catch::Contains("conv4_1"));
  o = small_options();
  o.style_scale = -1;
  CHECK_THROWS_AS(nst::stylize(net, content, {style}, o), nst::value_error);
  CHECK_THROWS_AS(nst::stylize(net, nst::tensor<double>({1, 1, 4, 4}), {style}, small_options()), nst::shape_error);
}
