#include <chrono>
#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/conv2d.hpp>
#include <string>
#include <vector>

#include "../support/fixtures.hpp"
#include "../support/support.hpp"
#include "ops_testing.hpp"

namespace {

using nst::index_t;

struct conv_case {
  index_t n, c, h, w, o, kh, kw, stride, padding;
  bool bias;
  nst::shape input() const { return {n, c, h, w}; }
  nst::shape weight() const { return {o, c, kh, kw}; }
  nst::conv2d_params params() const { return {stride, padding}; }
};

// Small and odd: every backward against finite differences. The last two have enough input
// channels for the input gradient to run as a flipped convolution (stride 1, square kernel).
const std::vector<conv_case> awkward_cases = {
    {1, 1, 5, 5, 1, 3, 3, 1, 0, true},    {2, 3, 7, 6, 4, 3, 3, 1, 1, true},   {2, 2, 9, 8, 3, 3, 2, 2, 2, true},
    {1, 4, 11, 10, 5, 5, 5, 2, 0, false}, {2, 5, 4, 6, 3, 1, 1, 1, 0, true},   {1, 3, 6, 7, 2, 2, 4, 3, 2, true},
    {3, 2, 5, 3, 2, 5, 3, 1, 2, false},   {1, 2, 3, 3, 2, 3, 3, 2, 1, true},   {2, 1, 1, 7, 2, 1, 3, 1, 1, true},
    {1, 32, 4, 5, 3, 3, 3, 1, 1, true},   {2, 33, 3, 4, 2, 2, 2, 1, 1, false},
};

// Larger: several pixel tiles per image (cut inside rows), several bands, N > 1, and both ways of
// computing the input gradient (flipped convolution for >= 32 input channels, stride 1, square
// kernel and padding < kernel; col2im otherwise).
const std::vector<conv_case> tiled_cases = {
    {2, 16, 33, 35, 8, 3, 3, 1, 1, true}, {1, 64, 12, 12, 64, 3, 3, 1, 1, true},
    {1, 3, 64, 64, 16, 3, 3, 1, 1, true}, {1, 32, 20, 24, 16, 3, 3, 2, 1, false},
    {2, 8, 17, 19, 4, 5, 3, 2, 2, true},  {3, 4, 30, 9, 6, 1, 1, 1, 0, true},
    {2, 32, 15, 13, 8, 3, 3, 1, 2, true}, {1, 40, 12, 11, 24, 5, 5, 1, 0, false},
    {1, 33, 6, 7, 5, 1, 1, 1, 1, true},   {1, 1, 1, 1, 1, 1, 1, 1, 0, true},
};

std::string describe(const conv_case& k) {
  return nst::detail::concat("input ", k.input(), " weight ", k.weight(), " stride ", k.stride, " padding ", k.padding,
                             k.bias ? " bias" : " no bias");
}

template <class T>
nst::tensor<T> bias_for(const conv_case& k, unsigned seed) {
  return k.bias ? nst_test::random_tensor<T>({k.o}, seed) : nst::tensor<T>();
}

}  // namespace

TEST_CASE("conv2d: output shapes and validation errors", "[ops][conv2d]") {
  CHECK(nst::conv2d_output_shape({2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}) == nst::shape{2, 4, 7, 6});
  CHECK(nst::conv2d_output_shape({1, 2, 9, 8}, {3, 2, 3, 2}, {2, 2}) == nst::shape{1, 3, 6, 6});
  CHECK(nst::conv2d_output_shape({1, 1, 5, 5}, {1, 1, 7, 7}, {1, 1}) == nst::shape{1, 1, 1, 1});

  using ops_test::error_id;
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({3, 5, 5}, {8, 3, 3, 3}, {}); }) == 110);
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {8, 3, 3}, {}); }) == 111);
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({0, 3, 5, 5}, {8, 3, 3, 3}, {}); }) == 112);
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {0, 3, 3, 3}, {}); }) == 112);
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {8, 4, 3, 3}, {}); }) == 113);
  CHECK(error_id<nst::shape_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {8, 3, 7, 1}, {1, 0}); }) == 114);
  CHECK(error_id<nst::value_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {8, 3, 3, 3}, {0, 1}); }) == 250);
  CHECK(error_id<nst::value_error>([] { nst::conv2d_output_shape({1, 3, 5, 5}, {8, 3, 3, 3}, {1, -1}); }) == 251);

  try {
    nst::conv2d_output_shape({1, 3, 5, 5}, {8, 4, 3, 3}, {});
    FAIL("no error");
  } catch (const nst::shape_error& e) {  // the message names the function and both shapes
    const std::string what = e.what();
    CHECK(what.find("conv2d") != std::string::npos);
    CHECK(what.find("[1,3,5,5]") != std::string::npos);
    CHECK(what.find("[8,4,3,3]") != std::string::npos);
  }

  const nst::tensor<float> x({1, 3, 5, 5}), w({4, 3, 3, 3});
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d(x, w, nst::tensor<float>({5})); }) == 115);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d(x, w, nst::tensor<float>({4, 1})); }) == 115);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_reference(x, w, nst::tensor<float>({3})); }) == 115);
  const nst::tensor<float> wrong_grad({1, 4, 5, 5});  // output is [1,4,3,3] without padding
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_backward_input(wrong_grad, w, x.shape()); }) == 116);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_backward_weight(wrong_grad, x, w.shape()); }) == 116);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_backward_input_reference(wrong_grad, w, x.shape()); }) == 116);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_backward_bias(nst::tensor<float>({4, 3, 3})); }) == 117);
  CHECK(error_id<nst::shape_error>([&] { nst::conv2d_backward_bias(nst::tensor<float>({1, 0, 3, 3})); }) == 117);
}

TEST_CASE("conv2d: a hand-computed example", "[ops][conv2d]") {
  // 1x1x3x3 input 1..9, 2x2 kernel [[1,0],[0,-1]] (top-left minus bottom-right), bias 0.5, padding 1, stride 2.
  nst::tensor<double> x(nst::shape{1, 1, 3, 3}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  nst::tensor<double> w(nst::shape{1, 1, 2, 2}, std::vector<double>{1, 0, 0, -1});
  nst::tensor<double> b(nst::shape{1}, std::vector<double>{0.5});
  const auto y = nst::conv2d(x, w, b, {2, 1});
  // Windows start at rows/cols -1 and 1: out[y,x] = in[2y-1, 2x-1] - in[2y, 2x] (0 outside) + 0.5.
  REQUIRE(y.shape() == nst::shape{1, 1, 2, 2});
  CHECK(y[0] == Approx(0 - 1 + 0.5));
  CHECK(y[1] == Approx(0 - 3 + 0.5));
  CHECK(y[2] == Approx(0 - 7 + 0.5));
  CHECK(y[3] == Approx(5 - 9 + 0.5));
}

TEMPLATE_TEST_CASE("conv2d: fast kernels equal the reference loops", "[ops][conv2d]", float, double) {
  using T = TestType;
  const double tolerance = std::is_same<T, float>::value ? 2e-5 : 1e-12;
  for (int threads : {1, 2, 3}) {
    const ops_test::thread_count scoped(threads);
    unsigned seed = 100;
    for (const conv_case& k : tiled_cases) {
      INFO(describe(k) << ", " << threads << " threads");
      const auto x = nst_test::random_tensor<T>(k.input(), ++seed);
      const auto w = nst_test::random_tensor<T>(k.weight(), ++seed);
      const auto b = bias_for<T>(k, ++seed);
      const auto y = nst::conv2d(x, w, b, k.params());
      CHECK(nst_test::fixture_error(y, nst::conv2d_reference(x, w, b, k.params())) < tolerance);
      const auto dy = nst_test::random_tensor<T>(y.shape(), ++seed);
      CHECK(nst_test::fixture_error(nst::conv2d_backward_input(dy, w, x.shape(), k.params()),
                                    nst::conv2d_backward_input_reference(dy, w, x.shape(), k.params())) < tolerance);
      CHECK(nst_test::fixture_error(nst::conv2d_backward_weight(dy, x, w.shape(), k.params()),
                                    nst::conv2d_backward_weight_reference(dy, x, w.shape(), k.params())) < tolerance);
    }
  }
}

TEST_CASE("conv2d: every gradient matches central finite differences", "[ops][conv2d]") {
  unsigned seed = 200;
  for (const conv_case& k : awkward_cases) {
    INFO(describe(k));
    const auto x = nst_test::random_tensor<double>(k.input(), ++seed);
    const auto w = nst_test::random_tensor<double>(k.weight(), ++seed);
    const auto b = bias_for<double>(k, ++seed);
    const auto r = nst_test::random_tensor<double>(nst::conv2d_output_shape(x.shape(), w.shape(), k.params()), ++seed);
    // loss = Σ conv2d(x, w, b) * r, so d loss / d output = r.
    auto loss_of_x = [&](const nst::tensor<double>& v) {
      return ops_test::weighted_sum(nst::conv2d(v, w, b, k.params()), r);
    };
    auto loss_of_w = [&](const nst::tensor<double>& v) {
      return ops_test::weighted_sum(nst::conv2d(x, v, b, k.params()), r);
    };
    CHECK(nst::check_gradient(loss_of_x, x, nst::conv2d_backward_input(r, w, x.shape(), k.params())).ok(1e-6));
    CHECK(nst::check_gradient(loss_of_w, w, nst::conv2d_backward_weight(r, x, w.shape(), k.params())).ok(1e-6));
    CHECK(
        nst::check_gradient(loss_of_x, x, nst::conv2d_backward_input_reference(r, w, x.shape(), k.params())).ok(1e-6));
    CHECK(
        nst::check_gradient(loss_of_w, w, nst::conv2d_backward_weight_reference(r, x, w.shape(), k.params())).ok(1e-6));
    if (k.bias) {
      auto loss_of_b = [&](const nst::tensor<double>& v) {
        return ops_test::weighted_sum(nst::conv2d(x, w, v, k.params()), r);
      };
      CHECK(nst::check_gradient(loss_of_b, b, nst::conv2d_backward_bias(r)).ok(1e-6));
    }
  }
}

TEMPLATE_TEST_CASE("conv2d: outputs and gradients match PyTorch", "[ops][conv2d]", float, double) {
  using T = TestType;
  for (const char* name :
       {"conv2d_3x3_pad1", "conv2d_3x2_stride2_pad2", "conv2d_5x5_stride2_nobias", "conv2d_1x1", "conv2d_32to8_3x3"}) {
    INFO(name);
    const nst_test::fixture f(std::string("ops/") + name + ".nstf");
    const auto params = f.get<double>("params");
    const nst::conv2d_params p{static_cast<index_t>(params[0]), static_cast<index_t>(params[1])};
    const auto x = f.get<T>("input"), w = f.get<T>("weight"), b = f.get<T>("bias"), dy = f.get<T>("grad_output");
    CHECK(nst_test::fixture_error(nst::conv2d(x, w, b, p), f.get<T>("output")) < 1e-5);
    CHECK(nst_test::fixture_error(nst::conv2d_backward_input(dy, w, x.shape(), p), f.get<T>("grad_input")) < 1e-5);
    CHECK(nst_test::fixture_error(nst::conv2d_backward_weight(dy, x, w.shape(), p), f.get<T>("grad_weight")) < 1e-5);
    if (!b.empty()) CHECK(nst_test::fixture_error(nst::conv2d_backward_bias(dy), f.get<T>("grad_bias")) < 1e-5);
  }
}

// Not part of the normal run: nst_tests "[.bench][conv2d]" prints the speed of a VGG-like layer.
TEST_CASE("conv2d: speed on a VGG-like layer (64->64, 3x3, 128x128, float)", "[.bench][conv2d]") {
  const auto x = nst_test::random_tensor<float>({1, 64, 128, 128}, 1);
  const auto w = nst_test::random_tensor<float>({64, 64, 3, 3}, 2);
  const auto b = nst_test::random_tensor<float>({64}, 3);
  const nst::conv2d_params p{1, 1};
  const double gflop = 2.0 * 64 * 64 * 9 * 128 * 128 * 1e-9;
  auto seconds = [](auto&& f, int repeats) {
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      f();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  };
  nst::tensor<float> y, reference, dx, dw;
  const double forward = seconds([&] { y = nst::conv2d(x, w, b, p); }, 10);
  const double backward_input = seconds([&] { dx = nst::conv2d_backward_input(y, w, x.shape(), p); }, 10);
  const double backward_weight = seconds([&] { dw = nst::conv2d_backward_weight(y, x, w.shape(), p); }, 10);
  const double slow = seconds([&] { reference = nst::conv2d_reference(x, w, b, p); }, 1);
  WARN(nst::num_threads() << " threads, GFLOP/s (best of 10): forward " << gflop / forward << ", backward_input "
                          << gflop / backward_input << ", backward_weight " << gflop / backward_weight
                          << "; reference forward " << gflop / slow);
  CHECK(nst_test::fixture_error(y, reference) < 2e-5);
}
