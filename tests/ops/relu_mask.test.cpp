#include <nst/ops/activation.hpp>
#include <nst/ops/relu_mask.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
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

TEMPLATE_TEST_CASE("relu_mask: mark_positive sets the bits of runs from any element, from several threads",
                   "[ops][relu_mask]", float, double) {
  using T = TestType;
  // 300 elements with zeros, -0, a NaN and tiny positives; runs of every length up to 100 from
  // every offset up to 70 (inside a word, up to its end, across one or two word edges).
  auto y = nst_test::random_tensor<T>({3, 100}, 52);
  y[0] = T(0);
  y[63] = -T(0);
  y[64] = std::numeric_limits<T>::quiet_NaN();
  y[128] = T(1e-30);
  const nst::relu_mask want(y);
  bool same = true;
  for (nst::index_t first = 0; first < 70; ++first)
    for (nst::index_t count = 1; count <= 100; ++count) {
      nst::relu_mask mask(y.shape());
      mask.mark_positive(first, y.data() + first, count);
      for (nst::index_t i = 0; i < y.size(); ++i)
        same = same && mask[i] == (i >= first && i < first + count && want[i]);
    }
  CHECK(same);
  // Runs of 6 marked in parallel, neighbours sharing words: the bits of the whole output.
  for (int threads : {1, 2, 3}) {
    const ops_test::thread_count scoped(threads);
    nst::relu_mask mask(y.shape());
    nst::parallel_for(
        0, y.size() / 6,
        [&](nst::index_t first_run, nst::index_t last_run) {
          for (nst::index_t run = first_run; run < last_run; ++run) mask.mark_positive(6 * run, y.data() + 6 * run, 6);
        },
        1);
    bool all = true;
    for (nst::index_t i = 0; i < y.size(); ++i) all = all && mask[i] == want[i];
    CHECK(all);
  }
}

TEMPLATE_TEST_CASE("gate_values: each value where its bit is set, +0 elsewhere, whatever the value", "[ops][relu_mask]",
                   float, double) {
  const TestType nan = std::numeric_limits<TestType>::quiet_NaN(), inf = std::numeric_limits<TestType>::infinity();
  TestType from[64];
  for (int j = 0; j < 64; ++j) from[j] = static_cast<TestType>(j % 7) - TestType(3.5);
  from[1] = nan;           // gated out below
  from[2] = -inf;          // gated out
  from[3] = nan;           // passes
  from[4] = -TestType(0);  // passes, sign kept
  const std::uint64_t gate = 0x9c3a5f00f1e2d3b8ull | (std::uint64_t(1) << 3) | (std::uint64_t(1) << 4);
  for (nst::index_t count : {64, 37, 1}) {
    TestType to[64];
    for (TestType& v : to) v = TestType(42);
    nst::gate_values(gate, from, count, to);
    for (nst::index_t j = 0; j < 64; ++j) {
      INFO("count " << count << ", value " << j);
      if (j >= count) {
        CHECK(to[j] == TestType(42));  // past count: untouched
      } else if ((gate >> j) & 1u) {
        CHECK(std::memcmp(&to[j], &from[j], sizeof(TestType)) == 0);  // the same bits, NaN included
      } else {
        CHECK(to[j] == TestType(0));
        CHECK_FALSE(std::signbit(to[j]));
      }
    }
  }
}
