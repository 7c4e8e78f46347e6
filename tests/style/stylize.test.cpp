#include <nst/style/stylize.hpp>

#include <nst/io/image.hpp>

#include <algorithm>
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

// The mean absolute difference between the pixels on either side of column `at` (between at - 1
// and at), or of row `at` when `across_rows`, over the whole image and its channels.
double jump_across(const nst::tensor<float>& image, nst::index_t at, bool across_rows) {
  const nst::index_t height = image.dim(2), width = image.dim(3);
  double sum = 0;
  nst::index_t count = 0;
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t i = 0; i < (across_rows ? width : height); ++i, ++count) {
      const float* plane = image.data() + c * height * width;
      sum += across_rows ? std::abs(plane[at * width + i] - plane[(at - 1) * width + i])
                         : std::abs(plane[i * width + at] - plane[i * width + at - 1]);
    }
  return sum / static_cast<double>(count);
}

// A seam's visibility: the jump across line `at` over the median jump across the 24 lines around
// it (1 where nothing sets the line apart).
double seam_ratio(const nst::tensor<float>& image, nst::index_t at, bool across_rows) {
  std::vector<double> around;
  for (nst::index_t d = -12; d <= 12; ++d)
    if (d != 0) around.push_back(jump_across(image, at + d, across_rows));
  std::nth_element(around.begin(), around.begin() + 12, around.end());
  return jump_across(image, at, across_rows) / around[12];
}

// Statistics of the pixels an overlap of `tiles` covers over those of the rest of the image:
// {mean |horizontal jump| ratio, standard deviation ratio} (blending two textures that disagree
// would blur the overlaps: both below 1).
std::pair<double, double> overlap_statistics(const nst::tensor<float>& image, const std::vector<nst::tile>& tiles) {
  const nst::index_t height = image.dim(2), width = image.dim(3);
  std::vector<bool> in_overlap(static_cast<std::size_t>(height * width), false);
  for (const nst::tile& t : tiles)
    for (nst::index_t y = t.top; y < t.bottom; ++y)
      for (nst::index_t x = t.left; x < t.right; ++x)
        if (y < t.top + t.overlap_top || x < t.left + t.overlap_left) in_overlap[static_cast<std::size_t>(y * width + x)] = true;
  double jump[2] = {0, 0}, sum[2] = {0, 0}, squares[2] = {0, 0}, count[2] = {0, 0};
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t y = 0; y < height; ++y)
      for (nst::index_t x = 1; x < width; ++x) {
        const float* row = image.data() + (c * height + y) * width;
        const int k = in_overlap[static_cast<std::size_t>(y * width + x)] ? 0 : 1;
        jump[k] += std::abs(row[x] - row[x - 1]);
        sum[k] += row[x];
        squares[k] += row[x] * row[x];
        count[k] += 1;
      }
  auto deviation = [&](int k) { return std::sqrt(squares[k] / count[k] - (sum[k] / count[k]) * (sum[k] / count[k])); };
  return {(jump[0] / count[0]) / (jump[1] / count[1]), deviation(0) / deviation(1)};
}
const nst::tensor<double> style = nst_test::random_tensor<double>({1, 3, 16, 16}, 2, 0.0, 1.0);
}  // namespace

TEST_CASE("stylize: L-BFGS with line search lowers the loss at every iteration", "[style][stylize]") {
  const auto net = tiny_vgg();
  for (auto search : {nst::line_search::strong_wolfe, nst::line_search::backtracking}) {
    INFO("strong_wolfe = " << (search == nst::line_search::strong_wolfe));
    auto o = small_options();
    o.lbfgs_line_search = search;
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
  o = small_options();
  o.lbfgs_initial_scale = 0;
  CHECK_THROWS_WITH(
      nst::stylize(net, content, {style}, o),
      Catch::Contains("value_error.297") && Catch::Contains("lbfgs_initial_scale must be finite and positive"));
  CHECK_THROWS_AS(nst::stylize(net, nst::tensor<double>({1, 1, 4, 4}), {style}, small_options()), nst::shape_error);
}

TEST_CASE("stylize in tiles: every tile optimised in turn, counted by the observer", "[style][stylize][tiling]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.iterations = 3;
  o.init = nst::init_method::content;
  const auto wide = nst_test::random_tensor<double>({1, 3, 80, 150}, 4, 0.0, 1.0);

  // An image within one tile is the run in one piece, bit for bit.
  o.tile_size = 160;
  const auto one_tile = nst::stylize(net, wide, {style}, o);
  o.tile_size = 0;
  CHECK(nst_test::max_relative_error(one_tile, nst::stylize(net, wide, {style}, o), 0) == 0);

  o.tile_size = 64;
  o.tile_overlap = 16;
  const std::size_t tiles = nst::tile_grid(80, 150, 64, 16).size();
  REQUIRE(tiles == 6);
  std::vector<int> seen_tiles, seen_iterations;
  nst::tensor<double> shown;
  const auto result = nst::stylize(net, wide, {style}, o, [&](const nst::stylize_progress<double>& p) {
    seen_tiles.push_back(p.tile);
    seen_iterations.push_back(p.iteration);
    CHECK(p.tiles == 6);
    CHECK(p.iterations == 18);
    CHECK(p.state == nullptr);  // a run in tiles keeps no state to checkpoint
    if (p.iteration == 8) shown = p.image();
  });
  CHECK(result.shape() == wide.shape());
  CHECK(shown.shape() == wide.shape());
  REQUIRE(seen_iterations.size() == 18);
  for (int i = 0; i < 18; ++i) {
    CHECK(seen_iterations[static_cast<std::size_t>(i)] == i + 1);
    CHECK(seen_tiles[static_cast<std::size_t>(i)] == i / 3 + 1);
  }
  // Every tile was optimised: the result differs from the content everywhere, corners included.
  for (nst::index_t at : {nst::index_t(0), nst::index_t(149), nst::index_t(79 * 150), nst::index_t(80 * 150 - 1)})
    CHECK(std::abs(result[at] - wide[at]) > 1e-4);

  // The same bits with one thread and with two.
  const int threads = nst::num_threads();
  nst::set_num_threads(threads == 1 ? 2 : 1);
  const auto other_threads = nst::stylize(net, wide, {style}, o);
  nst::set_num_threads(threads);
  CHECK(nst_test::max_relative_error(other_threads, result, 0) == 0);

  // Coarse to fine: the coarse scale fits in one tile, the fine one takes six.
  o.scales = 2;
  o.min_size = 60;
  int last_total = 0;
  nst::stylize(net, wide, {style}, o, [&](const nst::stylize_progress<double>& p) { last_total = p.iterations; });
  CHECK(last_total == 3 + 18);

  // What cannot be tiled is refused.
  o = small_options();
  o.tile_size = 32;
  CHECK_THROWS_WITH(nst::stylize(net, wide, {style}, o), Catch::Contains("tile_size must be 0 or >= 64"));
  o.tile_size = 64;
  o.tile_overlap = 40;
  CHECK_THROWS_WITH(nst::stylize(net, wide, {style}, o), Catch::Contains("tile_overlap 0..tile_size/2"));
  o.tile_overlap = 16;
  o.style_masks = {nst::tensor<float>({1, 1, 8, 8})};
  CHECK_THROWS_WITH(nst::stylize(net, wide, {style}, o), Catch::Contains("style_masks work on images in one piece"));
  o.style_masks.clear();
  nst::stylize_state<double> saved;
  saved.x = wide;
  CHECK_THROWS_WITH(nst::stylize(net, wide, {style}, o, nst::no_stylize_observer{}, {}, &saved),
                    Catch::Contains("a run in tiles cannot be resumed"));
}

TEST_CASE("stylize in tiles: no seams on a photograph (seam lines look like any other line)", "[style][stylize][tiling]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  const auto net = nst::vgg19<float>::from_file(nst_test::shared_path("weights/vgg19-conv1_1-conv3_4.safetensors"));
  const auto photo = nst::resize_to_longer_side(nst::load_image<float>(nst_test::shared_path("images/tubingen.jpg")), 256);
  const auto painting = nst::load_image<float>(nst_test::shared_path("images/starry_night.jpg"));
  REQUIRE(photo.shape() == nst::shape{1, 3, 192, 256});
  nst::stylize_options o;
  o.image_size = 0;
  o.content_layers = {"relu3_2"};
  o.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  o.iterations = 20;
  o.init = nst::init_method::content;
  o.tile_size = 128;
  o.tile_overlap = 32;
  const auto tiled = nst::stylize(net, photo, {painting}, o);
  double worst = 0, total = 0;
  int seams = 0;
  for (const nst::tile& t : nst::tile_grid(192, 256, 128, 32)) {  // the middle line of each overlap
    for (const auto& [at, across_rows] : {std::make_pair(t.left + t.overlap_left / 2, false),
                                          std::make_pair(t.top + t.overlap_top / 2, true)}) {
      if ((across_rows ? t.overlap_top : t.overlap_left) == 0) continue;
      const double ratio = seam_ratio(tiled, at, across_rows);
      worst = std::max(worst, ratio);
      total += ratio;
      ++seams;
    }
  }
  REQUIRE(seams > 0);
  INFO("seam ratios: mean " << total / seams << ", largest " << worst);
  CHECK(total / seams < 1.15);
  CHECK(worst < 1.3);

  // The overlaps look like the rest: their statistics against the rest's are close to those of
  // the same regions in the image stylized in one piece (blending textures that disagree would
  // blur them: ratios well below). They are optimised twice (by each tile sharing them), so after
  // 20 iterations a tile their texture is a little stronger: jumps 1.29 against 1.07 in one
  // piece, deviation 1.09 against 1.02.
  const std::vector<nst::tile> tiles = nst::tile_grid(192, 256, 128, 32);
  const auto [tiled_jumps, tiled_deviation] = overlap_statistics(tiled, tiles);
  o.tile_size = 0;
  const auto [whole_jumps, whole_deviation] = overlap_statistics(nst::stylize(net, photo, {painting}, o), tiles);
  INFO("overlaps against the rest: jumps " << tiled_jumps << " (in one piece " << whole_jumps << "), deviation "
                                           << tiled_deviation << " (" << whole_deviation << ")");
  CHECK(std::abs(tiled_jumps - whole_jumps) < 0.3);
  CHECK(std::abs(tiled_deviation - whole_deviation) < 0.15);

  // The control: the same tiles stylized apart and pasted edge to edge show their seams, so the
  // measure would see them (on this photo: ratios about 1.5).
  nst::tensor<float> pasted(photo.shape());
  o.style_scale = 2;  // the painting at the whole image's scale, as above
  const std::vector<nst::tile> pieces = nst::tile_grid(192, 256, 128, 0);
  for (nst::tile t : pieces) {
    const nst::tensor<float> piece = nst::stylize(net, nst::crop(photo, t), {painting}, o);
    t.overlap_left = t.overlap_top = 0;  // no blending: the later tile covers the earlier
    nst::blend_tile(pasted, piece, t);
  }
  double pasted_total = 0;
  int pasted_seams = 0;
  for (const nst::tile& t : pieces) {  // the first tile's edges in each row and column
    if (t.top == 0 && t.left > 0) pasted_total += seam_ratio(pasted, t.left, false), ++pasted_seams;
    if (t.left == 0 && t.top > 0) pasted_total += seam_ratio(pasted, t.top, true), ++pasted_seams;
  }
  REQUIRE(pasted_seams == 2);
  CHECK(pasted_total / pasted_seams > 1.3);
}

TEST_CASE("stylize with a style_target_cache: a batch measures its styles once, with the same results",
          "[style][stylize]") {
  const auto net = tiny_vgg();
  auto o = small_options();
  o.iterations = 3;
  o.image_size = 20;  // every content the same longer side: the styles' size does not change
  const auto other = nst_test::random_tensor<double>({1, 3, 16, 20}, 8, 0.0, 1.0);
  nst::style_target_cache<double> cache;
  nst::stylize_state<double>* no_state = nullptr;
  const auto first = nst::stylize(net, content, {style}, o, nst::no_stylize_observer{}, {}, no_state, &cache);
  const auto second = nst::stylize(net, other, {style}, o, nst::no_stylize_observer{}, {}, no_state, &cache);
  CHECK(cache.size() == 1);  // measured for the first content only
  CHECK(nst_test::max_relative_error(first, nst::stylize(net, content, {style}, o), 0) == 0);
  CHECK(nst_test::max_relative_error(second, nst::stylize(net, other, {style}, o), 0) == 0);
  // Recolouring the styles to each content makes them differ: measured again.
  o.match_style_colors = nst::color_match::cholesky;
  nst::stylize(net, content, {style}, o, nst::no_stylize_observer{}, {}, no_state, &cache);
  nst::stylize(net, other, {style}, o, nst::no_stylize_observer{}, {}, no_state, &cache);
  CHECK(cache.size() == 3);
}
