#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/reduce.hpp>

#include "../support/fixtures.hpp"
#include "../support/support.hpp"
#include "ops_testing.hpp"

TEST_CASE("reduce: validation errors and edge cases", "[ops][reduce]") {
  using ops_test::error_id;
  const nst::tensor<float> a({2, 3}), b({3, 2}), empty({0});
  CHECK(error_id<nst::shape_error>([&] { nst::mse(a, b); }) == 140);
  CHECK(error_id<nst::shape_error>([&] { nst::mse_backward(a, b, 1.0f); }) == 140);
  CHECK(error_id<nst::shape_error>([&] { nst::mse(empty, empty); }) == 141);
  CHECK(error_id<nst::shape_error>([&] { nst::total_variation(a); }) == 142);
  CHECK(error_id<nst::shape_error>([&] {
          nst::total_variation_backward(nst::tensor<float>({1, 0, 2, 2}), 1.0f);
        }) == 143);
  CHECK(nst::sum(empty) == 0.0f);
  // One pixel has no neighbours: no variation, no gradient.
  const nst::tensor<double> pixel({1, 3, 1, 1}, 4.0);
  CHECK(nst::total_variation(pixel) == 0.0);
  for (double g : nst::total_variation_backward(pixel, 1.0)) CHECK(g == 0.0);
}

TEST_CASE("reduce: hand-computed values", "[ops][reduce]") {
  const nst::tensor<double> a(nst::shape{1, 1, 2, 2}, std::vector<double>{1, 2, 3, 5});
  const nst::tensor<double> b(nst::shape{1, 1, 2, 2}, std::vector<double>{1, 1, 1, 1});
  CHECK(nst::mse(a, b) == Approx((0 + 1 + 4 + 16) / 4.0));
  CHECK(nst::sum(a) == Approx(11));
  // Horizontal (2-1)² + (5-3)², vertical (3-1)² + (5-2)².
  CHECK(nst::total_variation(a) == Approx(1 + 4 + 4 + 9));
}

TEST_CASE("reduce: float inputs are summed in double", "[ops][reduce]") {
  // 2^20 copies of 0.1f: a float running sum drifts by ~1e-3 relative; double stays exact to
  // the float rounding of the result.
  const nst::index_t n = nst::index_t(1) << 20;
  const nst::tensor<float> x({n}, 0.1f);
  const double exact = static_cast<double>(0.1f) * static_cast<double>(n);
  CHECK(std::abs(static_cast<double>(nst::sum(x)) - exact) / exact < 1e-7);
  const nst::tensor<float> zero({n}, 0.0f);
  const double exact_mse = static_cast<double>(0.1f) * static_cast<double>(0.1f);
  CHECK(std::abs(static_cast<double>(nst::mse(x, zero)) - exact_mse) / exact_mse < 1e-7);
  nst::tensor<float> stripes({1, 1, 1024, 1024});
  for (nst::index_t i = 0; i < stripes.size(); ++i) stripes[i] = (i % 2) ? 0.1f : 0.0f;  // alternating columns
  const double exact_tv = 1024.0 * 1023.0 * static_cast<double>(0.1f) * static_cast<double>(0.1f);
  CHECK(std::abs(static_cast<double>(nst::total_variation(stripes)) - exact_tv) / exact_tv < 1e-7);
}

TEST_CASE("reduce: gradients match central finite differences", "[ops][reduce]") {
  for (const nst::shape& s :
       {nst::shape{2, 3, 5, 7}, nst::shape{1, 1, 1, 6}, nst::shape{1, 2, 4, 1}, nst::shape{3, 1, 2, 2}}) {
    INFO(s);
    const auto x = nst_test::random_tensor<double>(s, 41), y = nst_test::random_tensor<double>(s, 42);
    auto mse_loss = [&](const nst::tensor<double>& v) { return 0.7 * nst::mse(v, y); };
    auto tv_loss = [&](const nst::tensor<double>& v) { return 1.3 * nst::total_variation(v); };
    auto sum_loss = [&](const nst::tensor<double>& v) { return nst::sum(v); };
    CHECK(nst::check_gradient(mse_loss, x, nst::mse_backward(x, y, 0.7)).ok(1e-6));
    CHECK(nst::check_gradient(tv_loss, x, nst::total_variation_backward(x, 1.3)).ok(1e-6));
    CHECK(nst::check_gradient(sum_loss, x, nst::tensor<double>(s, 1.0)).ok(1e-6));
  }
}

TEMPLATE_TEST_CASE("reduce: matches PyTorch", "[ops][reduce]", float, double) {
  using T = TestType;
  const nst_test::fixture f("ops/reduce.nstf");
  const auto a = f.get<T>("a"), b = f.get<T>("b"), x = f.get<T>("x");
  const T grad = f.scalar<T>("grad");
  CHECK(nst::mse(a, b) == Approx(f.scalar<T>("mse")).epsilon(1e-5));
  CHECK(nst_test::fixture_error(nst::mse_backward(a, b, grad), f.get<T>("mse_grad_a")) < 1e-5);
  CHECK(nst::total_variation(x) == Approx(f.scalar<T>("total_variation")).epsilon(1e-5));
  CHECK(nst_test::fixture_error(nst::total_variation_backward(x, grad), f.get<T>("total_variation_grad_x")) < 1e-5);
  CHECK(nst::sum(x) == Approx(f.scalar<T>("sum_x")).epsilon(1e-5));
}
