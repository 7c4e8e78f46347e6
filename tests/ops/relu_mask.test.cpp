#include <nst/ops/activation.hpp>
#include <nst/ops/relu_mask.hpp>

#include <cstdint>
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

TEST_CASE("relu_mask: bits(first) gives the 64 bits from any element on, 0 past the end", "[ops][relu_mask]") {
  const auto y = nst_test::random_tensor<float>({1, 1, 10, 20}, 52);  // 200 elements
  const nst::relu_mask mask(y);
  for (nst::index_t first : {0, 1, 37, 63, 64, 100, 136, 137, 150, 199}) {
    INFO("first " << first);
    const std::uint64_t bits = mask.bits(first);
    for (nst::index_t j = 0; j < 64; ++j) CHECK(((bits >> j) & 1u) == (first + j < 200 && y[first + j] > 0.0f ? 1u : 0u));
  }
  // relu_backward with the mask, 64 values a word, on a size that is not a multiple of 64.
  const auto dy = nst_test::random_tensor<float>(y.shape(), 53);
  const auto dx = nst::relu_backward(dy, mask);
  for (nst::index_t i = 0; i < y.size(); ++i) CHECK(dx[i] == (y[i] > 0.0f ? dy[i] : 0.0f));
}
