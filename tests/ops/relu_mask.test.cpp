#include <nst/ops/activation.hpp>
#include <nst/ops/relu_mask.hpp>

#include <limits>

#include "../support/support.hpp"
#include "ops_testing.hpp"

TEST_CASE("relu_mask: one bit per element, set where the output is positive", "[ops][relu_mask]") {
  // 200 elements: three full 64-bit words and a partial one; zeros, negatives and a NaN.
  auto y = nst_test::random_tensor<float>({2, 4, 5, 5}, 51);
  y[0] = 0.0f;
  y[63] = -0.0f;
  y[64] = std::numeric_limits<float>::quiet_NaN();
  y[199] = 1e-30f;
  const nst::relu_mask mask(y);
  REQUIRE(mask.shape() == y.shape());
  for (nst::index_t i = 0; i < y.size(); ++i) CHECK(mask[i] == (y[i] > 0.0f));
  const auto dy = nst_test::random_tensor<float>(y.shape(), 52);
  CHECK(nst_test::max_relative_error(nst::relu_backward(dy, mask), nst::relu_backward(dy, y)) == 0.0);
  CHECK(nst::relu_mask().empty());
  CHECK(ops_test::error_id<nst::shape_error>(
            [&] { nst::relu_backward(nst::tensor<float>({2, 4, 5, 6}), mask); }) == 134);
}
