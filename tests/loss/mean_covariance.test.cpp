#include <nst/loss/mean_covariance.hpp>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;

namespace {
// Mean [C] and covariance [C,C] of x [1,C,H,W] over its pixels, from the definition.
std::pair<Eigen::VectorXd, Eigen::MatrixXd> moments_of(const tensor_d& x) {
  const nst::index_t c = x.dim(1), p = x.dim(2) * x.dim(3);
  const auto f = x.matrix(c, p);
  const Eigen::VectorXd mean = f.rowwise().mean();
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(c, c);
  for (nst::index_t j = 0; j < p; ++j) cov += (f.col(j) - mean) * (f.col(j) - mean).transpose();
  return {mean, cov / static_cast<double>(p)};
}
}  // namespace

TEST_CASE("mean_covariance_loss: w * (mean((μ-μt)^2) + mean((Σ-Σt)^2)), blended targets, gradient",
          "[loss][mean_covariance]") {
  const auto s1 = nst_test::random_tensor<double>({1, 4, 5, 4}, 51);
  const auto s2 = nst_test::random_tensor<double>({1, 4, 3, 6}, 52, 0.0, 2.0);
  const auto x = nst_test::random_tensor<double>({1, 4, 4, 5}, 53);
  nst::mean_covariance_loss<double> style(3.0, {"relu2_1"}, {0.5});
  style.set_targets({{{"relu2_1", s1}}, {{"relu2_1", s2}}}, {3.0, 1.0});

  const auto [m1, c1] = moments_of(s1);
  const auto [m2, c2] = moments_of(s2);
  const auto [mx, cx] = moments_of(x);
  const Eigen::VectorXd target_mean = 0.75 * m1 + 0.25 * m2;
  const Eigen::MatrixXd target_cov = 0.75 * c1 + 0.25 * c2;
  CHECK((Eigen::Map<const Eigen::VectorXd>(style.target("relu2_1").mean.data(), 4) - target_mean).norm() < 1e-12);
  const double expected =
      3.0 * 0.5 * ((mx - target_mean).squaredNorm() / 4.0 + (cx - target_cov).squaredNorm() / 16.0);
  tensor_d gradient;
  CHECK(evaluate(style, x, "relu2_1", &gradient) == Approx(expected).epsilon(1e-12));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu2_1"); }, x, gradient);
  CHECK(check.ok(1e-6));

  // Zero exactly when the features have the target's moments: the style image itself.
  nst::mean_covariance_loss<double> self(1.0, {"relu2_1"});
  self.set_targets({{{"relu2_1", s2}}});
  CHECK(evaluate(self, s2, "relu2_1") == Approx(0.0).margin(1e-20));
}

TEST_CASE("mean_covariance_loss: with a mask, moments are weighted by it; gradient", "[loss][mean_covariance]") {
  const auto s = nst_test::random_tensor<double>({1, 3, 4, 4}, 54);
  const auto x = nst_test::random_tensor<double>({1, 3, 6, 6}, 55);
  const auto mask = nst_test::random_tensor<double>({1, 1, 6, 6}, 56, 0.0, 1.0);  // soft, same size
  nst::mean_covariance_loss<double> style(1.0, {"relu1_1"});
  style.set_guided_targets({{{"relu1_1", s}}}, {mask});

  const auto f = x.matrix(3, 36);
  const Eigen::VectorXd p = Eigen::Map<const Eigen::VectorXd>(mask.data(), 36) / mask.vector().sum();
  const Eigen::VectorXd mean = f * p;
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(3, 3);
  for (int j = 0; j < 36; ++j) cov += p(j) * (f.col(j) - mean) * (f.col(j) - mean).transpose();
  const auto [ms, cs] = moments_of(s);
  const double expected = (mean - ms).squaredNorm() / 3.0 + (cov - cs).squaredNorm() / 9.0;
  tensor_d gradient;
  CHECK(evaluate(style, x, "relu1_1", &gradient) == Approx(expected).epsilon(1e-12));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu1_1"); }, x, gradient);
  CHECK(check.ok(1e-6));
}
