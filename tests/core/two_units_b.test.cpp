// The second of two translation units that include the whole library (see two_units_a.test.cpp).
#include <nst/core.hpp>
#include <nst/ops.hpp>

#include "../support/support.hpp"

// Defined in two_units_a.test.cpp.
nst::tensor<float> two_units_a_features(const nst::tensor<float>& image);

nst::tensor<float> two_units_b_features(const nst::tensor<float>& image) {
  const auto w = nst_test::random_tensor<float>({4, 3, 3, 3}, 2);
  const auto b = nst_test::random_tensor<float>({4}, 3);
  return nst::max_pool2d(nst::relu(nst::conv2d(image, w, b, {1, 1}))).output;
}

nst::shape two_units_b_conv_shape() { return nst::conv2d_output_shape({1, 3, 10, 12}, {4, 3, 3, 3}, {1, 1}); }

TEST_CASE("two units: unit b computes what unit a computes", "[core][two_units]") {
  const auto image = nst_test::random_tensor<float>({2, 3, 8, 8}, 4);
  const auto here = two_units_b_features(image);
  CHECK(nst_test::max_relative_error(here, two_units_a_features(image)) == 0.0);
  CHECK(nst::mse(here, nst::tensor<float>(here.shape())) > 0.0f);
  CHECK(nst::total_variation(nst::avg_pool2d(image)) > 0.0f);
}
