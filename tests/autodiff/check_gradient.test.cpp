#include <nst/autodiff/check_gradient.hpp>

#include <limits>

#include "../support/support.hpp"

namespace {
// f(x) = Σ sin(x_i) * x_i, f'(x) = cos(x_i) * x_i + sin(x_i)
double f(const nst::tensor<double>& x) {
  double s = 0;
  for (double v : x) s += std::sin(v) * v;
  return s;
}
nst::tensor<double> df(const nst::tensor<double>& x) {
  nst::tensor<double> g(x.shape());
  for (nst::index_t i = 0; i < x.size(); ++i) g[i] = std::cos(x[i]) * x[i] + std::sin(x[i]);
  return g;
}
}  // namespace

TEST_CASE("check_gradient accepts a correct gradient", "[autodiff][check_gradient]") {
  auto x = nst_test::random_tensor<double>({2, 3, 4}, 7);
  auto result = nst::check_gradient(f, x, df(x));
  CHECK(result.checked == 24);
  CHECK(result.ok(1e-7));
}

TEST_CASE("check_gradient finds a wrong element and reports where", "[autodiff][check_gradient]") {
  auto x = nst_test::random_tensor<double>({10}, 8);
  auto g = df(x);
  g[6] += 0.01;
  auto result = nst::check_gradient(f, x, g);
  CHECK_FALSE(result.ok(1e-4));
  CHECK(result.worst_index == 6);
  CHECK(result.max_absolute_error == Approx(0.01).epsilon(1e-4));
}

TEST_CASE("check_gradient samples large inputs and validates its arguments", "[autodiff][check_gradient]") {
  auto x = nst_test::random_tensor<double>({1000}, 9);
  auto result = nst::check_gradient(f, x, df(x), 1e-6, 50);
  CHECK(result.checked == 50);
  CHECK(result.ok(1e-5));  // a 1000-term sum loses digits to round-off in f itself
  CHECK_THROWS_AS(nst::check_gradient(f, x, nst::tensor<double>({999})), nst::shape_error);
  CHECK_THROWS_AS(nst::check_gradient(f, x, df(x), 0.0), nst::value_error);
}

TEST_CASE("check_gradient fails a NaN loss or gradient instead of passing it", "[autodiff][check_gradient]") {
  const auto x = nst_test::random_tensor<double>({2, 3}, 11);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto nan_loss = nst::check_gradient([&](const nst::tensor<double>&) { return nan; }, x, df(x));
  CHECK_FALSE(nan_loss.ok(1e-6));
  CHECK(nan_loss.max_relative_error == HUGE_VAL);
  nst::tensor<double> gradient = df(x);
  gradient[4] = nan;
  const auto nan_gradient = nst::check_gradient(f, x, gradient);
  CHECK_FALSE(nan_gradient.ok(1e-6));
  CHECK(nan_gradient.worst_index == 4);
}
