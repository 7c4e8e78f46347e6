#include <cmath>
#include <limits>
#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/activation.hpp>
#include <vector>

#include "../support/fixtures.hpp"
#include "../support/support.hpp"
#include "ops_testing.hpp"

TEST_CASE("relu: clamps negatives, keeps NaN, passes gradients where the output is positive", "[ops][activation]") {
  const nst::tensor<float> x(nst::shape{5},
                             std::vector<float>{-2.0f, -0.0f, 0.0f, 0.5f, std::numeric_limits<float>::quiet_NaN()});
  const auto y = nst::relu(x);
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == 0.0f);
  CHECK(y[3] == 0.5f);
  CHECK(std::isnan(y[4]));
  const auto dx = nst::relu_backward(nst::tensor<float>({5}, 3.0f), y);
  CHECK(dx[0] == 0.0f);
  CHECK(dx[2] == 0.0f);  // at 0 the gradient is 0, as in PyTorch
  CHECK(dx[3] == 3.0f);
  CHECK(ops_test::error_id<nst::shape_error>([&] { nst::relu_backward(nst::tensor<float>({4}), y); }) == 130);
}

TEST_CASE("relu: large tensors (parallel chunks) are computed elementwise", "[ops][activation]") {
  const auto x = nst_test::random_tensor<float>({2, 3, 150, 170}, 5);
  const auto y = nst::relu(x);
  const auto dy = nst_test::random_tensor<float>(x.shape(), 6);
  const auto dx = nst::relu_backward(dy, y);
  for (nst::index_t i = 0; i < x.size(); ++i) {
    REQUIRE(y[i] == (x[i] > 0 ? x[i] : 0.0f));
    REQUIRE(dx[i] == (x[i] > 0 ? dy[i] : 0.0f));
  }
}

TEST_CASE("relu: gradient matches central finite differences", "[ops][activation]") {
  const auto x = nst_test::random_tensor<double>({2, 3, 5, 4}, 7);
  const auto r = nst_test::random_tensor<double>(x.shape(), 8);
  auto loss = [&](const nst::tensor<double>& v) { return ops_test::weighted_sum(nst::relu(v), r); };
  CHECK(nst::check_gradient(loss, x, nst::relu_backward(r, nst::relu(x))).ok(1e-6));
}

TEMPLATE_TEST_CASE("relu: matches PyTorch", "[ops][activation]", float, double) {
  using T = TestType;
  const nst_test::fixture f("ops/relu.nstf");
  const auto x = f.get<T>("input");
  const auto y = nst::relu(x);
  CHECK(nst_test::fixture_error(y, f.get<T>("output")) == 0);
  CHECK(nst_test::fixture_error(nst::relu_backward(f.get<T>("grad_output"), y), f.get<T>("grad_input")) == 0);
}
