#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/conv3x3.hpp>

#include <algorithm>
#include <cmath>

#include "../support/support.hpp"
#include "ops_testing.hpp"

namespace {

using nst_test::error_of_largest;

using nst::conv_algorithm;
using nst::index_t;
using nst::padding_mode;

// The definition: pad (zeros: conv2d's own padding), conv2d_reference, relu.
template <class T>
nst::tensor<T> reference(const nst::tensor<T>& x, const nst::tensor<T>& w, const nst::tensor<T>& b, padding_mode mode,
                         bool relu) {
  auto y = mode == padding_mode::zeros ? nst::conv2d_reference(x, w, b, {1, 1})
                                       : nst::conv2d_reference(nst::pad2d(x, 1, mode), w, b, {1, 0});
  return relu ? nst::relu(y) : y;
}

}  // namespace

TEST_CASE("conv3x3_same: automatic picks Winograd for 16+ channels and zero padding", "[ops][conv3x3]") {
  using layer = nst::conv3x3_same<float>;
  CHECK(layer::picks_winograd({64, 64, 3, 3}, conv_algorithm::automatic, padding_mode::zeros));
  CHECK(!layer::picks_winograd({64, 3, 3, 3}, conv_algorithm::automatic, padding_mode::zeros));
  CHECK(!layer::picks_winograd({64, 64, 3, 3}, conv_algorithm::im2col, padding_mode::zeros));
  CHECK(layer::picks_winograd({4, 3, 3, 3}, conv_algorithm::winograd, padding_mode::zeros));
  CHECK(!layer::picks_winograd({64, 64, 3, 3}, conv_algorithm::winograd, padding_mode::reflect));
  CHECK(layer::transformed(nst::tensor<float>({8, 3, 3, 3}), conv_algorithm::automatic) == nullptr);
  CHECK(nst::parse_conv_algorithm("winograd") == conv_algorithm::winograd);
  CHECK(ops_test::error_id<nst::value_error>([] { nst::parse_conv_algorithm("fft"); }) == 263);
}

TEMPLATE_TEST_CASE("conv3x3_same: forward and input gradient equal the definitions, every algorithm and padding",
                   "[ops][conv3x3]", float, double) {
  using T = TestType;
  const double tolerance = std::is_same<T, float>::value ? 3e-5 : 1e-12;
  const auto x = nst_test::random_tensor<T>({2, 5, 9, 11}, 31);
  const auto w = nst_test::random_tensor<T>({7, 5, 3, 3}, 32);
  const auto b = nst_test::random_tensor<T>({7}, 33);
  const auto dy = nst_test::random_tensor<T>({2, 7, 9, 11}, 34);
  for (const conv_algorithm algorithm : {conv_algorithm::im2col, conv_algorithm::winograd})
    for (const padding_mode mode : {padding_mode::zeros, padding_mode::reflect, padding_mode::replicate})
      for (const bool relu : {false, true}) {
        INFO(nst::to_string(algorithm) << ", " << nst::to_string(mode) << ", relu " << relu);
        const nst::conv3x3_same<T> layer(w, b, mode, nst::conv3x3_same<T>::transformed(w, algorithm));
        CHECK(layer.uses_winograd() == (algorithm == conv_algorithm::winograd && mode == padding_mode::zeros));
        const auto want = reference(x, w, b, mode, relu);
        const auto y = layer.forward(x, relu);
        CHECK(error_of_largest(y, want) < tolerance);
        // Input gradient of <dy, layer(x)>: through the padding's adjoint and the ReLU's mask.
        auto masked = relu ? nst::relu_backward(dy, want) : dy;
        auto want_dx = mode == padding_mode::zeros
                           ? nst::conv2d_backward_input_reference(masked, w, x.shape(), {1, 1})
                           : nst::pad2d_backward(nst::conv2d_backward_input_reference(
                                                     masked, w, {2, 5, 11, 13}, {1, 0}),
                                                 1, mode);
        CHECK(error_of_largest(relu ? layer.backward_input(dy, nst::relu_mask(y)) : layer.backward_input(dy), want_dx) < tolerance);
      }
}

TEST_CASE("conv3x3_same: the input gradient matches finite differences with reflect padding and ReLU",
          "[ops][conv3x3]") {
  const auto x = nst_test::random_tensor<double>({1, 3, 6, 7}, 41);
  const auto w = nst_test::random_tensor<double>({4, 3, 3, 3}, 42);
  const auto b = nst_test::random_tensor<double>({4}, 43);
  const auto r = nst_test::random_tensor<double>({1, 4, 6, 7}, 44);
  for (const padding_mode mode : {padding_mode::reflect, padding_mode::replicate}) {
    INFO(nst::to_string(mode));
    const nst::conv3x3_same<double> layer(w, b, mode);
    const auto loss = [&](const nst::tensor<double>& v) { return ops_test::weighted_sum(layer.forward(v, true), r); };
    CHECK(nst::check_gradient(loss, x, layer.backward_input(r, nst::relu_mask(layer.forward(x, true))), 1e-6).ok(1e-6));
  }
}

TEST_CASE("conv3x3_same: Winograd tiles of 6x6 outputs from 96 px a side on, 4x4 below", "[ops][conv3x3]") {
  CHECK(nst::winograd_tile({1, 64, 96, 96}) == 6);
  CHECK(nst::winograd_tile({2, 64, 95, 300}) == 4);
  CHECK(nst::winograd_tile({2, 64, 300, 95}) == 4);
  CHECK(nst::winograd_tile({64, 96, 96}) == 4);  // not an image: F(4x4) reports the shape
  const auto w = nst_test::random_tensor<float>({20, 16, 3, 3}, 51, -0.2f, 0.2f);
  const auto b = nst_test::random_tensor<float>({20}, 52);
  const auto kernel = nst::conv3x3_same<float>::transformed(w, conv_algorithm::automatic);
  REQUIRE(kernel != nullptr);
  const nst::conv3x3_same<float> kept(w, b, padding_mode::zeros, kernel);
  const auto transient = nst::conv3x3_same<float>::transient(w, b, conv_algorithm::automatic);
  const nst::winograd_weights<float, 4> tiles4(w);
  const nst::winograd_weights<float, 6> tiles6(w);
  // Both layers compute each size with the tile size it calls for, bit for bit, forward and back.
  for (const index_t side : {95, 96}) {
    INFO(side << " px");
    const auto x = nst_test::random_tensor<float>({1, 16, side, side + 3}, 53);
    const auto dy = nst_test::random_tensor<float>({1, 20, side, side + 3}, 54);
    const bool six = side >= 96;
    const auto want = six ? nst::winograd_conv3x3(x, tiles6, b, true) : nst::winograd_conv3x3(x, tiles4, b, true);
    const nst::relu_mask mask(want);
    const auto want_dx = six ? nst::winograd_conv3x3_backward_input(dy, tiles6, mask)
                             : nst::winograd_conv3x3_backward_input(dy, tiles4, mask);
    for (const auto* layer : {&kept, &transient}) {
      CHECK(nst_test::max_relative_error(layer->forward(x, true), want) == 0.0);
      CHECK(nst_test::max_relative_error(layer->backward_input(dy, mask), want_dx) == 0.0);
    }
    CHECK(error_of_largest(want, reference(x, w, b, padding_mode::zeros, true)) < 6e-5);
  }
  CHECK(ops_test::error_id<nst::shape_error>([] { nst::winograd_kernel<float>(nst::tensor<float>({4, 3, 5, 5})); }) ==
        164);
}

TEST_CASE("conv3x3_same: a transient layer transforms per call and computes the same", "[ops][conv3x3]") {
  const auto x = nst_test::random_tensor<float>({1, 24, 13, 10}, 45);
  const auto w = nst_test::random_tensor<float>({20, 24, 3, 3}, 46);
  const auto b = nst_test::random_tensor<float>({20}, 47);
  const auto dy = nst_test::random_tensor<float>({1, 20, 13, 10}, 48);
  const nst::conv3x3_same<float> kept(w, b, padding_mode::zeros,
                                      nst::conv3x3_same<float>::transformed(w, conv_algorithm::automatic));
  const auto transient = nst::conv3x3_same<float>::transient(w, b, conv_algorithm::automatic);
  CHECK(transient.uses_winograd());
  CHECK(!nst::conv3x3_same<float>::transient(w, b, conv_algorithm::im2col).uses_winograd());
  const auto y = kept.forward(x, true);
  CHECK(nst_test::max_relative_error(transient.forward(x, true), y) == 0.0);
  const nst::relu_mask mask(y);
  CHECK(nst_test::max_relative_error(transient.backward_input(dy, mask), kept.backward_input(dy, mask)) == 0.0);
}

TEST_CASE("conv3x3_same: forward builds the ReLU mask; backward_input_add adds onto another gradient",
          "[ops][conv3x3]") {
  const auto x = nst_test::random_tensor<float>({1, 24, 13, 10}, 55);
  const auto w = nst_test::random_tensor<float>({20, 24, 3, 3}, 56);
  const auto b = nst_test::random_tensor<float>({20}, 57);
  const auto dy = nst_test::random_tensor<float>({1, 20, 13, 10}, 58);
  const auto earlier = nst_test::random_tensor<float>({1, 24, 13, 10}, 59);
  const nst::conv3x3_same<float> layers[] = {
      nst::conv3x3_same<float>(w, b), nst::conv3x3_same<float>(w, b, padding_mode::reflect),
      nst::conv3x3_same<float>(w, b, padding_mode::zeros,
                               nst::conv3x3_same<float>::transformed(w, conv_algorithm::winograd)),
      nst::conv3x3_same<float>::transient(w, b, conv_algorithm::winograd)};
  for (const auto& layer : layers) {
    INFO("Winograd " << layer.uses_winograd() << ", padding " << static_cast<int>(layer.padding()));
    nst::relu_mask mask;
    const auto y = layer.forward(x, true, &mask);  // the mask built by the forward pass
    const nst::relu_mask mask_of_y(y);
    bool same = mask.shape() == y.shape();
    for (nst::index_t i = 0; same && i < y.size(); ++i) same = mask[i] == mask_of_y[i];
    CHECK(same);
    nst::tensor<float> want = earlier, sum = earlier;
    want.vector() += layer.backward_input(dy, mask).vector();
    layer.backward_input_add(dy, mask, sum);
    CHECK(error_of_largest(sum, want) < 1e-6);
    nst::tensor<float> other({1, 24, 13, 11});
    CHECK(ops_test::error_id<nst::shape_error>([&] { layer.backward_input_add(dy, mask, other); }) == 166);
  }
}
