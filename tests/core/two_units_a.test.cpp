// Two translation units, this one and two_units_b.test.cpp, include the whole library and use
// the same templates and inline functions; linking them into one program proves the headers
// define nothing twice (everything inline or a template). Each unit also checks the other's
// results, so the instantiations of both units must agree.
#include <nst/core.hpp>
#include <nst/ops.hpp>

#include "../support/support.hpp"

// Defined in two_units_b.test.cpp.
nst::tensor<float> two_units_b_features(const nst::tensor<float>& image);
nst::shape two_units_b_conv_shape();

nst::tensor<float> two_units_a_features(const nst::tensor<float>& image) {
  const auto w = nst_test::random_tensor<float>({4, 3, 3, 3}, 2);
  const auto b = nst_test::random_tensor<float>({4}, 3);
  return nst::max_pool2d(nst::relu(nst::conv2d(image, w, b, {1, 1}))).output;
}

TEST_CASE("two units: unit a computes what unit b computes", "[core][two_units]") {
  const auto image = nst_test::random_tensor<float>({1, 3, 10, 12}, 1);
  const auto here = two_units_a_features(image);
  const auto there = two_units_b_features(image);
  REQUIRE(here.shape() == nst::shape{1, 4, 5, 6});
  CHECK(nst_test::max_relative_error(here, there) == 0.0);
  CHECK(two_units_b_conv_shape() == nst::conv2d_output_shape({1, 3, 10, 12}, {4, 3, 3, 3}, {1, 1}));
  CHECK(nst::sum(nst::gram(here)) > 0.0f);
}
