#include <cmath>
#include <cstring>
#include <limits>
#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/pool2d.hpp>
#include <string>
#include <vector>

#include "../support/fixtures.hpp"
#include "../support/support.hpp"
#include "ops_testing.hpp"

using nst::index_t;

TEST_CASE("pool2d: output shapes and validation errors", "[ops][pool2d]") {
  CHECK(nst::pool2d_output_shape({2, 3, 8, 7}, {2, 2, 0}) == nst::shape{2, 3, 4, 3});  // floor mode drops a column
  CHECK(nst::pool2d_output_shape({1, 2, 9, 9}, {3, 2, 1}) == nst::shape{1, 2, 5, 5});
  CHECK(nst::pool2d_output_shape({1, 1, 5, 6}, {3, 1, 1}) == nst::shape{1, 1, 5, 6});

  using ops_test::error_id;
  const nst::tensor<float> x({1, 2, 4, 4});
  CHECK(error_id<nst::value_error>([&] { nst::max_pool2d(x, {0, 1, 0}); }) == 252);
  CHECK(error_id<nst::value_error>([&] { nst::avg_pool2d(x, {2, 0, 0}); }) == 253);
  CHECK(error_id<nst::value_error>([&] { nst::max_pool2d(x, {3, 1, 2}); }) == 254);  // padding > kernel / 2
  CHECK(error_id<nst::value_error>([&] { nst::avg_pool2d(x, {3, 1, -1}); }) == 254);
  CHECK(error_id<nst::shape_error>([&] { nst::max_pool2d(nst::tensor<float>({2, 4, 4})); }) == 120);
  CHECK(error_id<nst::shape_error>([&] { nst::avg_pool2d(nst::tensor<float>({1, 2, 0, 4})); }) == 121);
  CHECK(error_id<nst::shape_error>([&] { nst::max_pool2d(x, {5, 1, 0}); }) == 122);
  CHECK(error_id<nst::shape_error>([&] {
          nst::avg_pool2d_backward(nst::tensor<float>({1, 2, 3, 2}), x.shape());
        }) == 123);

  const auto pooled = nst::max_pool2d(x);  // [1,2,2,2]
  CHECK(error_id<nst::shape_error>([&] {
          nst::max_pool2d_backward(pooled.output, pooled.argmax, {1, 3, 4, 4});
        }) == 123);
  CHECK(error_id<nst::shape_error>([&] { nst::max_pool2d_backward(pooled.output, pooled.argmax, {2, 4, 4}); }) == 120);
  std::vector<std::int32_t> short_argmax(pooled.argmax.begin(), pooled.argmax.end() - 1);
  CHECK(error_id<nst::shape_error>([&] { nst::max_pool2d_backward(pooled.output, short_argmax, x.shape()); }) == 124);
  std::vector<std::int32_t> bad_argmax = pooled.argmax;
  bad_argmax[3] = 16;  // one past the 4x4 plane
  CHECK(error_id<nst::value_error>([&] { nst::max_pool2d_backward(pooled.output, bad_argmax, x.shape()); }) == 255);
}

TEST_CASE("max_pool2d: ties go to the first element, padding never wins, NaN propagates", "[ops][pool2d]") {
  nst::tensor<double> flat({1, 1, 2, 2}, 1.0);
  auto tie = nst::max_pool2d(flat);
  REQUIRE(tie.argmax.size() == 1);
  CHECK(tie.argmax[0] == 0);
  nst::tensor<double> one({1, 1, 1, 1}, 2.0);
  CHECK(nst::max_pool2d_backward(one, tie.argmax, flat.shape())[0] == 2.0);
  CHECK(nst::max_pool2d_backward(one, tie.argmax, flat.shape())[3] == 0.0);

  nst::tensor<double> negative({1, 1, 3, 3}, -5.0);
  negative[4] = -1.0;
  const auto padded = nst::max_pool2d(negative, {3, 1, 1});
  for (double v : padded.output) CHECK(v < 0);  // zero padding would have won everywhere
  CHECK(padded.output[0] == -1.0);
  CHECK(padded.argmax[0] == 4);

  nst::tensor<float> with_nan({1, 1, 2, 2}, 0.0f);
  with_nan[2] = std::numeric_limits<float>::quiet_NaN();
  const auto nan_pool = nst::max_pool2d(with_nan);
  CHECK(std::isnan(nan_pool.output[0]));
  CHECK(nan_pool.argmax[0] == 2);
}

TEST_CASE("pool2d: overlapping windows add their gradients", "[ops][pool2d]") {
  // 1x1x3x3 with the maximum in the centre: every 2x2 window (stride 1) picks it.
  nst::tensor<double> x({1, 1, 3, 3}, 0.0);
  x[4] = 1.0;
  const auto pooled = nst::max_pool2d(x, {2, 1, 0});
  const nst::tensor<double> dy(nst::shape{1, 1, 2, 2}, std::vector<double>{1, 2, 3, 4});
  const auto dx = nst::max_pool2d_backward(dy, pooled.argmax, x.shape());
  for (index_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == (i == 4 ? 10.0 : 0.0));

  // Average pooling 3x3, stride 1, padding 1: the centre lies in all 9 windows, a corner in 4.
  const auto avg_dx = nst::avg_pool2d_backward(nst::tensor<double>({1, 1, 3, 3}, 9.0), x.shape(), {3, 1, 1});
  CHECK(avg_dx[4] == Approx(9.0));
  CHECK(avg_dx[0] == Approx(4.0));
  CHECK(avg_dx[1] == Approx(6.0));
}

TEST_CASE("pool2d: gradients match central finite differences", "[ops][pool2d]") {
  struct pool_case {
    nst::shape input;
    nst::pool2d_params params;
  };
  const std::vector<pool_case> cases = {
      {{2, 3, 8, 7}, {2, 2, 0}}, {{1, 2, 9, 9}, {3, 2, 1}}, {{2, 2, 6, 5}, {3, 1, 1}},
      {{1, 3, 7, 7}, {5, 3, 2}}, {{1, 1, 5, 8}, {4, 2, 2}}, {{3, 1, 1, 4}, {1, 1, 0}},
  };
  unsigned seed = 300;
  for (const pool_case& k : cases) {
    INFO("input " << k.input << " kernel " << k.params.kernel << " stride " << k.params.stride << " padding "
                  << k.params.padding);
    const auto x = nst_test::random_tensor<double>(k.input, ++seed);  // distinct values: no ties
    const auto r = nst_test::random_tensor<double>(nst::pool2d_output_shape(k.input, k.params), ++seed);
    auto max_loss = [&](const nst::tensor<double>& v) {
      return ops_test::weighted_sum(nst::max_pool2d(v, k.params).output, r);
    };
    auto avg_loss = [&](const nst::tensor<double>& v) {
      return ops_test::weighted_sum(nst::avg_pool2d(v, k.params), r);
    };
    const auto pooled = nst::max_pool2d(x, k.params);
    CHECK(nst::check_gradient(max_loss, x, nst::max_pool2d_backward(r, pooled.argmax, x.shape())).ok(1e-6));
    CHECK(nst::check_gradient(avg_loss, x, nst::avg_pool2d_backward(r, x.shape(), k.params)).ok(1e-6));
  }
}

TEMPLATE_TEST_CASE("pool2d: outputs, argmax and gradients match PyTorch", "[ops][pool2d]", float, double) {
  using T = TestType;
  for (const char* name : {"max_pool2d_k2s2", "max_pool2d_k3s2p1_ties", "max_pool2d_k3s1p1", "avg_pool2d_k2s2",
                           "avg_pool2d_k3s2p1", "avg_pool2d_k3s1p1"}) {
    INFO(name);
    const nst_test::fixture f(std::string("ops/") + name + ".nstf");
    const auto params = f.get<double>("params");
    const nst::pool2d_params p{static_cast<index_t>(params[0]), static_cast<index_t>(params[1]),
                               static_cast<index_t>(params[2])};
    const auto x = f.get<T>("input"), dy = f.get<T>("grad_output");
    if (f.has("argmax")) {
      const auto pooled = nst::max_pool2d(x, p);
      CHECK(nst_test::fixture_error(pooled.output, f.get<T>("output")) == 0);  // a max copies a value
      const auto argmax = f.get<double>("argmax");
      REQUIRE(static_cast<index_t>(pooled.argmax.size()) == argmax.size());
      for (index_t i = 0; i < argmax.size(); ++i) CHECK(pooled.argmax[static_cast<std::size_t>(i)] == argmax[i]);
      CHECK(nst_test::fixture_error(nst::max_pool2d_backward(dy, pooled.argmax, x.shape()), f.get<T>("grad_input")) <
            1e-5);
    } else {
      CHECK(nst_test::fixture_error(nst::avg_pool2d(x, p), f.get<T>("output")) < 1e-5);
      CHECK(nst_test::fixture_error(nst::avg_pool2d_backward(dy, x.shape(), p), f.get<T>("grad_input")) < 1e-5);
    }
  }
}

TEST_CASE("max_pool2d_windows: winners as places in their window, the same output and gradient as argmax",
          "[ops][pool2d]") {
  const nst::pool2d_params cases[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {4, 3, 2}, {16, 1, 0}};
  auto input = nst_test::random_tensor<float>({2, 3, 19, 18}, 73);
  input[5] = std::numeric_limits<float>::quiet_NaN();  // a NaN wins its windows in both
  for (const nst::pool2d_params& p : cases) {
    INFO("kernel " << p.kernel << ", stride " << p.stride << ", padding " << p.padding);
    const auto full = nst::max_pool2d(input, p);
    const auto compact = nst::max_pool2d_windows(input, p);
    const nst::index_t out_h = full.output.dim(2), out_w = full.output.dim(3), width = input.dim(3);
    CHECK(std::memcmp(compact.output.data(), full.output.data(), full.output.size() * sizeof(float)) == 0);
    for (std::size_t k = 0; k < full.argmax.size(); ++k) {
      const auto i = static_cast<nst::index_t>(k);
      const nst::index_t top = i % (out_h * out_w) / out_w * p.stride - p.padding, left = i % out_w * p.stride - p.padding;
      const nst::index_t place = compact.winner[k];
      REQUIRE((top + place / p.kernel) * width + left + place % p.kernel == full.argmax[k]);
    }
    const auto dy = nst_test::random_tensor<float>(full.output.shape(), 74);
    CHECK(nst_test::max_relative_error(nst::max_pool2d_windows_backward(dy, compact.winner, input.shape(), p),
                                       nst::max_pool2d_backward(dy, full.argmax, input.shape())) == 0.0);
  }
  CHECK_THROWS_AS(nst::max_pool2d_windows(input, {17, 1, 0}), nst::value_error);
  const auto pooled = nst::max_pool2d_windows(input, {2, 2, 0});
  CHECK_THROWS_AS(nst::max_pool2d_windows_backward(pooled.output, pooled.winner, input.shape(), {3, 2, 0}),
                  nst::shape_error);
  // Winners that are not in their window, or lie on the padding, as an argmax outside the plane.
  auto outside = pooled.winner;
  outside[3] = 4;  // a 2x2 window has places 0..3
  CHECK(ops_test::error_id<nst::value_error>([&] { nst::max_pool2d_windows_backward(pooled.output, outside, input.shape(), {2, 2, 0}); }) == 255);
  const nst::pool2d_params padded{3, 2, 1};
  auto on_padding = nst::max_pool2d_windows(input, padded).winner;
  on_padding[0] = 0;  // the first window's top-left corner is the padding's
  const auto padded_dy = nst_test::random_tensor<float>(nst::max_pool2d_windows(input, padded).output.shape(), 76);
  CHECK(ops_test::error_id<nst::value_error>([&] { nst::max_pool2d_windows_backward(padded_dy, on_padding, input.shape(), padded); }) == 255);
}

TEST_CASE("max_pool2d: 2x2 windows with stride 2 (VGG's) follow the rule of every other size", "[ops][pool2d]") {
  // Values from a few levels (ties), NaNs and -infinity, odd sizes (floor mode drops a row and a
  // column); rows of more than 256 outputs (the fast path takes them 256 at a time).
  for (const nst::shape& shape : {nst::shape{2, 3, 9, 11}, nst::shape{1, 2, 5, 523}}) {
    auto input = nst_test::random_tensor<float>(shape, 75);
    for (float& v : input) v = std::round(v * 2.0f);
    for (nst::index_t i = 0; i < input.size(); i += 13) input[i] = std::numeric_limits<float>::quiet_NaN();
    for (nst::index_t i = 5; i < input.size(); i += 17) input[i] = -std::numeric_limits<float>::infinity();
    const auto pooled = nst::max_pool2d(input, {2, 2, 0});
    const auto windows = nst::max_pool2d_windows(input, {2, 2, 0});
    const nst::index_t height = shape[2], width = shape[3], out_h = height / 2, out_w = width / 2;
    for (nst::index_t plane = 0; plane < shape[0] * shape[1]; ++plane)
      for (nst::index_t y = 0; y < out_h; ++y)
        for (nst::index_t x = 0; x < out_w; ++x) {
          float best = -std::numeric_limits<float>::infinity();
          nst::index_t best_index = 2 * y * width + 2 * x;
          for (nst::index_t h = 2 * y; h < 2 * y + 2; ++h)
            for (nst::index_t w = 2 * x; w < 2 * x + 2; ++w) {
              const float v = input[plane * height * width + h * width + w];
              if (v > best || std::isnan(v)) {
                best = v;
                best_index = h * width + w;
              }
            }
          const nst::index_t k = (plane * out_h + y) * out_w + x;
          INFO("input " << shape << ", plane " << plane << ", output " << y << "," << x);
          CHECK(pooled.argmax[static_cast<std::size_t>(k)] == best_index);
          CHECK(windows.winner[static_cast<std::size_t>(k)] ==
                (best_index / width - 2 * y) * 2 + (best_index % width - 2 * x));
          CHECK((std::isnan(best) ? std::isnan(pooled.output[k]) : pooled.output[k] == best));
        }
  }
}
